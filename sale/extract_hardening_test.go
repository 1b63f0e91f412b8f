package sale

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/tidwall/gjson"
)

// A timestamp outside the window a sale can have, or one that cannot be
// read, is replaced by the capture time, and the event says so.
func TestExtractRepairsTimestamps(t *testing.T) {
	for _, ts := range []string{`"NaN"`, `"Inf"`, `1e15`, `1e300`, `"0x1p30"`, `"1_0"`, `946684799`, `"1999-12-31T23:59:59Z"`,
		`"2026-04-11T12:45:11Z"`, `1775911510124`, `"yesterday"`} {
		body := `{"order":{"id":"x","total":5,"created_at":` + ts + `},"customer":{"id":"u"}}`
		ev, err := orderSpec(t).Extract([]byte(body), nil, captureTime)
		if err != nil {
			t.Errorf("%s: %v; a bad timestamp must never cost the sale", ts, err)
			continue
		}
		if !ev.Timestamp.Equal(captureTime.Truncate(time.Millisecond)) {
			t.Errorf("%s: timestamp %v, want the capture time", ts, ev.Timestamp)
		}
		if len(ev.Repairs) != 1 || ev.Repairs[0].Field != FieldTimestamp || !strings.Contains(ev.Repairs[0].Reason, "path order.created_at") {
			t.Errorf("%s: repairs %+v, want one naming the timestamp's path", ts, ev.Repairs)
		}
	}
	// Within the window, every unit is read as such and nothing is repaired.
	for _, ts := range []string{`1775825110`, `1775825110000`, `1775825110000000`, `1775825110000000000`, `"2026-04-11T12:45:10Z"`, `946684800`} {
		body := `{"order":{"id":"x","total":5,"created_at":` + ts + `},"customer":{"id":"u"}}`
		ev, err := orderSpec(t).Extract([]byte(body), nil, captureTime)
		if err != nil || len(ev.Repairs) != 0 {
			t.Errorf("%s: %v, repairs %+v; want a timestamp taken as it is", ts, err, ev.Repairs)
		}
	}
}

// Ids longer than MaxFieldLength are sent capped, but dedup and the
// Idempotency-Key see all of them: two that share their first 255
// characters are two sales.
func TestLongInvoiceIDsStayDistinct(t *testing.T) {
	prefix := strings.Repeat("i", MaxFieldLength)
	read := func(id string) *Event {
		ev, err := orderSpec(t).Extract([]byte(`{"order":{"id":"`+id+`","total":5},"customer":{"id":"u"}}`), nil, captureTime)
		if err != nil {
			t.Fatal(err)
		}
		return ev
	}
	a, b, short := read(prefix+"-a"), read(prefix+"-b"), read("inv_1")
	if a.InvoiceID != prefix || b.InvoiceID != prefix {
		t.Fatalf("sent invoice ids are not capped at %d characters", MaxFieldLength)
	}
	if a.DedupKey() == b.DedupKey() || a.ID == b.ID {
		t.Fatalf("two long ids dedup as one: keys %q, ids %q", a.DedupKey(), a.ID)
	}
	if short.DedupKey() != "inv_1" || short.ID != EventID("inv_1") {
		t.Fatalf("a short id's dedup key %q and id %q changed: outboxes written earlier would not dedup alike", short.DedupKey(), short.ID)
	}
}

// Ids that differ only in invalid UTF-8 are sent as the same string, so
// they are the same sale.
func TestInvalidUTF8IDsDedupAsSent(t *testing.T) {
	read := func(id string) *Event {
		ev, err := orderSpec(t).Extract([]byte(`{"order":{"id":"`+id+`","total":5},"customer":{"id":"u"}}`), nil, captureTime)
		if err != nil {
			t.Fatal(err)
		}
		return ev
	}
	a, b := read("inv\xff1"), read("inv\xfe1")
	if a.InvoiceID != "inv\uFFFD1" || a.DedupKey() != b.DedupKey() || a.ID != b.ID {
		t.Fatalf("ids %q and %q: keys %q and %q; want both sent and deduped as %q", a.InvoiceID, b.InvoiceID, a.DedupKey(), b.DedupKey(), "inv\uFFFD1")
	}
}

// Zero is false in a condition in every notation, and numbers compare as
// decimals.
func TestConditionNumbers(t *testing.T) {
	for _, zero := range []string{"0", "-0", "0.0", "0e5", "0.0e10", "-0E-3", "0.000"} {
		if truthy(parseResult(zero)) {
			t.Errorf("%s is true; want zero to be false", zero)
		}
	}
	for _, nonzero := range []string{"1", "0.01", "1e-9", "-2"} {
		if !truthy(parseResult(nonzero)) {
			t.Errorf("%s is false", nonzero)
		}
	}
	c := Condition{Path: "@this", Values: []string{"2"}}
	for raw, want := range map[string]bool{"2": true, "2.0": true, "2e0": true, "20e-1": true, "3": false, `"2.0"`: false} {
		if got := c.holds(parseResult(raw)); got != want {
			t.Errorf("%s equals 2: %v, want %v", raw, got, want)
		}
	}
}

// Nesting at the bound is read; past it the body is not a sale, and the
// check costs one pass however the body is shaped.
func TestNestingDepth(t *testing.T) {
	at := `{"order":{"id":"x","total":5},"customer":{"id":"u"},"d":` + strings.Repeat("[", MaxDepth-1) + `"[[[["` + strings.Repeat("]", MaxDepth-1) + `}`
	if _, err := orderSpec(t).Extract([]byte(at), nil, captureTime); err != nil {
		t.Fatalf("%d levels (brackets inside a string do not count): %v", MaxDepth, err)
	}
	bomb := []byte(strings.Repeat("[", 1<<20))
	start := time.Now()
	_, err := orderSpec(t).Extract(bomb, nil, captureTime)
	if !errors.Is(err, ErrTooDeep) {
		t.Fatalf("1 MiB of [: %v, want ErrTooDeep", err)
	}
	t.Logf("1 MiB of [ refused in %v", time.Since(start))
}

func parseResult(raw string) gjson.Result { return gjson.Parse(raw) }

// A click id is what a tracked link could have set: a cookie holding
// anything else (up to 255 characters of it) is no value, and the next
// source is tried.
func TestClickIDMustBeValid(t *testing.T) {
	spec := orderSpec(t)
	spec.Sources[FieldClickID] = mustSources(t, "{http.request.cookie.clickId}", "order.click")
	body := []byte(`{"order":{"id":"x","total":5,"click":"cl_fromBody-1"},"customer":{"id":"u"}}`)
	for cookie, want := range map[string]string{
		"cl_42":                                 "cl_42",
		"cl 42":                                 "cl_fromBody-1",
		`"><script>`:                            "cl_fromBody-1",
		strings.Repeat("a", MaxClickIDLength+1): "cl_fromBody-1",
		strings.Repeat("a", MaxClickIDLength):   strings.Repeat("a", MaxClickIDLength),
		"cl_\u00e9":                             "cl_fromBody-1",
		"550e8400-e29b-41d4-a716-44":            "550e8400-e29b-41d4-a716-44",
	} {
		ev, err := spec.Extract(body, resolver(map[string]string{"{http.request.cookie.clickId}": cookie}), captureTime)
		if err != nil || ev.ClickID != want {
			t.Errorf("cookie %q: click id %q (%v), want %q", cookie, ev.ClickID, err, want)
		}
	}
}
