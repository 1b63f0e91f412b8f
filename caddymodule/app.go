package caddymodule

import (
	"errors"
	"fmt"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/caddyserver/caddy/v2"
	"go.uber.org/zap"

	"github.com/saletrack/caddy-saletrack/delivery"
	"github.com/saletrack/caddy-saletrack/fx"
	"github.com/saletrack/caddy-saletrack/internal/httpcheck"
	"github.com/saletrack/caddy-saletrack/sale"
)

func init() {
	caddy.RegisterModule(App{})
}

// Defaults of the app's options. The delivery defaults are the delivery
// package's own, so the two cannot drift apart.
const (
	DefaultConcurrency     = delivery.DefaultConcurrency
	DefaultBackoffBase     = delivery.DefaultBackoffBase
	DefaultBackoffCap      = delivery.DefaultBackoffCap
	DefaultMaxEventAge     = delivery.DefaultMaxEventAge
	DefaultShutdownTimeout = delivery.DefaultShutdownTimeout
	DefaultDedupWindow     = delivery.DefaultDedupWindow
	DefaultMaxStorage      = delivery.DefaultOutboxMaxSize
	DefaultSendTimeout     = delivery.DefaultHTTPTimeout
	DefaultFxMaxAge        = 7 * 24 * time.Hour
	DefaultFxSource        = fx.DefaultURL
	DefaultBindingTTL      = delivery.DefaultBindingTTL
)

// App is the sale_track app: where captured sales are delivered and how.
// It owns nothing itself: the outbox, the delivery worker and the rates
// fetcher are one per process, shared across config reloads through a
// usage pool keyed by the storage directory, and take this config's
// settings when it starts.
type App struct {
	// Platform is the attribution platform's profile: cutmeshort, dub or
	// generic. It fixes the JSON each event becomes, the API's base URL and
	// paths, the click's query parameter and cookie (cms_rf, dub_id,
	// clickId) and the default event names. Naming cutmeshort or dub turns
	// the HTTP sink on. Default: cutmeshort.
	Platform string `json:"platform,omitempty"`

	// APIBase is the platform's API base URL, http:// or https://; the
	// profile appends /track/sale and /track/lead. The generic profile has
	// none. Default: the platform's (https://api.cme.sh, https://api.dub.co).
	APIBase string `json:"api_base,omitempty"`

	// Endpoint is the full URL sales are POSTed to as JSON, http:// or
	// https://, in place of APIBase's. Default: none.
	Endpoint string `json:"endpoint,omitempty"`

	// LeadEndpoint is the full URL leads are POSTed to, in place of
	// APIBase's. With the generic profile and none, leads go to the file
	// sink only. Default: none.
	LeadEndpoint string `json:"lead_endpoint,omitempty"`

	// Attribution is which click a visitor keeps: last (each new valid
	// click replaces the cookie) or first (a valid existing cookie is
	// kept), as both platforms offer. Default: last.
	Attribution string `json:"attribution,omitempty"`

	// APIKey is sent as "Authorization: Bearer <key>", so it may hold no
	// control character nor begin or end with a space. Global placeholders
	// such as {env.SALETRACK_API_KEY} are resolved. It never appears in
	// logs. Default: none (no Authorization header).
	APIKey string `json:"api_key,omitempty"`

	// SigningSecret, when set, signs each request with Standard Webhooks
	// headers (webhook-id, webhook-timestamp, webhook-signature), so the
	// receiver can verify the sender. A secret starting "whsec_" must be
	// base64 after the prefix. {env.*} is resolved. Never logged.
	// Default: none (unsigned).
	SigningSecret string `json:"signing_secret,omitempty"`

	// File is a JSON Lines sink: one event object per line. It may not be
	// the outbox or the rates cache in the storage directory. Default: with
	// no Endpoint, sales.jsonl in the storage directory; with one, none.
	File string `json:"file,omitempty"`

	// StorageDir holds the outbox database and the rates cache. Default:
	// sale_track/ under Caddy's data directory.
	StorageDir string `json:"storage_dir,omitempty"`

	// Concurrency is how many sends may run at once, 1 to 256. Default: 4.
	Concurrency int `json:"concurrency,omitempty"`

	// BackoffBase is the first retry's delay bound; each retry doubles it,
	// with full jitter. Default: 1s.
	BackoffBase caddy.Duration `json:"backoff_base,omitempty"`

	// BackoffCap bounds the retry delay; it may not be shorter than
	// BackoffBase. Default: 10m.
	BackoffCap caddy.Duration `json:"backoff_cap,omitempty"`

	// MaxEventAge is how long an undelivered sale is retried before it
	// becomes a dead letter. Default: 168h.
	MaxEventAge caddy.Duration `json:"max_event_age,omitempty"`

	// ShutdownTimeout is how long in-flight sends may finish when Caddy
	// stops; what is unsent is sent on the next start. Default: 5s.
	ShutdownTimeout caddy.Duration `json:"shutdown_timeout,omitempty"`

	// DedupWindow is how long an invoice id is remembered: a second capture
	// of it within the window is not sent again. Default: 720h.
	DedupWindow caddy.Duration `json:"dedup_window,omitempty"`

	// MaxStorage bounds the outbox file, in bytes, at least 1048576 (1 MiB).
	// Default: 1073741824 (1 GiB).
	MaxStorage int64 `json:"max_storage,omitempty"`

	// BindingTTL is how long what the proxy learned is used to complete a
	// webhook sale: a customer's click, an email's customer. Set it to
	// the click cookie's lifetime. In a fleet (nats) it is also the TTL of
	// the shared binding's KV bucket. Default: 2160h (90 days).
	BindingTTL caddy.Duration `json:"binding_ttl,omitempty"`

	// SendTimeout bounds one HTTP delivery attempt. Default: 10s.
	SendTimeout caddy.Duration `json:"send_timeout,omitempty"`

	// FxSource is the URL of the daily euro reference rates, in the ECB's
	// eurofxref-daily.xml format. Default: the ECB's own feed.
	FxSource string `json:"fx_source,omitempty"`

	// FxMaxAge is the age past which rates are still used but reported with
	// a WARN and a metric. Default: 168h.
	FxMaxAge caddy.Duration `json:"fx_max_age,omitempty"`

	// FxRates are static rates, USD per unit, for currencies the feed does
	// not carry (code → positive decimal string, e.g. {"AED": "0.2723"});
	// USD takes none, and a code may appear once in any case. Default: none.
	FxRates map[string]string `json:"fx_rates,omitempty"`

	// SendUSD sends the amount converted to USD, with currency USD, instead
	// of the amount as captured. Default: false (the platform converts).
	SendUSD bool `json:"send_usd,omitempty"`

	// Recent is how many capture outcomes the live log keeps in memory,
	// for GET /sale_track/recent, `caddy sale-track tail` and the status
	// page; 1 to 100000. Default: 200.
	Recent int `json:"recent,omitempty"`

	// NATS, when set, runs this node as one of a fleet sharing a NATS
	// JetStream cluster (see NATS). Default: none (a single node).
	NATS *NATS `json:"nats,omitempty"`

	apiKey        string
	signingSecret string
	platform      *sale.Platform
	file          string
	storageDir    string
	run           *appRun
	logger        *zap.Logger
}

