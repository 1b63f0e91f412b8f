package delivery

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/saletrack/caddy-saletrack/internal/httpcheck"
	"github.com/saletrack/caddy-saletrack/sale"
)

// DefaultHTTPTimeout bounds one delivery attempt to the platform.
const DefaultHTTPTimeout = 10 * time.Second

// drainLimit is how much of a response body is read to let the connection
// be reused; a longer body is cut off and the connection dropped.
const drainLimit = 64 << 10

// HTTPSinkOptions configures delivery to the platform's Sale Track API.
type HTTPSinkOptions struct {
	// Platform is the profile whose JSON is sent and whose rules are
	// checked before a send; nil means the generic one.
	Platform *sale.Platform
	// Endpoint is the URL sales are POSTed to, LeadEndpoint the one leads
	// are; a kind without one is not sent by this sink (the file sink
	// keeps it). Either may be empty, not both.
	Endpoint      string
	LeadEndpoint  string
	APIKey        string        // Authorization: Bearer <key>; never logged, never in an error string
	SigningSecret string        // optional: Standard Webhooks headers; never logged
	Timeout       time.Duration // 0 means 10s
	UserAgent     string        // e.g. "caddy-saletrack/<version>"
	SendUSD       bool          // a sale's amount in USD, when known
	// Connections is how many sends may be in flight at once (the
	// emitter's concurrency); that many connections are kept open for
	// reuse. 0 means DefaultConcurrency.
	Connections int
	Client      *http.Client // nil means a client with Timeout and Connections
}

// HTTPSink POSTs each sale to the platform. It is safe for concurrent use.
type HTTPSink struct {
	platform *sale.Platform
	sales    destination
	leads    destination
	apiKey   string
	// signingSecret is the secret as configured; secret is the key it
	// stands for. Both are redacted.
	signingSecret string
	secret        []byte
	timeout       time.Duration
	userAgent     string
	sendUSD       bool
	client        *http.Client
	ownClient     bool // made here, so Close may close its idle connections
	now           func() time.Time
}

// destination is one URL the sink posts to, and the name it goes by in
// errors: scheme, host and path only, so credentials in userinfo or the
// query never reach a log.
type destination struct{ url, where string }

func newDestination(url string) (destination, error) {
	if url == "" {
		return destination{}, nil
	}
	if err := httpcheck.URL(url); err != nil {
		return destination{}, fmt.Errorf("http sink: endpoint %q: %w", httpcheck.Redact(url), err)
	}
	return destination{url: url, where: httpcheck.Redact(url)}, nil
}

// NewHTTPSink checks the options and returns a sink. The endpoint must be
// an absolute http or https URL; the signing secret is read by
// ParseSigningSecret.
func NewHTTPSink(opts HTTPSinkOptions) (*HTTPSink, error) {
	sales, err := newDestination(opts.Endpoint)
	if err != nil {
		return nil, err
	}
	leads, err := newDestination(opts.LeadEndpoint)
	if err != nil {
		return nil, err
	}
	if sales.url == "" && leads.url == "" {
		return nil, errors.New("http sink: no endpoint")
	}
	platform := opts.Platform
	if platform == nil {
		if platform, err = sale.LookupPlatform("generic"); err != nil {
			return nil, err
		}
	}
	s := &HTTPSink{
		platform:      platform,
		sales:         sales,
		leads:         leads,
		apiKey:        opts.APIKey,
		signingSecret: opts.SigningSecret,
		timeout:       opts.Timeout,
		userAgent:     opts.UserAgent,
		sendUSD:       opts.SendUSD,
		client:        opts.Client,
		now:           time.Now,
	}
	if s.timeout <= 0 {
		s.timeout = DefaultHTTPTimeout
	}
	if s.client == nil {
		// An own transport, not http.DefaultTransport: Close must not drop
		// other users' idle connections. The default keeps two idle
		// connections per host, so with more sends in flight every other
		// send would dial (and the platform accept) a new connection.
		transport := http.DefaultTransport.(*http.Transport).Clone()
		transport.MaxIdleConnsPerHost = max(opts.Connections, DefaultConcurrency)
		transport.MaxIdleConns = max(transport.MaxIdleConns, transport.MaxIdleConnsPerHost)
		s.client = &http.Client{Timeout: s.timeout, Transport: transport}
		s.ownClient = true
	} else {
		client := *s.client
		s.client = &client
	}
	// A redirect is never followed: Go would repeat the POST as a GET
	// without its body, and the target's 2xx would count as delivered.
	s.client.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	if s.secret, err = ParseSigningSecret(opts.SigningSecret); err != nil {
		return nil, fmt.Errorf("http sink: %w", err)
	}
	return s, nil
}

// Name is "http".
func (s *HTTPSink) Name() string { return "http" }

