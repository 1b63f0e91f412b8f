package delivery

import (
	"encoding/json"
	"fmt"
	"testing"
)

// An empty list is [] (not null) in JSON, and pages hold what they say.
func TestDeadLetterPages(t *testing.T) {
	ob := obOpen(t, OutboxOptions{Now: newObClock().Now})
	letters, total, err := ob.deadLetters(0, 10)
	if err != nil || total != 0 {
		t.Fatal(total, err)
	}
	if b, _ := json.Marshal(map[string]any{"dead_letters": letters}); string(b) != `{"dead_letters":[]}` {
		t.Fatalf("no dead letters encode as %s", b)
	}
	fillOutbox(t, ob, 7)
	items, _, err := ob.lease(obT0, 10, func(uint64) bool { return false })
	if err != nil || len(items) != 7 {
		t.Fatal(len(items), err)
	}
	for _, it := range items {
		if err := ob.bury(it.seq, it.due, "permanent: 422", failure{sink: "http", status: 422}, obT0); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range []struct{ offset, limit, want int }{{0, 3, 3}, {3, 3, 3}, {6, 3, 1}, {7, 3, 0}, {100, 3, 0}} {
		letters, total, err := ob.deadLetters(tc.offset, tc.limit)
		if err != nil || total != 7 || len(letters) != tc.want {
			t.Fatalf("offset %d limit %d: %d letters of %d (%v), want %d of 7", tc.offset, tc.limit, len(letters), total, err, tc.want)
		}
		for i, dl := range letters {
			if want := fmt.Sprint("INV-", tc.offset+i); dl.Event == nil || dl.Event.InvoiceID != want {
				t.Fatalf("offset %d: letter %d is not %s, oldest first", tc.offset, i, want)
			}
		}
	}
}
