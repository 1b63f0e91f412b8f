package natstest

import (
	"testing"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
)

// TestStartWithRequiresWhatItIsGiven: each helper makes a server that
// JetStream answers on with the right material (StartWith checks that) and
// that refuses a client without it, so a test using them can fail.
func TestStartWithRequiresWhatItIsGiven(t *testing.T) {
	tlsFiles := NewTLS(t)
	nk := NewNKeyUser(t)
	op := NewOperator(t)
	cases := []struct {
		name      string
		configure func(*server.Options)
		good      []nats.Option
		bad       []nats.Option
		tls       bool
	}{
		{"token", func(o *server.Options) { o.Authorization = "s3cret" }, []nats.Option{nats.Token("s3cret")}, []nats.Option{nats.Token("wrong")}, false},
		{"nkey", nk.Server(), []nats.Option{mustNkey(t, nk.SeedFile)}, []nats.Option{mustNkey(t, NewNKeyUser(t).SeedFile)}, false},
		{"creds", op.Server(t), []nats.Option{nats.UserCredentials(op.CredsFile)}, []nats.Option{nats.UserCredentials(NewOperator(t).CredsFile)}, false},
		{"mtls", tlsFiles.Server(t, true), []nats.Option{nats.Secure(tlsFiles.ClientConfig(t))}, []nats.Option{nats.RootCAs(tlsFiles.CA)}, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			n := StartWith(t, c.configure, c.good...)
			url := n.URL()
			if c.tls {
				url = n.TLSURL()
			}
			nc, err := nats.Connect(url, c.bad...)
			if err == nil {
				nc.Close()
				t.Fatalf("a client without the right %s connected", c.name)
			}
			t.Logf("refused as it should be: %v", err)
		})
	}
}

func mustNkey(t *testing.T, seedFile string) nats.Option {
	t.Helper()
	opt, err := nats.NkeyOptionFromSeed(seedFile)
	if err != nil {
		t.Fatal(err)
	}
	return opt
}
