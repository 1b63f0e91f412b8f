package sale

import (
	"strings"
	"testing"
)

func leadSpec(t *testing.T, mode string) *Spec {
	t.Helper()
	spec, err := BuildSpec(SpecConfig{Kind: KindLead, Mode: mode, Fields: map[Field][]string{
		FieldCustomerID: {"customer.id"},
		FieldEmail:      {"customer.email"},
		FieldClickID:    {"{http.request.cookie.clickId}"},
	}})
	if err != nil {
		t.Fatal(err)
	}
	return spec
}

// A lead needs a customer id and nothing of a sale's money; it is read as
// a lead, with its mode, and dedups on its customer and event name.
func TestExtractLead(t *testing.T) {
	body := []byte(`{"customer":{"id":"cus_42","email":"a@b.c"}}`)
	vars := resolver(map[string]string{"{http.request.cookie.clickId}": "cl_1"})
	ev, err := leadSpec(t, ModeDeferred).Extract(body, vars, captureTime)
	if err != nil {
		t.Fatal(err)
	}
	if !ev.IsLead() || ev.Mode != ModeDeferred || ev.CustomerExternalID != "cus_42" || ev.ClickID != "cl_1" || !strings.HasPrefix(ev.ID, "lead_") {
		t.Fatalf("lead %+v", ev)
	}
	if got, want := string(ev.Payload(false)), `{"event":"lead","timestamp":"2026-04-10T12:45:10.123Z","customerExternalId":"cus_42","email":"a@b.c","clickId":"cl_1","mode":"deferred"}`; got != want {
		t.Fatalf("file line body\n got %s\nwant %s", got, want)
	}
	again, _ := leadSpec(t, ModeDeferred).Extract(body, vars, captureTime)
	other, _ := leadSpec(t, "").Extract([]byte(`{"customer":{"id":"cus_43"}}`), vars, captureTime)
	if again.DedupKey() != ev.DedupKey() || again.ID != ev.ID || other.DedupKey() == ev.DedupKey() {
		t.Fatalf("dedup keys %q %q %q: the same customer's sign-up must dedup, another's not", ev.DedupKey(), again.DedupKey(), other.DedupKey())
	}
	if _, err := leadSpec(t, "").Extract([]byte(`{"customer":{}}`), vars, captureTime); err == nil {
		t.Fatal("a lead without a customer id was accepted")
	}
}

func TestLeadSpecRules(t *testing.T) {
	for _, tc := range []struct {
		cfg  SpecConfig
		want string
	}{
		{SpecConfig{Kind: KindLead}, "customer_id is required"},
		{SpecConfig{Kind: KindLead, Mode: "eager", Fields: map[Field][]string{FieldCustomerID: {"id"}}}, `mode "eager": want deferred`},
		{SpecConfig{Mode: ModeDeferred, Fields: map[Field][]string{FieldCustomerID: {"id"}, FieldAmount: {"total"}}}, "only a lead has a mode"},
		{SpecConfig{Kind: "refund"}, `kind "refund"`},
		{SpecConfig{Kind: KindLead, Fields: map[Field][]string{FieldCustomerID: {"id"}, FieldAmount: {"total"}}}, "amount: a lead has none"},
		{SpecConfig{Kind: KindLead, Preset: "stripe"}, "preset stripe reads a sale, not a lead"},
	} {
		if _, err := BuildSpec(tc.cfg); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: %v, want %q", tc.cfg, err, tc.want)
		}
	}
}

// A sale read by a payment provider's preset names the provider, which
// Dub records (and takes only from its list: others are "custom").
func TestPresetNamesItsPaymentProcessor(t *testing.T) {
	dub := mustPlatform(t, "dub")
	for _, tc := range []struct{ preset, fixture, want string }{
		{"stripe", "checkout_session_completed.json", `"paymentProcessor":"stripe"`},
		{"lemonsqueezy", "order_created.json", `"paymentProcessor":"custom"`},
	} {
		ev, err := presetSpec(t, tc.preset).Extract(presetFixture(t, tc.preset, tc.fixture), presetResolver(nil), presetCaptureTime)
		if err != nil {
			t.Fatal(err)
		}
		if got := string(dub.Payload(ev, false)); !strings.Contains(got, tc.want) {
			t.Errorf("%s: %s, want %s", tc.preset, got, tc.want)
		}
	}
}

// A lead's record, and a long invoice's, read back as the same event with
// the same dedup key: a retry from disk, or a move to another outbox,
// sends and dedups them as the first attempt did.
func TestRecordsReadBackWithTheirDedupKeys(t *testing.T) {
	vars := resolver(map[string]string{"{http.request.cookie.clickId}": "cl_1"})
	lead, err := leadSpec(t, ModeDeferred).Extract([]byte(`{"customer":{"id":"cus_42","email":"a@b.c"}}`), vars, captureTime)
	if err != nil {
		t.Fatal(err)
	}
	long, err := orderSpec(t).Extract([]byte(`{"order":{"id":"`+strings.Repeat("i", 300)+`","total":5},"customer":{"id":"u"}}`), nil, captureTime)
	if err != nil {
		t.Fatal(err)
	}
	for _, ev := range []*Event{lead, long} {
		record, err := ev.AppendRecord(nil)
		if err != nil {
			t.Fatal(err)
		}
		back, err := DecodeRecord(record)
		if err != nil {
			t.Fatalf("%s: %v", record, err)
		}
		if back.DedupKey() != ev.DedupKey() || back.IsLead() != ev.IsLead() || string(back.Payload(false)) != string(ev.Payload(false)) {
			t.Fatalf("read back as %+v, want %+v", back, ev)
		}
	}
}

// A real Medusa 2.21 store answers with tax-exclusive totals that are not
// whole cents. Each platform gets the amount rounded half away from zero
// to the currency's digits; the file sink's body keeps it as captured.
func TestMedusaTotalsAreRoundedOnTheWire(t *testing.T) {
	body := strings.Replace(string(presetFixture(t, "medusa", "cart_complete_order.json")), `"total": 118.28`, `"total": 124.8667`, 1)
	vars := presetResolver(map[string]string{"{http.vars.click_id}": "cl_1"})
	ev, err := presetSpec(t, "medusa").Extract([]byte(body), vars, presetCaptureTime)
	if err != nil {
		t.Fatal(err)
	}
	for platform, want := range map[string]string{"cutmeshort": `"amount":124.87,`, "dub": `"amount":12487,`, "generic": `"amount":124.87,`} {
		if got := string(mustPlatform(t, platform).Payload(ev, false)); !strings.Contains(got, want) {
			t.Errorf("%s: %s, want %s", platform, got, want)
		}
	}
	if got := string(ev.Payload(false)); !strings.Contains(got, `"amount":124.8667,`) {
		t.Errorf("file body %s, want the amount as captured", got)
	}
}
