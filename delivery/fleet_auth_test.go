package delivery

import (
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/saletrack/caddy-saletrack/internal/natstest"
)

// authCase is a server that requires one way in, the fleet options that
// have it, and ways that do not.
type authCase struct {
	name   string
	server func(*server.Options)
	client []nats.Option // what the server's readiness check connects with
	tls    bool          // the node connects to the tls:// URL
	good   FleetOptions  // credential and TLS fields only
	bad    []badAuth
}

// badAuth is a credential the server must refuse: either Start fails
// with startErr, or the node logs a refusal holding refusal ("" for any).
type badAuth struct {
	name     string
	opts     FleetOptions
	startErr string
	refusal  string
}

const (
	authToken    = "t0ken-only-the-server-knows"
	authPassword = "pa55word-only-the-server-knows"
	violation    = "Authorization Violation"
)

func authCases(t *testing.T) []authCase {
	nk, strangerNK := natstest.NewNKeyUser(t), natstest.NewNKeyUser(t)
	op, strangerOp := natstest.NewOperator(t), natstest.NewOperator(t)
	tf, stranger := natstest.NewTLS(t), natstest.NewTLS(t)
	missing := t.TempDir() + "/missing"
	nkOpt, err := nats.NkeyOptionFromSeed(nk.SeedFile)
	if err != nil {
		t.Fatal(err)
	}
	return []authCase{{
		name:   "token",
		server: func(o *server.Options) { o.Authorization = authToken },
		client: []nats.Option{nats.Token(authToken)},
		good:   FleetOptions{Token: authToken},
		bad: []badAuth{
			{name: "wrong", opts: FleetOptions{Token: "not-" + authToken}, refusal: violation},
			{name: "none", refusal: violation},
		},
	}, {
		name:   "user",
		server: func(o *server.Options) { o.Username, o.Password = "shop", authPassword },
		client: []nats.Option{nats.UserInfo("shop", authPassword)},
		good:   FleetOptions{User: "shop", Password: authPassword},
		bad: []badAuth{
			{name: "wrong password", opts: FleetOptions{User: "shop", Password: "not-" + authPassword}, refusal: violation},
			{name: "none", refusal: violation},
		},
	}, {
		name:   "nkey",
		server: nk.Server(),
		client: []nats.Option{nkOpt},
		good:   FleetOptions{NKeyFile: nk.SeedFile},
		bad: []badAuth{
			{name: "another key", opts: FleetOptions{NKeyFile: strangerNK.SeedFile}, refusal: violation},
			{name: "missing file", opts: FleetOptions{NKeyFile: missing}, startErr: "nkey"},
			{name: "none", refusal: violation},
		},
	}, {
		name:   "creds",
		server: op.Server(t),
		client: []nats.Option{nats.UserCredentials(op.CredsFile)},
		good:   FleetOptions{CredsFile: op.CredsFile},
		bad: []badAuth{
			{name: "another operator", opts: FleetOptions{CredsFile: strangerOp.CredsFile}, refusal: violation},
			{name: "missing file", opts: FleetOptions{CredsFile: missing}, startErr: "no such file"},
			{name: "none", refusal: violation},
		},
	}, {
		name:   "tls",
		server: tf.Server(t, false),
		client: []nats.Option{nats.Secure(tf.ClientConfig(t))},
		tls:    true,
		good:   FleetOptions{TLSCAFile: tf.CA},
		bad: []badAuth{
			// The server's certificate is not checked against the
			// system's roots only by accident.
			{name: "no tls_ca", refusal: "certificate signed by unknown authority"},
			{name: "another CA", opts: FleetOptions{TLSCAFile: stranger.CA}, refusal: "certificate signed by unknown authority"},
		},
	}, {
		name:   "mutual tls",
		server: tf.Server(t, true),
		client: []nats.Option{nats.Secure(tf.ClientConfig(t))},
		tls:    true,
		good:   FleetOptions{TLSCAFile: tf.CA, TLSCertFile: tf.ClientCert, TLSKeyFile: tf.ClientKey},
		bad: []badAuth{
			// In TLS 1.3 the client learns of its refusal after its side of
			// the handshake, so the error's words vary: any refusal will do.
			{name: "no client cert", opts: FleetOptions{TLSCAFile: tf.CA}},
			{name: "client cert of another CA", opts: FleetOptions{TLSCAFile: tf.CA, TLSCertFile: stranger.ClientCert, TLSKeyFile: stranger.ClientKey}},
		},
	}}
}

