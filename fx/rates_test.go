package fx

import (
	"fmt"
	"strings"
	"testing"
)

// feedDay is the 30 rows of the embedded 2024-06-28 publication, in feed
// order, so tests can build variants of a real day.
var feedDay = [][2]string{
	{"USD", "1.0705"}, {"JPY", "171.94"}, {"BGN", "1.9558"}, {"CZK", "25.025"},
	{"DKK", "7.4575"}, {"GBP", "0.84638"}, {"HUF", "395.10"}, {"PLN", "4.3090"},
	{"RON", "4.9773"}, {"SEK", "11.3595"}, {"CHF", "0.9634"}, {"ISK", "148.90"},
	{"NOK", "11.3965"}, {"TRY", "35.1868"}, {"AUD", "1.6079"}, {"BRL", "5.8915"},
	{"CAD", "1.4670"}, {"CNY", "7.7748"}, {"HKD", "8.3594"}, {"IDR", "17487.21"},
	{"ILS", "4.0200"}, {"INR", "89.2495"}, {"KRW", "1474.86"}, {"MXN", "19.5654"},
	{"MYR", "5.0501"}, {"NZD", "1.7601"}, {"PHP", "62.560"}, {"SGD", "1.4513"},
	{"THB", "39.319"}, {"ZAR", "19.4970"},
}

// feedXML writes a daily feed in the ECB's own layout for the given date
// and rows; edit, if not nil, may change the rows first.
func feedXML(date string, edit func(rows [][2]string) [][2]string) string {
	rows := append([][2]string(nil), feedDay...)
	if edit != nil {
		rows = edit(rows)
	}
	var b strings.Builder
	b.WriteString(`<?xml version="1.0" encoding="UTF-8"?>
<gesmes:Envelope xmlns:gesmes="http://www.gesmes.org/xml/2002-08-01" xmlns="http://www.ecb.int/vocabulary/2002-08-01/eurofxref">
	<gesmes:subject>Reference rates</gesmes:subject>
	<gesmes:Sender>
		<gesmes:name>European Central Bank</gesmes:name>
	</gesmes:Sender>
	<Cube>
`)
	fmt.Fprintf(&b, "\t\t<Cube time='%s'>\n", date)
	for _, r := range rows {
		fmt.Fprintf(&b, "\t\t\t<Cube currency='%s' rate='%s'/>\n", r[0], r[1])
	}
	b.WriteString("\t\t</Cube>\n\t</Cube>\n</gesmes:Envelope>\n")
	return b.String()
}

func setRate(code, rate string) func([][2]string) [][2]string {
	return func(rows [][2]string) [][2]string {
		for i := range rows {
			if rows[i][0] == code {
				rows[i][1] = rate
			}
		}
		return rows
	}
}

func dropRate(code string) func([][2]string) [][2]string {
	return func(rows [][2]string) [][2]string {
		out := rows[:0]
		for _, r := range rows {
			if r[0] != code {
				out = append(out, r)
			}
		}
		return out
	}
}

func TestParseECB(t *testing.T) {
	r, err := ParseECB(strings.NewReader(feedXML("2024-06-28", nil)))
	if err != nil {
		t.Fatal(err)
	}
	if r.Date != "2024-06-28" || len(r.PerEUR) != 30 {
		t.Fatalf("got date %q and %d currencies, want 2024-06-28 and 30", r.Date, len(r.PerEUR))
	}
	// The exact text survives, trailing zeros included: no float64 anywhere.
	for code, want := range map[string]string{"USD": "1.0705", "JPY": "171.94", "ISK": "148.90", "GBP": "0.84638", "IDR": "17487.21", "ILS": "4.0200"} {
		if got := plainText(r.PerEUR[code]); got != want {
			t.Errorf("%s = %s, want %s", code, got, want)
		}
	}
}

// A mirror may re-serialise the document: other prefixes, double quotes,
// no declaration, attributes in another order, everything on one line.
func TestParseECBMirrorLayouts(t *testing.T) {
	var rows strings.Builder
	for _, r := range feedDay {
		fmt.Fprintf(&rows, `<ns1:Cube rate="%s" currency="%s" />`, r[1], r[0])
	}
	docs := map[string]string{
		"prefixed namespaces": `<ns0:Envelope xmlns:ns0="http://www.gesmes.org/xml/2002-08-01" xmlns:ns1="http://www.ecb.int/vocabulary/2002-08-01/eurofxref">` +
			`<ns0:subject>Reference rates</ns0:subject><ns1:Cube><ns1:Cube time="2024-06-28">` + rows.String() +
			`</ns1:Cube></ns1:Cube></ns0:Envelope>`,
		"double quotes": strings.ReplaceAll(feedXML("2024-06-28", nil), "'", `"`),
		"no namespace":  strings.Replace(strings.Replace(feedXML("2024-06-28", nil), "gesmes:Envelope", "Envelope", 2), ` xmlns="http://www.ecb.int/vocabulary/2002-08-01/eurofxref"`, "", 1),
	}
	for name, doc := range docs {
		t.Run(name, func(t *testing.T) {
			r, err := ParseECB(strings.NewReader(doc))
			if err != nil {
				t.Fatal(err)
			}
			if r.Date != "2024-06-28" || len(r.PerEUR) != 30 || plainText(r.PerEUR["USD"]) != "1.0705" {
				t.Errorf("got %s with %d currencies, USD %s", r.Date, len(r.PerEUR), r.PerEUR["USD"])
			}
		})
	}
}

