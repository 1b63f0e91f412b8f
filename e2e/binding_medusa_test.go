package e2e

import (
	"fmt"
	"net/http"
	"net/url"
	"path/filepath"
	"testing"

	"github.com/saletrack/caddy-saletrack/internal/fake"
)

// A headless Medusa shop: the storefront (the browser's site) and
// Medusa's API (called by the storefront's server, without the browser's
// cookies) are two sites. The API answers as Medusa does with its default
// fields: the cart with customer.id, the completed order without
// customer_id and without email.
func medusaConfig(admin, storefront, api int, apiBase, storage string) string {
	return globalOptions(admin, storefront, storage, "platform cutmeshort\n\t\tapi_base "+apiBase) + fmt.Sprintf(`
http://127.0.0.1:%d {
	click_cookie {
		bind {http.request.cookie._medusa_cart_id}
	}
	respond "<html>storefront</html>" 200
}

http://127.0.0.1:%d {
	handle /store/carts/*/complete {
		sale_track medusa
		header Content-Type application/json
		respond `+"`"+`{"type":"order","order":{"id":"order_{http.request.uri.path.2}","currency_code":"eur","total":118.28,"created_at":"2026-04-10T12:45:10.204Z"}}`+"`"+` 200
	}
	handle /store/carts/* {
		checkout_ref medusa
		header Content-Type application/json
		respond `+"`"+`{"cart":{"id":"{http.request.uri.path.2}","currency_code":"eur","email":"lena@example.de","customer":{"id":"cus_01JRK3Z5","email":"lena@example.de"},"total":118.28}}`+"`"+` 200
	}
}
`, storefront, api)
}

// The browser's requests to the storefront carry the click cookie and the
// cart cookie; the storefront's server reads the cart and completes it
// with neither. The sale carries the browser's click and the cart's
// customer, both found through the cart id in the path.
func TestMedusaSaleFindsItsClickAndCustomerThroughTheCart(t *testing.T) {
	dir := t.TempDir()
	plat := newPlatform(t)
	admin, storefront, api := fake.FreePort(), fake.FreePort(), fake.FreePort()
	s := &bindingSite{t: t, plat: plat}
	s.proc = startCaddy(t, dir, admin, medusaConfig(admin, storefront, api, plat.URL, filepath.Join(dir, "st")))
	site := fmt.Sprintf("http://127.0.0.1:%d", storefront)
	medusa := fmt.Sprintf("http://127.0.0.1:%d", api)

	browser := visitor(t)
	mustDo(t, browser, http.MethodGet, site+"/?cms_rf=cl_medusa1")
	u, _ := url.Parse(site)
	browser.Jar.SetCookies(u, []*http.Cookie{{Name: "_medusa_cart_id", Value: "cart_01JRK4K2"}})
	learned := s.stats().BindingsLearned
	mustDo(t, browser, http.MethodGet, site+"/cart")
	s.waitStat("the cart's click", func(st deliveryStats) bool { return st.BindingsLearned > learned })
	// The same pair again writes nothing.
	mustDo(t, browser, http.MethodGet, site+"/checkout")

	server := &http.Client{} // the storefront's server: no cookies
	learned = s.stats().BindingsLearned
	mustDo(t, server, http.MethodGet, medusa+"/store/carts/cart_01JRK4K2")
	s.waitStat("the cart's customer", func(st deliveryStats) bool { return st.BindingsLearned > learned })
	learned = s.stats().BindingsLearned
	mustDo(t, server, http.MethodPost, medusa+"/store/carts/cart_01JRK4K2/complete")

	sale := s.waitPath("/track/sale", 1)[0]
	if sale["customerExternalId"] != "cus_01JRK3Z5" || sale["clickId"] != "cl_medusa1" || sale["invoiceId"] != "order_cart_01JRK4K2" {
		t.Fatalf("sale %v: want customer cus_01JRK3Z5 and click cl_medusa1", sale)
	}
	// The sale taught the customer's click (for a later webhook sale of
	// the same customer), and nothing else was written: not the repeated
	// cart cookie, not the cart again.
	if st := s.stats(); st.BindingsLearned != learned+1 {
		t.Errorf("%d binding writes by the sale, want 1 (the customer's click)", st.BindingsLearned-learned)
	}
}
