package oidc_test

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"strings"
	"testing"
	"time"

	gooidc "github.com/coreos/go-oidc/v3/oidc"
	"github.com/coreos/go-oidc/v3/oidc/oidctest"

	"github.com/parledger/parledger/domain"
	"github.com/parledger/parledger/oidc"
	"github.com/parledger/parledger/oidc/testissuer"
)

func testConfig(issuer string) oidc.Config {
	return oidc.Config{
		Issuer: issuer, ClientID: "parledger", IDClaim: "preferred_username",
		RoleClaim: "parledger_role", ScopeClaim: "parledger_scope",
		Groups: map[string]oidc.GroupRole{
			"/ubnd-ba-dinh/to-cong-tac": {Role: domain.RoleUnit, Scope: "001"},
			"/so-noi-vu/quan-tri":       {Role: domain.RoleHomeAffairs},
		},
	}
}

// TestAuthenticate verifies tokens of a local issuer and maps their claims.
func TestAuthenticate(t *testing.T) {
	is := testissuer.Start(t)
	ctx := context.Background()
	a, err := oidc.New(ctx, testConfig(is.URL))
	if err != nil {
		t.Fatal(err)
	}
	other, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	forged := oidctest.SignIDToken(other, "test-key", gooidc.RS256, `{"iss":"`+is.URL+`","aud":"parledger","exp":`+jsonNum(time.Now().Add(time.Hour).Unix())+`,"preferred_username":"ke-gia-mao","parledger_role":"home-affairs"}`)

	for _, tc := range []struct {
		name  string
		token string
		want  domain.Principal
		code  string
	}{
		{name: "OK/Groups", token: is.Token(t, map[string]any{"preferred_username": "nguyen.van.a", "groups": []string{"/khac", "/ubnd-ba-dinh/to-cong-tac"}}),
			want: domain.Principal{ID: "nguyen.van.a", Role: domain.RoleUnit, Scope: "001"}},
		{name: "OK/GroupString", token: is.Token(t, map[string]any{"preferred_username": "tran.thi.b", "groups": "/so-noi-vu/quan-tri"}),
			want: domain.Principal{ID: "tran.thi.b", Role: domain.RoleHomeAffairs}},
		{name: "OK/RoleClaim", token: is.Token(t, map[string]any{"preferred_username": "le.van.c", "parledger_role": "appraiser", "parledger_scope": "SNV"}),
			want: domain.Principal{ID: "le.van.c", Role: domain.RoleAppraiser, Scope: "SNV"}},
		{name: "ErrExpired", token: is.Token(t, map[string]any{"preferred_username": "a", "parledger_role": "auditor", "exp": time.Now().Add(-time.Minute).Unix()}), code: domain.EUNAUTHORIZED},
		{name: "ErrAudience", token: is.Token(t, map[string]any{"preferred_username": "a", "parledger_role": "auditor", "aud": "ung-dung-khac"}), code: domain.EUNAUTHORIZED},
		{name: "ErrIssuer", token: is.Token(t, map[string]any{"preferred_username": "a", "parledger_role": "auditor", "iss": "https://idp.example"}), code: domain.EUNAUTHORIZED},
		{name: "ErrForgedSignature", token: forged, code: domain.EUNAUTHORIZED},
		{name: "ErrNotAToken", token: "eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.", code: domain.EUNAUTHORIZED},
		{name: "ErrNoRole", token: is.Token(t, map[string]any{"preferred_username": "a", "groups": []string{"/khac"}}), code: domain.EFORBIDDEN},
		{name: "ErrUnknownRole", token: is.Token(t, map[string]any{"preferred_username": "a", "parledger_role": "giam-doc"}), code: domain.EFORBIDDEN},
		{name: "ErrUnitWithoutScope", token: is.Token(t, map[string]any{"preferred_username": "a", "parledger_role": "unit"}), code: domain.EFORBIDDEN},
		{name: "ErrPublicRole", token: is.Token(t, map[string]any{"preferred_username": "a", "parledger_role": "public"}), code: domain.EFORBIDDEN},
		{name: "ErrNoID", token: is.Token(t, map[string]any{"parledger_role": "auditor"}), code: domain.EFORBIDDEN},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, err := a.Authenticate(ctx, tc.token)
			if tc.code != "" {
				if domain.ErrorCode(err) != tc.code {
					t.Fatalf("got %+v, %v; want %s", p, err, tc.code)
				}
				if strings.Contains(domain.ErrorMessage(err), tc.token[:20]) {
					t.Errorf("the error repeats the token: %v", err)
				}
				return
			}
			if err != nil || p != tc.want {
				t.Fatalf("got %+v, %v; want %+v", p, err, tc.want)
			}
		})
	}
}

func jsonNum(n int64) string { b, _ := json.Marshal(n); return string(b) }

// TestConfig checks the configuration's validation and file form.
func TestConfig(t *testing.T) {
	err := oidc.Config{Issuer: "http://idp.example", Groups: map[string]oidc.GroupRole{"g": {Role: "unit"}, "h": {Role: "public"}}}.Validate()
	for _, want := range []string{"https://", "clientId", `group "g"`, `group "h"`} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Validate = %v, want it to mention %s", err, want)
		}
	}
	if err := testConfig("https://id.hanoi.gov.vn/realms/par").Validate(); err != nil {
		t.Errorf("a good configuration: %v", err)
	}
	if _, err := oidc.New(context.Background(), testConfig("http://127.0.0.1:1")); err == nil {
		t.Errorf("New with an unreachable issuer succeeded")
	}
}
