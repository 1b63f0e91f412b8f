package caddymodule

import (
	"testing"

	"github.com/saletrack/caddy-saletrack/sale"
)

// The handler's config has a list of sources for every field a sale has,
// and for nothing else: sale.Fields is the one list.
func TestHandlerConfiguresEveryField(t *testing.T) {
	var h Handler
	sources := h.fieldSources()
	if len(sources) != len(sale.Fields) {
		t.Fatalf("the handler configures %d fields, sale has %d", len(sources), len(sale.Fields))
	}
	for _, f := range sale.Fields {
		target, ok := sources[f]
		if !ok {
			t.Fatalf("field %s cannot be configured", f)
		}
		*target = []string{"x." + string(f)}
	}
	for _, f := range sale.Fields {
		if got := h.specConfig().Fields[f]; len(got) != 1 || got[0] != "x."+string(f) {
			t.Errorf("field %s: config sources %v do not reach the spec", f, got)
		}
	}
}
