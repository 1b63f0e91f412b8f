package caddymodule

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"github.com/spf13/cobra"

	"github.com/saletrack/caddy-saletrack/internal/contentenc"
)

func init() { subcommands = append(subcommands, newTryCommand) }

// The exit codes of `caddy sale-track try`.
const (
	tryExitSale     = 0
	tryExitNotSale  = 1
	tryExitBadSetup = 2
)

// tryFlags are the command's options.
type tryFlags struct {
	config, adapter, preset, platform string
	path, method, host                string
	status                            int
	headers, responseHeaders, cookies []string
	contentType, contentEncoding      string
	request, json                     bool
}

func newTryCommand() *cobra.Command {
	var fl tryFlags
	cmd := &cobra.Command{
		Use:   "try [--config <file> --path <path> | --preset <name>] [flags] <body file | ->",
		Short: "Shows what a payload becomes: the platform's JSON, or why it is not a sale",
		Long: `
Runs one made-up exchange through the sale_track or lead_track handler that
a request to --path reaches in the config, through the real route matchers,
and the same code as production: status and type checks, decoding,
conditions, extraction, validation, currency and the platform's profile.
The config is provisioned as 'caddy validate' does: no app starts, no outbox
is opened, nothing is sent. The binding lookup is left out.

The body file (or - for stdin) is the shop's response, or with a webhook
route (source request) the request the shop receives.

On a sale, stdout holds the exact JSON body the platform would receive, on
one line, and stderr the endpoint and how each field was found. Otherwise
stderr says why it is not a sale. --json prints one object on stdout
instead: {"sale", "kind", "payload", "endpoint", "reason", "fields",
"notes"}.

Exit status: 0 a sale (or lead), 1 not one, 2 a config or usage error.`,
		Example: `  caddy sale-track try --config Caddyfile --path /api/checkout --status 201 response.json
  caddy sale-track try --preset stripe --platform dub checkout_session_completed.json`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			code := runTry(fl, args, os.Stdin, cmd.OutOrStdout(), cmd.ErrOrStderr())
			if code != tryExitSale {
				os.Exit(code)
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVarP(&fl.config, "config", "c", "", "Configuration file (default: ./Caddyfile)")
	f.StringVarP(&fl.adapter, "adapter", "a", "", "Name of config adapter to apply (default: inferred as 'caddy run' does)")
	f.StringVar(&fl.preset, "preset", "", "Try a preset on its own, without a config")
	f.StringVar(&fl.platform, "platform", "", "With --preset, the platform profile (default: cutmeshort)")
	f.StringVar(&fl.path, "path", "/", "The request's path, to find the route")
	f.StringVar(&fl.method, "method", http.MethodPost, "The request's method")
	f.StringVar(&fl.host, "host", "", "The request's host (default: each site the config names, in turn)")
	f.IntVar(&fl.status, "status", http.StatusOK, "The shop's response status")
	f.StringArrayVarP(&fl.headers, "header", "H", nil, "A request header, 'Name: value' (repeatable)")
	f.StringArrayVar(&fl.cookies, "cookie", nil, "A request cookie, 'name=value' (repeatable)")
	f.StringArrayVar(&fl.responseHeaders, "response-header", nil, "A header of the shop's response, 'Name: value' (repeatable)")
	f.StringVar(&fl.contentType, "content-type", "application/json", "The shop's response Content-Type")
	f.StringVar(&fl.contentEncoding, "content-encoding", "", "Compress the body with gzip, deflate, br or zstd, so the decoder runs")
	f.BoolVar(&fl.request, "request", false, "The body is the request the shop receives (a webhook route)")
	f.BoolVar(&fl.json, "json", false, "Print one JSON object instead")
	return cmd
}

// runTry does the work and returns the exit status.
func runTry(fl tryFlags, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	res, at, err := tryOnce(fl, args, stdin)
	if err != nil {
		fmt.Fprintln(stderr, "sale-track try: "+err.Error())
		return tryExitBadSetup
	}
	if fl.json {
		out, _ := json.Marshal(res)
		fmt.Fprintf(stdout, "%s\n", out)
	} else {
		res.writeText(stdout, stderr, at)
	}
	if res.Sale {
		return tryExitSale
	}
	return tryExitNotSale
}

// tryOnce provisions the config, finds the handler and runs the body
// through it. at says which handler it was and where.
func tryOnce(fl tryFlags, args []string, stdin io.Reader) (*tryResult, string, error) {
	x, err := fl.exchange(args, stdin)
	if err != nil {
		return nil, "", err
	}
	var cfgJSON []byte
	var offlineNotes []string
	switch {
	case fl.preset != "" && fl.config != "":
		return nil, "", errors.New("--preset and --config: give one")
	case fl.platform != "" && fl.preset == "":
		return nil, "", errors.New("--platform goes with --preset; a config names its platform")
	case fl.preset != "":
		cfgJSON, err = presetConfig(fl.preset, fl.platform)
	default:
		silenceCaddyLog()
		cfgJSON, err = loadTryConfig(fl.config, fl.adapter)
		if err == nil {
			cfgJSON, offlineNotes, err = offlineForTry(cfgJSON)
		}
	}
	if err != nil {
		return nil, "", err
	}
	app, err := provisionForTry(cfgJSON)
	if err != nil {
		return nil, "", err
	}
	found, others, err := findCaptureInApp(app, fl.host, func(srv *caddyhttp.Server, host string) (*http.Request, error) {
		return x.request(srv, host, nil)
	})
	if err != nil {
		return nil, "", err
	}
	if found == nil {
		return nil, "", fmt.Errorf("no sale_track or lead_track handler is reached by %s %s", x.method, x.path)
	}
	h := found.handler
	if fl.request && !h.spec.FromRequest {
		return nil, "", errors.New("--request: the handler reached reads the shop's response, not the request")
	}
	at := fmt.Sprintf("%s %q at %s, reading the %s", handlerName(h), h.Route, found.where, bodyName(h))
	if len(others) > 0 {
		at += "; also reached on " + strings.Join(others, ", ") + " (name a site with --host)"
	}
	v, err := x.run(found)
	if err != nil {
		return nil, "", err
	}
	// The send time is after the capture, as in production.
	res := judgeTry(h, x, v, time.Now())
	res.Notes = append(res.Notes, offlineNotes...)
	return res, at, nil
}

func handlerName(h *Handler) string {
	if h.kind != "" {
		return "lead_track"
	}
	return "sale_track"
}

func bodyName(h *Handler) string {
	if h.spec.FromRequest {
		return "request (a webhook)"
	}
	return "response"
}

// exchange reads the body and the flags into the exchange to try.
func (fl tryFlags) exchange(args []string, stdin io.Reader) (*tryExchange, error) {
	if len(args) != 1 {
		return nil, errors.New("give the body file, or - for stdin")
	}
	var body []byte
	var err error
	if args[0] == "-" {
		body, err = io.ReadAll(stdin)
	} else {
		body, err = os.ReadFile(args[0])
	}
	if err != nil {
		return nil, fmt.Errorf("reading the body: %w", err)
	}
	if !strings.HasPrefix(fl.path, "/") {
		return nil, fmt.Errorf("--path %q: want a path starting with /", fl.path)
	}
	if fl.status < 100 || fl.status > 599 {
		return nil, fmt.Errorf("--status %d: want 100 to 599", fl.status)
	}
	x := &tryExchange{method: strings.ToUpper(fl.method), path: fl.path, status: fl.status,
		encoding: fl.contentEncoding, body: body, header: http.Header{}, responseHeader: http.Header{}}
	if _, err := contentenc.Encode(fl.contentEncoding, nil); err != nil {
		return nil, fmt.Errorf("--content-encoding: %w", err)
	}
	x.responseHeader.Set("Content-Type", fl.contentType)
	if err := addHeaders(x.header, "--header", fl.headers); err != nil {
		return nil, err
	}
	if err := addHeaders(x.responseHeader, "--response-header", fl.responseHeaders); err != nil {
		return nil, err
	}
	for _, c := range fl.cookies {
		if _, err := http.ParseCookie(c); err != nil || strings.Contains(c, ";") {
			return nil, fmt.Errorf("--cookie %q: want name=value", c)
		}
		x.header.Add("Cookie", c)
	}
	return x, nil
}

// addHeaders adds 'Name: value' lines to h.
func addHeaders(h http.Header, flag string, lines []string) error {
	for _, line := range lines {
		name, value, ok := strings.Cut(line, ":")
		if !ok || strings.TrimSpace(name) == "" {
			return fmt.Errorf("%s %q: want 'Name: value'", flag, line)
		}
		h.Add(strings.TrimSpace(name), strings.TrimSpace(value))
	}
	return nil
}