func TestParseECBRejects(t *testing.T) {
	good := feedXML("2024-06-28", nil)
	tests := []struct {
		name, doc, wantErr string
	}{
		{"empty body", "", "not a gesmes:Envelope"},
		{"HTML error page", "<html><body>Service Unavailable</body></html>", "not a gesmes:Envelope"},
		{"JSON", `{"rates":{"USD":1.07}}`, "not a gesmes:Envelope"},
		{"truncated download", good[:len(good)/2], "not a gesmes:Envelope"},
		{"no dated Cube", strings.Replace(good, "<Cube time='2024-06-28'>", "<Cube>", 1), "no date"},
		{"bad date", feedXML("2024-13-01", nil), `date "2024-13-01" is not YYYY-MM-DD`},
		{"no USD", feedXML("2024-06-28", dropRate("USD")), "no USD rate"},
		{"partial feed", feedXML("2024-06-28", func(r [][2]string) [][2]string { return r[:19] }), "only 19 currencies, want at least 20"},
		{"zero rate", feedXML("2024-06-28", setRate("JPY", "0")), "rate for JPY"},
		{"negative rate", feedXML("2024-06-28", setRate("JPY", "-171.94")), `"-171.94" is not a positive decimal`},
		{"non-numeric rate", feedXML("2024-06-28", setRate("GBP", "n/a")), `rate for GBP: "n/a" is not a number`},
		{"decimal comma", feedXML("2024-06-28", setRate("USD", "1,0705")), `"1,0705" is not a number`},
		{"empty rate", feedXML("2024-06-28", setRate("CHF", "")), `rate for CHF: "" is not a number`},
		{"NaN rate", feedXML("2024-06-28", setRate("CHF", "NaN")), "is not a number"},
		{"duplicate currency", feedXML("2024-06-28", func(r [][2]string) [][2]string { return append(r, [2]string{"GBP", "0.9"}) }), "GBP listed twice"},
		{"lower-case code", feedXML("2024-06-28", func(r [][2]string) [][2]string { return append(r, [2]string{"usd", "1.1"}) }), `"usd" is not a three-letter code`},
		{"EUR listed", feedXML("2024-06-28", func(r [][2]string) [][2]string { return append(r, [2]string{"EUR", "1"}) }), "EUR is the base currency"},
		{"two days", strings.Replace(good, "\t</Cube>\n</gesmes", "\t\t<Cube time='2024-06-27'><Cube currency='USD' rate='1.07'/></Cube>\n\t</Cube>\n</gesmes", 1), "found 2"},
		{"two documents", good + good, "content after the envelope"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := ParseECB(strings.NewReader(tt.doc))
			if err == nil {
				t.Fatalf("ParseECB succeeded with %s (%d currencies), want an error", r.Date, len(r.PerEUR))
			}
			if !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("error %q, want it to contain %q", err, tt.wantErr)
			}
		})
	}
}

func TestNewRates(t *testing.T) {
	r, err := NewRates("2024-06-27", map[string]string{"USD": "1.0700", "JPY": "171.5"})
	if err != nil {
		t.Fatal(err)
	}
	if plainText(r.PerEUR["USD"]) != "1.0700" {
		t.Errorf("USD = %s", r.PerEUR["USD"])
	}
	for name, tt := range map[string]struct {
		date  string
		rates map[string]string
	}{
		"no USD":      {"2024-06-27", map[string]string{"JPY": "171.5"}},
		"no date":     {"", map[string]string{"USD": "1.07"}},
		"bad rate":    {"2024-06-27", map[string]string{"USD": "1.07", "JPY": "1e"}},
		"zero rate":   {"2024-06-27", map[string]string{"USD": "0.00"}},
		"bad code":    {"2024-06-27", map[string]string{"USD": "1.07", "Yen": "171"}},
		"EUR as rate": {"2024-06-27", map[string]string{"USD": "1.07", "EUR": "1"}},
	} {
		if _, err := NewRates(tt.date, tt.rates); err == nil {
			t.Errorf("%s: NewRates succeeded, want an error", name)
		}
	}
}
