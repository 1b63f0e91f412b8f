package caddymodule

import (
	"encoding/json"
	"fmt"
	"os"
	"regexp"
	"sort"
)

// standIns are the values a try puts in for secrets whose environment
// variable is unset in the shell it runs in: it sends nothing, so they
// only let the config provision. Each is one the option's rule accepts.
var standIns = map[string]string{
	"api_key":        "try-stand-in-key",
	"signing_secret": "try-stand-in-secret",
}

// envOnly matches an option written as one environment placeholder.
var envOnly = regexp.MustCompile(`^\{env\.([A-Za-z_][A-Za-z0-9_]*)\}$`)

// offlineForTry readies a config for a try, which sends nothing and
// connects nowhere: the sale_track app's nats block is left out (its
// files and servers may exist only in production), and each unset
// variable the app's secrets are read from is set, in this process only,
// to a stand-in. The notes say what was done. The config on disk is
// untouched: `caddy validate` still refuses it where a variable is unset.
func offlineForTry(cfgJSON []byte) ([]byte, []string, error) {
	var cfg map[string]json.RawMessage
	if err := json.Unmarshal(cfgJSON, &cfg); err != nil {
		return nil, nil, fmt.Errorf("decoding the config: %w", err)
	}
	var apps map[string]json.RawMessage
	if err := json.Unmarshal(cfg["apps"], &apps); err != nil || apps["sale_track"] == nil {
		return cfgJSON, nil, nil
	}
	var app map[string]json.RawMessage
	if err := json.Unmarshal(apps["sale_track"], &app); err != nil {
		return nil, nil, fmt.Errorf("decoding the sale_track app: %w", err)
	}
	var notes []string
	for option, value := range app {
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
		notes = append(notes, fmt.Sprintf("%s reads %s, unset here: a stand-in was used, as nothing is sent", option, m[1]))
	}
	sort.Strings(notes)
	if _, ok := app["nats"]; ok {
		delete(app, "nats")
		notes = append(notes, "the nats block is left out: a try connects nowhere")
	}
	var err error
	if apps["sale_track"], err = json.Marshal(app); err != nil {
		return nil, nil, err
	}
	if cfg["apps"], err = json.Marshal(apps); err != nil {
		return nil, nil, err
	}
	out, err := json.Marshal(cfg)
	return out, notes, err
}
