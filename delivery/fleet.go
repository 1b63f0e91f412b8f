package delivery

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap"

	"github.com/saletrack/caddy-saletrack/sale"
)

// Defaults for FleetOptions.
const (
	DefaultFleetStream     = "SALETRACK"
	DefaultFleetReplicas   = 3
	DefaultDuplicateWindow = 2 * time.Minute
	DefaultPublishTimeout  = 250 * time.Millisecond
	DefaultFleetKVBucket   = "SALETRACK_CLAIMS"
	DefaultFleetDeadStream = "SALETRACK_DEAD"
	DefaultFleetConsumer   = "saletrack"
	minClaimPendingTTL     = time.Second
	defaultFleetSetupWait  = 5 * time.Second
	// fleetCallTimeout bounds one call to NATS off the capture's path: a
	// forward from the spool, an ack, a dead letter's publish.
	fleetCallTimeout = 5 * time.Second
)

// FleetOptions connects a node to the NATS JetStream cluster its fleet
// shares. The zero value of each field is its default.
type FleetOptions struct {
	// URLs is one or more server URLs, comma-separated.
	URLs string
	// Credentials: at most one of CredsFile, NKeyFile, Token, User.
	CredsFile string
	NKeyFile  string
	Token     string
	User      string
	Password  string
	// TLS: a CA to trust, and a client certificate and key.
	TLSCAFile   string
	TLSCertFile string
	TLSKeyFile  string

	Stream          string        // default SALETRACK
	Replicas        int           // 0: 3, or the cluster size if smaller
	DuplicateWindow time.Duration // default 2m
	PublishTimeout  time.Duration // default 250ms
	KVBucket        string        // default SALETRACK_CLAIMS
	DeadStream      string        // default SALETRACK_DEAD
	Consumer        string        // default saletrack
	// BindingBucket is the KV bucket of the shared binding; default
	// SALETRACK_BINDING. BindingTTL is its TTL; default DefaultBindingTTL.
	BindingBucket string
	BindingTTL    time.Duration
	// DedupWindow is how long a claim on an invoice id lasts once its
	// event is in the stream. Default: DefaultDedupWindow.
	DedupWindow time.Duration
	// PendingTTL is how long a claim lasts before its event is in the
	// stream; past it another node may take the claim over. Default: four
	// times PublishTimeout, at least 1s. Two nodes that both publish after
	// a takeover publish the same Nats-Msg-Id, which the stream's
	// duplicate window stores once, so it need only be short against that.
	PendingTTL time.Duration
	// AckWait is how long a delivering node holds an event before another
	// node may take it: twice the send timeout. Default 2×DefaultHTTPTimeout.
	AckWait time.Duration
	// Node names this node in claims and logs; default a random id.
	Node string
	// SetupWait bounds the first connection and setup at Start; past it
	// the node starts anyway, spooling, and keeps trying. Default 5s.
	SetupWait time.Duration
}

func (o FleetOptions) withDefaults() FleetOptions {
	def := func(s *string, v string) {
		if *s == "" {
			*s = v
		}
	}
	defDur := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&o.Stream, DefaultFleetStream)
	def(&o.KVBucket, DefaultFleetKVBucket)
	def(&o.DeadStream, DefaultFleetDeadStream)
	def(&o.Consumer, DefaultFleetConsumer)
	def(&o.BindingBucket, DefaultFleetBindingBucket)
	defDur(&o.BindingTTL, DefaultBindingTTL)
	defDur(&o.DuplicateWindow, DefaultDuplicateWindow)
	defDur(&o.PublishTimeout, DefaultPublishTimeout)
	defDur(&o.DedupWindow, DefaultDedupWindow)
	defDur(&o.PendingTTL, max(minClaimPendingTTL, 4*o.PublishTimeout))
	defDur(&o.AckWait, 2*DefaultHTTPTimeout)
	defDur(&o.SetupWait, defaultFleetSetupWait)
	if o.Node == "" {
		var b [6]byte
		_, _ = rand.Read(b[:])
		o.Node = hex.EncodeToString(b[:])
	}
	return o
}

// eventsSubject and deadSubject are where a stream's messages go.
func (o FleetOptions) eventsSubject() string { return o.Stream + ".events" }
func (o FleetOptions) deadSubject() string   { return o.DeadStream + ".letters" }

