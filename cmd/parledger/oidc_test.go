package main

import (
	"context"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/parledger/parledger/oidc/testissuer"
)

// TestServeOIDC starts serve with --oidc naming a configuration for a
// local test issuer: the issuer's users sign in with their ID tokens as
// the configuration maps them. A configuration file with mistakes is
// refused before anything starts, with every mistake named.
func TestServeOIDC(t *testing.T) {
	is := testissuer.Start(t)
	conf := filepath.Join(t.TempDir(), "oidc.json")
	b, _ := json.Marshal(map[string]any{"issuer": is.URL, "clientId": testissuer.ClientID, "idClaim": "email",
		"groups": map[string]any{"par-council": map[string]string{"role": "council"}}})
	if err := os.WriteFile(conf, b, 0o600); err != nil {
		t.Fatal(err)
	}
	m := NewMain(io.Discard, io.Discard)
	if err := m.ParseFlags([]string{"--addr", "127.0.0.1:0", "--data", t.TempDir(), "--quiet", "--oidc", conf}); err != nil {
		t.Fatal(err)
	}
	if err := m.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = m.Close() })
	api := client{tb: t, base: m.Server.URL()}
	var p struct{ ID, Role string }
	api.as(is.Token(t, map[string]any{"email": "hoi.dong@hanoi.gov.vn", "groups": []string{"par-council"}})).must(200, "GET", "/api/v1/whoami", nil).json(t, &p)
	if p.ID != "hoi.dong@hanoi.gov.vn" || p.Role != "council" {
		t.Errorf("whoami = %+v", p)
	}
	api.as(is.Token(t, map[string]any{"email": "x@hanoi.gov.vn"})).must(403, "GET", "/api/v1/whoami", nil)

	bad := filepath.Join(t.TempDir(), "bad.json")
	if err := os.WriteFile(bad, []byte(`{"issuer":"http://idp.example","groups":{"g":{"role":"unit"}}}`), 0o600); err != nil {
		t.Fatal(err)
	}
	err := NewMain(io.Discard, io.Discard).ParseFlags([]string{"--oidc", bad})
	for _, want := range []string{"https://", "clientId", `group "g"`} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("a bad --oidc file: %v; want it to name %s", err, want)
		}
	}
}
