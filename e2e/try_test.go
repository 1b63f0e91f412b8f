package e2e

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/saletrack/caddy-saletrack/internal/fake"
	"github.com/saletrack/caddy-saletrack/sale"
)

// tryRun is one run of `caddy sale-track try`.
type tryRun struct {
	stdout, stderr string
	code           int
}

// runTry runs `caddy sale-track try args...` in dir, with HOME and the XDG
// dirs inside dir, and body on stdin.
func runTry(t *testing.T, dir string, body []byte, args ...string) tryRun {
	t.Helper()
	cmd := exec.Command(caddyBin, append([]string{"sale-track", "try"}, args...)...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "HOME="+dir, "XDG_DATA_HOME="+filepath.Join(dir, "data"), "XDG_CONFIG_HOME="+filepath.Join(dir, "config"))
	cmd.Stdin = bytes.NewReader(body)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	run := tryRun{stdout: stdout.String(), stderr: stderr.String()}
	var exit *exec.ExitError
	switch {
	case errors.As(err, &exit):
		run.code = exit.ExitCode()
	case err != nil:
		t.Fatal(err)
	}
	return run
}

// tryJSON is what --json prints.
type tryJSON struct {
	Sale     bool            `json:"sale"`
	Kind     string          `json:"kind"`
	Payload  json.RawMessage `json:"payload"`
	Endpoint string          `json:"endpoint"`
	Reason   string          `json:"reason"`
	Notes    []string        `json:"notes"`
	Fields   map[string]struct {
		Value string `json:"value"`
		Tried []struct {
			Source string `json:"source"`
		} `json:"tried"`
	} `json:"fields"`
}

func (r tryRun) decode(t *testing.T) tryJSON {
	t.Helper()
	var out tryJSON
	if strings.Count(r.stdout, "\n") != 1 {
		t.Fatalf("--json printed %q, want one line", r.stdout)
	}
	if err := json.Unmarshal([]byte(r.stdout), &out); err != nil {
		t.Fatalf("--json: %v: %s", err, r.stdout)
	}
	return out
}

// Every preset fixture, through the binary, comes out as the sale package
// reads it with the generic profile (which sends the event's own time):
// the same payload byte for byte for an event, exit 1 with the failed
// condition or the rejected field for the rest. A lead without a click
// is no event either.
func TestTryEveryPresetFixture(t *testing.T) {
	root := filepath.Join("..", "sale", "testdata", "presets")
	presets, err := os.ReadDir(root)
	if err != nil {
		t.Fatal(err)
	}
	generic, err := sale.LookupPlatform("generic")
	if err != nil {
		t.Fatal(err)
	}
	var events, notEvents int
	for _, p := range presets {
		preset, err := sale.LookupPreset(p.Name())
		if err != nil {
			t.Fatal(err)
		}
		spec, err := sale.BuildSpec(sale.SpecConfig{Preset: p.Name(), Kind: preset.Kind})
		if err != nil {
			t.Fatal(err)
		}
		files, err := os.ReadDir(filepath.Join(root, p.Name()))
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range files {
			path, _ := filepath.Abs(filepath.Join(root, p.Name(), f.Name()))
			body, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			t.Run(p.Name()+"/"+f.Name(), func(t *testing.T) {
				run := runTry(t, t.TempDir(), nil, "--preset", p.Name(), "--platform", "generic", "--json", path)
				got := run.decode(t)
				ev, err := spec.Extract(body, nil, time.Now())
				var notSale *sale.NotSaleError
				var rejected *sale.RejectError
				switch {
				case errors.As(err, &notSale):
					notEvents++
					if run.code != 1 || got.Sale || !strings.Contains(got.Reason, "when "+notSale.Condition) {
						t.Fatalf("exit %d, %+v: want exit 1 naming the condition %q", run.code, got, notSale.Condition)
					}
				case errors.As(err, &rejected):
					notEvents++
					if run.code != 1 || got.Sale || !strings.HasPrefix(got.Reason, rejected.Field+": "+rejected.Reason) {
						t.Fatalf("exit %d, %+v: want exit 1 with %q", run.code, got, rejected.Error())
					}
				case err != nil:
					t.Fatalf("the fixture is not readable: %v", err)
				case ev.IsLead() && ev.ClickID == "":
					notEvents++
					if run.code != 1 || !strings.Contains(got.Reason, "without a click") {
						t.Fatalf("exit %d, %+v: want exit 1, a lead without a click", run.code, got)
					}
				default:
					events++
					want := generic.Payload(ev, false)
					if run.code != 0 || !got.Sale || string(got.Payload) != string(want) {
						t.Fatalf("exit %d, payload\n%s\nwant\n%s\n(stderr %s)", run.code, got.Payload, want, run.stderr)
					}
				}
			})
		}
	}
	if events == 0 || notEvents == 0 {
		t.Fatalf("%d events and %d others: the fixtures should hold both", events, notEvents)
	}
}

