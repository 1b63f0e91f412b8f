package sale

import (
	"bytes"
	"encoding/json"
	"slices"
	"testing"
	"time"
)

// sdkField is one field of a model of CutMeShort's Go SDK (cms-go), as
// its MarshalJSON writes it: the JSON type, and whether it is written
// whatever its value ("if true" in MarshalJSON) or only when set.
type sdkField struct {
	jsonType string // "string" or "number"
	always   bool
}

// The tables are written by hand from cms-go's
// internal/models/model_sale_payload.go and model_lead_payload.go
// (OpenAPI 1.0.0): the struct's json tags and Go types, and which members
// MarshalJSON writes unconditionally. *time.Time marshals as an RFC 3339
// string, float64 as a JSON number.
var (
	cmsGoSalePayload = map[string]sdkField{
		"clickId":            {"string", true},
		"eventName":          {"string", true},
		"customerExternalId": {"string", true},
		"invoiceId":          {"string", true},
		"amount":             {"number", true},
		"currency":           {"string", true},
		"timestamp":          {"string", false},
		"customerName":       {"string", false},
		"customerEmail":      {"string", false},
		"customerAvatar":     {"string", false},
	}
	cmsGoLeadPayload = map[string]sdkField{
		"clickId":            {"string", false},
		"eventName":          {"string", true},
		"customerExternalId": {"string", true},
		"timestamp":          {"string", false},
		"customerName":       {"string", false},
		"customerEmail":      {"string", false},
		"customerAvatar":     {"string", false},
		"mode":               {"string", false},
	}
)

// A full sale and lead carry exactly the SDK's keys, with its JSON types,
// in the order its MarshalJSON writes them (a map: sorted keys). The only
// field never sent is customerAvatar, which the proxy does not capture.
func TestCutMeShortMatchesGoSDK(t *testing.T) {
	p := mustPlatform(t, "cutmeshort")
	deferred := capturedLead()
	deferred.Mode = ModeDeferred
	tests := []struct {
		name  string
		ev    *Event
		model map[string]sdkField
	}{
		{"sale", capturedSale(t), cmsGoSalePayload},
		{"lead", deferred, cmsGoLeadPayload},
	}
	for _, tt := range tests {
		body := p.Payload(tt.ev, false)
		keys, values := decodeOrdered(t, body)
		if !slices.IsSorted(keys) {
			t.Errorf("%s: keys %v are not in the SDK's (sorted) order", tt.name, keys)
		}
		want := make([]string, 0, len(tt.model))
		for k := range tt.model {
			if k != "customerAvatar" {
				want = append(want, k)
			}
		}
		slices.Sort(want)
		if !slices.Equal(keys, want) {
			t.Errorf("%s: keys %v, the SDK's %v", tt.name, keys, want)
		}
		for k, v := range values {
			f, ok := tt.model[k]
			if !ok {
				t.Errorf("%s: %s is not in the SDK's model", tt.name, k)
				continue
			}
			if got := jsonTypeOf(v); got != f.jsonType {
				t.Errorf("%s: %s is a %s, the SDK writes a %s", tt.name, k, got, f.jsonType)
			}
		}
		ts, ok := values["timestamp"].(string)
		if _, err := time.Parse(time.RFC3339, ts); !ok || err != nil {
			t.Errorf("%s: timestamp %v is not RFC 3339, which the SDK's time.Time reads", tt.name, values["timestamp"])
		}
	}

	// What the SDK writes whatever its value is here whenever the event has
	// it; a sale without a click leaves clickId out (see cutMeShort).
	minimal := &Event{Timestamp: saleTime, CustomerExternalID: "u", Amount: amountOf(t, "5", "USD"), InvoiceID: "i", ClickID: "c"}
	_, values := decodeOrdered(t, p.Payload(minimal, false))
	for k, f := range cmsGoSalePayload {
		if _, ok := values[k]; f.always && !ok {
			t.Errorf("minimal sale: %s, always written by the SDK, is missing", k)
		}
	}
}

// decodeOrdered returns a JSON object's keys in their order and its
// values, numbers as json.Number.
func decodeOrdered(t *testing.T, body []byte) ([]string, map[string]any) {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		t.Fatalf("%s: not an object", body)
	}
	var keys []string
	values := map[string]any{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			t.Fatalf("%s: %v", body, err)
		}
		key := tok.(string)
		var v any
		if err := dec.Decode(&v); err != nil {
			t.Fatalf("%s: %v", body, err)
		}
		keys = append(keys, key)
		values[key] = v
	}
	return keys, values
}

func jsonTypeOf(v any) string {
	switch v.(type) {
	case string:
		return "string"
	case json.Number:
		return "number"
	}
	return "other"
}
