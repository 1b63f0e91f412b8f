package delivery

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"testing"

	"github.com/bojanz/currency"
	"github.com/saletrack/caddy-saletrack/sale"
)

func TestFileLine(t *testing.T) {
	base := obSale(t, "INV-1", obT0)
	base.ID = sale.EventID("INV-1")
	id := `,"eventId":"` + base.ID + `"`
	usd := func(n, rate, date string) *sale.USDValue {
		a, err := currency.NewAmount(n, "USD")
		if err != nil {
			t.Fatal(err)
		}
		return &sale.USDValue{Amount: a, Rate: rate, Date: date}
	}
	payload := string(base.Payload(false))
	head := payload[:len(payload)-1]
	for _, tc := range []struct {
		name   string
		usd    *sale.USDValue
		origin *sale.Origin
		want   string
	}{
		{"no USD value", nil, nil, head + id + "}\n"},
		{"filled from the binding", nil, &sale.Origin{CustomerExternalID: sale.OriginBinding, ClickID: sale.OriginBinding},
			head + id + `,"origin":{"customerExternalId":"binding","clickId":"binding"}` + "}\n"},
		{"own fields", nil, &sale.Origin{CustomerExternalID: sale.OriginPayload, ClickID: sale.OriginPlaceholder},
			head + id + `,"origin":{"customerExternalId":"payload","clickId":"placeholder"}` + "}\n"},
		{"converted", usd("13.4", "1.0894", "2026-04-09"), nil, head + `,"amountUsd":13.40,"fxRate":"1.0894","fxDate":"2026-04-09"` + id + "}\n"},
		{"already USD", usd("12.3", "", ""), nil, head + `,"amountUsd":12.30` + id + "}\n"},
		{"rounds half to even", usd("0.125", "0.0067", ""), nil, head + `,"amountUsd":0.12,"fxRate":"0.0067"` + id + "}\n"},
		{"rounds half to even, up", usd("0.135", "0.0067", ""), nil, head + `,"amountUsd":0.14,"fxRate":"0.0067"` + id + "}\n"},
		{"whole", usd("199", "", "2026-04-09"), nil, head + `,"amountUsd":199.00,"fxDate":"2026-04-09"` + id + "}\n"},
		{"large", usd("12345678901234.5", "", ""), nil, head + `,"amountUsd":12345678901234.50` + id + "}\n"},
	} {
		ev := *base
		ev.USD, ev.Origin = tc.usd, tc.origin
		got := string(FileLine(&ev))
		if got != tc.want {
			t.Errorf("%s:\n got %s\nwant %s", tc.name, got, tc.want)
		}
		var obj map[string]any
		if err := json.Unmarshal([]byte(got), &obj); err != nil {
			t.Errorf("%s: line is not JSON: %v", tc.name, err)
		}
	}
}

func TestFileSinkAppendsLines(t *testing.T) {
	path := filepath.Join(t.TempDir(), "deep", "er", "sales.jsonl")
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte("{\"earlier\":true}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	sink, err := NewFileSink(path)
	if err != nil {
		t.Fatal(err)
	}
	a, b := obSale(t, "INV-A", obT0), usdSale(t)
	for _, ev := range []*sale.Event{a, b} {
		if err := sink.Send(context.Background(), ev); err != nil {
			t.Fatal(err)
		}
	}
	if err := sink.Close(); err != nil {
		t.Fatal(err)
	}
	got, _ := os.ReadFile(path)
	want := "{\"earlier\":true}\n" + string(FileLine(a)) + string(FileLine(b))
	if string(got) != want {
		t.Errorf("file\n got %q\nwant %q", got, want)
	}
	if err := sink.Send(context.Background(), a); err == nil {
		t.Error("Send after Close succeeded")
	}
	if sink.Name() != "file" {
		t.Errorf("Name = %q", sink.Name())
	}
}

func TestFileSinkCreatesDirsAndFile(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "a", "b")
	path := filepath.Join(dir, "sales.jsonl")
	sink, err := NewFileSink(path)
	if err != nil {
		t.Fatal(err)
	}
	defer sink.Close()
	for p, mode := range map[string]os.FileMode{dir: 0o755, path: 0o644} {
		info, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		// The umask may take bits away, never add them.
		if perm := info.Mode().Perm(); perm&^mode != 0 || perm&0o600 != 0o600 {
			t.Errorf("%s mode %v, want at most %v and owner read-write", p, perm, mode)
		}
	}
}

func TestFileSinkConcurrentSends(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sales.jsonl")
	sink, err := NewFileSink(path)
	if err != nil {
		t.Fatal(err)
	}
	defer sink.Close()
	const n = 64
	want := make([]string, 0, n)
	var wg sync.WaitGroup
	for i := range n {
		ev := obSale(t, fmt.Sprintf("INV-%02d", i), obT0)
		ev.CustomerName = string(bytes.Repeat([]byte{'a' + byte(i%26)}, 3000)) // long lines interleave if unguarded
		want = append(want, string(FileLine(ev)))
		wg.Go(func() {
			if err := sink.Send(context.Background(), ev); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var got []string
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		got = append(got, sc.Text()+"\n")
	}
	sort.Strings(got)
	sort.Strings(want)
	if len(got) != n {
		t.Fatalf("%d lines, want %d", len(got), n)
	}
	for i := range got {
		if got[i] != want[i] {
			t.Fatalf("line %d differs: a write was torn or mixed", i)
		}
	}
}

func TestFileSinkHonoursCancel(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sales.jsonl")
	sink, err := NewFileSink(path)
	if err != nil {
		t.Fatal(err)
	}
	defer sink.Close()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := sink.Send(ctx, obSale(t, "INV-1", obT0)); err == nil {
		t.Error("Send on a cancelled context wrote anyway")
	}
	if data, _ := os.ReadFile(path); len(data) != 0 {
		t.Errorf("file holds %q", data)
	}
}