// The text output of a preset's fixture: the exact payload alone on
// stdout, the endpoint and each field's source on stderr; and the reason
// of a fixture that is not a sale.
func TestTryPresetText(t *testing.T) {
	fixture, _ := filepath.Abs("../sale/testdata/presets/stripe/checkout_session_completed.json")
	run := runTry(t, t.TempDir(), nil, "--preset", "stripe", "--platform", "generic", fixture)
	want := `{"event":"sale","timestamp":"2026-04-10T12:45:10.000Z","customerExternalId":"user_8412","email":"alex.johnson@example.com","name":"Alex Johnson","currency":"USD","amount":199.5,"invoiceId":"pi_3PwTpzKZ3qJ8yWbN1gX4kM2r","clickId":"cl_7Hq2x9Lm"}` + "\n"
	if run.code != 0 || run.stdout != want {
		t.Fatalf("exit %d, stdout %q\nwant %q\nstderr %s", run.code, run.stdout, want, run.stderr)
	}
	for _, line := range []string{
		`amount        "19950" from data.object.amount_total`,
		`click_id      "cl_7Hq2x9Lm" from data.object.metadata.click_id after data.object.metadata.clickId`,
		"binding lookup is left out",
		"nothing was sent",
	} {
		if !strings.Contains(run.stderr, line) {
			t.Errorf("stderr lacks %q:\n%s", line, run.stderr)
		}
	}

	run = runTry(t, t.TempDir(), nil, "--preset", "stripe", "--status", "500", fixture)
	refused := "not a sale: the shop answered the webhook 500, not one of the route's statuses (2xx)"
	if run.code != 1 || run.stdout != "" || !strings.Contains(run.stderr, refused) {
		t.Fatalf("a webhook the shop refused: exit %d, stdout %q, stderr:\n%s", run.code, run.stdout, run.stderr)
	}

	unpaid, _ := filepath.Abs("../sale/testdata/presets/stripe/checkout_session_completed_async_unpaid.json")
	run = runTry(t, t.TempDir(), nil, "--preset", "stripe", unpaid)
	reason := `not a sale: condition not met: when [data.object.payment_status,data.object.status]|0 paid succeeded (the path held "unpaid")`
	if run.code != 1 || run.stdout != "" || !strings.Contains(run.stderr, reason) {
		t.Fatalf("exit %d, stdout %q, stderr:\n%s\nwant exit 1 and %q", run.code, run.stdout, run.stderr, reason)
	}
}

// demoOrder is the checkout answer of Caddyfile.example's stand-in shop.
const demoOrder = `{"order":{"id":"inv_1","status":"paid","total":"199.00","currency":"USD","customer":{"id":"user_123","email":"alex@example.com","first_name":"Alex","last_name":"Johnson"}}}`

