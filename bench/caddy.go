package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/saletrack/caddy-saletrack/internal/fake"
)

// caddyProc is a running cmd/caddy under test.
type caddyProc struct {
	cmd   *exec.Cmd
	admin string
	done  chan struct{}
}

// startCaddy runs the binary with two sites in front of the same upstream:
// a bare reverse_proxy on barePort and the same proxy with sale_track on
// modPort. extra goes into the global sale_track block.
func startCaddy(bin, dir string, barePort, modPort int, upstreamAddr, platformURL string, extra ...string) (*caddyProc, error) {
	admin := fmt.Sprintf("127.0.0.1:%d", fake.FreePort())
	cfg := fmt.Sprintf(`{
	admin %s
	skip_install_trust
	log {
		level ERROR
	}
	servers {
		protocols h1 h2c
	}
	sale_track {
		platform generic
		endpoint %s
		storage_dir %s
		fx_source http://127.0.0.1:9/eurofxref-daily.xml
		concurrency 16
		%s
	}
}

http://127.0.0.1:%d {
	reverse_proxy %s
}

http://127.0.0.1:%d {
	%s
	reverse_proxy %s
}
`, admin, platformURL, filepath.Join(dir, "st"), strings.Join(extra, "\n\t\t"), barePort, upstreamAddr, modPort, fake.OrderSaleTrack(), upstreamAddr)
	path := filepath.Join(dir, "Caddyfile")
	if err := os.WriteFile(path, []byte(cfg), 0o644); err != nil {
		return nil, err
	}
	p := &caddyProc{admin: admin, done: make(chan struct{})}
	p.cmd = exec.Command(bin, "run", "--config", path, "--adapter", "caddyfile")
	p.cmd.Env = append(os.Environ(), "HOME="+dir, "XDG_DATA_HOME="+filepath.Join(dir, "data"), "XDG_CONFIG_HOME="+filepath.Join(dir, "config"))
	logf, err := os.Create(filepath.Join(dir, "caddy.log"))
	if err != nil {
		return nil, err
	}
	p.cmd.Stdout, p.cmd.Stderr = logf, logf
	// If the benchmark dies (Ctrl-C, a timeout), Caddy dies with it.
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := p.cmd.Start(); err != nil {
		return nil, err
	}
	go func() { p.cmd.Wait(); logf.Close(); close(p.done) }()
	for i := 0; i < 300; i++ {
		if resp, err := http.Get("http://" + admin + "/config/"); err == nil {
			resp.Body.Close()
			return p, nil
		}
		time.Sleep(20 * time.Millisecond)
	}
	p.stop()
	return nil, fmt.Errorf("caddy did not start; see %s", filepath.Join(dir, "caddy.log"))
}

func (p *caddyProc) stop() {
	p.cmd.Process.Signal(os.Interrupt)
	select {
	case <-p.done:
	case <-time.After(15 * time.Second):
		p.cmd.Process.Kill()
		<-p.done
	}
}

// memory returns the process's resident set, its peak, and the anonymous
// (heap and stacks) part of it, in bytes. The rest is file-backed: pages
// of the bbolt outbox's memory map, which the kernel reclaims at will.
func (p *caddyProc) memory() (rss, peak, anon int64) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", p.cmd.Process.Pid))
	if err != nil {
		return 0, 0, 0
	}
	for _, line := range strings.Split(string(data), "\n") {
		fields := strings.Fields(line)
		if len(fields) < 2 {
			continue
		}
		kb, _ := strconv.ParseInt(fields[1], 10, 64)
		switch fields[0] {
		case "VmRSS:":
			rss = kb << 10
		case "VmHWM:":
			peak = kb << 10
		case "RssAnon:":
			anon = kb << 10
		}
	}
	return rss, peak, anon
}

// cpuSeconds is the CPU time (user and system) the process has used.
func (p *caddyProc) cpuSeconds() float64 { return cpuSecondsOf(p.cmd.Process.Pid) }

// cpuSecondsOf reads a process's CPU time from /proc (clock ticks of
// 1/100 s, the Linux default).
func cpuSecondsOf(pid int) float64 {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	// Fields after the command name, which is in parentheses.
	fields := strings.Fields(string(data[strings.LastIndexByte(string(data), ')')+1:]))
	if len(fields) < 13 {
		return 0
	}
	utime, _ := strconv.ParseFloat(fields[11], 64)
	stime, _ := strconv.ParseFloat(fields[12], 64)
	return (utime + stime) / 100
}

// resetPeak clears VmHWM, so a later peak is this phase's own.
func (p *caddyProc) resetPeak() {
	os.WriteFile(fmt.Sprintf("/proc/%d/clear_refs", p.cmd.Process.Pid), []byte("5"), 0)
}

func (p *caddyProc) post(path string) {
	resp, err := http.Post("http://"+p.admin+path, "", nil)
	if err == nil {
		resp.Body.Close()
	}
}

// waitDrained waits until the outbox is empty and, on a fleet's node, the
// fleet's stream too with nothing in flight, so the delivery of one
// scenario's sales does not run into the next scenario's measurements.
func (p *caddyProc) waitDrained(timeout time.Duration) {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		resp, err := http.Get("http://" + p.admin + "/sale_track/stats")
		if err == nil {
			var stats []struct {
				Queued  int64 `json:"queued"`
				Cluster struct {
					Queued   int64 `json:"queued"`
					InFlight int64 `json:"in_flight"`
				} `json:"cluster"`
			}
			json.NewDecoder(resp.Body).Decode(&stats)
			resp.Body.Close()
			if len(stats) == 1 && stats[0].Queued == 0 && stats[0].Cluster.Queued == 0 && stats[0].Cluster.InFlight == 0 {
				return
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
}
