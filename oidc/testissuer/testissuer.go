// Package testissuer is a local OpenID Connect provider for tests: its
// discovery document and signing keys on a loopback port, and ID tokens
// signed with its test key. It holds no secret of any deployment.
package testissuer

import (
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"github.com/coreos/go-oidc/v3/oidc/oidctest"
)

// ClientID is the audience of the issuer's tokens unless a claim says
// otherwise.
const ClientID = "parledger"

// Issuer is a running test provider.
type Issuer struct {
	// URL is the issuer URL, http://127.0.0.1:port.
	URL string
	key *rsa.PrivateKey
}

// Start starts an Issuer on 127.0.0.1:0, stopped when the test ends.
func Start(tb testing.TB) *Issuer {
	tb.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		tb.Fatal(err)
	}
	srv := &oidctest.Server{PublicKeys: []oidctest.PublicKey{{PublicKey: key.Public(), KeyID: "test-key", Algorithm: oidc.RS256}}}
	ts := httptest.NewServer(srv)
	tb.Cleanup(ts.Close)
	srv.SetIssuer(ts.URL)
	return &Issuer{URL: ts.URL, key: key}
}

// Token signs an ID token whose claims are the defaults (iss the issuer,
// aud ClientID, iat now, exp in an hour) overridden by claims; a nil value
// removes a default.
func (is *Issuer) Token(tb testing.TB, claims map[string]any) string {
	tb.Helper()
	c := map[string]any{"iss": is.URL, "aud": ClientID, "exp": time.Now().Add(time.Hour).Unix(), "iat": time.Now().Unix()}
	for k, v := range claims {
		if v == nil {
			delete(c, k)
		} else {
			c[k] = v
		}
	}
	b, err := json.Marshal(c)
	if err != nil {
		tb.Fatal(err)
	}
	return oidctest.SignIDToken(is.key, "test-key", oidc.RS256, string(b))
}
