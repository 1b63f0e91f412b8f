package caddymodule

import (
	"fmt"
	"slices"
	"testing"
)

func invoicesOf(entries []outcomeEntry) []string {
	var out []string
	for _, e := range entries {
		out = append(out, e.InvoiceID)
	}
	return out
}

func addInvoices(l *recentLog, from, to int) {
	for i := from; i <= to; i++ {
		l.add(outcomeEntry{InvoiceID: fmt.Sprint(i)})
	}
}

// The ring keeps the newest entries and lists them newest first.
func TestRecentLogKeepsTheNewest(t *testing.T) {
	l := newRecentLog(3)
	addInvoices(l, 1, 5)
	if got := invoicesOf(l.newest(10)); !slices.Equal(got, []string{"5", "4", "3"}) {
		t.Errorf("newest = %v, want 5 4 3", got)
	}
	if got := invoicesOf(l.newest(2)); !slices.Equal(got, []string{"5", "4"}) {
		t.Errorf("newest(2) = %v, want 5 4", got)
	}
	l.resize(2)
	if got := invoicesOf(l.newest(10)); !slices.Equal(got, []string{"5", "4"}) {
		t.Errorf("after shrinking: %v, want 5 4", got)
	}
	l.resize(4)
	addInvoices(l, 6, 7)
	if got := invoicesOf(l.newest(10)); !slices.Equal(got, []string{"7", "6", "5", "4"}) {
		t.Errorf("after growing: %v, want 7 6 5 4", got)
	}
}

// A follower gets the backlog, oldest first, then each new entry once; one
// that reconnects after an entry gets what followed it.
func TestRecentLogFollow(t *testing.T) {
	l := newRecentLog(10)
	addInvoices(l, 1, 4)
	past, f := l.follow("", 2)
	if got := invoicesOf(past); !slices.Equal(got, []string{"3", "4"}) {
		t.Errorf("backlog = %v, want 3 4", got)
	}
	addInvoices(l, 5, 5)
	if e := <-f.ch; e.InvoiceID != "5" {
		t.Errorf("followed %q, want 5", e.InvoiceID)
	}
	l.unfollow(f)
	if _, open := <-f.ch; open {
		t.Error("the channel stays open after unfollow")
	}
	past, f = l.follow(eventID(past[0].seq), 0) // seen up to 3
	defer l.unfollow(f)
	if got := invoicesOf(past); !slices.Equal(got, []string{"4", "5"}) {
		t.Errorf("after reconnecting = %v, want 4 5", got)
	}
}

// A follower that reconnects with the id of another process (Caddy
// restarted meanwhile) gets every entry kept: all came after its last
// one, whatever their numbers.
func TestRecentLogFollowAfterARestart(t *testing.T) {
	l := newRecentLog(10)
	addInvoices(l, 1, 3)
	for _, id := range []string{"0-999999", "0-1", "999999"} {
		past, f := l.follow(id, 0)
		l.unfollow(f)
		if got := invoicesOf(past); !slices.Equal(got, []string{"1", "2", "3"}) {
			t.Errorf("reconnecting with %q from another process: %v, want 1 2 3", id, got)
		}
	}
}

// A follower that stops reading is let go, not waited for.
func TestRecentLogDropsASlowFollower(t *testing.T) {
	l := newRecentLog(10)
	_, f := l.follow("", 0)
	addInvoices(l, 1, followerBuffer+1)
	n := 0
	for range f.ch {
		n++
	}
	if n != followerBuffer {
		t.Errorf("the slow follower got %d entries before its channel closed, want %d", n, followerBuffer)
	}
}

// BenchmarkRecord is what every capture outcome costs the live log, the
// figures and the no-sale watch.
func BenchmarkRecord(b *testing.B) {
	usd := usdAmount(b, "19.99")
	for b.Loop() {
		record(outcomeEntry{Route: "bench", Kind: "sale", Outcome: outcomeCaptured, InvoiceID: "inv_1", EventID: "evt_1"}, usd)
	}
}
