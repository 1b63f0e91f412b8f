package caddymodule

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	caddycmd "github.com/caddyserver/caddy/v2/cmd"
	"github.com/spf13/cobra"
)

func init() { subcommands = append(subcommands, newStatusCommand) }

func newStatusCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "status [--address <admin>] [--config <path> [--adapter <name>]] [--listen <addr>]",
		Short: "Serves the sale_track status page to a browser on this machine",
		Long: `
The status page is GET /sale_track/ on Caddy's admin endpoint, but the admin
endpoint refuses a page a browser opens directly: Caddy checks the origin of
every browser request, and an address typed into the browser has none. This
command serves the page on a loopback port of its own and passes its
requests (the page, the live log, the replay of a dead letter) to the admin
API, as 'caddy reload' talks to it. It refuses requests from other sites.

` + adminFlagsHelp,
		Args: cobra.NoArgs,
		RunE: runStatus,
	}
	addAdminFlags(cmd)
	f := cmd.Flags()
	f.StringP("listen", "l", "127.0.0.1:2020", "The loopback address to serve the page on")
	return cmd
}

func runStatus(cmd *cobra.Command, _ []string) error {
	f := cmd.Flags()
	listen, _ := f.GetString("listen")
	adminAddr, err := adminAddress(cmd)
	if err != nil {
		return err
	}
	lis, err := listenLoopback(listen)
	if err != nil {
		return err
	}
	origin := "http://" + lis.Addr().String()
	srv := &http.Server{Handler: newStatusProxy(adminAddr, lis.Addr()), ReadHeaderTimeout: 10 * time.Second}
	ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	go func() {
		<-ctx.Done()
		shutdown, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		_ = srv.Shutdown(shutdown)
		_ = srv.Close() // streams of the live log do not end by themselves
	}()
	fmt.Fprintf(cmd.OutOrStdout(), "sale_track status page: %s/sale_track/ (admin API at %s; Ctrl-C stops)\n", origin, adminAddr)
	if err := srv.Serve(lis); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// listenLoopback listens on addr, which must be a loopback address: the
// page can replay dead letters, and the admin endpoint is local by default
// for the same reason.
func listenLoopback(addr string) (net.Listener, error) {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, fmt.Errorf("--listen %q: %w", addr, err)
	}
	if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
		return nil, fmt.Errorf("--listen %q: want a loopback address such as 127.0.0.1:2020", addr)
	}
	return net.Listen("tcp", addr)
}

// statusProxy passes the status page's requests to the admin API. It
// applies the checks the admin endpoint applies to a browser: the request
// must be addressed to it (no DNS rebinding) and come from its own page.
type statusProxy struct {
	adminAddr string
	// origins are the addresses the server answers to, as origins:
	// http://host:port for the loopback address it listens on and, on the
	// same port, the names a person types for it (localhost, 127.0.0.1).
	origins map[string]bool
}

// newStatusProxy is the proxy of a server listening on addr.
func newStatusProxy(adminAddr string, addr net.Addr) *statusProxy {
	listened := addr.String()
	_, port, _ := net.SplitHostPort(listened)
	origins := map[string]bool{"http://" + listened: true}
	for _, name := range []string{"localhost", "127.0.0.1"} {
		origins["http://"+net.JoinHostPort(name, port)] = true
	}
	return &statusProxy{adminAddr: adminAddr, origins: origins}
}

// statusProxyRoutes are the admin routes the page uses, by method.
var statusProxyRoutes = map[string]string{
	"/sale_track/":            http.MethodGet,
	"/sale_track/recent":      http.MethodGet,
	"/sale_track/stats":       http.MethodGet,
	"/sale_track/dead":        http.MethodGet,
	"/sale_track/dead/replay": http.MethodPost,
}

func (p *statusProxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	self := "http://" + r.Host
	if !p.origins[self] {
		http.Error(w, "this page answers to its loopback address only", http.StatusForbidden)
		return
	}
	if o := r.Header.Get("Origin"); o != "" && o != self {
		http.Error(w, "requests from other sites are refused", http.StatusForbidden)
		return
	}
	if site := r.Header.Get("Sec-Fetch-Site"); site != "" && site != "same-origin" && site != "none" {
		http.Error(w, "requests from other sites are refused", http.StatusForbidden)
		return
	}
	if r.URL.Path == "/" || r.URL.Path == "/sale_track" {
		http.Redirect(w, r, "/sale_track/", http.StatusFound)
		return
	}
	method, ok := statusProxyRoutes[r.URL.Path]
	if !ok {
		http.NotFound(w, r)
		return
	}
	if r.Method != method {
		w.Header().Set("Allow", method)
		http.Error(w, "use "+method, http.StatusMethodNotAllowed)
		return
	}
	resp, err := caddycmd.AdminAPIRequest(p.adminAddr, method, r.URL.RequestURI(), nil, nil)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	defer resp.Body.Close()
	for _, h := range []string{"Content-Type", "Cache-Control", "Content-Security-Policy", "X-Frame-Options"} {
		if v := resp.Header.Get(h); v != "" {
			w.Header().Set(h, v)
		}
	}
	w.WriteHeader(resp.StatusCode)
	copyFlushing(w, resp.Body)
}

// copyFlushing copies a response through as it arrives, so the live log's
// events are not held in a buffer.
func copyFlushing(w http.ResponseWriter, body io.Reader) {
	rc := http.NewResponseController(w)
	buf := make([]byte, 32<<10)
	for {
		n, err := body.Read(buf)
		if n > 0 {
			if _, werr := w.Write(buf[:n]); werr != nil || rc.Flush() != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}
