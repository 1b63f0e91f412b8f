package e2e

import (
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/saletrack/caddy-saletrack/internal/fake"
)

// ecbFeed is a feed in the ECB's eurofxref-daily.xml format for date, with
// round rates so the expected conversions can be worked out by hand.
func ecbFeed(date string) string {
	rates := map[string]string{
		"USD": "1.0800", "JPY": "170.00", "GBP": "0.8500", "CHF": "0.9500", "SEK": "11.500",
		"NOK": "11.600", "DKK": "7.4600", "PLN": "4.3000", "CZK": "25.000", "HUF": "390.00",
		"RON": "4.9700", "ISK": "150.00", "TRY": "35.000", "AUD": "1.6500", "BRL": "5.9000",
		"CAD": "1.4700", "CNY": "7.8000", "HKD": "8.4000", "IDR": "17000.00", "ILS": "4.0000",
		"INR": "90.000", "KRW": "1450.00", "MXN": "19.000", "MYR": "5.0000", "NZD": "1.8000",
	}
	var b strings.Builder
	b.WriteString(`<?xml version="1.0" encoding="UTF-8"?>
<gesmes:Envelope xmlns:gesmes="http://www.gesmes.org/xml/2002-08-01" xmlns="http://www.ecb.int/vocabulary/2002-08-01/eurofxref">
	<gesmes:subject>Reference rates</gesmes:subject>
	<gesmes:Sender><gesmes:name>European Central Bank</gesmes:name></gesmes:Sender>
	<Cube><Cube time='` + date + `'>`)
	for code, rate := range rates {
		fmt.Fprintf(&b, "\n\t\t<Cube currency='%s' rate='%s'/>", code, rate)
	}
	b.WriteString("\n\t</Cube></Cube>\n</gesmes:Envelope>\n")
	return b.String()
}

// Sales in EUR and JPY are normalised to USD at the day's rate from the
// configured feed: the file sink records amountUsd, fxRate and fxDate, and
// with send_usd the platform receives USD.
func TestSalesAreNormalisedToUSD(t *testing.T) {
	today := time.Now().UTC().Format("2006-01-02")
	var feedHits atomic.Int32
	feedLis, _ := net.Listen("tcp", "127.0.0.1:0")
	feed := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		feedHits.Add(1)
		w.Header().Set("Content-Type", "text/xml")
		fmt.Fprint(w, ecbFeed(today))
	})}
	go feed.Serve(feedLis)
	t.Cleanup(func() { feed.Close() })

	dir := t.TempDir()
	plat := newPlatform(t)
	admin, port := fake.FreePort(), fake.FreePort()
	storage := filepath.Join(dir, "st")
	startCaddy(t, dir, admin, fmt.Sprintf(`{
	admin 127.0.0.1:%d
	http_port %d
	sale_track {
		platform generic
		fx_source http://%s/eurofxref-daily.xml
		endpoint %s
		file %s
		storage_dir %s
		send_usd
	}
}
http://127.0.0.1:%d {
	sale_track {
		amount order.total
		currency order.currency
		invoice_id order.id
		customer_id order.customer.id
	}
	reverse_proxy %s
}
`, admin, port, feedLis.Addr(), endpoint(plat), filepath.Join(dir, "sales.jsonl"), storage, port, startShop(t)))

	// The first refresh runs at start; the cache file appears once it is in.
	deadline := time.Now().Add(10 * time.Second)
	for _, err := os.Stat(filepath.Join(storage, "fx-rates.json")); err != nil; _, err = os.Stat(filepath.Join(storage, "fx-rates.json")) {
		if time.Now().After(deadline) {
			t.Fatalf("the rates were never fetched (%d feed requests)", feedHits.Load())
		}
		time.Sleep(20 * time.Millisecond)
	}

	for _, q := range []string{"inv_EUR?currency=EUR&total=100.00", "inv_JPY?currency=JPY&total=1999"} {
		if _, err := post(http.DefaultClient, fmt.Sprintf("http://127.0.0.1:%d/checkout/%s", port, q)); err != nil {
			t.Fatal(err)
		}
	}
	plat.WaitInvoices(t, "inv_EUR", "inv_JPY")

	// EUR 100.00 × 1.08 = USD 108.00; JPY 1999 × 1.08 / 170 = 12.6995… → 12.70.
	want := map[string]struct{ amountUSD, rate string }{
		"inv_EUR": {"108.00", "1.08"},
		"inv_JPY": {"12.70", "0.006352941176"},
	}
	for _, ev := range plat.Accepted() {
		w := want[ev.InvoiceID]
		if !strings.Contains(ev.Body, `"currency":"USD","amount":`+strings.TrimRight(strings.TrimRight(w.amountUSD, "0"), ".")) {
			t.Errorf("send_usd: platform got %s, want USD %s", ev.Body, w.amountUSD)
		}
	}
	var lines []map[string]json.RawMessage
	deadline = time.Now().Add(10 * time.Second)
	for len(lines) < 2 && time.Now().Before(deadline) {
		data, _ := os.ReadFile(filepath.Join(dir, "sales.jsonl"))
		lines = nil
		for _, l := range strings.Split(strings.TrimSpace(string(data)), "\n") {
			var m map[string]json.RawMessage
			if json.Unmarshal([]byte(l), &m) == nil {
				lines = append(lines, m)
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	if len(lines) != 2 {
		t.Fatalf("file sink has %d lines", len(lines))
	}
	for _, m := range lines {
		var id string
		json.Unmarshal(m["invoiceId"], &id)
		w := want[id]
		if string(m["amountUsd"]) != w.amountUSD || string(m["fxRate"]) != `"`+w.rate+`"` || string(m["fxDate"]) != `"`+today+`"` {
			t.Errorf("%s: amountUsd %s fxRate %s fxDate %s; want %s, %q, %q", id, m["amountUsd"], m["fxRate"], m["fxDate"], w.amountUSD, w.rate, today)
		}
		if string(m["currency"]) == `"USD"` {
			t.Errorf("%s: the file sink must keep the captured currency", id)
		}
	}
}