// Fleet is a node's part in a fleet sharing one NATS JetStream cluster.
// The stream is the commit: a captured event counts as committed when
// JetStream acknowledges it, after a KV claim on its invoice id has made
// it the fleet's only copy. When NATS does not acknowledge in time, the
// event goes to spool, the node's own outbox, and Forwarder republishes it
// later; nothing is ever delivered from the spool directly, so the fleet's
// dedup is never bypassed. Every node consumes the one shared work queue
// and delivers to the sinks.
type Fleet struct {
	opts  FleetOptions
	spool func(*sale.Event) (EnqueueResult, error)
	// shared is the fleet's KV binding, when the node uses one: it learns
	// from every event the stream takes; a spooled one teaches the
	// spool's own outbox as it is enqueued.
	shared *FleetBinding
	// onReady is called each time the fleet is (again) usable: the
	// forwarder's queue is due at once then.
	onReady func()

	nc *nats.Conn
	js jetstream.JetStream

	mu       sync.Mutex
	kv       jetstream.KeyValue
	consumer jetstream.Consumer
	consume  jetstream.ConsumeContext
	setupErr error

	ready    atomic.Bool
	stopping atomic.Bool
	cfg      atomic.Pointer[emitterConfig]
	counters emitterCounters
	fleetCounters

	// The delivery workers: slots bounds concurrent sends; sends tracks
	// them for Stop; cancelSends interrupts them past the shutdown timeout.
	slots          chan struct{}
	dispatchMu     sync.RWMutex
	dispatchClosed bool // under dispatchMu
	sends          sync.WaitGroup
	sendCtx        context.Context
	cancelSends    context.CancelFunc
	setupKick      chan struct{}
	loopDone       chan struct{}
}

// fleetCounters are this node's fleet counters.
type fleetCounters struct {
	published, spooled, forwarded, duplicates, delivered, deadLettered, replayed atomic.Uint64
}

// ErrFleetDown is why an event could not go to the stream right now.
var ErrFleetDown = errors.New("nats: not connected or not set up")

// NewFleet prepares a node's fleet membership; Start connects it. spool
// commits an event to the node's own outbox when the stream cannot take
// it; onReady is called whenever the fleet becomes usable.
func NewFleet(opts FleetOptions, sinks []Sink, eopts EmitterOptions, spool func(*sale.Event) (EnqueueResult, error), onReady func()) *Fleet {
	f := &Fleet{opts: opts.withDefaults(), spool: spool, onReady: onReady, setupKick: make(chan struct{}, 1)}
	f.Reconfigure(sinks, eopts)
	return f
}

// Reconfigure takes a reload's sinks and delivery options.
func (f *Fleet) Reconfigure(sinks []Sink, eopts EmitterOptions) {
	eopts = eopts.withDefaults()
	for _, s := range sinks {
		f.counters.sink(s.Name())
	}
	f.cfg.Store(&emitterConfig{sinks: append([]Sink(nil), sinks...), opts: eopts})
}

func (f *Fleet) log() *zap.Logger { return f.cfg.Load().opts.Logger }

// Options are the fleet's options with defaults filled in.
func (f *Fleet) Options() FleetOptions { return f.opts }

// Start connects to NATS and creates (or checks) the stream, the dead
// letters, the claims bucket and the consumer, then starts delivering. If
// NATS cannot be reached within SetupWait, Start returns nil and the node
// spools until it can. An object that exists with other settings is an
// error: the module never changes what an operator set up.
func (f *Fleet) Start() error {
	conn, err := f.connectOptions()
	if err != nil {
		return err
	}
	nc, err := nats.Connect(f.opts.URLs, conn...)
	if err != nil {
		return fmt.Errorf("nats: %w", err)
	}
	js, err := jetstream.New(nc)
	if err != nil {
		nc.Close()
		return fmt.Errorf("nats: %w", err)
	}
	f.nc, f.js = nc, js
	f.slots = make(chan struct{}, f.cfg.Load().opts.Concurrency)
	f.sendCtx, f.cancelSends = context.WithCancel(context.Background())
	ctx, cancel := context.WithTimeout(context.Background(), f.opts.SetupWait)
	err = f.setup(ctx)
	cancel()
	var mismatch *SettingsError
	if errors.As(err, &mismatch) {
		nc.Close()
		f.nc = nil
		return err
	}
	if err != nil {
		f.log().Warn("nats cluster not reachable at start: sales are spooled to the local outbox until it is",
			zap.String("state", f.State()), zap.Error(err))
	}
	f.loopDone = make(chan struct{})
	go f.setupLoop()
	return nil
}

