package sale

import (
	"bytes"
	"strings"

	"github.com/tidwall/gjson"
)

// Explanation says how a spec reads one body: what each condition's path
// held, and which source gave each field its value. It is for a person
// checking a setup (`caddy sale-track try`), so it holds values as they
// are, email and name included; the request path never builds one.
type Explanation struct {
	// Conditions are the spec's conditions in order, up to the first that
	// does not hold.
	Conditions []ConditionTrace
	// Fields are the fields the spec has sources for, in Fields order.
	Fields []FieldTrace
}

// ConditionTrace is one condition and what its path held.
type ConditionTrace struct {
	Condition string `json:"condition"`
	// Held is the JSON text at the path; empty when the path found nothing.
	Held  string `json:"held"`
	Holds bool   `json:"holds"`
}

// FieldTrace is one field and the sources tried for it, in order, up to
// the one whose value was taken.
type FieldTrace struct {
	Field Field         `json:"-"`
	Tried []SourceTrace `json:"tried"`
	// Value is the text taken; empty when no source yielded one.
	Value string `json:"value"`
}

// SourceTrace is one source and what it yielded.
type SourceTrace struct {
	Source string `json:"source"`
	// Value is the source's text; empty when it yielded none.
	Value string `json:"value,omitempty"`
	// Refused says why a value was passed over (a click id no tracked
	// link could have set); empty otherwise.
	Refused string `json:"refused,omitempty"`
}

// Explain reads body as Extract does, source by source, without building
// an event: the same conditions, the same reading of each source and the
// same rule for a click id.
func (s *Spec) Explain(body []byte, resolve Resolver) Explanation {
	body = bytes.TrimPrefix(body, utf8BOM)
	var out Explanation
	for _, c := range s.When {
		held := gjson.GetBytes(body, c.Path)
		trace := ConditionTrace{Condition: c.String(), Held: held.Raw, Holds: c.holds(held)}
		out.Conditions = append(out.Conditions, trace)
		if !trace.Holds {
			return out
		}
	}
	var doc gjson.Result
	if len(body) > 0 && gjson.ValidBytes(body) {
		doc = gjson.ParseBytes(body)
	}
	for _, f := range Fields {
		sources := s.Sources[f]
		if len(sources) == 0 {
			continue
		}
		trace := FieldTrace{Field: f}
		for _, src := range sources {
			v, ok := read(src, doc, resolve)
			st := SourceTrace{Source: src.String(), Value: v.text}
			if ok && f == FieldClickID && !ValidClickID(v.text) {
				st.Refused = "not a click id a tracked link sets"
				ok = false
			}
			trace.Tried = append(trace.Tried, st)
			if ok {
				trace.Value = strings.Clone(v.text)
				break
			}
		}
		out.Fields = append(out.Fields, trace)
	}
	return out
}
