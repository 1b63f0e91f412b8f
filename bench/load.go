package main

import (
	"io"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// result is one load phase against one URL.
type result struct {
	requests int
	errors   int
	duration time.Duration
	lat      []time.Duration // sorted
}

func (r result) rps() float64 { return float64(r.requests) / r.duration.Seconds() }

func (r result) pct(p float64) time.Duration {
	if len(r.lat) == 0 {
		return 0
	}
	return r.lat[min(len(r.lat)-1, int(float64(len(r.lat))*p))]
}

// load sends POSTs to url from conns keep-alive connections, for d or
// until total requests were made (total 0: no limit).
func load(url string, conns int, d time.Duration, total int64, gzip bool) result {
	client, done := loadClient(conns, false)
	defer done()
	var issued atomic.Int64
	deadline := time.Now().Add(d)
	return perConnection(conns, func(_ int, failed *atomic.Int64) []time.Duration {
		mine := make([]time.Duration, 0, 4096)
		for time.Now().Before(deadline) {
			if total > 0 && issued.Add(1) > total {
				break
			}
			t0 := time.Now()
			if !checkout(client, url, gzip) {
				failed.Add(1)
				continue
			}
			mine = append(mine, time.Since(t0))
		}
		return mine
	})
}

// paced sends POSTs to url at a steady rate (requests per second, spread
// over conns keep-alive connections, each with its own schedule, or over
// one HTTP/2 connection with h2) for d, asking for gzip when told to, as a
// browser does.
// Each latency counts from when its request was due, not from when it
// was sent, so a request held up behind a slow one is not hidden: this is
// the latency a checkout sees at that rate, without the queueing of a
// saturating load.
func paced(url string, conns int, rate float64, d time.Duration, gzip, h2 bool) result {
	client, done := loadClient(conns, h2)
	defer done()
	interval := time.Duration(float64(conns) / rate * float64(time.Second))
	start := time.Now()
	return perConnection(conns, func(c int, failed *atomic.Int64) []time.Duration {
		var mine []time.Duration
		due := start.Add(interval * time.Duration(c) / time.Duration(conns))
		for ; due.Before(start.Add(d)); due = due.Add(interval) {
			time.Sleep(time.Until(due))
			if !checkout(client, url, gzip) {
				failed.Add(1)
				continue
			}
			mine = append(mine, time.Since(due))
		}
		return mine
	})
}

// perConnection runs each on conns goroutines, one per connection, and
// makes one result of the latencies they return and the failures they
// count.
func perConnection(conns int, each func(c int, failed *atomic.Int64) []time.Duration) result {
	var failed atomic.Int64
	lats := make([][]time.Duration, conns)
	var wg sync.WaitGroup
	start := time.Now()
	for c := 0; c < conns; c++ {
		wg.Go(func() { lats[c] = each(c, &failed) })
	}
	wg.Wait()
	res := result{duration: time.Since(start), errors: int(failed.Load())}
	for _, l := range lats {
		res.lat = append(res.lat, l...)
	}
	slices.Sort(res.lat)
	res.requests = len(res.lat)
	return res
}

// loadClient is a client keeping conns connections alive, and the
// function that closes them. With h2 it speaks HTTP/2 without TLS (h2c,
// prior knowledge), multiplexing its requests as a browser does over TLS.
func loadClient(conns int, h2 bool) (*http.Client, func()) {
	transport := &http.Transport{MaxIdleConnsPerHost: conns, MaxConnsPerHost: conns, DisableCompression: true}
	if h2 {
		transport.Protocols = new(http.Protocols)
		transport.Protocols.SetUnencryptedHTTP2(true)
	}
	return &http.Client{Transport: transport, Timeout: 30 * time.Second}, transport.CloseIdleConnections
}

// checkout POSTs to url and reads the whole answer; false on an error or
// a 5xx.
func checkout(client *http.Client, url string, gzip bool) bool {
	req, _ := http.NewRequest(http.MethodPost, url, nil)
	if gzip {
		req.Header.Set("Accept-Encoding", "gzip")
	}
	resp, err := client.Do(req)
	if err != nil {
		return false
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode < 500
}

// ttfb measures the time to the first byte of a GET and reads the whole
// body, returning both times and the byte count.
func ttfb(url string) (first, all time.Duration, n int64, err error) {
	client := &http.Client{Transport: &http.Transport{DisableCompression: true}}
	t0 := time.Now()
	resp, err := client.Get(url)
	if err != nil {
		return 0, 0, 0, err
	}
	defer resp.Body.Close()
	buf := make([]byte, 1<<16)
	k, err := resp.Body.Read(buf)
	first = time.Since(t0)
	n = int64(k)
	rest, err := io.CopyBuffer(io.Discard, resp.Body, buf)
	return first, time.Since(t0), n + rest, err
}

// firstByte measures the time to the first byte of a GET, then hangs up.
func firstByte(url string) (time.Duration, error) {
	transport := &http.Transport{DisableCompression: true}
	defer transport.CloseIdleConnections()
	t0 := time.Now()
	resp, err := (&http.Client{Transport: transport}).Get(url)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	var b [1]byte
	if _, err := resp.Body.Read(b[:]); err != nil {
		return 0, err
	}
	return time.Since(t0), nil
}

// differences are a[i]-b[i], pair by pair.
func differences(a, b []float64) []float64 {
	d := make([]float64, len(a))
	for i := range a {
		d[i] = a[i] - b[i]
	}
	return d
}

// median of a few values.
func median(v []float64) float64 {
	s := slices.Clone(v)
	slices.Sort(s)
	if len(s) == 0 {
		return 0
	}
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}