// setupLoop retries the setup while it has not succeeded: after each
// reconnect, and every few seconds.
func (f *Fleet) setupLoop() {
	defer close(f.loopDone)
	tick := time.NewTicker(2 * time.Second)
	defer tick.Stop()
	lastErr := ""
	for !f.stopping.Load() {
		select {
		case <-f.setupKick:
		case <-tick.C:
		}
		if f.stopping.Load() || f.ready.Load() {
			continue
		}
		ctx, cancel := context.WithTimeout(context.Background(), f.opts.SetupWait)
		err := f.setup(ctx)
		cancel()
		// Not being connected is logged by the connection's handlers; any
		// other failure (a refused permission, a server too old for
		// per-key TTLs) is said once, at WARN, until it changes.
		if err != nil && !errors.Is(err, ErrFleetDown) && err.Error() != lastErr {
			f.log().Warn("nats setup failed; sales are spooled until it succeeds", zap.Error(err))
		}
		if err != nil {
			lastErr = err.Error()
		}
	}
}

func (f *Fleet) kickSetup() {
	select {
	case f.setupKick <- struct{}{}:
	default:
	}
}

// setup ensures the NATS objects and starts consuming.
func (f *Fleet) setup(ctx context.Context) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.ready.Load() || f.stopping.Load() {
		return nil
	}
	if !f.nc.IsConnected() {
		f.setupErr = ErrFleetDown
		return ErrFleetDown
	}
	kv, cons, err := f.ensure(ctx)
	f.setupErr = err
	if err != nil {
		return err
	}
	f.kv, f.consumer = kv, cons
	if f.consume == nil {
		cc, err := cons.Consume(f.dispatch,
			jetstream.PullMaxMessages(cap(f.slots)),
			jetstream.PullExpiry(consumePullExpiry),
			jetstream.ConsumeErrHandler(func(cc jetstream.ConsumeContext, err error) {
				if errors.Is(err, jetstream.ErrConsumerDeleted) || errors.Is(err, jetstream.ErrBadRequest) {
					f.consumeEnded(cc, err)
					return
				}
				f.log().Debug("nats consumer", zap.Error(err))
			}))
		if err != nil {
			f.setupErr = err
			return err
		}
		f.consume = cc
	}
	f.ready.Store(true)
	f.log().Info("nats cluster state", zap.String("state", "ready"), zap.String("server", f.nc.ConnectedUrlRedacted()),
		zap.String("stream", f.opts.Stream), zap.String("consumer", f.opts.Consumer))
	if f.onReady != nil {
		go f.onReady()
	}
	return nil
}

// consumePullExpiry is how long one pull request waits on the server. The
// client notices a pull the server lost (a restarted cluster drops the
// ones it held) after two missed heartbeats, each half of this: with
// nats.go's default of 30s, delivery resumed up to 30s after NATS was back.
const consumePullExpiry = 5 * time.Second

// consumeEnded handles a pull the client ended for good: the server said
// the consumer is gone (as one may while a restarted cluster recovers, or
// after an operator deleted it). The node sets up again, recreating the
// consumer if it is really gone, rather than stay ready with nothing
// pulling; until then captures are spooled.
func (f *Fleet) consumeEnded(cc jetstream.ConsumeContext, err error) {
	f.mu.Lock()
	ended := f.consume == cc
	if ended {
		f.consume = nil
		f.ready.Store(false)
	}
	f.mu.Unlock()
	if ended && !f.stopping.Load() {
		f.log().Warn("nats consumer ended; setting up again", zap.Error(err))
		f.kickSetup()
	}
}

