package natstest

import (
	"os"
	"path/filepath"

	"github.com/nats-io/jwt/v2"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nkeys"
)

// Operator is a decentralised-auth chain made for one test: an operator,
// one account it signed with JetStream enabled, and one user of that
// account whose JWT and seed are in CredsFile, as `nsc` writes them.
type Operator struct {
	CredsFile string
	claims    *jwt.OperatorClaims
	accounts  map[string]string // public key → JWT, for the resolver
}

// NewOperator makes the operator, account and user, and writes the user's
// .creds file in a fresh t.TempDir(). Each call makes a new operator, so
// one's creds are refused by another's server.
func NewOperator(t TB) *Operator {
	t.Helper()
	opKP := newKP(t, nkeys.CreateOperator)
	opPub, _ := opKP.PublicKey()
	// JetStream in operator mode sets itself up in a system account.
	sysKP := newKP(t, nkeys.CreateAccount)
	sysPub, _ := sysKP.PublicKey()
	sys := jwt.NewAccountClaims(sysPub)
	sys.Name = "SYS"
	sysJWT, err := sys.Encode(opKP)
	if err != nil {
		t.Fatalf("encoding system account: %v", err)
	}
	op := jwt.NewOperatorClaims(opPub)
	op.Name = "natstest"
	op.SystemAccount = sysPub
	opJWT, err := op.Encode(opKP)
	if err != nil {
		t.Fatalf("encoding operator: %v", err)
	}
	// The server wants the claims decoded from a signed JWT.
	claims, err := jwt.DecodeOperatorClaims(opJWT)
	if err != nil {
		t.Fatalf("decoding operator: %v", err)
	}

	accKP := newKP(t, nkeys.CreateAccount)
	accPub, _ := accKP.PublicKey()
	acc := jwt.NewAccountClaims(accPub)
	acc.Name = "saletrack"
	// JetStream is off for an account unless its JWT grants it limits.
	acc.Limits.JetStreamLimits = jwt.JetStreamLimits{MemoryStorage: -1, DiskStorage: -1, Streams: -1, Consumer: -1}
	accJWT, err := acc.Encode(opKP)
	if err != nil {
		t.Fatalf("encoding account: %v", err)
	}

	userKP := newKP(t, nkeys.CreateUser)
	userPub, _ := userKP.PublicKey()
	user := jwt.NewUserClaims(userPub)
	user.Name = "caddy"
	userJWT, err := user.Encode(accKP)
	if err != nil {
		t.Fatalf("encoding user: %v", err)
	}
	seed, _ := userKP.Seed()
	creds, err := jwt.FormatUserConfig(userJWT, seed)
	if err != nil {
		t.Fatalf("formatting creds: %v", err)
	}
	o := &Operator{CredsFile: filepath.Join(t.TempDir(), "user.creds"), claims: claims,
		accounts: map[string]string{sysPub: sysJWT, accPub: accJWT}}
	if err := os.WriteFile(o.CredsFile, creds, 0o600); err != nil {
		t.Fatalf("writing creds: %v", err)
	}
	return o
}

// Server returns a configure function for StartWith that puts the server
// in operator mode, trusting this operator and resolving its accounts
// from memory.
func (o *Operator) Server(t TB) func(*server.Options) {
	t.Helper()
	resolver := &server.MemAccResolver{}
	for pub, token := range o.accounts {
		if err := resolver.Store(pub, token); err != nil {
			t.Fatalf("storing account JWT: %v", err)
		}
	}
	return func(opts *server.Options) {
		opts.TrustedOperators = []*jwt.OperatorClaims{o.claims}
		opts.AccountResolver = resolver
		// Only a config file's loader copies it from the operator's JWT.
		opts.SystemAccount = o.claims.SystemAccount
	}
}

func newKP(t TB, create func() (nkeys.KeyPair, error)) nkeys.KeyPair {
	t.Helper()
	kp, err := create()
	if err != nil {
		t.Fatalf("creating key pair: %v", err)
	}
	return kp
}
