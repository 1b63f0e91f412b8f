package caddymodule

import (
	"math"
	"strconv"
	"strings"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"
	"github.com/dustin/go-humanize"

	"github.com/saletrack/caddy-saletrack/fx"
	"github.com/saletrack/caddy-saletrack/sale"
)

// parseGlobalOption reads the global sale_track block into the app. Syntax:
//
//	{
//		sale_track {
//			platform         cutmeshort|dub|generic
//			api_base         <url>
//			endpoint         <url>
//			lead_endpoint    <url>
//			attribution      last|first
//			api_key          <key>
//			signing_secret   <secret>
//			file             <path>
//			storage_dir      <path>
//			concurrency      <n>
//			backoff_base     <duration>
//			backoff_cap      <duration>
//			max_event_age    <duration>
//			shutdown_timeout <duration>
//			dedup_window     <duration>
//			send_timeout     <duration>
//			max_storage      <size>
//			fx_source        <url>
//			fx_max_age       <duration>
//			binding_ttl      <duration>
//			fx_rate          <code> <usd per unit>
//			send_usd         [true|false]
//			recent           <n>
//			nats             [<url>] { … }   (see unmarshalNATS)
//		}
//	}
func parseGlobalOption(d *caddyfile.Dispenser, existing any) (any, error) {
	if existing != nil {
		return nil, d.Err("sale_track: only one global sale_track block is allowed")
	}
	app := new(App)
	if err := app.UnmarshalCaddyfile(d); err != nil {
		return nil, err
	}
	return httpcaddyfile.App{Name: "sale_track", Value: caddyconfig.JSON(app, nil)}, nil
}

// UnmarshalCaddyfile sets up the app from the global block's tokens. Each
// option is checked on its line by the rule Validate applies to it; a
// value holding a placeholder is checked by Validate once resolved.
func (a *App) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	d.Next() // the option's name
	block := d.Token()
	if d.NextArg() {
		return d.ArgErr()
	}
	strs := map[string]*string{
		"api_key": &a.APIKey, "signing_secret": &a.SigningSecret,
		"file": &a.File, "storage_dir": &a.StorageDir,
	}
	strRules := map[string]func(string) error{"api_key": checkAPIKey, "signing_secret": checkSigningSecret}
	urls := map[string]*string{}
	for _, o := range a.urlOptions() {
		urls[o.name] = o.value
	}
	durations := map[string]*caddy.Duration{}
	for _, o := range a.durationOptions() {
		durations[o.name] = o.value
	}
	// backoffAt is the later of the backoff_base and backoff_cap lines,
	// where their rule is reported once both are known.
	var backoffAt *caddyfile.Token
	var err error
	for d.NextBlock(0) {
		sub := d.Val()
		switch {
		case strs[sub] != nil:
			v, err := checkedArg(d, strRules[sub])
			if err != nil {
				return err
			}
			*strs[sub] = v
		case urls[sub] != nil:
			v, err := checkedArg(d, func(v string) error { return checkURLOption(sub, v) })
			if err != nil {
				return err
			}
			*urls[sub] = v
		case durations[sub] != nil:
			dur, err := durationArg(d, sub)
			if err != nil {
				return err
			}
			*durations[sub] = dur
			if sub == "backoff_base" || sub == "backoff_cap" {
				tok := d.Token()
				backoffAt = &tok
			}
		case sub == "concurrency":
			if a.Concurrency, err = intOption(d, checkConcurrency, errConcurrency); err != nil {
				return err
			}
		case sub == "recent":
			if a.Recent, err = intOption(d, checkRecent, errRecent); err != nil {
				return err
			}
		case sub == "max_storage":
			v, err := oneArg(d)
			if err != nil {
				return err
			}
			size, err := humanize.ParseBytes(v)
			if err != nil || size > math.MaxInt64 || checkMaxStorage(int64(size)) != nil {
				return d.Errf("max_storage %q: %v", v, errMaxStorage)
			}
			a.MaxStorage = int64(size)
		case sub == "fx_rate":
			args := d.RemainingArgs()
			if len(args) != 2 {
				return d.ArgErr()
			}
			code, err := fx.CheckRate(args[0], args[1])
			if err != nil {
				return d.WrapErr(fxRateError(err))
			}
			if _, dup := a.FxRates[code]; dup {
				return d.Errf("fx_rate %s: given twice", code)
			}
			if a.FxRates == nil {
				a.FxRates = map[string]string{}
			}
			a.FxRates[code] = args[1]
		case sub == "platform":
			v, err := oneArg(d)
			if err != nil {
				return err
			}
			if _, err := sale.LookupPlatform(v); err != nil || v == "" {
				return d.Errf("platform %q: want %s", v, strings.Join(sale.PlatformNames(), ", "))
			}
			a.Platform = v
		case sub == "attribution":
			v, err := oneArg(d)
			if err != nil {
				return err
			}
			if err := checkAttribution(v); err != nil {
				return d.WrapErr(err)
			}
			a.Attribution = v
		case sub == "nats":
			if err := a.unmarshalNATS(d); err != nil {
				return err
			}
		case sub == "send_usd":
			a.SendUSD = true
			if d.NextArg() {
				b, err := strconv.ParseBool(d.Val())
				if err != nil {
					return d.Errf("send_usd %q: want true or false", d.Val())
				}
				a.SendUSD = b
			}
			if d.NextArg() {
				return d.ArgErr()
			}
		default:
			return d.Errf("unknown sale_track option %q", sub)
		}
	}
	if backoffAt != nil {
		base := durationOr(a.BackoffBase, DefaultBackoffBase)
		limit := durationOr(a.BackoffCap, DefaultBackoffCap)
		if err := checkBackoff(base, limit); err != nil {
			return errorAt(*backoffAt, err)
		}
	}
	// The sink's rules need the whole block: they name its first line.
	a.platform, _ = sale.LookupPlatform(a.Platform)
	if err := a.checkPlatformSink(a.APIKey); err != nil {
		return errorAt(block, err)
	}
	return nil
}

