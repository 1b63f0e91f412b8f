package caddymodule

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	dto "github.com/prometheus/client_model/go"

	"github.com/saletrack/caddy-saletrack/sale"
)

func provisionApp(t *testing.T, a *App) error {
	t.Helper()
	ctx, cancel := caddy.NewContext(caddy.Context{Context: context.Background()})
	t.Cleanup(cancel)
	if a.StorageDir == "" {
		a.StorageDir = t.TempDir()
	}
	if err := a.Provision(ctx); err != nil {
		return err
	}
	return a.Validate()
}

// A key from an environment variable that is not set is no key: a hosted
// platform would answer 401 to every event, so validate refuses it, naming
// the placeholder that came out empty.
func TestUnsetAPIKeyVariableFailsValidate(t *testing.T) {
	err := provisionApp(t, &App{APIKey: "{env.SALETRACK_TEST_UNSET_KEY}"})
	if err == nil || !strings.Contains(err.Error(), "api_key {env.SALETRACK_TEST_UNSET_KEY} is empty: set it in Caddy's environment") {
		t.Fatalf("validate: %v, want the empty variable named", err)
	}
}

// api_base is a base the paths are appended to: a query or fragment would
// swallow them, so it is refused on its line.
func TestAPIBaseTakesNoQueryOrFragment(t *testing.T) {
	for _, base := range []string{"https://api.cme.sh/?region=eu", "https://api.cme.sh/#x"} {
		var a App
		err := a.UnmarshalCaddyfile(caddyfile.NewTestDispenser("sale_track {\n api_key k\n api_base " + base + "\n}"))
		if err == nil || !strings.Contains(err.Error(), "takes no query or fragment") || !strings.HasSuffix(err.Error(), "Testfile:3") {
			t.Errorf("%s: %v", base, err)
		}
	}
}

// A generic setup with only a lead endpoint keeps its sales in the file,
// and one with only a sale endpoint its leads: no kind is dropped.
func TestGenericKeepsWhatItCannotSendInTheFile(t *testing.T) {
	for _, a := range []*App{
		{Platform: "generic", LeadEndpoint: "https://collector.internal/leads"},
		{Platform: "generic", Endpoint: "https://collector.internal/sales"},
	} {
		if err := provisionApp(t, a); err != nil {
			t.Fatal(err)
		}
		if a.file != filepath.Join(a.storageDir, "sales.jsonl") {
			t.Errorf("%+v: file %q, want the default file sink", a, a.file)
		}
	}
}

// A lead carries no money: committing one converts nothing and counts no
// missing exchange rate.
func TestLeadIsNotConverted(t *testing.T) {
	a := newTestApp(t)
	if err := a.Start(); err != nil {
		t.Fatal(err)
	}
	defer a.Stop()
	missing := func() float64 {
		var m dto.Metric
		if err := fxMissing.WithLabelValues("").Write(&m); err != nil {
			t.Fatal(err)
		}
		return m.GetCounter().GetValue()
	}
	before := missing()
	lead := &sale.Event{Kind: sale.KindLead, CustomerExternalID: "cus_1", ClickID: "cl_1", Route: "signup"}
	if outcome := a.commit(lead); outcome != outcomeCaptured || lead.USD != nil || missing() != before {
		t.Fatalf("outcome %s, USD %v, fx_missing %v→%v", outcome, lead.USD, before, missing())
	}
}
