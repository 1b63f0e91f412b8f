// Package fx holds the money side of caddy-saletrack: exact amounts parsed
// from payload text, ISO 4217 codes and their minor-unit digits, and (in
// rates.go and its neighbours) the daily exchange rates used to normalise
// revenue to USD.
//
// Nothing here uses float64 for money: amounts are decimals from
// github.com/bojanz/currency, built from the exact text the payload carried.
package fx
