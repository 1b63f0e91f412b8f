package caddymodule

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"
	"unicode"

	caddycmd "github.com/caddyserver/caddy/v2/cmd"
	"github.com/spf13/cobra"
)

func init() { subcommands = append(subcommands, newTailCommand) }

// tailReconnectWait is the pause before following again after the stream
// ended: a config reload ends it, and the admin endpoint comes back.
const tailReconnectWait = time.Second

func newTailCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "tail [--address <admin>] [--config <path> [--adapter <name>]] [--last <n>] [--json]",
		Short: "Prints each capture outcome of a running Caddy as it happens",
		Long: `
Follows GET /sale_track/recent?follow=1 on the admin endpoint of a running
Caddy and prints one line per outcome: captured, duplicate, rejected,
not_sale, skipped, failed, delivered or dead, with the route, the kind, the
invoice id and the reason. It first prints the last --last outcomes, and
follows again when Caddy reloads or restarts, missing nothing the log still
holds.

` + adminFlagsHelp,
		Args: cobra.NoArgs,
		RunE: runTail,
	}
	addAdminFlags(cmd)
	f := cmd.Flags()
	f.IntP("last", "n", 10, "How many past outcomes to print first")
	f.BoolP("json", "", false, "Print each outcome as a JSON object")
	return cmd
}

func runTail(cmd *cobra.Command, _ []string) error {
	f := cmd.Flags()
	last, _ := f.GetInt("last")
	asJSON, _ := f.GetBool("json")
	if last < 0 || last > maxRecent {
		return fmt.Errorf("--last %d: want a number from 0 to %d", last, maxRecent)
	}
	adminAddr, err := adminAddress(cmd)
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	t := &tailer{out: cmd.OutOrStdout(), asJSON: asJSON}
	waiting := false // said so once, until a stream opens again
	for first := true; ; first = false {
		err := t.follow(ctx, adminAddr, last)
		if ctx.Err() != nil {
			return nil
		}
		if err != nil && first {
			return err // nothing to follow: say why
		}
		if err != nil && !waiting {
			fmt.Fprintf(cmd.ErrOrStderr(), "waiting for Caddy: %v\n", err)
		}
		waiting = err != nil
		last = 0 // the rest comes after the last id seen
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(tailReconnectWait):
		}
	}
}

// tailer prints a stream's events and remembers the last one's id.
type tailer struct {
	out    io.Writer
	asJSON bool
	lastID string
}

// follow reads one stream to its end.
func (t *tailer) follow(ctx context.Context, adminAddr string, backlog int) error {
	header := http.Header{}
	if t.lastID != "" {
		header.Set("Last-Event-ID", t.lastID)
	}
	resp, err := caddycmd.AdminAPIRequest(adminAddr, http.MethodGet, "/sale_track/recent?follow=1&limit="+strconv.Itoa(backlog), header, nil)
	if err != nil {
		return err
	}
	// Closing the body is what ends a blocked read on an interrupt.
	stopRead := context.AfterFunc(ctx, func() { resp.Body.Close() })
	defer stopRead()
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	var id, data string
	for sc.Scan() {
		line := sc.Text()
		switch {
		case line == "":
			if data != "" {
				if err := t.print(data); err != nil {
					return err
				}
				t.lastID = id
			}
			id, data = "", ""
		case strings.HasPrefix(line, "id:"):
			id = strings.TrimSpace(line[len("id:"):])
		case strings.HasPrefix(line, "data:"):
			data = strings.TrimSpace(line[len("data:"):])
		}
	}
	if err := sc.Err(); err != nil && !errors.Is(err, io.EOF) {
		return err
	}
	return nil
}

func (t *tailer) print(data string) error {
	if t.asJSON {
		_, err := fmt.Fprintln(t.out, data)
		return err
	}
	var e outcomeEntry
	if err := json.Unmarshal([]byte(data), &e); err != nil {
		return fmt.Errorf("reading an outcome: %w", err)
	}
	_, err := fmt.Fprintln(t.out, formatOutcome(e))
	return err
}

// formatOutcome is an outcome as one line: time, outcome, kind, route,
// invoice id and event id when known, and the reason. Every text is
// printed by printable: an invoice id is the shop's data, and must not
// drive the terminal.
func formatOutcome(e outcomeEntry) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s  %-9s  %-4s  %s", e.Time.UTC().Format(time.RFC3339), printable(e.Outcome), printable(e.Kind), printable(e.Route))
	if e.InvoiceID != "" {
		fmt.Fprintf(&b, "  invoice=%s", printable(e.InvoiceID))
	}
	if e.EventID != "" {
		fmt.Fprintf(&b, "  event=%s", printable(e.EventID))
	}
	if e.Reason != "" {
		fmt.Fprintf(&b, "  %s", printable(e.Reason))
	}
	return b.String()
}

// printable is s with its control and other unprintable characters
// escaped as in Go source (\x1b, \n), so it stays on one line and sends no
// escape sequence to the terminal.
func printable(s string) string {
	if !strings.ContainsFunc(s, func(r rune) bool { return !unicode.IsPrint(r) }) {
		return s
	}
	q := strconv.Quote(s)
	return q[1 : len(q)-1]
}
