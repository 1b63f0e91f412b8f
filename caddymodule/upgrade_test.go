package caddymodule

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"testing"
	"time"
)

// A protocol upgrade (WebSocket and the like) on a sale_track route goes
// straight through: the 101 arrives and the connection carries bytes both
// ways.
func TestUpgradePassesThrough(t *testing.T) {
	shop, plat := newShop(t), newPlatform(t)
	loadConfig(t, fmt.Sprintf("endpoint %s\n\t\t\tstorage_dir %s", plat.URL, t.TempDir()), fmt.Sprintf(`
	%s {
		sale_track {
			amount      order.total
			customer_id order.customer.id
		}
		reverse_proxy %s
	}`, siteURL, shop.Addr))

	conn, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", httpPort), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	fmt.Fprintf(conn, "GET /upgrade HTTP/1.1\r\nHost: localhost:%d\r\nConnection: Upgrade\r\nUpgrade: echo\r\n\r\n", httpPort)
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