// TestFleetAuth: for each way a NATS server can require a client to prove
// itself, nodes configured with it commit sales that are delivered once,
// and a node with a wrong or missing credential delivers nothing, says
// why at WARN (never with the secret), and stays out of the ready state.
func TestFleetAuth(t *testing.T) {
	for _, c := range authCases(t) {
		t.Run(c.name, func(t *testing.T) {
			srv := natstest.StartWith(t, c.server, c.client...)
			url := srv.URL()
			if c.tls {
				url = srv.TLSURL()
			}
			p := newPlatform(t)
			opts := withAuth(fleetOpts(url), c.good)
			a := startFleetNode(t, opts, platformSink(t, p))
			b := startFleetNode(t, opts, platformSink(t, p))
			a.waitReady(t)
			b.waitReady(t)
			var invoices []string
			for i := range 4 {
				inv := fmt.Sprintf("inv_%s_%d", strings.ReplaceAll(c.name, " ", "_"), i)
				invoices = append(invoices, inv)
				commitOK(t, []*fleetNode{a, b}[i%2], fleetSale(t, inv), Queued)
			}
			waitDrained(t, a, b)
			waitOnce(t, p, invoices...)

			for _, bad := range c.bad {
				t.Run(bad.name, func(t *testing.T) {
					refusedNode(t, srv, p, withAuth(fleetOpts(url), bad.opts), bad)
				})
			}
			// What the refused nodes committed never reached the platform.
			waitOnce(t, p, invoices...)
		})
	}
}

// refusedNode starts a node with a credential the server refuses and
// checks it fails as bad says, spooling what it commits.
func refusedNode(t *testing.T, srv *natstest.Node, p interface{ Invoices() map[string]int }, opts FleetOptions, bad badAuth) {
	core, logs := observer.New(zapcore.DebugLevel)
	eopts := emFast()
	eopts.Logger = zap.New(core)
	opts.SetupWait = 500 * time.Millisecond
	n := &fleetNode{ob: obOpen(t, OutboxOptions{})}
	n.forward = NewEmitter(n.ob, nil, emFast())
	n.fleet = NewFleet(opts, nil, eopts, n.forward.Enqueue, n.forward.Flush)
	n.forward.Reconfigure([]Sink{n.fleet.Forwarder()}, emFast())
	err := n.fleet.Start()
	if bad.startErr != "" {
		if err == nil || !strings.Contains(err.Error(), bad.startErr) {
			t.Fatalf("Start: %v; want an error holding %q", err, bad.startErr)
		}
		return
	}
	if err != nil {
		t.Fatalf("Start: %v; want the node to start and spool", err)
	}
	n.forward.Start()
	t.Cleanup(func() {
		n.forward.Stop()
		n.fleet.Stop()
	})
	commitOK(t, n, fleetSale(t, "inv_refused"), Queued)
	var refusal string
	waitFor(t, "the refusal at WARN", func() bool {
		for _, e := range logs.FilterLevelExact(zapcore.WarnLevel).FilterMessageSnippet("refused the connection").All() {
			refusal = fmt.Sprint(e.ContextMap()["error"])
			return true
		}
		return false
	})
	if !strings.Contains(refusal, bad.refusal) {
		t.Errorf("refusal logged as %q; want it to hold %q", refusal, bad.refusal)
	}
	// The client gives up after the same authorization error twice unless
	// told not to; a node that gave up would spool until a reload.
	// The client reports only its first refusal, so the server counts.
	seen := srv.ConnectionsSeen()
	waitFor(t, "the node to keep trying", func() bool { return srv.ConnectionsSeen() >= seen+3 })
	if st := n.fleet.State(); st == "ready" || st == "closed" {
		t.Errorf("state %s; want disconnected, and trying again", st)
	}
	if st := n.fleet.LocalStats(); st.Spooled != 1 || st.Published != 0 {
		t.Errorf("spooled %d, published %d; want the sale spooled", st.Spooled, st.Published)
	}
	if got := p.Invoices()["inv_refused"]; got != 0 {
		t.Errorf("a refused node's sale was delivered %d times", got)
	}
	for _, e := range logs.All() {
		text := e.Message + fmt.Sprint(e.ContextMap())
		for _, secret := range secrets(t, opts) {
			if strings.Contains(text, secret) {
				t.Errorf("log line holds a secret: %s", text)
			}
		}
	}
}