// The demo config, its adapter inferred from the file's name: the
// checkout path reaches its sale_track through the handle block, a
// compressed answer is decoded, the cookie is the click; a pending order
// is not a sale and says which condition failed on what; the sign-up
// path reaches lead_track. Nothing is created on disk: no outbox, no
// storage directory, no sales file.
func TestTryDemoCaddyfile(t *testing.T) {
	src, err := os.ReadFile("../Caddyfile.example")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "Caddyfile"), src, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, enc := range []string{"", "gzip", "zstd", "br", "deflate"} {
		run := runTry(t, dir, []byte(demoOrder), "--config", "Caddyfile", "--path", "/api/checkout", "--status", "201",
			"--cookie", "cms_rf=cl_42", "--content-encoding", enc, "-")
		if run.code != 0 || strings.Count(run.stdout, "\n") != 1 {
			t.Fatalf("%s: exit %d, stdout %q, stderr:\n%s", enc, run.code, run.stdout, run.stderr)
		}
		var payload map[string]any
		if err := json.Unmarshal([]byte(run.stdout), &payload); err != nil {
			t.Fatal(err)
		}
		delete(payload, "timestamp") // the send time: the order has none of its own
		want := map[string]any{"eventName": "sale", "customerExternalId": "user_123", "customerEmail": "alex@example.com",
			"customerName": "Alex Johnson", "currency": "USD", "amount": 199.0, "invoiceId": "inv_1", "clickId": "cl_42"}
		if got, _ := json.Marshal(payload); string(got) != mustJSON(t, want) {
			t.Fatalf("%s: payload %s, want %s", enc, got, mustJSON(t, want))
		}
		if !strings.Contains(run.stderr, `"cl_42" from {http.request.cookie.cms_rf} after {http.vars.click_id}`) {
			t.Fatalf("%s: stderr does not say where the click came from:\n%s", enc, run.stderr)
		}
		if strings.Contains(run.stderr, "stands in") {
			t.Fatalf("%s: the capture time, sent as it is, is said to be replaced:\n%s", enc, run.stderr)
		}
	}

	pending := strings.Replace(demoOrder, `"paid"`, `"pending"`, 1)
	run := runTry(t, dir, []byte(pending), "--config", "Caddyfile", "--path", "/api/checkout", "-")
	if run.code != 1 || run.stdout != "" || !strings.Contains(run.stderr, `not a sale: condition not met: when order.status paid (the path held "pending")`) {
		t.Fatalf("pending order: exit %d, stdout %q, stderr:\n%s", run.code, run.stdout, run.stderr)
	}

	signup := `{"customer":{"id":"user_123","email":"alex@example.com","first_name":"Alex","last_name":"Johnson"}}`
	run = runTry(t, dir, []byte(signup), "--config", "Caddyfile", "--path", "/api/signup", "--status", "201", "--cookie", "cms_rf=cl_42", "--json", "-")
	if got := run.decode(t); run.code != 0 || !got.Sale || got.Kind != "lead" || got.Fields["customer_id"].Value != "user_123" ||
		!strings.Contains(strings.Join(got.Notes, "\n"), "binding lookup is left out") {
		t.Fatalf("sign-up: exit %d, %+v", run.code, got)
	}

	run = runTry(t, dir, []byte(demoOrder), "--config", "Caddyfile", "--path", "/api/checkout", "--status", "404", "-")
	if run.code != 1 || !strings.Contains(run.stderr, "status 404 is not one of the route's statuses (2xx)") {
		t.Fatalf("a 404: exit %d, stderr:\n%s", run.code, run.stderr)
	}

	run = runTry(t, dir, []byte(demoOrder), "--config", "Caddyfile", "--path", "/api/checkout", "--content-type", "text/html", "-")
	if run.code != 1 || !strings.Contains(run.stderr, `Content-Type "text/html" is not JSON`) {
		t.Fatalf("an HTML answer: exit %d, stderr:\n%s", run.code, run.stderr)
	}

	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if e.Name() != "Caddyfile" {
			t.Errorf("try left %s in the directory", e.Name())
		}
	}
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// Routing goes through the real matchers: a site's host, nested route
// and handle blocks, and a handle group where only the first match
// applies. A path no capture handler is on, and mistakes on the command
// line, exit 2. The api_key and the endpoint's credentials are never
// printed.
func TestTryRouting(t *testing.T) {
	dir := t.TempDir()
	caddyfile := `{
	sale_track {
		platform generic
		endpoint https://user:hunter2@receiver.example/sales
		api_key sk_live_never_printed
		storage_dir ./.saletrack
	}
}
http://shop.example {
	route /api/* {
		handle /api/checkout {
			sale_track {
				amount total
				customer_id customer
				route checkout_a
			}
			respond 200
		}
		handle {
			respond 404
		}
	}
}
http://other.example {
	@staff header X-Staff 1
	handle @staff {
		respond 403
	}
	handle /api/checkout {
		sale_track {
			amount total
			customer_id customer
			route checkout_b
		}
		respond 200
	}
	handle /hooks/* {
		sale_track {
			source request
			amount total
			customer_id customer
			route hook
		}
		respond 200
	}
}
`
	path := filepath.Join(dir, "Caddyfile")
	if err := os.WriteFile(path, []byte(caddyfile), 0o644); err != nil {
		t.Fatal(err)
	}
	body := []byte(`{"total":"5.00","customer":"c_1"}`)
	try := func(args ...string) tryRun {
		return runTry(t, dir, body, append([]string{"--config", path}, args...)...)
	}
	for _, c := range []struct {
		host, path, route string
	}{
		{"", "/api/checkout", ""}, // both sites: either, and the other named
		{"shop.example", "/api/checkout", "checkout_a"},
		{"other.example", "/api/checkout", "checkout_b"},
		{"", "/hooks/paid", "hook"},
	} {
		run := try("--host", c.host, "--path", c.path, "-")
		want := `sale_track "` + c.route + `"`
		if c.route == "" {
			want = "(name a site with --host)"
		}
		if run.code != 0 || !strings.Contains(run.stderr, want) {
			t.Fatalf("%s%s: exit %d, want %s:\n%s", c.host, c.path, run.code, want, run.stderr)
		}
		if !strings.Contains(run.stderr, "POST https://receiver.example/sales (generic)") {
			t.Fatalf("%s%s: the endpoint is not shown without its credentials:\n%s", c.host, c.path, run.stderr)
		}
		for _, secret := range []string{"sk_live_never_printed", "hunter2"} {
			if strings.Contains(run.stdout+run.stderr, secret) {
				t.Fatalf("%s%s printed %s", c.host, c.path, secret)
			}
		}
	}
	for _, args := range [][]string{
		{"--path", "/api/other", "-"},                            // the handle group's fallback answers
		{"--host", "shop.example", "--path", "/hooks/paid", "-"}, // another site's
		{"--path", "/api/checkout", "--request", "-"},            // the handler reads responses
		{"--path", "/api/checkout", "--content-encoding", "lz4", "-"},
		{"--path", "/api/checkout"},                           // no body
		{"--path", "/api/checkout", "--platform", "dub", "-"}, // a config names its platform
	} {
		if run := try(args...); run.code != 2 || run.stdout != "" {
			t.Errorf("%v: exit %d, stdout %q, want exit 2:\n%s", args, run.code, run.stdout, run.stderr)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, ".saletrack")); !os.IsNotExist(err) {
		t.Fatalf("the storage directory was created: %v", err)
	}
}

