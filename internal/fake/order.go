package fake

import (
	"fmt"
	"net"
	"strings"

	"github.com/saletrack/caddy-saletrack/internal/contentenc"
)

// The order every checkout answers: its id, status, total and currency
// vary; the customer is always the same. Twelve line items and a shipping
// address make it about 2 KB, as a real order is.
const (
	orderFormat = `{"order":{"id":%q,"status":%q,"total":%q,"currency":%q,"created_at":"2026-04-10T12:45:10Z",` +
		`"customer":{"id":"user_123","email":"alex@example.com","first_name":"Alex","last_name":"Johnson","name":"Alex Johnson"},` +
		`"items":[%s],` +
		`"shipping":{"method":"standard","address":{"line1":"1 Main Street","city":"Springfield","zip":"12345","country":"US"}}}}`
	orderItem = `{"sku":"SKU-123456","name":"A product with a fairly long descriptive name","qty":1,"price":"16.58","tax":"0.00","meta":{"color":"blue","size":"M"}}`
)

var orderItems = strings.TrimSuffix(strings.Repeat(orderItem+",", 12), ",")

// OrderSaleTrack is the sale_track directive that reads Order: each field
// of the sale from where the order keeps it, and paid orders only. extra
// lines (a route name, say) go into its block.
func OrderSaleTrack(extra ...string) string {
	lines := append([]string{
		"amount      order.total",
		"currency    order.currency",
		"invoice_id  order.id",
		"customer_id order.customer.id",
		"email       order.customer.email",
		"name        [order.customer.first_name,order.customer.last_name]",
		"when        order.status paid",
	}, extra...)
	return "sale_track {\n\t" + strings.Join(lines, "\n\t") + "\n}"
}

// Order is the JSON of the shop's order id in status ("paid", "pending"):
// 199.00 USD by customer user_123, Alex Johnson, alex@example.com.
func Order(id, status string) []byte { return order(id, status, "199.00", "USD") }

func order(id, status, total, currency string) []byte {
	return fmt.Appendf(nil, orderFormat, id, status, total, currency, orderItems)
}

// Compress returns data in a Content-Encoding: gzip, deflate (zlib, as
// HTTP means it), br or zstd; any other encoding returns data unchanged.
func Compress(encoding string, data []byte) []byte {
	out, err := contentenc.Encode(encoding, data)
	if err != nil {
		return data
	}
	return out
}

// FreePort asks the OS for a loopback port nobody uses, for a server that
// must be told its port before it starts (Caddy's admin and sites). It
// panics if it cannot listen.
func FreePort() int {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic("fake: free port: " + err.Error())
	}
	defer lis.Close()
	return lis.Addr().(*net.TCPAddr).Port
}
