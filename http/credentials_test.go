package http_test

import (
	"context"
	"testing"
	"time"

	"github.com/parledger/parledger/domain"
	"github.com/parledger/parledger/eventstore"
	"github.com/parledger/parledger/eventstore/faulty"
	ledgerhttp "github.com/parledger/parledger/http"
	"github.com/parledger/parledger/ledger"
)

// TestCredentials checks the life of a credential over HTTP: its secret is
// recorded only as its SHA-256; it stops working the moment it expires;
// revoking it takes effect before the DELETE answers (the very next request
// is refused, every time) and is itself an event naming who revoked it and
// why.
func TestCredentials(t *testing.T) {
	f := MustOpenCampaign(t)
	admin := f.As(t, f.HomeAffairs)
	issue := func(id, ttl string) (secret, tokenID string) {
		var tok struct{ TokenID, Secret string }
		admin.Must(201, "POST", "/api/v1/tokens", map[string]any{"principal": map[string]string{"id": id, "role": "unit", "scope": "001"}, "ttl": ttl}).JSON(t, &tok)
		return tok.Secret, tok.TokenID
	}
	lastEvent := func() eventstore.Event {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		for e, err := range f.Store.ReadAll(ctx, eventstore.ReadAllOptions{Direction: eventstore.Backwards, FromEnd: true, Limit: 1}) {
			if err != nil {
				t.Fatal(err)
			}
			return e
		}
		t.Fatal("empty log")
		return eventstore.Event{}
	}

	t.Run("StoredHashed", func(t *testing.T) {
		secret, id := issue("to-cong-tac-001-moi", "24h")
		e := lastEvent()
		rec, err := ledger.Decode(e)
		if err != nil {
			t.Fatal(err)
		}
		ti, ok := rec.Event.(*domain.TokenIssued)
		if !ok || ti.TokenID != id || ti.SecretSHA != ledger.HashSecret(secret) {
			t.Fatalf("the issue is recorded as %s %+v", e.Type, rec.Event)
		}
		if len(secret) < 40 || secret[:4] != ledger.TokenPrefix {
			t.Errorf("secret %q… is not a %s secret of 32 random bytes", secret[:8], ledger.TokenPrefix)
		}
	})

	t.Run("ErrExpired", func(t *testing.T) {
		secret, _ := issue("to-cong-tac-tam-thoi", "1s")
		f.As(t, secret).Must(200, "GET", "/api/v1/whoami", nil)
		time.Sleep(1100 * time.Millisecond)
		f.As(t, secret).Must(401, "GET", "/api/v1/whoami", nil)
	})

	t.Run("ErrRevokedImmediately", func(t *testing.T) {
		for i := range 20 {
			secret, id := issue("to-cong-tac-thu-hoi", "24h")
			f.As(t, secret).Must(200, "GET", "/api/v1/whoami", nil)
			admin.Must(200, "DELETE", "/api/v1/tokens/"+id+"?reason=C%C3%A1n+b%E1%BB%99+chuy%E1%BB%83n+c%C3%B4ng+t%C3%A1c", nil)
			if r := f.As(t, secret).Do("POST", f.A001+"/self-scores", map[string]any{"scores": []map[string]any{{"item": "1.2", "points": "7"}}}); r.Status != 401 {
				t.Fatalf("round %d: the request right after the revocation answered %d", i, r.Status)
			}
			e := lastEvent()
			rec, err := ledger.Decode(e)
			if err != nil {
				t.Fatal(err)
			}
			if tr, ok := rec.Event.(*domain.TokenRevoked); !ok || tr.TokenID != id || e.Actor.ID != "snv-quan-tri" || e.Reason != "Cán bộ chuyển công tác" {
				t.Fatalf("the revocation is recorded as %s by %+v because %q", e.Type, e.Actor, e.Reason)
			}
		}
		// Revoking twice is a conflict, and records nothing.
		_, id := issue("to-cong-tac-hai-lan", "1h")
		admin.Must(200, "DELETE", "/api/v1/tokens/"+id, nil)
		before := f.Head(t)
		admin.Must(409, "DELETE", "/api/v1/tokens/"+id, nil)
		if after := f.Head(t); after != before {
			t.Errorf("a second revocation moved the log from %d to %d", before, after)
		}
	})
}

// TestRevocationWhileLagging revokes credentials while the projections
// lag well behind the log (each event delivered 300 ms late, longer than
// the server's wait for read-your-writes): the DELETE still answers only
// once the revocation is in force, so the very next request is refused.
func TestRevocationWhileLagging(t *testing.T) {
	var fs *faulty.Store
	f := mustOpenCampaignOn(t, func(s eventstore.Store) eventstore.Store {
		fs = faulty.Wrap(s)
		return fs
	})
	srv := ledgerhttp.NewServer()
	srv.Addr = "127.0.0.1:0"
	srv.Service, srv.Blobs, srv.Board, srv.Tokens = f.Service, f.Blobs, f.Board, f.Tokens
	srv.Runner, srv.History, srv.Logger = f.Runner, f.History, f.Server.Logger
	srv.WriteWait = 50 * time.Millisecond
	if err := srv.Open(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Close(t.Context()) })
	ts := *f.TestServer
	ts.Server = srv
	secret, id := f.mustIssue(t, domain.Principal{ID: "to-cong-tac-001-cu", Role: domain.RoleUnit, Scope: "001"})
	ts.As(t, secret).Must(200, "GET", "/api/v1/whoami", nil)

	fs.DelayDeliveries(300 * time.Millisecond)
	defer fs.DelayDeliveries(0)
	ts.As(t, f.HomeAffairs).Must(200, "DELETE", "/api/v1/tokens/"+id, nil)
	if r := ts.As(t, secret).Do("GET", "/api/v1/whoami", nil); r.Status != 401 {
		t.Errorf("right after its revocation was acknowledged, the credential answered %d", r.Status)
	}
}
