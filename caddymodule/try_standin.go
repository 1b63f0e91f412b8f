package caddymodule

import (
	"encoding/json"
	"fmt"
	"os"
	"regexp"
	"sort"
)

// standIns are the values a try puts in for secrets and addresses whose
// environment variable is unset in the shell it runs in: it sends
// nothing and connects nowhere, so they only let the config provision.
// Each is one the option's rule accepts.
var standIns = map[string]string{
	"api_key":        "try-stand-in-key",
	"signing_secret": "try-stand-in-secret",
	"token":          "try-stand-in-token",
	"password":       "try-stand-in-password",
	"url":            "nats://127.0.0.1:4222",
}

// envOnly matches an option written as one environment placeholder.
var envOnly = regexp.MustCompile(`^\{env\.([A-Za-z_][A-Za-z0-9_]*)\}$`)

// standInUnsetEnv sets, in this process only, each unset variable that
// the sale_track app's secrets (and its nats block's) are read from, and
// says which it stood in for. The production config is untouched: `caddy
// validate` still refuses it where the variable is unset.
func standInUnsetEnv(cfgJSON []byte) ([]string, error) {
	var cfg struct {
		Apps map[string]json.RawMessage `json:"apps"`
	}
	if err := json.Unmarshal(cfgJSON, &cfg); err != nil {
		return nil, fmt.Errorf("decoding the config: %w", err)
	}
	raw, ok := cfg.Apps["sale_track"]
	if !ok {
		return nil, nil
	}
	var app map[string]json.RawMessage
	if err := json.Unmarshal(raw, &app); err != nil {
		return nil, fmt.Errorf("decoding the sale_track app: %w", err)
	}
	var notes []string
	standIn := func(options map[string]json.RawMessage, where string) {
		for option, value := range options {
			var text string
			if json.Unmarshal(value, &text) != nil {
				continue
			}
			m := envOnly.FindStringSubmatch(text)
			stand, known := standIns[option]
			if m == nil || !known || os.Getenv(m[1]) != "" {
				continue
			}
			os.Setenv(m[1], stand)
			notes = append(notes, fmt.Sprintf("%s%s reads %s, unset here: a stand-in was used, as nothing is sent", where, option, m[1]))
		}
	}
	// Only the app's own options and its nats block's: a url elsewhere is
	// not a NATS address.
	top := map[string]json.RawMessage{}
	for option, value := range app {
		if option != "url" {
			top[option] = value
		}
	}
	standIn(top, "")
	var natsBlock map[string]json.RawMessage
	if json.Unmarshal(app["nats"], &natsBlock) == nil {
		standIn(natsBlock, "nats ")
	}
	sort.Strings(notes)
	return notes, nil
}
