package sale

import (
	"bytes"
	"errors"
	"fmt"
	"net/url"
	"path"
	"slices"
	"strings"

	"github.com/tidwall/gjson"
)

// RefSpec says where a checkout's response carries the payment provider's
// reference, and where the request shows the browser's click and the
// shop's customer: what checkout_ref records for the webhook to find.
type RefSpec struct {
	Refs     []Source
	Customer []Source
	Click    []Source
}

// refPresets say where a commerce platform's own responses carry a
// reference its sales carry too, and the customer it belongs to.
var refPresets = map[string]struct{ refs, customers []string }{
	// Medusa v2's cart routes (GET and POST /store/carts/{id}) answer the
	// cart with customer.id among their default fields (customer_id only
	// when asked for); the order's completion route carries the cart id
	// in its path.
	"medusa": {refs: []string{"cart.id"}, customers: []string{"cart.customer.id", "cart.customer_id"}},
}

// RefPresetNames lists checkout_ref's presets.
func RefPresetNames() []string {
	names := make([]string, 0, len(refPresets))
	for name := range refPresets {
		names = append(names, name)
	}
	slices.Sort(names)
	return names
}

// BuildRefSpec parses checkout_ref's sources, starting from preset's ("" for
// none); sources given replace the preset's. clicks empty means the
// default click sources for clickCookie, as a sale's.
func BuildRefSpec(preset string, refs, customers, clicks []string, clickCookie string) (*RefSpec, error) {
	if preset != "" {
		p, ok := refPresets[preset]
		if !ok {
			return nil, fmt.Errorf("unknown preset %q (known: %s)", preset, strings.Join(RefPresetNames(), ", "))
		}
		if len(refs) == 0 {
			refs = p.refs
		}
		if len(customers) == 0 {
			customers = p.customers
		}
	}
	if len(refs) == 0 {
		return nil, errRefRequired
	}
	if len(clicks) == 0 {
		if clickCookie == "" {
			def, _ := LookupPlatform("")
			clickCookie = def.ClickCookie
		}
		clicks = DefaultClickSources(clickCookie)
	}
	spec := &RefSpec{}
	for _, f := range []struct {
		name string
		in   []string
		out  *[]Source
	}{{"ref", refs, &spec.Refs}, {"customer_id", customers, &spec.Customer}, {"click_id", clicks, &spec.Click}} {
		sources, err := ParseSources(f.in)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", f.name, err)
		}
		*f.out = sources
	}
	return spec, nil
}

// RefCapture is what one checkout response showed.
type RefCapture struct {
	// Refs are the provider's references, each as its webhook will carry it.
	Refs []string
	// Click is the browser's click id; empty when it had none.
	Click string
	// Customer is the shop's customer id; empty when no source yielded one.
	Customer string
}

// Read takes the references, click and customer from a response body
// (JSON, or empty when every source is a placeholder, as for a redirect's
// Location) and the request's placeholders. A body that is not JSON
// yields nothing from paths.
func (r *RefSpec) Read(body []byte, resolve Resolver) RefCapture {
	var doc gjson.Result
	body = bytes.TrimPrefix(body, utf8BOM)
	if len(body) > 0 && !nestsDeeperThan(body, MaxDepth) && gjson.ValidBytes(body) {
		doc = gjson.ParseBytes(body)
	}
	var c RefCapture
	c.Refs = readRefs(r.Refs, doc, resolve)
	if v, ok := first(r.Customer, doc, resolve); ok {
		c.Customer = capLength(textOf(v))
	}
	for _, src := range r.Click {
		if v, ok := read(src, doc, resolve); ok && ValidClickID(v.text) {
			c.Click = strings.Clone(v.text)
			break
		}
	}
	return c
}

// readRefs reads every reference the sources yield, each reduced to the
// provider's id by CheckoutRef, without repeats.
func readRefs(sources []Source, doc gjson.Result, resolve Resolver) []string {
	var refs []string
	for _, src := range sources {
		v, ok := read(src, doc, resolve)
		if !ok {
			continue
		}
		if ref := CheckoutRef(v.text); ref != "" && !slices.Contains(refs, ref) {
			refs = append(refs, ref)
		}
	}
	return refs
}

// CheckoutRef reduces a value to the provider's reference it holds, as
// the provider's webhook will carry it:
//   - a URL yields the id in it: Paddle's _ptxn query parameter
//     (txn_…), else the last segment of its path (a Stripe Checkout URL's
//     cs_…, a Lemon Squeezy checkout's id);
//   - a Stripe client secret yields the id of what it unlocks: an
//     embedded or custom Checkout Session's (cs_…_secret_…), a
//     PaymentIntent's (pi_…_secret_…);
//   - anything else is the reference itself.
//
// It returns "" for a value too long to be an id.
func CheckoutRef(v string) string {
	v = strings.TrimSpace(v)
	if u, err := url.Parse(v); err == nil && (u.Scheme == "https" || u.Scheme == "http") && u.Host != "" {
		if txn := u.Query().Get("_ptxn"); txn != "" {
			v = txn
		} else {
			v = path.Base(strings.TrimRight(u.Path, "/"))
			if v == "." || v == "/" {
				return ""
			}
		}
	}
	if i := strings.Index(v, "_secret_"); i > 0 && hasClientSecretPrefix(v) {
		v = v[:i]
	}
	if len(v) > MaxFieldLength {
		return ""
	}
	return v
}

// errRefRequired refuses a checkout_ref that records nothing.
var errRefRequired = errors.New("ref is required (or a preset that gives it): where the response carries the provider's checkout reference")

// stripeSecretPrefixes are the Stripe objects whose client secret is the
// object's id, "_secret_", then the secret: a Checkout Session in embedded
// or custom mode, a PaymentIntent, a SetupIntent.
var stripeSecretPrefixes = []string{"cs_", "pi_", "seti_"}

// hasClientSecretPrefix reports whether v starts like a Stripe client
// secret's object id.
func hasClientSecretPrefix(v string) bool {
	return slices.ContainsFunc(stripeSecretPrefixes, func(p string) bool { return strings.HasPrefix(v, p) })
}
