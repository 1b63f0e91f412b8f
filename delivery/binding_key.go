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
// random key when there is none. A file of the wrong size is an error: a
// new key would silently forget every email already bound.
func loadBindingKey(dir string) (bindingKey, error) {
	path := filepath.Join(dir, BindingKeyFile)
	key, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return createBindingKey(path)
	}
	if err != nil {
		return nil, fmt.Errorf("binding key %s: %w", path, err)
	}
	if len(key) != bindingKeySize {
		return nil, fmt.Errorf("binding key %s: %d bytes, want %d; move it aside to start a new one (emails bound so far are then forgotten)",
			path, len(key), bindingKeySize)
	}
	return key, nil
}

// createBindingKey writes a new key with O_EXCL, so two processes starting
// at once agree on the first one written.
func createBindingKey(path string) (bindingKey, error) {
	key := make([]byte, bindingKeySize)
	_, _ = rand.Read(key) // crypto/rand.Read never fails (Go 1.24+)
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, os.ErrExist) {
		return loadBindingKey(filepath.Dir(path))
	}
	if err != nil {
		return nil, fmt.Errorf("binding key %s: %w", path, err)
	}
	_, err = f.Write(key)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		_ = os.Remove(path)
		return nil, fmt.Errorf("binding key %s: %w", path, err)
	}
	return key, nil
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
