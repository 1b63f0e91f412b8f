package e2e

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/saletrack/caddy-saletrack/internal/fake"
)

// caddyBin is the cmd/caddy binary built for this test run.
var caddyBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "saletrack-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	caddyBin = filepath.Join(dir, "caddy")
	build := exec.Command("go", "build", "-o", caddyBin, "./cmd/caddy")
	build.Dir = ".."
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "building cmd/caddy:", err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// caddyProc is one running cmd/caddy process.
type caddyProc struct {
	t         *testing.T
	cmd       *exec.Cmd
	adminPort int
	dir       string
	logs      *syncBuffer
	done      chan struct{}
}

type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// startCaddy writes the Caddyfile into dir and runs the binary on it, with
// HOME and XDG dirs inside dir so nothing leaks into the machine's.
func startCaddy(t *testing.T, dir string, adminPort int, caddyfile string) *caddyProc {
	t.Helper()
	path := filepath.Join(dir, "Caddyfile")
	if err := os.WriteFile(path, []byte(caddyfile), 0o644); err != nil {
		t.Fatal(err)
	}
	p := &caddyProc{t: t, adminPort: adminPort, dir: dir, logs: &syncBuffer{}, done: make(chan struct{})}
	p.cmd = exec.Command(caddyBin, "run", "--config", path, "--adapter", "caddyfile")
	p.cmd.Dir = dir
	p.cmd.Env = append(os.Environ(), "HOME="+dir, "XDG_DATA_HOME="+filepath.Join(dir, "data"), "XDG_CONFIG_HOME="+filepath.Join(dir, "config"))
	p.cmd.Stdout, p.cmd.Stderr = p.logs, p.logs
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.cmd.Wait(); close(p.done) }()
	t.Cleanup(func() {
		p.kill()
		if t.Failed() {
			t.Logf("caddy logs:\n%s", p.logs.String())
		}
	})
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-p.done:
			t.Fatalf("caddy exited at start:\n%s", p.logs.String())
		default:
		}
		if resp, err := http.Get(p.adminURL("/config/")); err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return p
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("caddy did not start:\n%s", p.logs.String())
	return nil
}

func (p *caddyProc) adminURL(path string) string {
	return fmt.Sprintf("http://127.0.0.1:%d%s", p.adminPort, path)
}

// reload loads a new Caddyfile through the admin API, as `caddy reload` does.
func (p *caddyProc) reload(caddyfile string) {
	p.t.Helper()
	req, _ := http.NewRequest(http.MethodPost, p.adminURL("/load"), strings.NewReader(caddyfile))
	req.Header.Set("Content-Type", "text/caddyfile")
	req.Header.Set("Cache-Control", "must-revalidate") // load even if unchanged
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		p.t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 {
		p.t.Fatalf("reload: %d %s", resp.StatusCode, body)
	}
	// The old config's servers closed their idle keep-alive connections
	// as they stopped, and the client may not have noticed yet: a POST
	// on one fails with EOF and is not retried (it is not idempotent).
	http.DefaultClient.CloseIdleConnections()
}

// kill sends SIGKILL: no cleanup of any kind runs.
func (p *caddyProc) kill() {
	if p.cmd.Process != nil {
		_ = p.cmd.Process.Signal(syscall.SIGKILL)
		<-p.done
	}
}

// stop sends SIGTERM and waits for a graceful exit.
func (p *caddyProc) stop(timeout time.Duration) {
	p.t.Helper()
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(timeout):
		p.t.Fatalf("caddy did not stop within %s", timeout)
	}
}

// adminJSON GETs or POSTs an admin route and decodes its JSON answer.
func (p *caddyProc) adminJSON(method, path string, out any) int {
	p.t.Helper()
	req, _ := http.NewRequest(method, p.adminURL(path), nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		p.t.Fatal(err)
	}
	defer resp.Body.Close()
	if out != nil {
		body, _ := io.ReadAll(resp.Body)
		if err := json.Unmarshal(body, out); err != nil {
			p.t.Fatalf("%s %s: %v: %s", method, path, err, body)
		}
	}
	return resp.StatusCode
}

func newPlatform(t *testing.T) *fake.Platform {
	p := fake.NewPlatform()
	t.Cleanup(p.Close)
	return p
}

// endpoint is the platform's sale API, as the config names it.
func endpoint(p *fake.Platform) string { return p.URL + "/v1/track/sale" }

// startShop starts a fake shop and returns its address.
func startShop(t *testing.T) string {
	s := fake.NewShop()
	t.Cleanup(s.Close)
	return s.Addr
}

// globalOptions is the Caddyfile's global block: admin and HTTP on the
// given ports, the test's API key and storage, quick retries, no rates
// fetch; saleTrack goes into the sale_track block (the platform, where it
// is).
func globalOptions(adminPort, httpPort int, storage, saleTrack string) string {
	return fmt.Sprintf(`{
	admin 127.0.0.1:%d
	http_port %d
	skip_install_trust
	grace_period 2s
	sale_track {
		fx_source http://127.0.0.1:9/eurofxref-daily.xml
		api_key e2e-secret-key
		storage_dir %s
		backoff_base 20ms
		backoff_cap 200ms
		%s
	}
}
`, adminPort, httpPort, storage, saleTrack)
}

// genericTo is the sale_track lines that send to endpoint as a receiver of
// the shop's own, plus extra.
func genericTo(endpoint, extra string) string {
	return "platform generic\n\t\tendpoint " + endpoint + "\n\t\t" + extra
}

// config is a Caddyfile with the shop behind sale_track and the platform
// as its endpoint; extra goes into the global sale_track block.
func config(adminPort, httpPort int, shop, endpoint, storage, extra string) string {
	return globalOptions(adminPort, httpPort, storage, genericTo(endpoint, extra)) + fmt.Sprintf(`
http://127.0.0.1:%d {
	click_cookie
	handle /checkout/* {
		%s
		reverse_proxy %s
	}
	reverse_proxy %s
}
`, httpPort, fake.OrderSaleTrack(), shop, shop)
}

// checkoutMany sends n checkouts with invoices prefix_0 … prefix_{n-1},
// each of which must succeed, and returns the invoices.
func checkoutMany(t *testing.T, port int, prefix string, n int) []string {
	t.Helper()
	ids := make([]string, 0, n)
	for i := 0; i < n; i++ {
		id := fmt.Sprintf("%s_%d", prefix, i)
		if status, err := post(http.DefaultClient, fmt.Sprintf("http://127.0.0.1:%d/checkout/%s", port, id)); err != nil || status != 200 {
			t.Fatalf("checkout %s: %d %v", id, status, err)
		}
		ids = append(ids, id)
	}
	return ids
}

// post sends a checkout and returns its status. A connection that ends
// before any answer is tried once more: right after a reload, Caddy's old
// server may still close a connection it had just accepted (the http
// app's Stop returns once its servers' shutdown has begun, not ended),
// and a checkout's invoice makes a repeat count once.
func post(client *http.Client, url string) (int, error) {
	resp, err := client.Post(url, "application/json", nil)
	if errors.Is(err, io.EOF) || errors.Is(err, syscall.ECONNRESET) {
		resp, err = client.Post(url, "application/json", nil)
	}
	if err != nil {
		return 0, err
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode, nil
}
