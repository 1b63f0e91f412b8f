package delivery

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/saletrack/caddy-saletrack/sale"
)

func BenchmarkOutboxEnqueueParallel(b *testing.B) {
	ob := obOpen(b, OutboxOptions{})
	b.SetParallelism(16) // many requests capturing at once, as under load
	var next sync.Mutex
	id := 0
	b.ResetTimer()
	start := time.Now()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			next.Lock()
			id++
			inv := fmt.Sprint("INV-", id)
			next.Unlock()
			if _, err := ob.Enqueue(obSale(b, inv, obT0)); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "events/s")
}

// BenchmarkOutboxEnqueueSerial is one capture at a time: the latency a
// lone sale adds to its request (one commit: two fdatasyncs).
func BenchmarkOutboxEnqueueSerial(b *testing.B) {
	ob := obOpen(b, OutboxOptions{})
	b.ResetTimer()
	start := time.Now()
	for i := range b.N {
		if _, err := ob.Enqueue(obSale(b, fmt.Sprint("INV-", i), obT0)); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "events/s")
}

// BenchmarkEmitterDeliver is queue-to-sink throughput with a sink that
// accepts at once: the outbox bookkeeping (lease, delete) per event.
func BenchmarkEmitterDeliver(b *testing.B) {
	ob := obOpen(b, OutboxOptions{})
	var wg sync.WaitGroup
	for w := range 32 {
		wg.Go(func() {
			for i := w; i < b.N; i += 32 {
				if _, err := ob.Enqueue(obSale(b, fmt.Sprint("INV-", i), obT0)); err != nil {
					b.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	sink := &funcSink{name: "noop", send: func(context.Context, *sale.Event) error { return nil }}
	e := NewEmitter(ob, []Sink{sink}, EmitterOptions{Concurrency: 16})
	b.ResetTimer()
	start := time.Now()
	e.Start()
	for e.Stats().Delivered < uint64(b.N) {
		time.Sleep(time.Millisecond)
	}
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "events/s")
	b.StopTimer()
	_ = e.Stop()
}
