// Package httpcheck holds the rules for config values that end up in an
// HTTP request. The config's validation and the code that sends both call
// them, so a value `caddy validate` passes is one the sender takes.
package httpcheck

import (
	"errors"
	"net/url"
	"strings"
	"unicode"
	"unicode/utf8"
)

// URL checks that raw is an absolute http or https URL naming a host. A
// URL with only a port (https://:443/) is refused: Go would dial the local
// machine.
func URL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Hostname() == "" {
		return errors.New("want an http:// or https:// URL")
	}
	return nil
}

// HeaderValue checks that v can be sent as (part of) an HTTP header value
// and arrive intact. net/http refuses to send a request whose header holds
// a control character other than tab (golang.org/x/net/http/httpguts,
// ValidHeaderFieldValue), and receivers trim spaces and tabs around a value,
// so a secret with either would fail every request.
func HeaderValue(v string) error {
	for i := 0; i < len(v); i++ {
		if b := v[i]; (b < ' ' && b != '\t') || b == 0x7f {
			return errors.New("holds a control character, which cannot be sent in an HTTP header")
		}
	}
	if v != "" && (isBlank(v[0]) || isBlank(v[len(v)-1])) {
		return errors.New("begins or ends with a space or tab, which the receiver would trim off")
	}
	return nil
}

func isBlank(b byte) bool { return b == ' ' || b == '\t' }

// Redact keeps scheme, host and path: enough to tell endpoints apart,
// never userinfo, query or fragment, where credentials may hide. A path
// segment that may be an id or a token (see secretLike) is cut to its
// first two characters: receivers such as Slack's, Discord's or Zapier's
// hooks carry their secret in the path.
func Redact(raw string) string {
	if raw == "" {
		return ""
	}
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return "(unparseable URL)"
	}
	segments := strings.Split(u.Path, "/")
	for i, seg := range segments {
		if secretLike(seg) {
			segments[i] = string([]rune(seg)[:2]) + "..."
		}
	}
	return (&url.URL{Scheme: u.Scheme, Host: u.Host, Path: strings.Join(segments, "/")}).String()
}

// secretLike reports whether a path segment may be an id or a token: six
// characters or more with a digit in them (Zapier's hook ids are seven),
// or twenty or more of any kind. Words (track, sale-events) and versions
// (v1) are kept.
func secretLike(seg string) bool {
	n := utf8.RuneCountInString(seg)
	return n >= 20 || (n >= 6 && strings.IndexFunc(seg, unicode.IsDigit) >= 0)
}
