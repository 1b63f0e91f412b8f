package e2e

import (
	"fmt"
	"strings"
	"testing"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"

	"github.com/saletrack/caddy-saletrack/internal/natstest"
)

// A fleet whose NATS server requires mutual TLS and an nkey, both set
// only in the Caddyfile's nats block: both nodes get ready over tls://,
// and a sale taken on each is delivered once. What the block says is what
// an operator writes; nothing reaches the nodes any other way.
func TestFleetMutualTLSAndNKey(t *testing.T) {
	tf := natstest.NewTLS(t)
	nk := natstest.NewNKeyUser(t)
	nkOpt, err := nats.NkeyOptionFromSeed(nk.SeedFile)
	if err != nil {
		t.Fatal(err)
	}
	requireTLS := tf.Server(t, true)
	srv := natstest.StartWith(t, func(o *server.Options) {
		requireTLS(o)
		nk.Server()(o)
	}, nats.Secure(tf.ClientConfig(t)), nkOpt)

	natsBlock := strings.Join([]string{
		"nkey " + nk.SeedFile,
		"tls_ca " + tf.CA,
		"tls_cert " + tf.ClientCert,
		"tls_key " + tf.ClientKey,
	}, "\n\t\t\t")
	plat := newPlatform(t)
	nodes := startFleet(t, 2, startShop(t), plat, srv.TLSURL(), natsBlock)

	var invoices []string
	for i, n := range nodes {
		inv := fmt.Sprintf("inv_mtls_%d", i)
		invoices = append(invoices, inv)
		if !sendWebhook(n.port, inv) {
			t.Fatalf("%s: no 2xx for %s", n.name, inv)
		}
	}
	assertAllOnce(t, plat, invoices, nodes...)
	for _, n := range nodes {
		if st := n.stats(t); st.Cluster.Spooled != 0 {
			t.Errorf("%s spooled %d sales: the stream, not the spool, should have taken them", n.name, st.Cluster.Spooled)
		}
	}
}