// appRun is an app's state once started. Caddy starts apps in no fixed
// order, so the http app may serve this config's handlers before Start has
// set the delivery: ready lets a capture wait for it.
type appRun struct {
	pipeline atomic.Pointer[pipeline]
	ready    chan struct{}
	readyOne sync.Once
	// pending are the commits of browser sales still under way.
	pending pendingCommits
}

// CaddyModule returns the Caddy module information.
func (App) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "sale_track",
		New: func() caddy.Module { return new(App) },
	}
}

// Provision resolves global placeholders and fills defaults. It opens no
// file and starts nothing: `caddy validate` provisions but never starts.
func (a *App) Provision(ctx caddy.Context) error {
	a.logger = ctx.Logger()
	a.run = &appRun{ready: make(chan struct{})}
	repl := caddy.NewReplacer()
	a.Endpoint = repl.ReplaceKnown(a.Endpoint, "")
	a.FxSource = repl.ReplaceKnown(a.FxSource, "")
	a.apiKey = repl.ReplaceKnown(a.APIKey, "")
	a.signingSecret = repl.ReplaceKnown(a.SigningSecret, "")
	a.storageDir = repl.ReplaceKnown(a.StorageDir, "")
	if a.storageDir == "" {
		a.storageDir = filepath.Join(caddy.AppDataDir(), "sale_track")
	}
	if abs, err := filepath.Abs(a.storageDir); err == nil {
		a.storageDir = abs
	}
	a.APIBase = repl.ReplaceKnown(a.APIBase, "")
	a.LeadEndpoint = repl.ReplaceKnown(a.LeadEndpoint, "")
	var err error
	if a.platform, err = sale.LookupPlatform(a.Platform); err != nil {
		return fmt.Errorf("platform: %w", err)
	}
	if a.Attribution == "" {
		a.Attribution = AttributionLast
	}
	a.file = repl.ReplaceKnown(a.File, "")
	if a.file == "" && (!a.sendsHTTP() || a.leadURL() == "" || a.saleURL() == "") {
		// Without an HTTP sink, or one with nowhere to send sales or
		// leads, the events still go somewhere: the file.
		a.file = filepath.Join(a.storageDir, "sales.jsonl")
	}
	if a.file != "" {
		if abs, err := filepath.Abs(a.file); err == nil {
			a.file = abs
		}
	}
	setDefault(&a.Concurrency, DefaultConcurrency)
	setDefault(&a.Recent, DefaultRecent)
	setDefaultDuration(&a.BackoffBase, DefaultBackoffBase)
	setDefaultDuration(&a.BackoffCap, DefaultBackoffCap)
	setDefaultDuration(&a.MaxEventAge, DefaultMaxEventAge)
	setDefaultDuration(&a.ShutdownTimeout, DefaultShutdownTimeout)
	setDefaultDuration(&a.DedupWindow, DefaultDedupWindow)
	setDefaultDuration(&a.SendTimeout, DefaultSendTimeout)
	setDefaultDuration(&a.FxMaxAge, DefaultFxMaxAge)
	setDefaultDuration(&a.BindingTTL, DefaultBindingTTL)
	if a.MaxStorage == 0 {
		a.MaxStorage = DefaultMaxStorage
	}
	if a.FxSource == "" {
		a.FxSource = DefaultFxSource
	}
	if a.NATS != nil {
		a.NATS.provision()
	}
	return nil
}

