package sale

import (
	"reflect"
	"testing"
)

func explainSpec(t *testing.T) *Spec {
	t.Helper()
	s, err := BuildSpec(SpecConfig{
		Fields: map[Field][]string{
			FieldAmount:     {"order.total"},
			FieldCustomerID: {"order.customer_id", "order.user_id"},
			FieldClickID:    {"order.click", "{http.request.cookie.cms_rf}"},
		},
		When: []Condition{{Path: "order.status", Values: []string{"paid"}}, {Path: "order.live"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// Explain stops at the first condition that fails, saying what its path
// held, as Extract does.
func TestExplainFailedCondition(t *testing.T) {
	got := explainSpec(t).Explain([]byte(`{"order":{"status":"pending","live":true}}`), nil)
	want := []ConditionTrace{{Condition: "order.status paid", Held: `"pending"`, Holds: false}}
	if !reflect.DeepEqual(got.Conditions, want) || got.Fields != nil {
		t.Fatalf("Explain = %+v, want conditions %+v and no fields", got, want)
	}
	got = explainSpec(t).Explain([]byte(`{"order":{"status":"paid"}}`), nil)
	if n := len(got.Conditions); n != 2 || got.Conditions[1].Held != "" || got.Conditions[1].Holds {
		t.Fatalf("a missing path: %+v", got.Conditions)
	}
}

// Each field lists the sources tried in order up to the one taken; a
// click id no tracked link sets is passed over, as Extract passes it.
func TestExplainFields(t *testing.T) {
	body := []byte(`{"order":{"status":"paid","live":1,"total":"12.00","user_id":"u1","click":"not a click"}}`)
	cookies := func(p string) string { return map[string]string{"{http.request.cookie.cms_rf}": "cl_42"}[p] }
	got := explainSpec(t).Explain(body, cookies)
	byField := map[Field]FieldTrace{}
	for _, f := range got.Fields {
		byField[f.Field] = f
	}
	want := map[Field]FieldTrace{
		FieldAmount:     {Field: FieldAmount, Value: "12.00", Tried: []SourceTrace{{Source: "order.total", Value: "12.00"}}},
		FieldCustomerID: {Field: FieldCustomerID, Value: "u1", Tried: []SourceTrace{{Source: "order.customer_id"}, {Source: "order.user_id", Value: "u1"}}},
		FieldClickID: {Field: FieldClickID, Value: "cl_42", Tried: []SourceTrace{
			{Source: "order.click", Value: "not a click", Refused: "not a click id a tracked link sets"},
			{Source: "{http.request.cookie.cms_rf}", Value: "cl_42"}}},
	}
	for f, w := range want {
		if !reflect.DeepEqual(byField[f], w) {
			t.Errorf("%s: %+v, want %+v", f, byField[f], w)
		}
	}
	ev, err := explainSpec(t).Extract(body, cookies, presetCaptureTime)
	if err != nil || ev.ClickID != "cl_42" || ev.CustomerExternalID != "u1" {
		t.Fatalf("Extract disagrees: %+v, %v", ev, err)
	}
}