// A try writes nothing and opens no file of the config's: not the
// outbox or the sales file in the storage directory, not the access log,
// and not the local certificate authority a localhost site would have
// Caddy create.
func TestTryCreatesNothing(t *testing.T) {
	dir := t.TempDir()
	caddyfile := `{
	sale_track {
		api_key sk_test
		storage_dir ./.saletrack
		file ./sales.jsonl
	}
}
shop.example.com, localhost {
	log {
		output file ./access.log
	}
	handle /api/checkout {
		sale_track {
			amount total
			customer_id customer
		}
		reverse_proxy 127.0.0.1:9
	}
}
`
	if err := os.WriteFile(filepath.Join(dir, "Caddyfile"), []byte(caddyfile), 0o644); err != nil {
		t.Fatal(err)
	}
	run := runTry(t, dir, []byte(`{"total":"5.00","customer":"c_1"}`), "--path", "/api/checkout", "-")
	if run.code != 0 || !strings.Contains(run.stderr, "POST https://api.cme.sh/track/sale (cutmeshort)") {
		t.Fatalf("exit %d:\n%s", run.code, run.stderr)
	}
	err := filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		if err == nil && path != dir && d.Name() != "Caddyfile" {
			t.Errorf("try created %s", path)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
}

// A production config can be tried on another machine: try sends nothing
// and connects nowhere, so it stands in for each secret whose variable is
// unset and leaves the nats block out, and says so, while `caddy validate`
// still refuses the config there.
func TestTryStandsInForUnsetSecrets(t *testing.T) {
	dir := t.TempDir()
	caddyfile := `{
	sale_track {
		platform cutmeshort
		api_key {env.SALETRACK_TRY_UNSET_KEY}
		signing_secret {env.SALETRACK_TRY_UNSET_SECRET}
		storage_dir ./.saletrack
		nats {
			url {env.SALETRACK_TRY_UNSET_NATS}
			creds /nonexistent/nats.creds
		}
	}
}

:8080 {
	handle /api/checkout {
		` + fake.OrderSaleTrack() + `
		reverse_proxy 127.0.0.1:9
	}
}
`
	path := filepath.Join(dir, "Caddyfile")
	if err := os.WriteFile(path, []byte(caddyfile), 0o644); err != nil {
		t.Fatal(err)
	}
	run := runTry(t, dir, []byte(demoOrder), "--config", "Caddyfile", "--path", "/api/checkout", "--cookie", "cms_rf=cl_42", "--json", "-")
	got := run.decode(t)
	notes := strings.Join(got.Notes, "\n")
	if run.code != 0 || !got.Sale ||
		!strings.Contains(notes, "api_key reads SALETRACK_TRY_UNSET_KEY, unset here: a stand-in was used") ||
		!strings.Contains(notes, "signing_secret reads SALETRACK_TRY_UNSET_SECRET, unset here") ||
		!strings.Contains(notes, "the nats block is left out") {
		t.Fatalf("exit %d, %+v, stderr:\n%s", run.code, got, run.stderr)
	}
	if strings.Contains(run.stdout+run.stderr, "try-stand-in") {
		t.Errorf("the stand-in value was printed:\n%s%s", run.stdout, run.stderr)
	}
	out, err := exec.Command(caddyBin, "validate", "--config", path).CombinedOutput()
	if err == nil || !strings.Contains(string(out), "SALETRACK_TRY_UNSET_KEY") {
		t.Fatalf("caddy validate passed a config whose key is unset: %v\n%s", err, out)
	}
}
