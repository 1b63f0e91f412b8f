package sale

import (
	"github.com/bojanz/currency"
	"github.com/cockroachdb/apd/v3"

	"github.com/saletrack/caddy-saletrack/fx"
)

// WireAmount is the amount as every platform profile sends it: rounded to
// its currency's ISO 4217 digits (RoundAmount). Shops compute totals with
// more decimals than a currency has (a Medusa 2.21 cart completes at EUR
// 124.8667, tax-exclusive), CutMeShort's SDKs take at most two decimals
// and Dub whole minor units; the charge itself was the rounded amount.
// The event and the file sink's line keep the amount as captured.
func WireAmount(a currency.Amount) currency.Amount {
	return RoundAmount(a, fx.Digits(a.CurrencyCode()))
}

// RoundAmount rounds a to digits fraction digits, half away from zero, as
// payment providers round a charge: EUR 124.8667 is 124.87, 0.125 is 0.13
// and -0.125 is -0.13. An amount with no more digits than that is returned
// unchanged, trailing zeros and all.
//
// It is bojanz/currency's RoundHalfUp mode (apd's half_up, which rounds the
// magnitude, so half away from zero), but with a precision that fits the
// amount: Amount.RoundTo works in at most 39 digits and yields NaN beyond,
// which no JSON body may carry.
func RoundAmount(a currency.Amount, digits uint8) currency.Amount {
	d, _, err := apd.NewFromString(a.Number())
	if err != nil || d.Exponent >= -int32(digits) {
		return a
	}
	// Quantizing to a coarser exponent keeps at most the digits there are,
	// plus one for a carry (9.995 becomes 10.00).
	ctx := apd.BaseContext.WithPrecision(uint32(d.NumDigits()) + 1)
	ctx.Rounding = apd.RoundHalfUp
	var r apd.Decimal
	if _, err := ctx.Quantize(&r, d, -int32(digits)); err != nil {
		return a
	}
	if r.IsZero() {
		r.Negative = false // -0.001 is 0.00, not -0.00
	}
	out, err := currency.NewAmount(r.Text('f'), a.CurrencyCode())
	if err != nil {
		return a
	}
	return out
}

// minorUnits writes a as a whole number of 10^-unitDigits of its currency
// (unitDigits 2: cents), rounded once, half away from zero, to the coarser
// of the currency's ISO digits and the unit: JPY 1999 with unitDigits 0 is
// "1999", KWD 1.2345 with unitDigits 2 is "123", ISK 1000 with unitDigits
// 2 is "100000".
func minorUnits(a currency.Amount, unitDigits uint8) string {
	a = RoundAmount(a, min(fx.Digits(a.CurrencyCode()), unitDigits))
	d, _, err := apd.NewFromString(a.Number())
	if err != nil || d.IsZero() {
		return "0"
	}
	// Rounded to at most unitDigits decimals, the shifted exponent is at
	// least zero: a whole number.
	d.Exponent += int32(unitDigits)
	return d.Text('f')
}
