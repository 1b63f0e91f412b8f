package caddymodule

import (
	"strings"
	"testing"
	"time"
)

// An outcome is one line of plain text whatever the shop put in its
// invoice id or reason: no escape sequence reaches the terminal.
func TestFormatOutcomeEscapesControlCharacters(t *testing.T) {
	e := outcomeEntry{
		Time: time.Date(2026, 12, 2, 10, 0, 0, 0, time.UTC), Route: "shop", Kind: "sale", Outcome: outcomeRejected,
		InvoiceID: "inv_\x1b]0;owned\x07", Reason: "amount: \"x\"\nnext line", EventID: "evt_1",
	}
	got := formatOutcome(e)
	want := `2026-12-02T10:00:00Z  rejected   sale  shop  invoice=inv_\x1b]0;owned\a  event=evt_1  amount: \"x\"\nnext line`
	if got != want {
		t.Errorf("formatOutcome:\n got %s\nwant %s", got, want)
	}
	if strings.ContainsAny(got, "\x1b\x07\n") {
		t.Errorf("a control character reached the line: %q", got)
	}
	e.InvoiceID, e.Reason = "inv_ünïcode_1", ""
	if got := formatOutcome(e); !strings.HasSuffix(got, "invoice=inv_ünïcode_1  event=evt_1") {
		t.Errorf("printable text was escaped: %s", got)
	}
}
