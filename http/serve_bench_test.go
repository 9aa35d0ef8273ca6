package http_test

import (
	"net/http"
	"net/http/httptest"
	"testing"
)

// discardWriter is a ResponseWriter that keeps only the header.
type discardWriter struct{ h http.Header }

func (d *discardWriter) Header() http.Header         { return d.h }
func (d *discardWriter) Write(b []byte) (int, error) { return len(b), nil }
func (d *discardWriter) WriteHeader(int)             {}

// BenchmarkServeRankingsPage measures what parledger's handlers cost a
// request for a page of the current rankings (the most read resource),
// whose body is already encoded: metrics, request id, routing,
// authentication and the page's lookup; net/http's own work and the
// socket are left out (see docs/benchmarks.md for the whole server).
func BenchmarkServeRankingsPage(b *testing.B) {
	f := MustOpenCampaign(b)
	h := f.Server.Handler()
	req := httptest.NewRequest(http.MethodGet, "/api/v1/campaigns/"+f.Campaign+"/rankings?limit=100&offset=0", nil)
	req.Header.Set("Authorization", "Bearer "+f.Auditor)
	w := &discardWriter{h: http.Header{}}
	h.ServeHTTP(w, req)
	if ct := w.h.Get("Content-Type"); ct != "application/json; charset=utf-8" {
		b.Fatalf("Content-Type %q: the page was not served", ct)
	}
	b.ReportAllocs()
	for b.Loop() {
		clear(w.h)
		h.ServeHTTP(w, req)
	}
}
