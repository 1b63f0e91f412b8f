package sale

import (
	"strings"
	"testing"
	"time"
)

// benchBody is a realistic ~2 KB checkout answer.
var benchBody = []byte(`{"order":{"id":"inv_1","status":"paid","total":"199.00","currency":"usd","created_at":"2026-04-10T12:45:10Z",` +
	`"items":[` + strings.TrimSuffix(strings.Repeat(`{"sku":"SKU-123456","name":"A product with a fairly long descriptive name","qty":1,"price":"16.58","meta":{"color":"blue"}},`, 12), ",") + `]},` +
	`"customer":{"id":"user_123","email":"alex@example.com","first":"Alex","last":"Johnson"}}`)

// BenchmarkExtract: validate a 2 KB body, check a condition, read every
// field and build the event.
func BenchmarkExtract(b *testing.B) {
	spec := orderSpec(b)
	spec.When = []Condition{{Path: "order.status", Values: []string{"paid"}}}
	resolve := resolver(map[string]string{"{http.request.cookie.clickId}": "cl_42"})
	now := time.Now()
	b.ReportAllocs()
	b.SetBytes(int64(len(benchBody)))
	for i := 0; i < b.N; i++ {
		if _, err := spec.Extract(benchBody, resolve, now); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkPayload: the platform's JSON body for one event.
func BenchmarkPayload(b *testing.B) {
	ev, err := orderSpec(b).Extract(benchBody, nil, time.Now())
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		ev.Payload(false)
	}
}
