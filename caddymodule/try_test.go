package caddymodule

import (
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"

	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
)

// Served for a try, a webhook's sale comes back as a verdict with how it
// was read, and nothing acts on it: no commit (which, with the app not
// started, would write the outbox file at once), no variable set.
func TestServeForTryActsOnNothing(t *testing.T) {
	app := newTestApp(t)
	h := newTimingHandler(t, app, "request")
	r := timingRequest(`{"order":{"id":"inv_try","total":12.5,"customer":"u1"}}`)
	var v verdict
	if err := h.serve(httptest.NewRecorder(), r, acceptingShop, &v); err != nil {
		t.Fatal(err)
	}
	if v.kind != verdictCaptured || v.ev.InvoiceID != "inv_try" || v.explained == nil {
		t.Fatalf("verdict %+v, want the sale, explained", v)
	}
	if got := v.explained.Fields[0]; got.Field != "amount" || got.Value != "12.5" || got.Tried[0].Source != "order.total" {
		t.Fatalf("amount explained as %+v", got)
	}
	if status := caddyhttp.GetVar(r.Context(), "sale_track.status"); status != nil {
		t.Fatalf("sale_track.status = %v: the verdict was acted on", status)
	}
	if _, err := os.Stat(filepath.Join(app.storageDir, "outbox.db")); !os.IsNotExist(err) {
		t.Fatalf("the outbox file exists (%v): the sale was committed", err)
	}
}

// The same webhook served for real is committed: the test above would
// pass for a handler that commits nothing at all otherwise.
func TestServeCommitsTheSameWebhook(t *testing.T) {
	app := newTestApp(t)
	h := newTimingHandler(t, app, "request")
	r := timingRequest(`{"order":{"id":"inv_real","total":12.5,"customer":"u1"}}`)
	if err := h.ServeHTTP(httptest.NewRecorder(), r, acceptingShop); err != nil {
		t.Fatal(err)
	}
	if status := caddyhttp.GetVar(r.Context(), "sale_track.status"); status != outcomeCaptured {
		t.Fatalf("sale_track.status = %v, want %s", status, outcomeCaptured)
	}
	if !committed(t, app, "inv_real") {
		t.Fatal("the sale is not in the outbox")
	}
}

// acceptingShop reads a webhook whole and accepts it.
var acceptingShop = caddyhttp.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
	_, _ = io.Copy(io.Discard, r.Body)
	w.WriteHeader(http.StatusOK)
	return nil
})
