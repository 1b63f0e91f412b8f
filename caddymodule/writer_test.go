package caddymodule

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func wantAll(int, http.Header) bool { return true }

// readerFromRecorder is a ResponseRecorder that, like net/http's real
// writer, is an io.ReaderFrom: the case where a promoted ReadFrom would
// bypass the copy.
type readerFromRecorder struct {
	*httptest.ResponseRecorder
	readFromCalls int
}

func (r *readerFromRecorder) ReadFrom(src io.Reader) (int64, error) {
	r.readFromCalls++
	return io.Copy(r.ResponseRecorder, src)
}

// plainReader hides a reader's WriteTo, which io.Copy would prefer over
// the writer's ReadFrom.
type plainReader struct{ io.Reader }

func TestTeeWriterCopiesWhatItPasses(t *testing.T) {
	rec := httptest.NewRecorder()
	tw := newTeeWriter(rec, 1<<20, wantAll)
	tw.Header().Set("Content-Type", "application/json")
	tw.WriteHeader(201)
	tw.Write([]byte(`{"a":`))
	tw.Write([]byte(`1}`))
	if rec.Code != 201 || rec.Body.String() != `{"a":1}` {
		t.Fatalf("client got %d %q", rec.Code, rec.Body.String())
	}
	if got := string(tw.body()); got != `{"a":1}` {
		t.Fatalf("copy = %q", got)
	}
}

func TestTeeWriterReadFromIsCopied(t *testing.T) {
	rec := &readerFromRecorder{ResponseRecorder: httptest.NewRecorder()}
	tw := newTeeWriter(rec, 1<<20, wantAll)
	body := strings.Repeat(`{"x":"y"}`, 10000)
	// A plain reader, as an upstream body is: io.Copy then calls ReadFrom.
	n, err := io.Copy(tw, plainReader{strings.NewReader(body)})
	if err != nil || n != int64(len(body)) {
		t.Fatalf("io.Copy = %d, %v", n, err)
	}
	if rec.Body.String() != body {
		t.Fatal("client body differs")
	}
	if string(tw.body()) != body {
		t.Fatalf("copy has %d bytes, want %d: io.Copy bypassed the copy", len(tw.body()), len(body))
	}
	if rec.Code != 200 {
		t.Fatalf("implicit status = %d", rec.Code)
	}
	if rec.readFromCalls != 0 {
		t.Fatal("a capturing writer handed the body to the inner ReadFrom")
	}
}

func TestTeeWriterNotCapturingUsesInnerReadFrom(t *testing.T) {
	rec := &readerFromRecorder{ResponseRecorder: httptest.NewRecorder()}
	tw := newTeeWriter(rec, 1<<20, func(int, http.Header) bool { return false })
	io.Copy(tw, plainReader{strings.NewReader("<html>")})
	if rec.readFromCalls != 1 {
		t.Fatalf("inner ReadFrom called %d times, want 1 (the fast path)", rec.readFromCalls)
	}
	if tw.body() != nil || rec.Body.String() != "<html>" {
		t.Fatal("pass-through response was copied or altered")
	}
}

func TestTeeWriterOverflowDropsCopyButNotBytes(t *testing.T) {
	rec := httptest.NewRecorder()
	tw := newTeeWriter(rec, 10, wantAll)
	tw.Write(bytes.Repeat([]byte("a"), 8))
	tw.Write(bytes.Repeat([]byte("b"), 8))
	if rec.Body.Len() != 16 {
		t.Fatalf("client got %d bytes, want 16", rec.Body.Len())
	}
	if !tw.overflow || tw.body() != nil || tw.buf != nil {
		t.Fatal("over-limit copy was kept")
	}
}

func TestTeeWriterFlushPassesThrough(t *testing.T) {
	rec := httptest.NewRecorder()
	tw := newTeeWriter(rec, 1<<20, wantAll)
	if err := http.NewResponseController(tw).Flush(); err != nil {
		t.Fatal(err)
	}
	if !rec.Flushed || !tw.wroteHeader || tw.status != 200 {
		t.Fatalf("flushed=%v wroteHeader=%v status=%d", rec.Flushed, tw.wroteHeader, tw.status)
	}
}

func TestTeeWriterInformationalStatusIsNotFinal(t *testing.T) {
	rec := httptest.NewRecorder()
	var decided []int
	tw := newTeeWriter(rec, 1<<20, func(s int, _ http.Header) bool { decided = append(decided, s); return true })
	tw.WriteHeader(http.StatusEarlyHints)
	tw.WriteHeader(http.StatusOK)
	if len(decided) != 1 || decided[0] != 200 {
		t.Fatalf("decided on %v, want only the final 200", decided)
	}
}

func TestTeeWriterUnwrapKeepsResponseController(t *testing.T) {
	rec := httptest.NewRecorder()
	tw := newTeeWriter(rec, 1<<20, wantAll)
	if tw.Unwrap() != rec {
		t.Fatal("Unwrap does not return the inner writer")
	}
}

func TestIsJSON(t *testing.T) {
	for ct, want := range map[string]bool{
		"application/json":                  true,
		"application/json; charset=utf-8":   true,
		"application/problem+json":          true,
		"application/graphql-response+json": true,
		"text/json":                         true,
		"text/html":                         false,
		"text/event-stream":                 false,
		"":                                  false,
		"application/jsonp":                 false,
		"APPLICATION/JSON":                  true,
		" application/json ; charset=utf-8": true,
		"+json":                             false,
		"text/plain+jsonish":                false,
	} {
		if isJSON(ct) != want {
			t.Errorf("isJSON(%q) = %v", ct, !want)
		}
	}
}