// intOption reads a whole-number option's argument and checks it by the
// option's rule; want is what the rule asks for.
func intOption(d *caddyfile.Dispenser, rule func(int) error, want error) (int, error) {
	return intArg(d, d.Val(), rule, want)
}

// intArg reads an integer option's one argument by its rule; label names
// the option in the error.
func intArg(d *caddyfile.Dispenser, label string, rule func(int) error, want error) (int, error) {
	v, err := oneArg(d)
	if err != nil {
		return 0, err
	}
	n, err := strconv.Atoi(v)
	if err != nil || rule(n) != nil {
		return 0, d.Errf("%s %q: %v", label, v, want)
	}
	return n, nil
}

// durationArg reads a duration option's one argument by its rule; label
// names the option in the error.
func durationArg(d *caddyfile.Dispenser, label string) (caddy.Duration, error) {
	v, err := oneArg(d)
	if err != nil {
		return 0, err
	}
	dur, err := caddy.ParseDuration(v)
	if err != nil || checkDuration(caddy.Duration(dur)) != nil {
		return 0, d.Errf("%s %q: %v", label, v, errDuration)
	}
	return caddy.Duration(dur), nil
}

// hasPlaceholder says whether v holds a placeholder such as {env.KEY},
// which only Provision resolves.
func hasPlaceholder(v string) bool { return strings.Contains(v, "{") }

// errorAt reports err on tok's line, as d.Errf does on the current one.
func errorAt(tok caddyfile.Token, err error) error {
	d := caddyfile.NewDispenser([]caddyfile.Token{tok})
	d.Next()
	return d.WrapErr(err)
}

// Interface guard
var _ caddyfile.Unmarshaler = (*App)(nil)
