package sale

import (
	"slices"
	"strings"
	"testing"
)

func TestCheckoutRefFindsTheProvidersID(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"cs_test_a1B2c3", "cs_test_a1B2c3"},
		{" cs_test_a1B2c3 ", "cs_test_a1B2c3"},
		{"https://checkout.stripe.com/c/pay/cs_test_a1B2c3#fidkdWxOYHwnPyd1blpxYHZxWjA0", "cs_test_a1B2c3"},
		{"https://checkout.stripe.com/c/pay/cs_live_a1B2c3/", "cs_live_a1B2c3"},
		{"https://shop.example/pay?_ptxn=txn_01k7r3f9x2m4p6q8s0u2w4y6za", "txn_01k7r3f9x2m4p6q8s0u2w4y6za"},
		{"https://acme.lemonsqueezy.com/checkout/custom/7576abf3-2d4e-4c3b-9d6a-1f2e3d4c5b6a?signature=ab12", "7576abf3-2d4e-4c3b-9d6a-1f2e3d4c5b6a"},
		{"pi_3PwTpzKZ3qJ8yWbN1gX4kM2r_secret_Xy12", "pi_3PwTpzKZ3qJ8yWbN1gX4kM2r"},
		// Embedded Checkout answers the session's client secret, not its id.
		{"cs_test_a1B2c3_secret_fidkdWxOYHwn", "cs_test_a1B2c3"},
		{"https://checkout.stripe.com/", ""},
		{"not a url: cs_1", "not a url: cs_1"},
		{strings.Repeat("x", MaxFieldLength+1), ""},
	} {
		if got := CheckoutRef(tc.in); got != tc.want {
			t.Errorf("CheckoutRef(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

// A checkout response yields every reference its sources name, once
// each, with the browser's click and the shop's customer.
func TestRefSpecReadsACheckoutResponse(t *testing.T) {
	spec, err := BuildRefSpec("", []string{"id", "url", "{http.request.header.X-Ref}"}, []string{"{http.request.header.X-User-Id}", "user.id"}, nil, "cms_rf")
	if err != nil {
		t.Fatal(err)
	}
	body := []byte(`{"id":"cs_test_1","url":"https://checkout.stripe.com/c/pay/cs_test_1#frag","user":{"id":"user_7"}}`)
	got := spec.Read(body, resolver(map[string]string{"{http.request.cookie.cms_rf}": "cl_9"}))
	if !slices.Equal(got.Refs, []string{"cs_test_1"}) || got.Click != "cl_9" || got.Customer != "user_7" {
		t.Fatalf("read %+v", got)
	}
	// A redirect has no JSON: its placeholders still count.
	got = spec.Read([]byte("<html>"), resolver(map[string]string{"{http.request.header.X-Ref}": "https://checkout.stripe.com/c/pay/cs_test_2"}))
	if !slices.Equal(got.Refs, []string{"cs_test_2"}) || got.Click != "" || got.Customer != "" {
		t.Fatalf("read %+v", got)
	}
	// A click no tracked link could have set is not recorded.
	got = spec.Read(body, resolver(map[string]string{"{http.vars.click_id}": "<script>"}))
	if got.Click != "" {
		t.Fatalf("click %q recorded", got.Click)
	}
	if _, err := BuildRefSpec("", nil, nil, nil, ""); err == nil {
		t.Fatal("a checkout_ref without ref was accepted")
	}
	if _, err := BuildRefSpec("", []string{"a..b"}, nil, nil, ""); err == nil || !strings.HasPrefix(err.Error(), "ref: ") {
		t.Fatalf("a bad path: %v", err)
	}
}

// Medusa's cart, as GET /store/carts/{id} answers it with its default
// fields, ties the cart to its customer; without a customer it ties
// nothing but the cart.
func TestRefPresetMedusaCart(t *testing.T) {
	spec, err := BuildRefSpec("medusa", nil, nil, nil, "cms_rf")
	if err != nil {
		t.Fatal(err)
	}
	body := []byte(`{"cart":{"id":"cart_01JQ8ZK3","currency_code":"eur","email":"alex@example.com","customer":{"id":"cus_01JQ8ZM0","email":"alex@example.com","groups":[]},"total":49}}`)
	got := spec.Read(body, resolver(nil))
	if !slices.Equal(got.Refs, []string{"cart_01JQ8ZK3"}) || got.Customer != "cus_01JQ8ZM0" || got.Click != "" {
		t.Fatalf("read %+v", got)
	}
	got = spec.Read([]byte(`{"cart":{"id":"cart_2","customer_id":"cus_2"}}`), resolver(nil))
	if got.Customer != "cus_2" {
		t.Fatalf("customer_id, asked for: read %+v", got)
	}
	got = spec.Read([]byte(`{"cart":{"id":"cart_3","customer":null}}`), resolver(nil))
	if got.Customer != "" || !slices.Equal(got.Refs, []string{"cart_3"}) {
		t.Fatalf("a guest's cart before its email: read %+v", got)
	}
	if _, err := BuildRefSpec("shopify", nil, nil, nil, ""); err == nil || !strings.Contains(err.Error(), "medusa") {
		t.Fatalf("an unknown preset: %v", err)
	}
}
