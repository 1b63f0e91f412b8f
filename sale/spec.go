package sale

import (
	"fmt"
	"strings"

	"github.com/tidwall/gjson"

	"github.com/saletrack/caddy-saletrack/fx"
)

// DefaultEventName is the event sent when a config names none.
const DefaultEventName = "sale"

// MaxFieldLength caps every string field, in characters.
const MaxFieldLength = 255

// Spec says where each field of a sale comes from and when a body is a sale
// at all. It is built once from the config and is safe for concurrent use.
type Spec struct {
	Amount       []Source
	Currency     []Source
	InvoiceID    []Source
	CustomerID   []Source
	Email        []Source
	Name         []Source
	ClickID      []Source
	Timestamp    []Source
	AmountDigits []Source

	EventName       string
	AmountUnit      fx.Unit
	DefaultCurrency string
	When            []Condition
}

// Condition must hold for a body to count as a sale.
type Condition struct {
	// Path is a gjson path into the body.
	Path string
	// Values, when given, are the accepted values of the path (gjson's
	// String()); without them the path must exist and be truthy.
	Values []string
}

// Check validates a spec built by hand or from JSON, filling defaults.
func (s *Spec) Check() error {
	if s.EventName == "" {
		s.EventName = DefaultEventName
	}
	if s.DefaultCurrency == "" {
		s.DefaultCurrency = "USD"
	}
	code, err := fx.NormalizeCode(s.DefaultCurrency)
	if err != nil {
		return fmt.Errorf("default_currency: %v", err)
	}
	s.DefaultCurrency = code
	if len(s.Amount) == 0 {
		return fmt.Errorf("amount: at least one source is required")
	}
	if len(s.CustomerID) == 0 {
		return fmt.Errorf("customer_id: at least one source is required")
	}
	for i, c := range s.When {
		if err := ValidatePath(c.Path); err != nil {
			return fmt.Errorf("when #%d: %v", i+1, err)
		}
	}
	return nil
}

// conditionsHold reports whether every condition holds for the raw body;
// when one does not, it says which. gjson.GetBytes copies only what each
// path finds, where parsing the body first would copy all of it.
func (s *Spec) conditionsHold(body []byte) (bool, string) {
	for _, c := range s.When {
		if !c.holds(gjson.GetBytes(body, c.Path)) {
			return false, c.String()
		}
	}
	return true, ""
}

// holds says whether the condition holds for r, what its path found.
func (c Condition) holds(r gjson.Result) bool {
	if len(c.Values) == 0 {
		return truthy(r)
	}
	if !r.Exists() {
		return false
	}
	got := r.String()
	for _, v := range c.Values {
		if got == v {
			return true
		}
	}
	return false
}

// truthy is "exists and is not false, null, 0 or empty".
func truthy(r gjson.Result) bool {
	switch r.Type {
	case gjson.Null, gjson.False:
		return false
	case gjson.String:
		return r.Str != ""
	case gjson.Number:
		return strings.Trim(r.Raw, "-0.eE+") != ""
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
