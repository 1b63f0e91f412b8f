package sale

import (
	"errors"
	"strings"
	"testing"
)

// bindingOf fills as a binding that knows one email and one customer
// would, marking what it filled.
func bindingOf(email, customer, click string) Filler {
	return func(ev *Event) {
		if ev.CustomerExternalID == "" && ev.CustomerEmail == email {
			ev.CustomerExternalID = customer
			ev.SetOrigin(FieldCustomerID, OriginBinding)
		}
		if ev.ClickID == "" && ev.CustomerExternalID == customer {
			ev.ClickID = click
			ev.SetOrigin(FieldClickID, OriginBinding)
		}
	}
}

func TestExtractFilledCompletesASaleBeforeJudgingIt(t *testing.T) {
	spec := orderSpec(t)
	body := []byte(`{"order":{"id":"cs_1","total":"10","currency":"EUR"},"customer":{"email":"alex@example.com"}}`)
	if _, err := spec.Extract(body, resolver(nil), captureTime); err == nil {
		t.Fatal("a sale without a customer was accepted with no binding")
	}
	ev, err := spec.ExtractFilled(body, resolver(nil), captureTime, bindingOf("alex@example.com", "user_7", "clk_9"))
	if err != nil {
		t.Fatal(err)
	}
	if ev.CustomerExternalID != "user_7" || ev.ClickID != "clk_9" ||
		*ev.Origin != (Origin{CustomerExternalID: OriginBinding, ClickID: OriginBinding}) {
		t.Fatalf("customer %q click %q origin %+v", ev.CustomerExternalID, ev.ClickID, ev.Origin)
	}

	_, err = spec.ExtractFilled(body, resolver(nil), captureTime, bindingOf("other@example.com", "user_7", "clk_9"))
	var rejected *RejectError
	if !errors.As(err, &rejected) || rejected.Field != string(FieldCustomerID) || !strings.Contains(rejected.Reason, "no binding knew") {
		t.Fatalf("an unknown email: %v, want customer_id rejected naming the binding", err)
	}
}

// Where each attribution field came from is recorded, and a filler never
// sees a lead: a lead's customer is its own, and it is what teaches the
// binding.
func TestExtractRecordsOrigins(t *testing.T) {
	spec := orderSpec(t)
	ev, err := spec.ExtractFilled([]byte(`{"order":{"id":"i","total":"1"}}`),
		resolver(map[string]string{"{http.request.header.X-Customer}": "user_1", "{http.request.cookie.clickId}": "clk_1"}),
		captureTime, bindingOf("", "user_1", "clk_other"))
	if err != nil {
		t.Fatal(err)
	}
	if ev.ClickID != "clk_1" || *ev.Origin != (Origin{CustomerExternalID: OriginPlaceholder, ClickID: OriginPlaceholder}) {
		t.Fatalf("click %q origin %+v", ev.ClickID, ev.Origin)
	}
	ev, err = spec.ExtractFilled([]byte(`{"order":{"id":"i","total":"1"},"customer":{"id":"user_1"}}`), resolver(nil), captureTime, nil)
	if err != nil || *ev.Origin != (Origin{CustomerExternalID: OriginPayload}) {
		t.Fatalf("origin %+v (%v)", ev.Origin, err)
	}

	lead, err := BuildSpec(SpecConfig{Kind: KindLead, Fields: map[Field][]string{FieldCustomerID: {"user.id"}, FieldEmail: {"user.email"}}})
	if err != nil {
		t.Fatal(err)
	}
	called := false
	_, err = lead.ExtractFilled([]byte(`{"user":{"email":"a@example.com"}}`), resolver(nil), captureTime, func(*Event) { called = true })
	if called || err == nil {
		t.Fatalf("a lead went through the filler (called %v, err %v)", called, err)
	}
}
