package delivery

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	bolt "go.etcd.io/bbolt"
	"go.uber.org/zap"
)

// BindingKeyFile is the name of the binding's hashing key, kept beside the
// outbox file.
const BindingKeyFile = "binding.key"

// bindingKeySize is the HMAC-SHA256 key's length: its block's worth of
// randomness is more than the hash can use.
const bindingKeySize = 32

// bindingKey keys the hashes the binding stores in place of emails and
// customer ids. A random key per installation stops a rainbow table and
// a casual reader of the file; it does not stop someone who takes the
// whole directory, key included.
type bindingKey []byte

// loadBindingKey reads the key file in dir, creating it (0600) with a new
// random key when there is none, and says whether it did. The caller holds
// the outbox's file lock.
// An empty file is a key that was never written (the disk filled, or the
// machine stopped, before it was), so nothing was hashed with it and it is
// replaced. A file of another size is an error: a new key would silently
// forget every email already bound.
func loadBindingKey(dir string) (key bindingKey, created bool, err error) {
	path := filepath.Join(dir, BindingKeyFile)
	key, err = os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) || (err == nil && len(key) == 0) {
		key, err = createBindingKey(path)
		return key, err == nil, err
	}
	if err != nil {
		return nil, false, fmt.Errorf("binding key %s: %w", path, err)
	}
	if err := checkBindingKeySize(key, "move it aside"); err != nil {
		return nil, false, fmt.Errorf("binding key %s: %w", path, err)
	}
	return key, false, nil
}

// newBindingKey is a fresh random key.
func newBindingKey() bindingKey {
	key := make([]byte, bindingKeySize)
	_, _ = rand.Read(key) // crypto/rand.Read never fails (Go 1.24+)
	return key
}

// checkBindingKeySize refuses a stored key of the wrong size, saying how
// to start a new one (remedy) and what that costs.
func checkBindingKeySize(key []byte, remedy string) error {
	if len(key) != bindingKeySize {
		return fmt.Errorf("%d bytes, want %d; %s to start a new one (emails bound so far are then forgotten)", len(key), bindingKeySize, remedy)
	}
	return nil
}

// createBindingKey writes a new key beside path and renames it into place,
// then syncs the directory: the file appears whole or not at all, and it
// is on disk before any binding hashed with it is.
func createBindingKey(path string) (bindingKey, error) {
	key := newBindingKey()
	fail := func(err error) (bindingKey, error) { return nil, fmt.Errorf("binding key %s: %w", path, err) }
	tmp, err := os.CreateTemp(filepath.Dir(path), BindingKeyFile+".new-*")
	if err != nil {
		return fail(err)
	}
	defer os.Remove(tmp.Name()) // a no-op once renamed
	_, err = tmp.Write(key)
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), path)
	}
	if err == nil {
		err = syncDir(filepath.Dir(path))
	}
	if err != nil {
		return fail(err)
	}
	return key, nil
}

// warnIfKeyWasLost warns when a new key meets a file that already holds
// bindings: the outbox was copied without its key, or the key deleted.
// What was learned under the old key can no longer be found, and only
// ages out.
func (o *Outbox) warnIfKeyWasLost() {
	var held bool
	_ = o.view("count the binding", func(tx *bolt.Tx) error {
		for _, name := range bindingBuckets {
			if k, _ := tx.Bucket(name).Cursor().First(); k != nil {
				held = true
			}
		}
		return nil
	})
	if held {
		o.log.Warn("the outbox holds bindings but its key was missing: a new key was made, and what the binding learned before is no longer found; keep "+
			BindingKeyFile+" with the outbox when moving it", zap.String("key", filepath.Join(filepath.Dir(o.path), BindingKeyFile)))
	}
}

// syncDir makes a rename in dir durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}

// emailKey is the bucket key of an email: lower-cased and trimmed, as
// shops compare them, so "Alex@Example.com " finds "alex@example.com".
func (k bindingKey) emailKey(email string) []byte {
	return k.sum("email", strings.ToLower(strings.TrimSpace(email)))
}

// customerKey is the bucket key of a customer id. A shop may use emails
// as customer ids; hashed, those are not listed either.
func (k bindingKey) customerKey(customer string) []byte {
	return k.sum("customer", customer)
}

// refKey is the bucket key of a provider's checkout reference.
func (k bindingKey) refKey(ref string) []byte {
	return k.sum("ref", ref)
}

// sum is HMAC-SHA256 of kind and text, the kind keeping an email and a
// customer id with the same text apart.
func (k bindingKey) sum(kind, text string) []byte {
	m := hmac.New(sha256.New, k)
	m.Write([]byte(kind))
	m.Write([]byte{0})
	m.Write([]byte(text))
	return m.Sum(nil)
}