// Validate checks the options with the rules the Caddyfile parser applies,
// on the values as provisioned (placeholders resolved, defaults filled),
// and refuses what Start would. Its errors never carry the API key.
func (a *App) Validate() error {
	for _, o := range a.urlOptions() {
		if *o.value != "" {
			if err := checkURLOption(o.name, *o.value); err != nil {
				return err
			}
		}
	}
	if err := checkAttribution(a.Attribution); err != nil {
		return err
	}
	if err := a.checkPlatformSink(a.apiKey); err != nil {
		return err
	}
	if err := checkURLOption("fx_source", a.FxSource); err != nil {
		return err
	}
	if err := checkAPIKey(a.apiKey); err != nil {
		return err
	}
	if err := checkConcurrency(a.Concurrency); err != nil {
		return fmt.Errorf("concurrency %d: %w", a.Concurrency, err)
	}
	if err := checkRecent(a.Recent); err != nil {
		return fmt.Errorf("recent %d: %w", a.Recent, err)
	}
	if err := checkMaxStorage(a.MaxStorage); err != nil {
		return fmt.Errorf("max_storage %d: %w", a.MaxStorage, err)
	}
	for _, o := range a.durationOptions() {
		if err := checkDuration(*o.value); err != nil {
			return fmt.Errorf("%s %s: %w", o.name, time.Duration(*o.value), err)
		}
	}
	if err := checkBackoff(time.Duration(a.BackoffBase), time.Duration(a.BackoffCap)); err != nil {
		return err
	}
	if err := fx.CheckRates(a.FxRates); err != nil {
		return fxRateError(err)
	}
	if err := a.checkFile(); err != nil {
		return err
	}
	if a.NATS != nil {
		if err := a.NATS.validate(); err != nil {
			return err
		}
		if err := a.fleetOptions().CheckFiles(); err != nil {
			return fmt.Errorf("nats %w", err)
		}
	}
	return checkSigningSecret(a.signingSecret)
}

// The attribution rules.
const (
	AttributionLast  = "last"
	AttributionFirst = "first"
)

// checkAttribution is the rule of attribution.
func checkAttribution(v string) error {
	if v != AttributionLast && v != AttributionFirst && v != "" {
		return fmt.Errorf("attribution %q: want last or first", v)
	}
	return nil
}

// urlOptions names the options that hold an http(s) URL, for the parser
// and Validate alike.
func (a *App) urlOptions() []struct {
	name  string
	value *string
} {
	return []struct {
		name  string
		value *string
	}{{"endpoint", &a.Endpoint}, {"lead_endpoint", &a.LeadEndpoint}, {"api_base", &a.APIBase}, {"fx_source", &a.FxSource}}
}

// sendsHTTP reports whether events go to the platform's API: when a key,
// a base URL or an endpoint is given, or a hosted platform is named (to
// name one is to send to it). Otherwise the file sink alone takes them.
func (a *App) sendsHTTP() bool {
	hosted := a.Platform != "" && a.Platform != "generic"
	return a.APIKey != "" || a.APIBase != "" || a.Endpoint != "" || a.LeadEndpoint != "" || hosted
}