// withAuth is opts with auth's credential and TLS fields.
func withAuth(opts, auth FleetOptions) FleetOptions {
	opts.CredsFile, opts.NKeyFile, opts.Token, opts.User, opts.Password = auth.CredsFile, auth.NKeyFile, auth.Token, auth.User, auth.Password
	opts.TLSCAFile, opts.TLSCertFile, opts.TLSKeyFile = auth.TLSCAFile, auth.TLSCertFile, auth.TLSKeyFile
	return opts
}

// secrets are what opts holds that no log may show: the token, the
// password, and the seed in an nkey or creds file.
func secrets(t *testing.T, opts FleetOptions) []string {
	out := []string{}
	for _, s := range []string{opts.Token, opts.Password} {
		if s != "" {
			out = append(out, s)
		}
	}
	for _, f := range []string{opts.NKeyFile, opts.CredsFile} {
		if b, err := os.ReadFile(f); err == nil {
			for _, line := range strings.Fields(string(b)) {
				if strings.HasPrefix(line, "SU") { // a user seed
					out = append(out, line)
				}
			}
		}
	}
	return out
}

// TestFleetTLSWhateverTheScheme: tls_ca makes the node insist on TLS, so
// a server without it is refused with a reason, not joined in clear text;
// and a nats:// URL to a server that requires TLS is upgraded, so the
// scheme alone never turns TLS off.
func TestFleetTLSWhateverTheScheme(t *testing.T) {
	tf := natstest.NewTLS(t)
	p := newPlatform(t)

	plain := natstest.Start(t)
	t.Run("tls_ca against a server without TLS", func(t *testing.T) {
		refusedNode(t, plain, p, withAuth(fleetOpts(plain.URL()), FleetOptions{TLSCAFile: tf.CA}),
			badAuth{refusal: "secure connection not available"})
	})

	srv := natstest.StartWith(t, tf.Server(t, false), nats.Secure(tf.ClientConfig(t)))
	n := startFleetNode(t, withAuth(fleetOpts(srv.URL()), FleetOptions{TLSCAFile: tf.CA}), platformSink(t, p))
	n.waitReady(t)
	commitOK(t, n, fleetSale(t, "inv_upgraded"), Queued)
	waitDrained(t, n)
	waitOnce(t, p, "inv_upgraded")
}

// TestFleetRefusedNodeGetsInOnceAccepted: a node the server refused keeps
// trying, so once the server accepts its credential (here: the server's
// token is changed to the node's) it gets ready and its spooled sale is
// delivered, with no reload of the node. nats.go on its own gives up after
// the same authorization error twice.
func TestFleetRefusedNodeGetsInOnceAccepted(t *testing.T) {
	srv := natstest.StartWith(t, func(o *server.Options) { o.Authorization = authToken }, nats.Token(authToken))
	p := newPlatform(t)
	opts := fleetOpts(srv.URL())
	opts.Token = "rotated-" + authToken
	opts.SetupWait = 500 * time.Millisecond
	n := startFleetNode(t, opts, platformSink(t, p))
	commitOK(t, n, fleetSale(t, "inv_waited"), Queued)
	seen := srv.ConnectionsSeen()
	waitFor(t, "the node to be refused twice", func() bool { return srv.ConnectionsSeen() >= seen+2 })
	if st := n.fleet.State(); st == "ready" {
		t.Fatalf("state %s with a refused token", st)
	}
	srv.Reload(t, func(o *server.Options) { o.Authorization = opts.Token })
	n.waitReady(t)
	waitDrained(t, n)
	waitOnce(t, p, "inv_waited")
}
