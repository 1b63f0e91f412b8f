package sale

import (
	"fmt"

	"github.com/saletrack/caddy-saletrack/fx"
)

// DefaultClickSources are where an event's click id is read when neither
// the config nor its preset says: the variable click_cookie sets on this
// request (the click of its own query, or the cookie's under first-click
// attribution) first, then the named cookie, the platform's.
func DefaultClickSources(cookie string) []string {
	return []string{"{http.vars.click_id}", "{http.request.cookie." + cookie + "}"}
}

// SpecConfig is what a config says about one capture point. What it leaves
// empty comes from its preset, if it names one, and then from the defaults.
type SpecConfig struct {
	// Kind is KindSale (or "") or KindLead.
	Kind string
	// Mode is a lead's mode: ModeDeferred or "".
	Mode string
	// Preset names a preset to start from; "" for none.
	Preset string
	// Body is "response", "request" or "" (the preset's, else response).
	Body string
	// Fields lists a field's sources; a field given here replaces the
	// preset's sources for it.
	Fields map[Field][]string
	// EventName is the event sent; "" for the platform's default.
	EventName string
	// AmountUnit is "major", "minor" or "" (the preset's, else major).
	AmountUnit string
	// DefaultCurrency applies when no currency source yields a value; ""
	// for USD.
	DefaultCurrency string
	// When replaces the preset's conditions when it is not empty.
	When []Condition
	// ClickCookie is the platform's click cookie (Platform.ClickCookie),
	// read after {http.vars.click_id} when neither the config nor the
	// preset lists click id sources; "" for the default platform's.
	ClickCookie string
}

// BuildSpec merges a config with its preset and the defaults into the spec
// extraction runs on. It is the only place that does: Caddy's Provision,
// the Caddyfile parser's check and the preset tests all call it, so what
// the tests prove of a preset is what production runs.
func BuildSpec(c SpecConfig) (*Spec, error) {
	var p *Preset
	if c.Preset != "" {
		var ok bool
		if p, ok = presetRegistry[c.Preset]; !ok {
			return nil, unknownPresetError(c.Preset)
		}
	}
	return buildSpec(p, c)
}

// buildSpec is BuildSpec with the preset given (nil for none).
func buildSpec(p *Preset, c SpecConfig) (*Spec, error) {
	cookie := c.ClickCookie
	if cookie == "" {
		def, _ := LookupPlatform("")
		cookie = def.ClickCookie
	}
	merged := map[Field][]string{FieldClickID: DefaultClickSources(cookie)}
	spec := &Spec{Sources: map[Field][]Source{}, EventName: c.EventName, DefaultCurrency: c.DefaultCurrency, When: c.When}
	var err error
	if spec.Kind, spec.Mode, err = parseKind(c.Kind, c.Mode); err != nil {
		return nil, err
	}
	body := c.Body
	if p != nil {
		if p.kind() != spec.Kind {
			return nil, fmt.Errorf("preset %s reads a %s, not a %s", p.Name, p.kind(), spec.Kind)
		}
		for name, sources := range p.Fields {
			if _, err := ParseField(string(name)); err != nil {
				return nil, fmt.Errorf("preset %s: %v", p.Name, err)
			}
			if _, err := ParseSources(sources); err != nil {
				return nil, fmt.Errorf("preset %s: %s: %v", p.Name, name, err)
			}
			merged[name] = sources
		}
		spec.AmountUnit = p.AmountUnit
		if spec.Kind == KindSale {
			spec.PaymentProcessor = p.Name
		}
		if spec.ObjectID, err = ParseSources(p.ObjectID); err != nil {
			return nil, fmt.Errorf("preset %s: object id: %v", p.Name, err)
		}
		if len(spec.When) == 0 {
			spec.When = p.When
		}
		if body == "" {
			body = p.Body
		}
	}
	for name, sources := range c.Fields {
		if _, err := ParseField(string(name)); err != nil {
			return nil, err
		}
		if spec.Kind == KindLead && len(sources) > 0 && !leadField(name) {
			return nil, fmt.Errorf("%s: a lead has none", name)
		}
		if len(sources) > 0 {
			merged[name] = sources
		}
	}
	for _, name := range Fields {
		sources, err := ParseSources(merged[name])
		if err != nil {
			return nil, fmt.Errorf("%s: %v", name, err)
		}
		if len(sources) > 0 {
			spec.Sources[name] = sources
		}
	}
	for _, name := range requiredFields(spec.Kind) {
		if len(spec.Sources[name]) == 0 {
			return nil, fmt.Errorf("%s is required (or a preset that gives it)", name)
		}
	}
	if spec.FromRequest, err = ParseBody(body); err != nil {
		return nil, err
	}
	if c.AmountUnit != "" {
		if spec.AmountUnit, err = fx.ParseUnit(c.AmountUnit); err != nil {
			return nil, err
		}
	}
	if spec.DefaultCurrency == "" {
		spec.DefaultCurrency = "USD"
	}
	if spec.DefaultCurrency, err = fx.NormalizeCode(spec.DefaultCurrency); err != nil {
		return nil, fmt.Errorf("default_currency: %v", err)
	}
	spec.When = cloneConditions(spec.When)
	for i, c := range spec.When {
		if err := ValidatePath(c.Path); err != nil {
			return nil, fmt.Errorf("when #%d: %v", i+1, err)
		}
	}
	return spec, nil
}

// parseKind reads what a capture point reads, and a lead's mode.
func parseKind(kind, mode string) (string, string, error) {
	switch kind {
	case "", KindSale:
		if mode != "" {
			return "", "", fmt.Errorf("mode %q: only a lead has a mode", mode)
		}
		return KindSale, "", nil
	case KindLead:
		if mode != "" && mode != ModeDeferred {
			return "", "", fmt.Errorf("mode %q: want %s", mode, ModeDeferred)
		}
		return KindLead, mode, nil
	}
	return "", "", fmt.Errorf("kind %q: want %s or %s", kind, KindSale, KindLead)
}

// ParseBody reads which body a sale is read from: "response" (or "", the
// default) or "request". It reports whether that is the request.
func ParseBody(body string) (fromRequest bool, err error) {
	switch body {
	case "", "response":
		return false, nil
	case "request":
		return true, nil
	}
	return false, fmt.Errorf("source %q: want response or request", body)
}