// saleURL and leadURL are where the HTTP sink POSTs each kind: the
// endpoint given for it, else the base URL (the platform's by default)
// and the profile's path. The generic profile has no base: an event kind
// without its endpoint is not sent over HTTP.
func (a *App) saleURL() string { return a.eventURL(a.Endpoint, a.platform.SalePath) }
func (a *App) leadURL() string { return a.eventURL(a.LeadEndpoint, a.platform.LeadPath) }

func (a *App) eventURL(endpoint, path string) string {
	if endpoint != "" {
		return endpoint
	}
	base := a.APIBase
	if base == "" {
		base = a.platform.APIBase
	}
	if base == "" {
		return ""
	}
	return strings.TrimSuffix(base, "/") + path
}

// checkPlatformSink refuses an HTTP sink a hosted platform would refuse
// every event of: one without an API key. The generic profile's receiver
// is the shop's own, which may need none, but it needs somewhere to send
// sales.
//
// apiKey is the key as the check sees it: as written in the Caddyfile (a
// placeholder counts as given), resolved at Validate (an unset variable
// is no key).
func (a *App) checkPlatformSink(apiKey string) error {
	if !a.sendsHTTP() {
		return nil
	}
	if a.platform.Name != "generic" && apiKey == "" && a.APIKey != "" {
		return fmt.Errorf("api_key %s is empty: set it in Caddy's environment (platform %s sends to its API, which needs a key)", a.APIKey, a.platform.Name)
	}
	if a.platform.Name != "generic" && apiKey == "" {
		return fmt.Errorf("platform %s sends to its API, which needs api_key (or name platform generic for a receiver of your own)", a.platform.Name)
	}
	if a.platform.Name == "generic" && a.APIBase != "" {
		return fmt.Errorf("api_base: the generic platform has no API base; give endpoint and lead_endpoint")
	}
	if a.saleURL() == "" && a.LeadEndpoint == "" {
		return fmt.Errorf("platform generic sends over HTTP only to endpoint and lead_endpoint; give one")
	}
	return nil
}

// checkSigningSecret refuses a secret the HTTP sink could not use. The
// error never shows the secret.
func checkSigningSecret(secret string) error {
	if _, err := delivery.ParseSigningSecret(secret); err != nil {
		return fmt.Errorf("signing_secret: %w", err)
	}
	return nil
}

// The rules of the options. Each is written once and called by both the
// Caddyfile parser, which names the line, and Validate, for JSON configs.
// Most return only what is wrong; the caller names the option and its
// value as the user wrote it.
var (
	errConcurrency = fmt.Errorf("want a number from 1 to %d", maxConcurrency)
	errMaxStorage  = errors.New("want a size from 1MiB to 8EiB, such as 1GiB")
	errDuration    = errors.New("want a positive duration such as 30s or 168h")
)

// maxConcurrency bounds concurrency: each send may hold a connection to
// the platform.
const maxConcurrency = 256

func checkConcurrency(n int) error {
	if n < 1 || n > maxConcurrency {
		return errConcurrency
	}
	return nil
}

// checkMaxStorage wants room for the database's own pages and a few
// thousand sales.
func checkMaxStorage(n int64) error {
	if n < 1<<20 {
		return errMaxStorage
	}
	return nil
}

// checkDuration is the rule of every duration option: delivery would take
// zero or less as "the default" without saying so.
func checkDuration(d caddy.Duration) error {
	if d <= 0 {
		return errDuration
	}
	return nil
}

// checkBackoff is given both bounds with their defaults filled in: the
// emitter would raise a shorter cap to the base without saying so.
func checkBackoff(base, limit time.Duration) error {
	if limit < base {
		return fmt.Errorf("backoff_cap (%s) is shorter than backoff_base (%s)", limit, base)
	}
	return nil
}

// checkURLOption names the option and the URL, redacted: it may carry
// credentials.
func checkURLOption(name, raw string) error {
	if err := httpcheck.URL(raw); err != nil {
		return fmt.Errorf("%s %q: %w", name, httpcheck.Redact(raw), err)
	}
	if name == "api_base" {
		// The profile's paths are appended to it: a query or fragment
		// would swallow them.
		if u, _ := url.Parse(raw); u.RawQuery != "" || u.Fragment != "" || strings.HasSuffix(raw, "#") || strings.HasSuffix(raw, "?") {
			return fmt.Errorf("api_base %q: a base URL takes no query or fragment; give endpoint and lead_endpoint for full URLs", httpcheck.Redact(raw))
		}
	}
	return nil
}

