package caddymodule

import (
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"strings"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"

	"github.com/saletrack/caddy-saletrack/delivery"
	"github.com/saletrack/caddy-saletrack/internal/httpcheck"
)

// NATS joins this node to a fleet of Caddy nodes sharing one NATS
// JetStream cluster: a captured sale counts as committed once the stream
// acknowledges it, dedup is fleet-wide (a KV claim on the invoice id), and
// any live node delivers any sale. Without it, the node works alone.
type NATS struct {
	// URL lists the cluster's servers, comma-separated: nats://, tls://,
	// ws:// or wss:// URLs. {env.*} is resolved. Required.
	URL string `json:"url,omitempty"`

	// Creds is a credentials file (a user JWT and its nkey seed). At most
	// one of creds, nkey, token and user may be given. Default: none.
	Creds string `json:"creds,omitempty"`

	// NKey is a file holding an nkey seed to authenticate with. Default: none.
	NKey string `json:"nkey,omitempty"`

	// Token is an authentication token; {env.*} is resolved. It never
	// appears in logs. Default: none.
	Token string `json:"token,omitempty"`

	// User is a user name, sent with Password. Default: none.
	User string `json:"user,omitempty"`

	// Password is User's password; {env.*} is resolved. Never logged.
	// Default: none.
	Password string `json:"password,omitempty"`

	// TLSCA is a PEM file of the CA the servers' certificates chain to.
	// Default: the system's roots.
	TLSCA string `json:"tls_ca,omitempty"`

	// TLSCert and TLSKey are a client certificate and its key, PEM files,
	// for servers that verify clients; given together. Default: none.
	TLSCert string `json:"tls_cert,omitempty"`

	// TLSKey is TLSCert's private key. Default: none.
	TLSKey string `json:"tls_key,omitempty"`

	// Stream is the JetStream stream committed events wait in (work-queue
	// retention, subject <stream>.events). Default: SALETRACK.
	Stream string `json:"stream,omitempty"`

	// Replicas is how many servers hold each stream and the KV bucket, 1
	// to 5. Default: 3, or the cluster's size if it is smaller.
	Replicas int `json:"replicas,omitempty"`

	// DuplicateWindow is the stream's Nats-Msg-Id window: an event
	// republished within it (after a crash between publish and the spool's
	// delete) is stored once. Default: 2m.
	DuplicateWindow caddy.Duration `json:"duplicate_window,omitempty"`

	// PublishTimeout is how long a capture waits for JetStream's
	// acknowledgement before the event goes to the local spool instead.
	// Default: 250ms.
	PublishTimeout caddy.Duration `json:"publish_timeout,omitempty"`

	// KVBucket is the KV bucket of fleet-wide dedup claims; its TTL is
	// dedup_window. Default: SALETRACK_CLAIMS.
	KVBucket string `json:"kv_bucket,omitempty"`

	// BindingBucket is the KV bucket of the binding the fleet shares
	// (customer → click, hashed email → customer, checkout reference →
	// click and customer), so a webhook on any node is filled from what
	// any node learned. Its TTL is binding_ttl. Default: SALETRACK_BINDING.
	BindingBucket string `json:"binding_bucket,omitempty"`

	// DeadStream is the stream of dead letters, shared by the fleet.
	// Default: SALETRACK_DEAD.
	DeadStream string `json:"dead_stream,omitempty"`

	// Consumer is the durable pull consumer every node delivers from; its
	// ack wait is twice send_timeout. Default: saletrack.
	Consumer string `json:"consumer,omitempty"`

	url, token, password string
}

// The rules of the nats options, each written once for the parser and
// Validate.
var (
	errNATSName     = errors.New("want letters, digits, - and _ only")
	errNATSReplicas = errors.New("want a number from 1 to 5")
)

var natsNameRE = regexp.MustCompile(`^[A-Za-z0-9_-]+$`)

func checkNATSName(v string) error {
	if v != "" && !natsNameRE.MatchString(v) {
		return errNATSName
	}
	return nil
}

func checkNATSReplicas(n int) error {
	if n < 0 || n > 5 {
		return errNATSReplicas
	}
	return nil
}

// checkNATSURL wants one or more server URLs; the error shows them
// redacted, as they may carry credentials.
func checkNATSURL(raw string) error {
	if strings.TrimSpace(raw) == "" {
		return errors.New("url: want the cluster's server URLs, such as nats://10.0.0.5:4222")
	}
	for _, one := range strings.Split(raw, ",") {
		one = strings.TrimSpace(one)
		u, err := url.Parse(one)
		if err != nil || u.Host == "" || (u.Scheme != "nats" && u.Scheme != "tls" && u.Scheme != "ws" && u.Scheme != "wss") {
			return fmt.Errorf("url %q: want nats://, tls://, ws:// or wss:// URLs, comma-separated", httpcheck.Redact(one))
		}
	}
	return nil
}

// checkNATSAuth wants one way to authenticate at most, and whole pairs.
func (n *NATS) checkNATSAuth() error {
	kinds := 0
	for _, v := range []string{n.Creds, n.NKey, n.Token, n.User} {
		if v != "" {
			kinds++
		}
	}
	switch {
	case kinds > 1:
		return errors.New("give one of creds, nkey, token and user")
	case n.Password != "" && n.User == "":
		return errors.New("password needs user")
	case (n.TLSCert == "") != (n.TLSKey == ""):
		return errors.New("tls_cert and tls_key go together")
	}
	return nil
}

