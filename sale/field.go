package sale

import (
	"fmt"
	"strings"
)

// Field names one field of a sale as a config writes it: the Caddyfile
// subdirective, the JSON config key and a preset's key are all this name.
type Field string

// The fields a sale is read into.
const (
	FieldAmount       Field = "amount"
	FieldCurrency     Field = "currency"
	FieldInvoiceID    Field = "invoice_id"
	FieldCustomerID   Field = "customer_id"
	FieldEmail        Field = "email"
	FieldName         Field = "name"
	FieldClickID      Field = "click_id"
	FieldTimestamp    Field = "timestamp"
	FieldAmountDigits Field = "amount_digits"
	// FieldRef is the payment provider's checkout reference the body
	// carries (a Stripe Checkout Session id, a Paddle transaction id),
	// which finds the click and customer checkout_ref recorded for it.
	FieldRef Field = "ref"
)

// Fields lists every field once, in the order the docs present them. It is
// the one list: the Caddyfile parser, the JSON config and BuildSpec all
// check names against it.
var Fields = []Field{
	FieldAmount, FieldCurrency, FieldInvoiceID, FieldCustomerID, FieldEmail,
	FieldName, FieldClickID, FieldTimestamp, FieldAmountDigits, FieldRef,
}

// requiredFields are the fields that must have at least one source once a
// preset and a config's own fields are merged, for a kind of event: none
// of them can be guessed. A lead carries no amount.
func requiredFields(kind string) []Field {
	if kind == KindLead {
		return []Field{FieldCustomerID}
	}
	return []Field{FieldAmount, FieldCustomerID}
}

// leadField reports whether a lead carries the field: a lead has no
// amount, currency or invoice.
func leadField(f Field) bool {
	switch f {
	case FieldAmount, FieldCurrency, FieldInvoiceID, FieldAmountDigits, FieldRef:
		return false
	}
	return true
}

// ParseField reads a field's name; an unknown one is an error that lists
// the known ones.
func ParseField(name string) (Field, error) {
	for _, f := range Fields {
		if string(f) == name {
			return f, nil
		}
	}
	known := make([]string, len(Fields))
	for i, f := range Fields {
		known[i] = string(f)
	}
	return "", fmt.Errorf("unknown field %q (known: %s)", name, strings.Join(known, ", "))
}
