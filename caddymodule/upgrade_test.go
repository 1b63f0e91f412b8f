package caddymodule

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// A protocol upgrade (WebSocket and the like) on a sale_track route goes
// straight through: the 101 arrives and the connection carries bytes both
// ways.
func TestUpgradePassesThrough(t *testing.T) {
	echo := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Upgrade") != "echo" {
			http.Error(w, "want an upgrade", http.StatusBadRequest)
			return
		}
		conn, rw, err := http.NewResponseController(w).Hijack()
		if err != nil {
			return
		}
		defer conn.Close()
		rw.WriteString("HTTP/1.1 101 Switching Protocols\r\nUpgrade: echo\r\nConnection: Upgrade\r\n\r\n")
		rw.Flush()
		line, _ := rw.ReadString('\n')
		rw.WriteString("echo: " + line)
		rw.Flush()
	}))
	t.Cleanup(echo.Close)
	plat := newPlatform(t)
	loadConfig(t, fmt.Sprintf("endpoint %s\n\t\t\tstorage_dir %s", plat.URL, t.TempDir()), fmt.Sprintf(`
	http://localhost:9080 {
		sale_track {
			amount      order.total
			customer_id order.customer.id
		}
		reverse_proxy %s
	}`, strings.TrimPrefix(echo.URL, "http://")))

	conn, err := net.DialTimeout("tcp", "127.0.0.1:9080", 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	fmt.Fprint(conn, "GET /stream HTTP/1.1\r\nHost: localhost:9080\r\nConnection: Upgrade\r\nUpgrade: echo\r\n\r\n")
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusSwitchingProtocols {
		body, _ := io.ReadAll(resp.Body)
		t.Fatalf("status %d %s, want 101", resp.StatusCode, body)
	}
	fmt.Fprint(conn, "hello\n")
	line, err := br.ReadString('\n')
	if err != nil || line != "echo: hello\n" {
		t.Fatalf("after the upgrade got %q, %v", line, err)
	}
}
