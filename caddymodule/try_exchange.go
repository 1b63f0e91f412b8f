package caddymodule

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"

	"github.com/saletrack/caddy-saletrack/internal/contentenc"
)

// tryExchange is the request and the shop's answer a try makes up: the
// body goes where the handler reads it, the request's (a webhook) or the
// response's.
type tryExchange struct {
	method, path string
	// header is the request's, cookies included; responseHeader the
	// shop's answer's.
	header, responseHeader http.Header
	status                 int
	// encoding is the body's Content-Encoding: the body is compressed with
	// it, so the handler's decoder runs as on a compressed answer.
	encoding string
	body     []byte
}

// request builds the request as srv would hand it to its routes: a
// replacer and the server's variables in its context, so placeholders and
// matchers read it as in production.
func (x *tryExchange) request(srv *caddyhttp.Server, host string, body []byte) (*http.Request, error) {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequest(x.method, "http://"+host+x.path, rd)
	if err != nil {
		return nil, fmt.Errorf("--path %q: %w", x.path, err)
	}
	req.RemoteAddr = "127.0.0.1:50000"
	req.RequestURI = req.URL.RequestURI()
	for k, vs := range x.header {
		req.Header[k] = vs
	}
	return caddyhttp.PrepareRequest(req, caddy.NewReplacer(), httptest.NewRecorder(), srv), nil
}

// run sends the exchange through h's own request path, its tee writer,
// body copy, decoder and extraction, and returns the verdict, explained.
// The shop is a function that answers; nothing leaves the process.
func (x *tryExchange) run(found *reached) (verdict, error) {
	h := found.handler
	encoded, err := contentenc.Encode(x.encoding, x.body)
	if err != nil {
		return verdict{}, err
	}
	var reqBody []byte
	if h.spec.FromRequest {
		reqBody = encoded
	}
	req, err := x.request(found.server, found.host, reqBody)
	if err != nil {
		return verdict{}, err
	}
	if h.spec.FromRequest && x.encoding != "" {
		req.Header.Set("Content-Encoding", x.encoding)
	}
	shop := caddyhttp.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		if h.spec.FromRequest {
			// A shop reads the whole webhook before it answers.
			if _, err := io.Copy(io.Discard, r.Body); err != nil {
				return err
			}
			w.WriteHeader(x.status)
			return nil
		}
		for k, vs := range x.responseHeader {
			w.Header()[k] = vs
		}
		if x.encoding != "" {
			w.Header().Set("Content-Encoding", x.encoding)
		}
		w.WriteHeader(x.status)
		_, err := w.Write(encoded)
		return err
	})
	var v verdict
	if err := h.serve(httptest.NewRecorder(), req, shop, &v); err != nil {
		return verdict{}, err
	}
	return v, nil
}
