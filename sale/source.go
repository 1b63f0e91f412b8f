package sale

import (
	"fmt"
	"strings"

	"github.com/tidwall/gjson"
)

// A Source is one place a field's value may come from: a Caddy placeholder
// resolved at request time, or a gjson path into the body.
type Source struct {
	// Placeholder is set for a source written as "{...}".
	Placeholder string
	// Path is set for every other source.
	Path string
}

// Resolver turns a placeholder such as "{http.request.cookie.clickId}" into
// its value for the current request, "" when unknown. The caddymodule
// package backs it with the request's replacer; the sale package never sees
// a request.
type Resolver func(placeholder string) string

// ParseSource reads one source as written in a config.
func ParseSource(s string) (Source, error) {
	s = strings.TrimSpace(s)
	if strings.HasPrefix(s, "{") && strings.HasSuffix(s, "}") && !strings.HasPrefix(s, "{\"") {
		if len(s) < 3 {
			return Source{}, fmt.Errorf("empty placeholder %q", s)
		}
		return Source{Placeholder: s}, nil
	}
	if err := ValidatePath(s); err != nil {
		return Source{}, err
	}
	return Source{Path: s}, nil
}

// ParseSources reads a field's list of sources.
func ParseSources(list []string) ([]Source, error) {
	out := make([]Source, 0, len(list))
	for _, s := range list {
		src, err := ParseSource(s)
		if err != nil {
			return nil, err
		}
		out = append(out, src)
	}
	return out, nil
}

// String gives the source back as it was written.
func (s Source) String() string {
	if s.Placeholder != "" {
		return s.Placeholder
	}
	return s.Path
}

// ValidatePath catches gjson paths that could never match: gjson itself
// accepts any string and quietly finds nothing, which would turn a typo in a
// config into sales that are never captured.
func ValidatePath(path string) error {
	if path == "" {
		return fmt.Errorf("empty gjson path")
	}
	if strings.HasPrefix(path, ".") || strings.HasSuffix(path, ".") || strings.HasSuffix(path, "|") {
		return fmt.Errorf("gjson path %q: starts or ends with a separator", path)
	}
	if strings.HasPrefix(path, "ref:") {
		// Other tools write a lookup by reference this way; here it would
		// be a gjson path that never matches.
		return fmt.Errorf("%q: a checkout reference is a field of its own: write `ref %s`", path, strings.TrimPrefix(path, "ref:"))
	}
	var stack []byte
	inString := false
	for i := 0; i < len(path); i++ {
		c := path[i]
		switch {
		case c == '\\':
			i++ // an escaped character stands for itself
		case inString:
			if c == '"' {
				inString = false
			}
		case c == '"':
			inString = true
		case c == '[' || c == '{' || c == '(':
			stack = append(stack, c)
		case c == ']' || c == '}' || c == ')':
			open := map[byte]byte{']': '[', '}': '{', ')': '('}[c]
			if len(stack) == 0 || stack[len(stack)-1] != open {
				return fmt.Errorf("gjson path %q: unbalanced %q at offset %d", path, c, i)
			}
			stack = stack[:len(stack)-1]
		case c == '.' && len(stack) == 0 && i+1 < len(path) && path[i+1] == '.':
			return fmt.Errorf("gjson path %q: empty component at offset %d", path, i)
		}
	}
	if inString {
		return fmt.Errorf("gjson path %q: unterminated string", path)
	}
	if len(stack) > 0 {
		return fmt.Errorf("gjson path %q: unclosed %q", path, stack[len(stack)-1])
	}
	return nil
}

// value is what a source yielded: its text, and whether it was a JSON
// number (whose raw digits must be kept, never read through a float).
type value struct {
	text     string
	isNumber bool
	source   Source
}

// first returns the first non-empty value among the sources.
func first(sources []Source, body gjson.Result, resolve Resolver) (value, bool) {
	for _, src := range sources {
		if v, ok := read(src, body, resolve); ok {
			return v, true
		}
	}
	return value{}, false
}

// read yields a source's value: a placeholder's text, or a JSON string or
// number at the path (or an array of them, joined). Anything else, a
// boolean, null or an object, is no value: a boolean is never an id.
func read(src Source, body gjson.Result, resolve Resolver) (value, bool) {
	if src.Placeholder != "" {
		if resolve == nil {
			return value{}, false
		}
		text := strings.TrimSpace(resolve(src.Placeholder))
		return value{text: text, source: src}, text != ""
	}
	if !body.Exists() {
		return value{}, false
	}
	r := body.Get(src.Path)
	switch r.Type {
	case gjson.String:
		text := strings.TrimSpace(r.Str)
		return value{text: text, source: src}, text != ""
	case gjson.Number:
		// Raw keeps every digit of an id beyond 2^53 and the exact decimal
		// text of an amount.
		return value{text: strings.TrimSpace(r.Raw), isNumber: true, source: src}, true
	case gjson.JSON:
		if r.IsArray() {
			text := joinStrings(r)
			return value{text: text, source: src}, text != ""
		}
	}
	return value{}, false
}

// joinStrings joins an array of scalars with single spaces, so a multipath
// like [billing.first_name,billing.last_name] yields a full name.
func joinStrings(arr gjson.Result) string {
	var parts []string
	arr.ForEach(func(_, v gjson.Result) bool {
		var s string
		switch v.Type {
		case gjson.String:
			s = strings.TrimSpace(v.Str)
		case gjson.Number:
			s = v.Raw
		}
		if s != "" {
			parts = append(parts, s)
		}
		return true
	})
	return strings.Join(parts, " ")
}