// checkAPIKey refuses a key that cannot arrive intact in the Authorization
// header: every send would fail. The error never shows the key.
func checkAPIKey(key string) error {
	if err := httpcheck.HeaderValue(key); err != nil {
		return fmt.Errorf("api_key: %w", err)
	}
	return nil
}

// fxRateError names the option and, when it is one, the currency.
func fxRateError(err error) error {
	var re *fx.RateError
	if errors.As(err, &re) && re.Code != "" {
		return fmt.Errorf("fx_rate %s: %w", re.Code, re.Err)
	}
	return fmt.Errorf("fx_rate: %w", err)
}

// checkFile refuses a file sink on one of the storage directory's own
// files: its lines would corrupt the outbox, or be lost when the rates
// cache is replaced. Paths are compared as provisioned (absolute, clean).
func (a *App) checkFile() error {
	switch a.file {
	case a.outboxPath():
		return fmt.Errorf("file %q is the outbox database", a.file)
	case filepath.Join(a.storageDir, fx.CacheFile):
		return fmt.Errorf("file %q is the exchange-rate cache", a.file)
	case filepath.Join(a.storageDir, delivery.BindingKeyFile):
		return fmt.Errorf("file %q is the binding's key", a.file)
	}
	return nil
}

// durationOption is a duration option's name and field, for the parser to
// set and Validate to check.
type durationOption struct {
	name  string
	value *caddy.Duration
}

func (a *App) durationOptions() []durationOption {
	return []durationOption{
		{"backoff_base", &a.BackoffBase},
		{"backoff_cap", &a.BackoffCap},
		{"max_event_age", &a.MaxEventAge},
		{"shutdown_timeout", &a.ShutdownTimeout},
		{"dedup_window", &a.DedupWindow},
		{"send_timeout", &a.SendTimeout},
		{"fx_max_age", &a.FxMaxAge},
		{"binding_ttl", &a.BindingTTL},
	}
}

// Start takes the process's delivery for this storage directory (opening
// it if this is the first config to use it) and hands it this config's
// settings. A reload starts the new config before it stops the old one,
// so the delivery, its worker and its open database carry straight over.
func (a *App) Start() error {
	defer a.markReady()
	d, err := acquirePipeline(a)
	if err != nil {
		return err
	}
	a.run.pipeline.Store(d)
	recent.resize(a.Recent)
	return nil
}

// Stop lets go of the delivery; the last config to let go closes it. If
// this config was the one whose settings the delivery ran on (a reload that
// failed after this app started), the settings of the config that stays
// are put back.
func (a *App) Stop() error {
	// Sales whose responses have completed are still being read or
	// committed: they go to disk before this config lets go of the outbox.
	if n := a.run.pending.wait(time.Duration(a.ShutdownTimeout)); n > 0 {
		a.logger.Warn("stopping with sales still being read or committed; they go to the outbox file directly", zap.Int("count", n))
	}
	d := a.run.pipeline.Load()
	if d == nil {
		return nil
	}
	d.release(a)
	_, err := pipelines.Delete(a.storageDir)
	return err
}

func (a *App) markReady() { a.run.readyOne.Do(func() { close(a.run.ready) }) }

// startWait bounds how long a capture waits for its app to start.
const startWait = 10 * time.Second

// currentPipeline is this config's delivery; if the app has not started
// yet, it waits for Start, and failing that takes the process's delivery
// for the same storage directory, if any.
func (a *App) currentPipeline() *pipeline {
	if d := a.run.pipeline.Load(); d != nil {
		return d
	}
	timer := time.NewTimer(startWait)
	defer timer.Stop()
	select {
	case <-a.run.ready:
	case <-timer.C:
	}
	if d := a.run.pipeline.Load(); d != nil {
		return d
	}
	return livePipeline(a.storageDir)
}

func (a *App) outboxPath() string { return filepath.Join(a.storageDir, "outbox.db") }

func setDefault(v *int, def int) {
	if *v == 0 {
		*v = def
	}
}

func setDefaultDuration(v *caddy.Duration, def time.Duration) {
	*v = caddy.Duration(durationOr(*v, def))
}

// durationOr is v, or def when v is unset.
func durationOr(v caddy.Duration, def time.Duration) time.Duration {
	if v == 0 {
		return def
	}
	return time.Duration(v)
}

// Interface guards
var (
	_ caddy.App         = (*App)(nil)
	_ caddy.Provisioner = (*App)(nil)
	_ caddy.Validator   = (*App)(nil)
)
