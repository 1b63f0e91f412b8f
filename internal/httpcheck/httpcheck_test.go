package httpcheck

import (
	"net/http"
	"net/http/httptest"
	"testing"
)

func TestURL(t *testing.T) {
	for raw, ok := range map[string]bool{
		"https://platform.example/v1/track/sale":  true,
		"http://127.0.0.1:9/eurofxref-daily.xml":  true,
		"HTTPS://platform.example/x":              true,
		"https://user:pw@platform.example/x?k=v":  true,
		"https://[::1]:8443/x":                    true,
		"":                                        false,
		"ftp://platform.example/x":                false,
		"platform.example/x":                      false,
		"/v1/track/sale":                          false,
		"https://:443/x":                          false,
		"https:///x":                              false,
		"http:platform.example":                   false,
		"https://platform example/x":              false,
		"https://platform.example:port/x":         false,
		"https://{env.SALETRACK_HOST}/track/sale": false,
	} {
		if err := URL(raw); (err == nil) != ok {
			t.Errorf("URL(%q) = %v, want ok=%v", raw, err, ok)
		}
	}
}

// HeaderValue passes exactly the values that reach the server as they were
// sent.
func TestHeaderValueAgreesWithNetHTTP(t *testing.T) {
	var got string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got = r.Header.Get("X-Key")
	}))
	defer srv.Close()
	for _, key := range []string{"sk_live_42", "a b", "a\tb", "k\r", "k\n", "k\x00", "k\x7f", " k", "k ", "k\t", "ключ"} {
		req, _ := http.NewRequest(http.MethodPost, srv.URL, nil)
		req.Header.Set("X-Key", key)
		got = ""
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			resp.Body.Close()
		}
		arrived := err == nil && got == key
		if check := HeaderValue(key); (check == nil) != arrived {
			t.Errorf("HeaderValue(%q) = %v, but sent it arrived=%v (%q, %v)", key, check, arrived, got, err)
		}
	}
}

func TestRedact(t *testing.T) {
	for raw, want := range map[string]string{
		"https://user:pw@api.cutmeshort.com/v1/track/sale?key=k#f":                         "https://api.cutmeshort.com/v1/track/sale",
		"https://hooks.slack.com/services/T0001AB/B0002CD/a1b2c3d4e5f6g7h8i9j0k1l2":        "https://hooks.slack.com/services/T0.../B0.../a1...",
		"https://hooks.slack.com/services/T0001AB/B0002CD/abcdefghijklmnopqrstuvwx":        "https://hooks.slack.com/services/T0.../B0.../ab...",
		"https://discord.com/api/webhooks/123456789012345678/AbCdEf0123456789ghIJ-klMN_op": "https://discord.com/api/webhooks/12.../Ab...",
		"https://hooks.zapier.com/hooks/catch/1234567/abc1def/":                            "https://hooks.zapier.com/hooks/catch/12.../ab.../",
		"https://receiver.example/track/sale-events":                                       "https://receiver.example/track/sale-events",
		"https://receiver.example/日本語の長いパスセグメントですよ二十文字以上":                                  "https://receiver.example/%E6%97%A5%E6%9C%AC...",
		"":          "",
		"not a url": "(unparseable URL)",
	} {
		if got := Redact(raw); got != want {
			t.Errorf("Redact(%q) = %q, want %q", raw, got, want)
		}
	}
}
