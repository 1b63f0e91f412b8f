package delivery

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"os"

	"github.com/nats-io/jwt/v2"
	"github.com/nats-io/nats.go"
)

// CheckFiles reads each file the options name, as the client will when it
// connects, so that a missing or unreadable one is a config error rather
// than a node that starts and never joins its fleet.
func (o FleetOptions) CheckFiles() error {
	if o.CredsFile != "" {
		data, err := os.ReadFile(o.CredsFile)
		if err != nil {
			return fmt.Errorf("creds: %w", err)
		}
		token, err := jwt.ParseDecoratedJWT(data)
		if err == nil {
			_, err = jwt.DecodeUserClaims(token)
		}
		if err != nil {
			return fmt.Errorf("creds %s: no user JWT in it: %w", o.CredsFile, err)
		}
		if _, err := jwt.ParseDecoratedNKey(data); err != nil {
			return fmt.Errorf("creds %s: no nkey seed in it: %w", o.CredsFile, err)
		}
	}
	if o.NKeyFile != "" {
		if _, err := nats.NkeyOptionFromSeed(o.NKeyFile); err != nil {
			return fmt.Errorf("nkey: %w", err)
		}
	}
	if o.TLSCAFile != "" {
		data, err := os.ReadFile(o.TLSCAFile)
		if err != nil {
			return fmt.Errorf("tls_ca: %w", err)
		}
		if !x509.NewCertPool().AppendCertsFromPEM(data) {
			return fmt.Errorf("tls_ca %s: no PEM certificate in it", o.TLSCAFile)
		}
	}
	if o.TLSCertFile != "" {
		if _, err := tls.LoadX509KeyPair(o.TLSCertFile, o.TLSKeyFile); err != nil {
			return fmt.Errorf("tls_cert and tls_key: %w", err)
		}
	}
	return nil
}
