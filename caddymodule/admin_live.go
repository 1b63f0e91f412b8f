package caddymodule

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"time"

	"github.com/caddyserver/caddy/v2"
)

func init() {
	caddy.RegisterModule(LiveAdmin{})
}

// LiveAdmin serves what sale_track is doing now on Caddy's admin endpoint:
//
//	GET /sale_track/recent            the last outcomes, newest first (?limit=)
//	GET /sale_track/recent?follow=1   the outcomes as they happen, as
//	                                  Server-Sent Events (?limit= sends that
//	                                  many past ones first)
//	GET /sale_track/                  the status page
//
// A stream ends when its client goes, or when the config that served it
// is replaced or stopped; a client that reconnects with Last-Event-ID
// misses nothing the log still holds, even after a restart.
type LiveAdmin struct {
	// done is closed when the config this admin endpoint belongs to stops.
	done <-chan struct{}
}

// CaddyModule returns the Caddy module information.
func (LiveAdmin) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "admin.api.sale_track_live",
		New: func() caddy.Module { return new(LiveAdmin) },
	}
}

// Provision keeps the config's context, to end streams with it.
func (l *LiveAdmin) Provision(ctx caddy.Context) error {
	if ctx.Context != nil {
		l.done = ctx.Done()
	}
	return nil
}

// Routes returns the admin routes.
func (l *LiveAdmin) Routes() []caddy.AdminRoute {
	return []caddy.AdminRoute{
		{Pattern: "/sale_track/recent", Handler: caddy.AdminHandlerFunc(l.handleRecent)},
		{Pattern: "/sale_track/", Handler: caddy.AdminHandlerFunc(handleStatusPage)},
	}
}

func (l *LiveAdmin) handleRecent(w http.ResponseWriter, r *http.Request) error {
	if err := requireMethod(r, http.MethodGet); err != nil {
		return err
	}
	if r.URL.Query().Get("follow") != "" {
		backlog, err := queryInt(r, "limit", 0, 0, maxRecent)
		if err != nil {
			return err
		}
		return l.stream(w, r, backlog)
	}
	limit, err := queryInt(r, "limit", maxRecent, 1, maxRecent)
	if err != nil {
		return err
	}
	return writeJSON(w, map[string][]outcomeEntry{"recent": recent.newest(limit)})
}

// streamKeepAlive is how often an idle stream sends a comment, so a proxy
// in between does not close it and a client that went is noticed.
const streamKeepAlive = 25 * time.Second

// streamWriteTimeout bounds each write of a stream. A client that stopped
// reading but keeps its connection open would otherwise hold the stream's
// goroutine and connection forever: the log lets a follower go when it
// falls behind, but cannot end a write that is blocked, and the admin
// server is shut down on a reload without closing its connections.
const streamWriteTimeout = 10 * time.Second

// stream sends the log's entries as Server-Sent Events, one event each,
// flushed as it is written.
func (l *LiveAdmin) stream(w http.ResponseWriter, r *http.Request, backlog int) error {
	rc := http.NewResponseController(w)
	// The admin server's read timeout would otherwise end the request's
	// context, and the stream with it, seconds after it began.
	if err := rc.SetReadDeadline(time.Time{}); err != nil {
		return caddy.APIError{HTTPStatus: http.StatusInternalServerError, Err: fmt.Errorf("the admin server cannot hold a stream open: %w", err)}
	}
	past, f := recent.follow(r.Header.Get("Last-Event-ID"), backlog)
	defer recent.unfollow(f)

	// send writes and flushes within streamWriteTimeout. The deadline is
	// lifted at the end, so a connection kept alive for another request
	// does not carry it (the admin server sets none of its own).
	defer func() { _ = rc.SetWriteDeadline(time.Time{}) }()
	send := func(write func() error) error {
		if err := rc.SetWriteDeadline(time.Now().Add(streamWriteTimeout)); err != nil {
			return err
		}
		if err := write(); err != nil {
			return err
		}
		return rc.Flush()
	}

	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	err := send(func() error {
		for _, e := range past {
			if err := writeEvent(w, e); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil
	}
	keepAlive := time.NewTicker(streamKeepAlive)
	defer keepAlive.Stop()
	for {
		select {
		case e, ok := <-f.ch:
			if !ok {
				return nil // fell behind: it reconnects from its last id
			}
			err = send(func() error { return writeEvent(w, e) })
		case <-keepAlive.C:
			err = send(func() error {
				_, err := fmt.Fprint(w, ": keep-alive\n\n")
				return err
			})
		case <-r.Context().Done():
			return nil
		case <-l.doneOrNever():
			return nil
		}
		if err != nil {
			return nil
		}
	}
}

// doneOrNever is the config's end; an unprovisioned router has none.
func (l *LiveAdmin) doneOrNever() <-chan struct{} {
	if l.done == nil {
		return context.Background().Done()
	}
	return l.done
}

func writeEvent(w http.ResponseWriter, e outcomeEntry) error {
	data, err := json.Marshal(e)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(w, "id: %s\ndata: %s\n\n", eventID(e.seq), data)
	return err
}

// Interface guards
var (
	_ caddy.AdminRouter = (*LiveAdmin)(nil)
	_ caddy.Provisioner = (*LiveAdmin)(nil)
)