// natsDurations are the duration options, for the parser and Validate.
func (n *NATS) natsDurations() []durationOption {
	return []durationOption{
		{"duplicate_window", &n.DuplicateWindow},
		{"publish_timeout", &n.PublishTimeout},
	}
}

func (n *NATS) natsNames() map[string]*string {
	return map[string]*string{"stream": &n.Stream, "kv_bucket": &n.KVBucket, "binding_bucket": &n.BindingBucket, "dead_stream": &n.DeadStream, "consumer": &n.Consumer}
}

func (n *NATS) natsStrings() map[string]*string {
	return map[string]*string{"url": &n.URL, "creds": &n.Creds, "nkey": &n.NKey, "token": &n.Token, "user": &n.User,
		"password": &n.Password, "tls_ca": &n.TLSCA, "tls_cert": &n.TLSCert, "tls_key": &n.TLSKey}
}

// unmarshalNATS reads the nats block of the global sale_track block:
//
//	nats [<url>] {
//		url              <url>[,<url>…]
//		creds            <file>
//		nkey             <file>
//		token            <token>
//		user             <name>
//		password         <password>
//		tls_ca           <file>
//		tls_cert         <file>
//		tls_key          <file>
//		stream           <name>
//		replicas         <1-5>
//		duplicate_window <duration>
//		publish_timeout  <duration>
//		kv_bucket        <name>
//		binding_bucket   <name>
//		dead_stream      <name>
//		consumer         <name>
//	}
func (a *App) unmarshalNATS(d *caddyfile.Dispenser) error {
	if a.NATS != nil {
		return d.Err("nats: given twice")
	}
	n := new(NATS)
	a.NATS = n
	block := d.Token()
	if d.NextArg() {
		n.URL = d.Val()
		if !hasPlaceholder(n.URL) {
			if err := checkNATSURL(n.URL); err != nil {
				return d.WrapErr(err)
			}
		}
	}
	if d.NextArg() {
		return d.ArgErr()
	}
	strs, names := n.natsStrings(), n.natsNames()
	durations := map[string]*caddy.Duration{}
	for _, o := range n.natsDurations() {
		durations[o.name] = o.value
	}
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		sub := d.Val()
		switch {
		case strs[sub] != nil:
			var rule func(string) error
			if sub == "url" {
				rule = checkNATSURL
			}
			v, err := checkedArg(d, rule)
			if err != nil {
				return err
			}
			*strs[sub] = v
		case names[sub] != nil:
			v, err := oneArg(d)
			if err != nil {
				return err
			}
			if err := checkNATSName(v); err != nil {
				return d.Errf("nats %s %q: %v", sub, v, err)
			}
			*names[sub] = v
		case durations[sub] != nil:
			dur, err := durationArg(d, "nats "+sub)
			if err != nil {
				return err
			}
			*durations[sub] = dur
		case sub == "replicas":
			// 0 is the JSON's "not set"; written, it is a mistake.
			r, err := intArg(d, "nats replicas", func(r int) error {
				if r == 0 {
					return errNATSReplicas
				}
				return checkNATSReplicas(r)
			}, errNATSReplicas)
			if err != nil {
				return err
			}
			n.Replicas = r
		default:
			return d.Errf("unknown nats option %q", sub)
		}
	}
	if n.URL == "" {
		return errorAt(block, fmt.Errorf("nats: %w", checkNATSURL("")))
	}
	if err := n.checkNATSAuth(); err != nil {
		return errorAt(block, fmt.Errorf("nats: %w", err))
	}
	return nil
}

// provision resolves global placeholders.
func (n *NATS) provision() {
	repl := caddy.NewReplacer()
	n.url = repl.ReplaceKnown(n.URL, "")
	n.token = repl.ReplaceKnown(n.Token, "")
	n.password = repl.ReplaceKnown(n.Password, "")
}

// validate checks the options as provisioned, by the parser's rules.
func (n *NATS) validate() error {
	if err := checkNATSURL(n.url); err != nil {
		return fmt.Errorf("nats: %w", err)
	}
	if err := n.checkNATSAuth(); err != nil {
		return fmt.Errorf("nats: %w", err)
	}
	for name, v := range n.natsNames() {
		if err := checkNATSName(*v); err != nil {
			return fmt.Errorf("nats %s %q: %w", name, *v, err)
		}
	}
	if err := checkNATSReplicas(n.Replicas); err != nil {
		return fmt.Errorf("nats replicas %d: %w", n.Replicas, err)
	}
	for _, o := range n.natsDurations() {
		if *o.value != 0 {
			if err := checkDuration(*o.value); err != nil {
				return fmt.Errorf("nats %s %s: %w", o.name, time.Duration(*o.value), err)
			}
		}
	}
	return nil
}

// fleetOptions are the delivery package's options for this config.
func (a *App) fleetOptions() delivery.FleetOptions {
	n := a.NATS
	return delivery.FleetOptions{
		URLs: n.url, CredsFile: n.Creds, NKeyFile: n.NKey, Token: n.token, User: n.User, Password: n.password,
		TLSCAFile: n.TLSCA, TLSCertFile: n.TLSCert, TLSKeyFile: n.TLSKey,
		Stream: n.Stream, Replicas: n.Replicas, DuplicateWindow: time.Duration(n.DuplicateWindow),
		PublishTimeout: time.Duration(n.PublishTimeout), KVBucket: n.KVBucket, DeadStream: n.DeadStream,
		Consumer: n.Consumer, BindingBucket: n.BindingBucket, BindingTTL: time.Duration(a.BindingTTL), DedupWindow: time.Duration(a.DedupWindow), AckWait: 2 * time.Duration(a.SendTimeout),
	}
}