// Send POSTs the event's payload with its ID as the Idempotency-Key. A 2xx
// is acceptance; anything else is a *SendError classified by
// RetryableStatus; a transport failure is a plain (retryable) error.
func (s *HTTPSink) Send(ctx context.Context, ev *sale.Event) error {
	to := s.sales
	if ev.IsLead() {
		to = s.leads
	}
	if to.url == "" {
		return nil // this kind goes to the file sink only
	}
	// An event the platform will certainly refuse is a dead letter now,
	// naming the rule, rather than a 400 retried and buried later.
	if err := s.platform.Check(ev, s.now()); err != nil {
		return &SendError{Permanent: true, Err: err}
	}
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	body := s.platform.WirePayload(ev, s.sendUSD, s.now())
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, to.url, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("http sink: building request to %s: %s", to.where, s.redact(err.Error()))
	}
	h := req.Header
	h.Set("Content-Type", "application/json")
	h.Set("Idempotency-Key", ev.ID)
	if s.apiKey != "" {
		h.Set("Authorization", "Bearer "+s.apiKey)
	}
	if s.userAgent != "" {
		h.Set("User-Agent", s.userAgent)
	}
	if s.secret != nil {
		ts := strconv.FormatInt(s.now().Unix(), 10)
		h.Set("webhook-id", ev.ID)
		h.Set("webhook-timestamp", ts)
		h.Set("webhook-signature", "v1,"+s.sign(ev.ID, ts, body))
	}

	resp, err := s.client.Do(req)
	if err != nil {
		cause := transportCause(err)
		return &transportError{where: to.where, msg: s.redact(cause.Error()), cause: cause}
	}
	defer resp.Body.Close()
	if resp.StatusCode >= 200 && resp.StatusCode <= 299 {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, drainLimit))
		return nil
	}
	// Secrets are redacted before the body is cut, so a secret the cut
	// would split is still found whole.
	read, _ := io.ReadAll(io.LimitReader(resp.Body, maxBodySnippet+s.longestSecret()))
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, drainLimit))
	failure := &SendError{
		Permanent:  !RetryableStatus(resp.StatusCode),
		Status:     resp.StatusCode,
		Body:       cutUTF8(s.redact(string(read)), maxBodySnippet),
		RetryAfter: ParseRetryAfter(resp.Header.Get("Retry-After"), s.now()),
		Err:        fmt.Errorf("POST %s", to.where),
	}
	if resp.StatusCode >= 300 && resp.StatusCode <= 399 {
		failure.Permanent = true
		if loc, err := resp.Location(); err == nil {
			failure.Location = httpcheck.Redact(s.redact(loc.String()))
		}
		failure.Err = fmt.Errorf("POST %s was redirected to %q, and redirects are never followed: set the endpoint to the final URL",
			to.where, failure.Location)
	}
	return failure
}

// ParseSigningSecret reads a signing secret: one prefixed "whsec_" is
// base64 after the prefix, as the Standard Webhooks spec has it; any other
// is used as raw bytes. Empty means no signing.
func ParseSigningSecret(secret string) ([]byte, error) {
	if secret == "" {
		return nil, nil
	}
	rest, ok := strings.CutPrefix(secret, "whsec_")
	if !ok {
		return []byte(secret), nil
	}
	key, err := base64.StdEncoding.DecodeString(rest)
	if err != nil || len(key) == 0 {
		return nil, errors.New("signing secret starts with whsec_ but the rest is not base64")
	}
	return key, nil
}

// cutUTF8 cuts s to at most n bytes without splitting a character.
func cutUTF8(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

// Close releases the idle connections of the client NewHTTPSink made; a
// caller's Client is left alone. The sink still works after Close (it
// dials again), so a send racing a config reload does not fail for it.
func (s *HTTPSink) Close() error {
	if s.ownClient {
		s.client.CloseIdleConnections()
	}
	return nil
}

// sign is the Standard Webhooks signature: base64 HMAC-SHA256 over
// "<id>.<timestamp>.<body>".
func (s *HTTPSink) sign(id, ts string, body []byte) string {
	mac := hmac.New(sha256.New, s.secret)
	mac.Write([]byte(id))
	mac.Write([]byte{'.'})
	mac.Write([]byte(ts))
	mac.Write([]byte{'.'})
	mac.Write(body)
	return base64.StdEncoding.EncodeToString(mac.Sum(nil))
}

// redact removes the API key and the signing secret, as configured and as
// decoded, from text that came from elsewhere (an error, a response body
// that echoes the request).
func (s *HTTPSink) redact(text string) string {
	for _, secret := range s.secrets() {
		if len(secret) >= 4 {
			text = strings.ReplaceAll(text, secret, "[REDACTED]")
		}
	}
	return text
}

func (s *HTTPSink) secrets() []string {
	return []string{s.apiKey, s.signingSecret, string(s.secret)}
}

func (s *HTTPSink) longestSecret() int64 {
	n := 0
	for _, secret := range s.secrets() {
		n = max(n, len(secret))
	}
	return int64(n)
}

// transportError is a failed round trip. Its message is built from the
// redacted endpoint and the cause without the URL, and it unwraps to that
// cause, not to the *url.Error: url.Error prints the full URL, and Go only
// masks the password in it, not a username or query parameter holding a
// key.
type transportError struct {
	where string
	msg   string
	cause error
}

// Error names the redacted endpoint and the cause.
func (e *transportError) Error() string { return "http sink: POST " + e.where + ": " + e.msg }

// Unwrap returns the cause without its URL.
func (e *transportError) Unwrap() error { return e.cause }

// transportCause strips the *url.Error wrapper (and with it the URL).
func transportCause(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) && ue.Err != nil {
		return ue.Err
	}
	return err
}
