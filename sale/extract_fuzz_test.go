package sale

import (
	"encoding/json"
	"testing"

	"github.com/saletrack/caddy-saletrack/fx"
)

// FuzzExtract feeds arbitrary bodies and placeholder values through a spec
// that reads every field: nothing panics, and whatever is accepted as a
// sale is one the platform can take.
func FuzzExtract(f *testing.F) {
	f.Add([]byte(`{"order":{"id":"inv_987","total":199.0,"currency":"usd","created_at":"2026-04-10T14:45:10+02:00"},"customer":{"id":"user_123","email":"a@b.c","first":"A","last":"B"}}`), "cl_42", "hdr")
	f.Add([]byte(`{"order":{"id":true,"total":"1e3","currency":"JPY","created_at":1e300},"customer":{"id":false}}`), "", "x")
	f.Add([]byte("\xef\xbb\xbf{\"order\":{\"id\":\"\xff\",\"total\":\"0.0e5\"},\"customer\":{\"id\":\"\\u0000\"}}"), "\xff", "")
	f.Add([]byte(`[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]`), "", "")
	f.Fuzz(func(t *testing.T, body []byte, click, customer string) {
		spec := orderSpec(t)
		spec.Sources[FieldAmountDigits] = mustSources(t, "order.digits")
		spec.When = []Condition{{Path: "order.total"}}
		vars := resolver(map[string]string{"{http.request.cookie.clickId}": click, "{http.request.header.X-Customer}": customer})
		ev, err := spec.Extract(body, vars, captureTime)
		if err != nil {
			return
		}
		if ev.CustomerExternalID == "" {
			t.Fatal("a sale without a customer id")
		}
		if ev.Amount.IsNegative() {
			t.Fatalf("a negative amount %s", ev.Amount)
		}
		if _, err := fx.NormalizeCode(ev.Currency()); err != nil {
			t.Fatalf("currency %q: %v", ev.Currency(), err)
		}
		payload := ev.Payload(false)
		if !json.Valid(payload) {
			t.Fatalf("payload is not JSON: %s", payload)
		}
		if _, err := ev.AppendRecord(nil); err != nil {
			t.Fatalf("the outbox could not store the sale: %v", err)
		}
	})
}
