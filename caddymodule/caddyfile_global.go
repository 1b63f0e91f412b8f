package caddymodule

import (
	"net/url"
	"strconv"
	"strings"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"
	"github.com/dustin/go-humanize"

	"github.com/saletrack/caddy-saletrack/delivery"
	"github.com/saletrack/caddy-saletrack/fx"
)

// parseGlobalOption reads the global sale_track block into the app. Syntax:
//
//	{
//		sale_track {
//			endpoint         <url>
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
//			fx_rate          <code> <usd per unit>
//			send_usd         [true|false]
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

// UnmarshalCaddyfile sets up the app from the global block's tokens.
func (a *App) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	d.Next() // the option's name
	if d.NextArg() {
		return d.ArgErr()
	}
	strs := map[string]*string{
		"api_key": &a.APIKey, "signing_secret": &a.SigningSecret,
		"file": &a.File, "storage_dir": &a.StorageDir,
	}
	urls := map[string]*string{"endpoint": &a.Endpoint, "fx_source": &a.FxSource}
	durations := map[string]*caddy.Duration{
		"backoff_base": &a.BackoffBase, "backoff_cap": &a.BackoffCap,
		"max_event_age": &a.MaxEventAge, "shutdown_timeout": &a.ShutdownTimeout,
		"dedup_window": &a.DedupWindow, "send_timeout": &a.SendTimeout, "fx_max_age": &a.FxMaxAge,
	}
	for d.NextBlock(0) {
		sub := d.Val()
		switch {
		case strs[sub] != nil:
			v, err := oneArg(d)
			if err != nil {
				return err
			}
			*strs[sub] = v
		case urls[sub] != nil:
			v, err := oneArg(d)
			if err != nil {
				return err
			}
			u, perr := url.Parse(v)
			if !strings.HasPrefix(v, "{") && (perr != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "") {
				return d.Errf("%s %q: want an http:// or https:// URL", sub, delivery.RedactURL(v))
			}
			*urls[sub] = v
		case durations[sub] != nil:
			v, err := oneArg(d)
			if err != nil {
				return err
			}
			dur, err := caddy.ParseDuration(v)
			if err != nil || dur <= 0 {
				return d.Errf("%s %q: want a positive duration such as 30s or 168h", sub, v)
			}
			*durations[sub] = caddy.Duration(dur)
		case sub == "concurrency":
			v, err := oneArg(d)
			if err != nil {
				return err
			}
			n, err := strconv.Atoi(v)
			if err != nil || n < 1 || n > 256 {
				return d.Errf("concurrency %q: want a number from 1 to 256", v)
			}
			a.Concurrency = n
		case sub == "max_storage":
			v, err := oneArg(d)
			if err != nil {
				return err
			}
			size, err := humanize.ParseBytes(v)
			if err != nil || size < 1<<20 {
				return d.Errf("max_storage %q: want a size of at least 1MiB, such as 1GiB", v)
			}
			a.MaxStorage = int64(size)
		case sub == "fx_rate":
			args := d.RemainingArgs()
			if len(args) != 2 {
				return d.ArgErr()
			}
			code, err := fx.NormalizeCode(args[0])
			if err != nil {
				return d.Errf("fx_rate: %v", err)
			}
			if _, err := fx.ParseAmount(args[1], "USD", fx.Major, -1); err != nil || strings.HasPrefix(args[1], "-") || strings.Trim(args[1], "0.") == "" {
				return d.Errf("fx_rate %s: %q is not a positive decimal (USD per unit)", code, args[1])
			}
			if a.FxRates == nil {
				a.FxRates = map[string]string{}
			}
			a.FxRates[code] = args[1]
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
	return nil
}

// Interface guard
var _ caddyfile.Unmarshaler = (*App)(nil)
