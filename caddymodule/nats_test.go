package caddymodule

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"

	"github.com/saletrack/caddy-saletrack/internal/natstest"
)

// Each rule of the nats block fails `caddy adapt` on its line; the rules
// of the whole block name the block's line.
func TestNATSOptionRules(t *testing.T) {
	tests := []struct {
		input string
		line  int
		want  string
	}{
		{"sale_track {\n nats {\n  stream SALES\n }\n}", 2, `nats: url: want the cluster's server URLs`},
		{"sale_track {\n nats http://x:4222\n}", 2, `url "http://x:4222": want nats://, tls://, ws:// or wss:// URLs`},
		{"sale_track {\n nats {\n  url nats://a:4222,nats://u:secret@\n }\n}", 3, `url "(unparseable URL)": want nats://`},
		{"sale_track {\n nats nats://a:4222 {\n  stream SALES.X\n }\n}", 3, `nats stream "SALES.X": want letters, digits, - and _ only`},
		{"sale_track {\n nats nats://a:4222 {\n  binding_bucket BIND.X\n }\n}", 3, `nats binding_bucket "BIND.X": want letters, digits, - and _ only`},
		{"sale_track {\n nats nats://a:4222 {\n  replicas 7\n }\n}", 3, `nats replicas "7": want a number from 1 to 5`},
		{"sale_track {\n nats nats://a:4222 {\n  publish_timeout 0s\n }\n}", 3, `nats publish_timeout "0s": want a positive duration`},
		{"sale_track {\n nats nats://a:4222 {\n  colour blue\n }\n}", 3, `unknown nats option "colour"`},
		{"sale_track {\n nats nats://a:4222 {\n  token t\n  user u\n }\n}", 2, `nats: give one of creds, nkey, token and user`},
		{"sale_track {\n nats nats://a:4222 {\n  password p\n }\n}", 2, `nats: password needs user`},
		{"sale_track {\n nats nats://a:4222 {\n  tls_cert c.pem\n }\n}", 2, `nats: tls_cert and tls_key go together`},
		{"sale_track {\n nats nats://a:4222\n nats nats://b:4222\n}", 3, `nats: given twice`},
	}
	for _, tt := range tests {
		var a App
		err := a.UnmarshalCaddyfile(caddyfile.NewTestDispenser(tt.input))
		checkParseError(t, tt.input, err, tt.line, tt.want)
		if err != nil && strings.Contains(err.Error(), "secret") {
			t.Errorf("%q: the error shows a password: %v", tt.input, err)
		}
	}
}

// Validate applies the parser's rules to JSON configs, after placeholders
// are resolved, and reads the files the client will read: a missing or
// unreadable one fails validate, not a node's joining.
func TestNATSValidate(t *testing.T) {
	t.Setenv("SALETRACK_TEST_NATS", "nats://10.0.0.5:4222")
	tlsFiles, otherTLS, user, op := natstest.NewTLS(t), natstest.NewTLS(t), natstest.NewNKeyUser(t), natstest.NewOperator(t)
	garbage := filepath.Join(t.TempDir(), "garbage")
	if err := os.WriteFile(garbage, []byte("not a key\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	missing := filepath.Join(t.TempDir(), "missing")
	for _, tt := range []struct {
		nats NATS
		want string
	}{
		{NATS{URL: "{env.SALETRACK_TEST_NATS}"}, ""},
		{NATS{URL: "{env.SALETRACK_TEST_NATS_UNSET}"}, "nats: url: want the cluster's server URLs"},
		{NATS{URL: "nats://a:4222", KVBucket: "a b"}, `nats kv_bucket "a b": want letters, digits, - and _ only`},
		{NATS{URL: "nats://a:4222", BindingBucket: "a.b"}, `nats binding_bucket "a.b": want letters, digits, - and _ only`},
		{NATS{URL: "nats://a:4222", Replicas: 9}, "nats replicas 9: want a number from 1 to 5"},
		{NATS{URL: "nats://a:4222", DuplicateWindow: -1}, "nats duplicate_window -1ns: want a positive duration"},
		{NATS{URL: "nats://a:4222", Creds: "c", NKey: "n"}, "nats: give one of creds, nkey, token and user"},
		{NATS{URL: "nats://a:4222", Creds: op.CredsFile, TLSCA: tlsFiles.CA, TLSCert: tlsFiles.ClientCert, TLSKey: tlsFiles.ClientKey}, ""},
		{NATS{URL: "nats://a:4222", NKey: user.SeedFile}, ""},
		{NATS{URL: "nats://a:4222", Creds: missing}, "nats creds: open " + missing},
		{NATS{URL: "nats://a:4222", Creds: garbage}, "nats creds " + garbage + ": no user JWT in it"},
		{NATS{URL: "nats://a:4222", NKey: missing}, "nats nkey: "},
		{NATS{URL: "nats://a:4222", NKey: garbage}, "nats nkey: "},
		{NATS{URL: "nats://a:4222", TLSCA: garbage}, "nats tls_ca " + garbage + ": no PEM certificate in it"},
		{NATS{URL: "nats://a:4222", TLSCA: missing}, "nats tls_ca: open " + missing},
		{NATS{URL: "nats://a:4222", TLSCert: tlsFiles.ClientCert, TLSKey: otherTLS.ClientKey}, "nats tls_cert and tls_key: tls: private key does not match public key"},
		{NATS{URL: "nats://a:4222", TLSCert: missing, TLSKey: tlsFiles.ClientKey}, "nats tls_cert and tls_key: open " + missing},
	} {
		a := App{StorageDir: t.TempDir(), NATS: &tt.nats}
		ctx, cancel := caddy.NewContext(caddy.Context{Context: context.Background()})
		if err := a.Provision(ctx); err != nil {
			t.Fatal(err)
		}
		err := a.Validate()
		cancel()
		if (err == nil) != (tt.want == "") || (err != nil && !strings.Contains(err.Error(), tt.want)) {
			t.Errorf("%+v: got %v, want %q", tt.nats, err, tt.want)
		}
	}
}
