package http_test

import (
	"context"
	"testing"
	"time"

	"github.com/parledger/parledger/domain"
	"github.com/parledger/parledger/eventstore"
	ledgerhttp "github.com/parledger/parledger/http"
	"github.com/parledger/parledger/oidc"
	"github.com/parledger/parledger/oidc/testissuer"
)

// TestOIDC serves the API with OpenID Connect sign-in against a local test
// issuer: an ID token whose groups map to unit 001 writes 001's scores
// (recorded with the provider's user as actor) and is refused on another
// unit's; expired, forged and unmapped tokens are refused; parledger's
// own credentials keep working beside it.
func TestOIDC(t *testing.T) {
	f := MustOpenCampaign(t)
	is := testissuer.Start(t)
	auth, err := oidc.New(context.Background(), oidc.Config{
		Issuer: is.URL, ClientID: testissuer.ClientID, IDClaim: "preferred_username", RoleClaim: "parledger_role", ScopeClaim: "parledger_scope",
		Groups: map[string]oidc.GroupRole{"/ubnd-ba-dinh/to-cong-tac": {Role: domain.RoleUnit, Scope: "001"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	srv := ledgerhttp.NewServer()
	srv.Addr = "127.0.0.1:0"
	srv.Service, srv.Blobs, srv.Board, srv.Tokens = f.Service, f.Blobs, f.Board, f.Tokens
	srv.Runner, srv.History, srv.Logger, srv.OIDC = f.Runner, f.History, f.Server.Logger, auth
	if err := srv.Open(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Close(t.Context()) })
	// The fixture's client, pointed at this server.
	ts := *f.TestServer
	ts.Server = srv
	as := func(token string) Client { return ts.As(t, token) }

	unit := is.Token(t, map[string]any{"preferred_username": "nguyen.van.a", "groups": []string{"/ubnd-ba-dinh/to-cong-tac"}})
	var p domain.Principal
	as(unit).Must(200, "GET", "/api/v1/whoami", nil).JSON(t, &p)
	if p != (domain.Principal{ID: "nguyen.van.a", Role: domain.RoleUnit, Scope: "001"}) {
		t.Errorf("whoami = %+v", p)
	}
	w := as(unit).Must(201, "POST", f.A001+"/self-scores", map[string]any{"scores": []map[string]any{{"item": "1.2", "points": "7", "note": "Biên bản kiểm tra"}}})
	var wr struct{ Events []struct{ Position uint64 } }
	w.JSON(t, &wr)
	pos := eventstore.Position(wr.Events[0].Position)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for e, err := range f.Store.ReadAll(ctx, eventstore.ReadAllOptions{From: pos, Limit: 1}) {
		if err != nil {
			t.Fatal(err)
		}
		if e.Actor != (eventstore.Actor{ID: "nguyen.van.a", Role: "unit", Scope: "001"}) {
			t.Errorf("the write is recorded as %+v", e.Actor)
		}
	}

	before := f.Head(t)
	for _, tc := range []struct {
		name, token, path string
		status            int
	}{
		{"ErrOtherUnit", unit, f.A005 + "/self-scores", 403},
		{"ErrExpired", is.Token(t, map[string]any{"preferred_username": "nguyen.van.a", "groups": []string{"/ubnd-ba-dinh/to-cong-tac"}, "exp": time.Now().Add(-time.Minute).Unix()}), f.A001 + "/self-scores", 401},
		{"ErrOtherAudience", is.Token(t, map[string]any{"preferred_username": "nguyen.van.a", "groups": []string{"/ubnd-ba-dinh/to-cong-tac"}, "aud": "khac"}), f.A001 + "/self-scores", 401},
		{"ErrNoRole", is.Token(t, map[string]any{"preferred_username": "tran.b"}), f.A001 + "/self-scores", 403},
		{"ErrAuditorWrites", is.Token(t, map[string]any{"preferred_username": "kiem.toan", "parledger_role": "auditor"}), f.A001 + "/self-scores", 403},
		{"ErrGarbage", "eyJhbGciOiJSUzI1NiJ9.e30.c2lnbmF0dXJl", f.A001 + "/self-scores", 401},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := as(tc.token).Do("POST", tc.path, map[string]any{"scores": []map[string]any{{"item": "1.2", "points": "6"}}})
			if r.Status != tc.status {
				t.Errorf("status %d, want %d: %s", r.Status, tc.status, r.Body)
			}
			if _, err := problemOf(r); err != nil {
				t.Error(err)
			}
		})
	}
	if after := f.Head(t); after != before {
		t.Errorf("refused requests moved the log from %d to %d", before, after)
	}
	as(f.Auditor).Must(200, "GET", "/api/v1/whoami", nil)
}
