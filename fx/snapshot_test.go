package fx

import (
	"strings"
	"testing"
)

// The embedded snapshot is a real publication and must keep passing the
// strict parser, or a fresh install would start with no rates at all.
func TestSnapshot(t *testing.T) {
	r, err := Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	if r.Date != "2024-06-28" || len(r.PerEUR) != 30 {
		t.Fatalf("snapshot is %s with %d currencies, want 2024-06-28 with 30", r.Date, len(r.PerEUR))
	}
	for _, row := range feedDay {
		if got := plainText(r.PerEUR[row[0]]); got != row[1] {
			t.Errorf("snapshot %s = %s, want %s", row[0], got, row[1])
		}
	}
	// It is the ECB's document byte for byte, as the test helper writes it.
	if string(snapshotXML) != feedXML("2024-06-28", nil) {
		t.Error("snapshot file differs from the ECB layout of the same day")
	}
	if !strings.Contains(string(snapshotXML), "<gesmes:name>European Central Bank</gesmes:name>") {
		t.Error("snapshot lost its sender")
	}
}
