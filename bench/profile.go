package main

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
)

// profile records Caddy's CPU profile (from its admin endpoint's
// /debug/pprof) for the length of one phase against url, into a file named
// after the URL's path in b.profileDir. It returns a channel closed when
// the profile is written, or nil when profiling is off.
func (b *bench) profile(proc *caddyProc, url string) chan struct{} {
	if b.profileDir == "" {
		return nil
	}
	done := make(chan struct{})
	name := strings.NewReplacer("http://", "", "/", "_", ":", "_").Replace(url) + ".pprof"
	path := filepath.Join(b.profileDir, name)
	go func() {
		defer close(done)
		secs := max(1, int(b.phase.Seconds()))
		resp, err := http.Get(fmt.Sprintf("http://%s/debug/pprof/profile?seconds=%d", proc.admin, secs))
		if err != nil {
			fmt.Fprintln(os.Stderr, "  profile:", err)
			return
		}
		defer resp.Body.Close()
		f, err := os.Create(path)
		if err != nil {
			fmt.Fprintln(os.Stderr, "  profile:", err)
			return
		}
		defer f.Close()
		io.Copy(f, resp.Body)
		fmt.Fprintln(os.Stderr, "  profile:", path)
	}()
	return done
}
