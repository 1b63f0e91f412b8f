package fx

import (
	"bytes"
	_ "embed" // for the snapshot below
)

// snapshotXML is the last fallback when there is neither a network nor a
// cache: a verbatim copy of a real ECB eurofxref-daily.xml publication, so
// a fresh install converts at real (if old, and therefore Stale) rates
// instead of refusing every non-USD sale.
//
// Date: 2024-06-28 (a Friday; USD 1.0705, 30 currencies including BGN).
// Origin: the sample response in github.com/dialogplay/tool-directory,
// integrations/ecb_exchange_rate/README.md (commit cd390df8712726c6ebc9f7b4d2919275750c7e0f),
// copied byte for byte from its xml block. It was the newest complete,
// unaltered day found in stored public repositories; a newer copy
// (2026-03-13) had its decimal points rewritten as commas and was rejected.
//
//go:embed snapshot/eurofxref-daily.xml
var snapshotXML []byte

// Snapshot returns the embedded ECB publication (see snapshotXML for its
// date and origin). It parses with the same strict ParseECB as the live
// feed, and a test keeps it that way.
func Snapshot() (*Rates, error) {
	return ParseECB(bytes.NewReader(snapshotXML))
}
