package sale

import "github.com/saletrack/caddy-saletrack/internal/jsonwrite"

// Where a field's value came from, as Origin records it.
const (
	// OriginPayload is a gjson path into the body.
	OriginPayload = "payload"
	// OriginPlaceholder is a request placeholder (a cookie, a header).
	OriginPlaceholder = "placeholder"
	// OriginBinding is what the proxy learned earlier from the same
	// customer, email or checkout reference.
	OriginBinding = "binding"
)

// Origin records where the attribution fields of an event came from, so a
// shop can audit why a sale was credited to a click and a customer. An
// empty field had no value, or came from a record written before origins
// were kept.
type Origin struct {
	// CustomerExternalID is where the customer id came from.
	CustomerExternalID string `json:"customerExternalId,omitempty"`
	// ClickID is where the click id came from.
	ClickID string `json:"clickId,omitempty"`
}

// originOf names where a source's value comes from.
func originOf(src Source) string {
	if src.Placeholder != "" {
		return OriginPlaceholder
	}
	return OriginPayload
}

// SetOrigin records that field came from origin. Only the customer id and
// the click id are recorded: they are what attribution rests on.
func (e *Event) SetOrigin(field Field, origin string) {
	if e.Origin == nil {
		e.Origin = &Origin{}
	}
	switch field {
	case FieldCustomerID:
		e.Origin.CustomerExternalID = origin
	case FieldClickID:
		e.Origin.ClickID = origin
	}
}

// AppendOrigin appends the event's origin as an "origin" member after
// others, as json.Marshal writes it; nothing when there is none. The
// record and the file sink's line carry it.
func (e *Event) AppendOrigin(dst []byte) []byte {
	if e.Origin == nil {
		return dst
	}
	dst = append(dst, `,"origin":{`...)
	open := len(dst)
	for _, m := range [...]struct{ key, value string }{
		{"customerExternalId", e.Origin.CustomerExternalID},
		{"clickId", e.Origin.ClickID},
	} {
		if m.value == "" {
			continue
		}
		if len(dst) > open {
			dst = append(dst, ',')
		}
		dst = append(dst, '"')
		dst = append(dst, m.key...)
		dst = append(dst, '"', ':')
		dst = jsonwrite.String(dst, m.value)
	}
	return append(dst, '}')
}
