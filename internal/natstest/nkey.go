package natstest

import (
	"os"
	"path/filepath"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nkeys"
)

// NKeyUser is an nkey user made for one test: the file holding its seed,
// as a client's nkey option reads it, and its public key, as the server
// lists it.
type NKeyUser struct {
	SeedFile string
	Public   string
}

// NewNKeyUser makes a user key pair and writes its seed to a file in a
// fresh t.TempDir().
func NewNKeyUser(t TB) NKeyUser {
	t.Helper()
	kp, err := nkeys.CreateUser()
	if err != nil {
		t.Fatalf("creating nkey user: %v", err)
	}
	seed, _ := kp.Seed()
	pub, _ := kp.PublicKey()
	u := NKeyUser{SeedFile: filepath.Join(t.TempDir(), "user.nk"), Public: pub}
	if err := os.WriteFile(u.SeedFile, append(seed, '\n'), 0o600); err != nil {
		t.Fatalf("writing nkey seed: %v", err)
	}
	return u
}

// Server returns a configure function for StartWith that makes the server
// accept this user alone.
func (u NKeyUser) Server() func(*server.Options) {
	return func(o *server.Options) {
		o.Nkeys = append(o.Nkeys, &server.NkeyUser{Nkey: u.Public})
	}
}