// Stop stops consuming, gives in-flight sends the shutdown timeout, hands
// interrupted ones back to the fleet and closes the connection. Events
// acknowledged by the stream are the fleet's; spooled ones stay on disk.
func (f *Fleet) Stop() error {
	if f.nc == nil || f.loopDone == nil {
		return nil
	}
	f.stopping.Store(true)
	f.kickSetup()
	<-f.loopDone
	f.mu.Lock()
	if f.consume != nil {
		f.consume.Stop()
		f.consume = nil
	}
	f.mu.Unlock()
	f.dispatchMu.Lock()
	f.dispatchClosed = true // no dispatch counts a send from now on
	f.dispatchMu.Unlock()
	finished := make(chan struct{})
	go func() { f.sends.Wait(); close(finished) }()
	timer := time.NewTimer(f.cfg.Load().opts.ShutdownTimeout)
	defer timer.Stop()
	select {
	case <-finished:
	case <-timer.C:
		f.cancelSends()
		timer.Reset(cancelGrace)
		select {
		case <-finished:
		case <-timer.C:
		}
	}
	f.cancelSends()
	// Drain flushes what is buffered (acks, naks) before closing.
	if err := f.nc.Drain(); err != nil {
		f.nc.Close()
	}
	return nil
}

// State names the cluster state: ready, connected (not set up yet),
// disconnected, or closed.
func (f *Fleet) State() string {
	switch {
	case f.nc == nil:
		return "stopped"
	case f.nc.IsClosed():
		return "closed"
	case !f.nc.IsConnected():
		return "disconnected"
	case f.ready.Load():
		return "ready"
	}
	return "connected"
}

// connectOptions builds the client's options: reconnect for ever, never
// buffer a publish while disconnected (the spool is the buffer, and a
// buffered copy sent later would bypass it), and log state changes and
// why a server refused the node.
func (f *Fleet) connectOptions() ([]nats.Option, error) {
	o := f.opts
	refusals := &connRefusals{log: f.log}
	opts := []nats.Option{
		nats.Name("caddy-saletrack " + o.Node),
		nats.RetryOnFailedConnect(true),
		nats.MaxReconnects(-1),
		// The client closes the connection for good after the same
		// authorization error twice: the node then spooled until a reload,
		// even once the server accepted its credentials again (a rotated
		// creds file, which is read at each attempt; an account the server
		// had not loaded yet). For ever means for ever.
		nats.IgnoreAuthErrorAbort(),
		nats.ReconnectErrHandler(refusals.failed),
		nats.ErrorHandler(refusals.async),
		nats.ReconnectWait(250 * time.Millisecond),
		nats.ReconnectBufSize(-1),
		nats.Timeout(2 * time.Second),
		nats.DisconnectErrHandler(func(nc *nats.Conn, err error) {
			f.log().Warn("nats cluster state", zap.String("state", "disconnected"), zap.Error(err))
		}),
		nats.ReconnectHandler(func(nc *nats.Conn) {
			refusals.connected()
			f.log().Info("nats cluster state", zap.String("state", "reconnected"), zap.String("server", nc.ConnectedUrlRedacted()))
			f.kickSetup()
			if f.ready.Load() && f.onReady != nil {
				go f.onReady()
			}
		}),
		nats.ConnectHandler(func(nc *nats.Conn) {
			refusals.connected()
			f.log().Info("nats cluster state", zap.String("state", "connected"), zap.String("server", nc.ConnectedUrlRedacted()))
			f.kickSetup()
		}),
	}
	switch {
	case o.CredsFile != "":
		opts = append(opts, nats.UserCredentials(o.CredsFile))
	case o.NKeyFile != "":
		opt, err := nats.NkeyOptionFromSeed(o.NKeyFile)
		if err != nil {
			return nil, fmt.Errorf("nats nkey: %w", err)
		}
		opts = append(opts, opt)
	case o.Token != "":
		opts = append(opts, nats.Token(o.Token))
	case o.User != "":
		opts = append(opts, nats.UserInfo(o.User, o.Password))
	}
	if o.TLSCAFile != "" {
		opts = append(opts, nats.RootCAs(o.TLSCAFile))
	}
	if o.TLSCertFile != "" {
		opts = append(opts, nats.ClientCert(o.TLSCertFile, o.TLSKeyFile))
	}
	return opts, nil
}

// replicas is the configured count, or 3 capped at the servers the client
// knows of (a lone server takes only R1).
func (f *Fleet) replicas() int {
	if f.opts.Replicas > 0 {
		return f.opts.Replicas
	}
	return max(1, min(DefaultFleetReplicas, len(f.nc.Servers())))
}
