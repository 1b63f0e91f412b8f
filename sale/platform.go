package sale

import (
	"fmt"
	"strings"
	"time"

	"github.com/bojanz/currency"
)

// DefaultPlatform is the profile used when none is named: CutMeShort, the
// platform the Sale Track page documents.
const DefaultPlatform = "cutmeshort"

// Platform is an attribution platform's profile: where its API lives, the
// JSON each event becomes, the names of its click, its default event names,
// and what it certainly refuses. The profiles are fixed; LookupPlatform
// hands out a copy, so changing a field changes no one else's profile. A
// Platform not from LookupPlatform has no body to write.
type Platform struct {
	// Name is the profile's name in the configuration.
	Name string
	// APIBase is the default base URL the paths are appended to; empty for
	// a profile without a hosted API (generic), whose URLs are configured.
	APIBase string
	// SalePath and LeadPath are appended to the base URL for sales and
	// leads.
	SalePath, LeadPath string
	// ClickParam is the query parameter the platform's links append to the
	// landing URL, and ClickCookie the first-party cookie its own script
	// keeps the click in. Each profile names both alike, as the platform
	// does, so the proxy and the platform's script share one cookie.
	ClickParam, ClickCookie string
	// SaleEvent and LeadEvent are the event names sent when the event has
	// none of its own.
	SaleEvent, LeadEvent string

	sale, lead      func(dst []byte, w *wireEvent) []byte
	saleRules       []rule
	leadRules       []rule
	maxTimestampAge time.Duration // 0: any timestamp is taken as it is
}

// wireEvent is an event as a profile writes it: the values that depend on
// the profile and the send, next to the event's own fields.
type wireEvent struct {
	*Event
	// name is the event name, the profile's default when the event has none.
	name string
	// amount is the USD value when asked for and known, else the captured
	// amount; each profile rounds it to its own unit.
	amount currency.Amount
	// ts is WireTimestamp's time.
	ts time.Time
}

// platforms lists the profiles, the default first.
var platforms = []*Platform{&cutMeShort, &dub, &generic}

// PlatformNames returns the profiles' names, the default first.
func PlatformNames() []string {
	names := make([]string, len(platforms))
	for i, p := range platforms {
		names[i] = p.Name
	}
	return names
}

// LookupPlatform returns a copy of the named profile; an empty name is the
// default. An unknown name is an error that lists the known ones.
func LookupPlatform(name string) (*Platform, error) {
	if name == "" {
		name = DefaultPlatform
	}
	for _, p := range platforms {
		if p.Name == name {
			c := *p
			return &c, nil
		}
	}
	return nil, fmt.Errorf("unknown platform %q: want one of %s", name, strings.Join(PlatformNames(), ", "))
}

// Payload is the JSON body the platform receives for the event, a sale or
// a lead (Event.Kind), with the event's own timestamp. With sendUSD and a
// known USD value, a sale's amount is the converted one and its currency
// USD. Amounts are rounded, half away from zero, to the currency's digits
// (WireAmount), or to Dub's coarser unit where it has one. The event is
// not changed. At send time, use WirePayload.
func (p *Platform) Payload(ev *Event, sendUSD bool) []byte {
	return p.appendPayload(make([]byte, 0, 320), ev, sendUSD, ev.Timestamp)
}

// WirePayload is the body to send at now: Payload with WireTimestamp's
// time in place of the event's, which stays in the event and in the file
// sink's line.
func (p *Platform) WirePayload(ev *Event, sendUSD bool, now time.Time) []byte {
	return p.appendPayload(make([]byte, 0, 320), ev, sendUSD, p.WireTimestamp(ev, now))
}

func (p *Platform) appendPayload(dst []byte, ev *Event, sendUSD bool, ts time.Time) []byte {
	w := &wireEvent{Event: ev, name: p.EventName(ev), amount: ev.payAmount(sendUSD), ts: ts}
	if ev.IsLead() {
		return p.lead(dst, w)
	}
	return p.sale(dst, w)
}

// EventName is the name the event is sent under: its own, or the
// profile's default for its kind.
func (p *Platform) EventName(ev *Event) string {
	switch {
	case ev.EventName != "":
		return ev.EventName
	case ev.IsLead():
		return p.LeadEvent
	}
	return p.SaleEvent
}

// WireTimestamp is the time the event is sent with at now. A platform
// that refuses old or future timestamps gets now in their place; the
// event keeps its own time. CutMeShort's Go SDK refuses timestamps more
// than 24 hours old or more than a minute ahead (ValidateTimestamp in
// cms-go's internal/validation/validator.go), and its server may do the
// same: sending the original time after an outage longer than a day would
// turn every queued sale into a dead letter. The sale happened; the time
// it reaches the platform is the best time the platform will take.
// Profiles without such a rule send the event's own time.
func (p *Platform) WireTimestamp(ev *Event, now time.Time) time.Time {
	ts := ev.Timestamp
	if p.maxTimestampAge == 0 {
		return ts
	}
	// The margin keeps a time just inside the limit from crossing it
	// between here and the platform's clock (transit, clock skew).
	if ts.After(now) || now.Sub(ts) > p.maxTimestampAge-timestampAgeMargin {
		return now
	}
	return ts
}

// timestampAgeMargin is how far inside a platform's age limit a timestamp
// must be to be sent as it is.
const timestampAgeMargin = 5 * time.Minute

// Check says why the platform would certainly refuse the event, so that
// the caller makes it a dead letter at once, with the reason, instead of
// retrying or burying a 400 later; nil when the event is worth sending.
// Only what the platform's server certainly refuses, what every official
// source requires, or what an official SDK refuses before sending with no
// official source saying otherwise, is refused: where the server's
// behaviour is unknown, the event is sent and the server decides. Each rule names its source in
// platform_cutmeshort.go and platform_dub.go. A timestamp is never a
// reason (see WireTimestamp), and neither is an optional field the
// platform would refuse: the payload leaves such a field out. now is the
// send time, for rules that depend on it (none does yet).
func (p *Platform) Check(ev *Event, now time.Time) error {
	rules := p.saleRules
	switch ev.Kind {
	case "", KindSale:
	case KindLead:
		rules = p.leadRules
	default:
		// Written by a later version, or damaged: neither body fits it.
		return &RefusedError{Platform: p.Name, Field: "kind", Reason: fmt.Sprintf("%q is neither %q nor %q", ev.Kind, KindSale, KindLead)}
	}
	name := p.EventName(ev)
	for _, r := range rules {
		if reason := r.refuse(ev, name); reason != "" {
			return &RefusedError{Platform: p.Name, Field: r.field, Reason: reason}
		}
	}
	return nil
}

// RefusedError is Check's answer: the event can never be accepted by the
// platform, and why. It names lengths and rules, never the values, which
// may be personal data.
type RefusedError struct {
	// Platform is the profile's name.
	Platform string
	// Field is the wire field at fault, in the platform's spelling.
	Field string
	// Reason says what is wrong and which published rule refuses it.
	Reason string
}

// Error names the platform, the field and the reason.
func (e *RefusedError) Error() string {
	return e.Platform + ": " + e.Field + ": " + e.Reason
}

// rule is one thing a platform certainly refuses: refuse returns why the
// event (sent under the event name name) breaks it, or "".
type rule struct {
	field  string
	refuse func(ev *Event, name string) string
}
