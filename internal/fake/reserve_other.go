//go:build !linux

package fake

import (
	"net"
	"os"
)

var listenConfig net.ListenConfig

// reserve cannot keep the port here: Up listens on the address again.
func reserve(string) *os.File { return nil }

// listenAgain listens on addr again.
func listenAgain(_ *os.File, addr string) (net.Listener, error) { return listenRetry(addr) }
