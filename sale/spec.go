package sale

import (
	"strings"

	"github.com/cockroachdb/apd/v3"
	"github.com/tidwall/gjson"

	"github.com/saletrack/caddy-saletrack/fx"
)

// MaxFieldLength caps every string field, in characters.
const MaxFieldLength = 255

// Spec says where each field of a sale comes from and when a body is a sale
// at all. BuildSpec makes it from a config; it is safe for concurrent use.
type Spec struct {
	// Sources lists, per field, where its value may come from, in order.
	Sources map[Field][]Source

	// FromRequest is true when the sale is read from the request body (a
	// webhook the shop receives), false for the shop's response.
	FromRequest bool

	// Kind is KindSale or KindLead: what the body is read as.
	Kind string
	// Mode is a lead's mode, ModeDeferred or empty.
	Mode string
	// PaymentProcessor is the provider a sale preset reads (its name),
	// for platforms that record it (Dub); empty otherwise, and for leads.
	PaymentProcessor string

	// EventName is the event sent; empty for the platform's default.
	EventName       string
	AmountUnit      fx.Unit
	DefaultCurrency string
	When            []Condition
	// ObjectID lists where the provider's id of the paid object is: a
	// RejectError names it (its preset's ObjectID).
	ObjectID []Source
}

// Condition must hold for a body to count as a sale.
type Condition struct {
	// Path is a gjson path into the body.
	Path string `json:"path"`
	// Values, when given, are the accepted values of the path (gjson's
	// String()); without them the path must exist and be truthy (not
	// false, null, 0 or empty). Optional.
	Values []string `json:"values,omitempty"`
	// Reason names, for a count, why a body that fails this condition is
	// not an event (NotSaleError.Reason); presets only.
	Reason string `json:"-"`
}

// conditionsHold reports whether every condition holds for the raw body;
// when one does not, it gives it. gjson.GetBytes copies only what each
// path finds, where parsing the body first would copy all of it.
func (s *Spec) conditionsHold(body []byte) (bool, Condition) {
	for _, c := range s.When {
		if !c.holds(gjson.GetBytes(body, c.Path)) {
			return false, c
		}
	}
	return true, Condition{}
}

// holds says whether the condition holds for r, what its path found. A
// number equals a value that is the same number in any notation (2, 2.0
// and 2e0 alike).
func (c Condition) holds(r gjson.Result) bool {
	if len(c.Values) == 0 {
		return truthy(r)
	}
	if !r.Exists() {
		return false
	}
	got := r.String()
	for _, v := range c.Values {
		if got == v || (r.Type == gjson.Number && sameNumber(r.Raw, v)) {
			return true
		}
	}
	return false
}

// sameNumber compares two decimal texts exactly.
func sameNumber(a, b string) bool {
	x, _, errA := apd.NewFromString(a)
	y, _, errB := apd.NewFromString(b)
	return errA == nil && errB == nil && x.Form == apd.Finite && y.Form == apd.Finite && x.Cmp(y) == 0
}

// truthy is "exists and is not false, null, 0 or empty". Zero is zero in
// any notation: 0, -0.0, 0e5.
func truthy(r gjson.Result) bool {
	switch r.Type {
	case gjson.Null, gjson.False:
		return false
	case gjson.String:
		return r.Str != ""
	case gjson.Number:
		return !sameNumber(r.Raw, "0")
	case gjson.JSON:
		return r.Raw != "{}" && r.Raw != "[]"
	}
	return r.Exists()
}

// String writes the condition as in a Caddyfile.
func (c Condition) String() string {
	if len(c.Values) == 0 {
		return c.Path
	}
	return c.Path + " " + strings.Join(c.Values, " ")
}
