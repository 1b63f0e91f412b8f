package caddymodule

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"

	"github.com/caddyserver/caddy/v2"
	"github.com/saletrack/caddy-saletrack/delivery"
)

func init() {
	caddy.RegisterModule(Admin{})
}

// Admin serves sale_track's routes on Caddy's admin endpoint:
//
//	GET  /sale_track/stats         queue depth, in flight, dead letters, per-sink counts
//	GET  /sale_track/dead          dead letters, oldest first (?offset=&limit=, limit ≤ 500)
//	POST /sale_track/dead/replay   send dead letters again (all, or ?invoice_id=)
//	POST /sale_track/flush         retry everything now, ignoring backoff
//
// Admin routes are provisioned before the apps, so each request looks up
// the running pipelines rather than holding on to an app.
type Admin struct{}

// CaddyModule returns the Caddy module information.
func (Admin) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "admin.api.sale_track",
		New: func() caddy.Module { return new(Admin) },
	}
}

// Routes returns the admin routes.
func (Admin) Routes() []caddy.AdminRoute {
	return []caddy.AdminRoute{
		{Pattern: "/sale_track/stats", Handler: caddy.AdminHandlerFunc(handleStats)},
		{Pattern: "/sale_track/dead", Handler: caddy.AdminHandlerFunc(handleDead)},
		{Pattern: "/sale_track/dead/replay", Handler: caddy.AdminHandlerFunc(handleReplay)},
		{Pattern: "/sale_track/flush", Handler: caddy.AdminHandlerFunc(handleFlush)},
	}
}

// statsView is one delivery's stats, named by its storage directory;
// Cluster is the fleet's state, in a fleet.
type statsView struct {
	StorageDir string `json:"storage_dir"`
	delivery.Stats
	Cluster *delivery.FleetStats `json:"cluster,omitempty"`
}

func handleStats(w http.ResponseWriter, r *http.Request) error {
	if err := requireMethod(r, http.MethodGet); err != nil {
		return err
	}
	var out []statsView
	for _, d := range liveDeliveries() {
		out = append(out, d.stats())
	}
	return writeJSON(w, out)
}

func handleDead(w http.ResponseWriter, r *http.Request) error {
	if err := requireMethod(r, http.MethodGet); err != nil {
		return err
	}
	offset, err := queryInt(r, "offset", 0, 0, 1<<31)
	if err != nil {
		return err
	}
	limit, err := queryInt(r, "limit", 50, 1, 500)
	if err != nil {
		return err
	}
	d, err := choosePipeline(r)
	if err != nil {
		return err
	}
	letters, total, err := d.deadLetters(offset, limit)
	if err != nil {
		return caddy.APIError{HTTPStatus: http.StatusInternalServerError, Err: err}
	}
	return writeJSON(w, map[string]any{"total": total, "offset": offset, "limit": limit, "dead_letters": letters})
}

func handleReplay(w http.ResponseWriter, r *http.Request) error {
	if err := requireMethod(r, http.MethodPost); err != nil {
		return err
	}
	d, err := choosePipeline(r)
	if err != nil {
		return err
	}
	n, err := d.replay(r.URL.Query().Get("invoice_id"))
	if err != nil {
		return caddy.APIError{HTTPStatus: http.StatusInternalServerError, Err: err}
	}
	return writeJSON(w, map[string]int{"replayed": n})
}

func handleFlush(w http.ResponseWriter, r *http.Request) error {
	if err := requireMethod(r, http.MethodPost); err != nil {
		return err
	}
	for _, d := range liveDeliveries() {
		if err := d.flush(); err != nil {
			return caddy.APIError{HTTPStatus: http.StatusServiceUnavailable, Err: err}
		}
	}
	w.WriteHeader(http.StatusAccepted)
	return nil
}

// choosePipeline picks the delivery a request means: the only one, or the
// one named by ?storage_dir= when a process runs several.
func choosePipeline(r *http.Request) (*pipeline, error) {
	all := liveDeliveries()
	if dir := r.URL.Query().Get("storage_dir"); dir != "" {
		for _, d := range all {
			if d.dir == dir {
				return d, nil
			}
		}
		return nil, caddy.APIError{HTTPStatus: http.StatusNotFound, Err: fmt.Errorf("no sale_track delivery uses storage_dir %q", dir)}
	}
	switch len(all) {
	case 0:
		return nil, caddy.APIError{HTTPStatus: http.StatusServiceUnavailable, Err: fmt.Errorf("sale_track is not running")}
	case 1:
		return all[0], nil
	}
	return nil, caddy.APIError{HTTPStatus: http.StatusBadRequest, Err: fmt.Errorf("several sale_track pipelines run: name one with ?storage_dir=")}
}

func requireMethod(r *http.Request, method string) error {
	if r.Method != method {
		return caddy.APIError{HTTPStatus: http.StatusMethodNotAllowed, Err: fmt.Errorf("method %s not allowed, use %s", r.Method, method)}
	}
	return nil
}

func queryInt(r *http.Request, name string, def, lo, hi int) (int, error) {
	s := r.URL.Query().Get(name)
	if s == "" {
		return def, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < lo || n > hi {
		return 0, caddy.APIError{HTTPStatus: http.StatusBadRequest, Err: fmt.Errorf("%s %q: want a number from %d to %d", name, s, lo, hi)}
	}
	return n, nil
}

func writeJSON(w http.ResponseWriter, v any) error {
	w.Header().Set("Content-Type", "application/json")
	return json.NewEncoder(w).Encode(v)
}

// Interface guard
var _ caddy.AdminRouter = (*Admin)(nil)
