package http_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/parledger/parledger/domain"
	"github.com/parledger/parledger/eventstore"
	"github.com/parledger/parledger/ledger"
)

// TestSecretsNeverLeak issues credentials, uses them rightly and wrongly
// (revoked, expired, mistyped, in the wrong header, for forbidden
// requests, with bodies that fail), then looks for every secret in
// everything the server gave away: every response body and header, the
// server's log, its metrics, the token list and the ledger itself. None
// may appear anywhere, not even cut short; the ledger holds only their
// SHA-256.
func TestSecretsNeverLeak(t *testing.T) {
	f := MustOpenCampaign(t)
	admin := f.As(t, f.HomeAffairs)
	var seen strings.Builder
	keep := func(r Response) Response {
		fmt.Fprintf(&seen, "%d %v\n%s\n", r.Status, r.Header, r.Body)
		return r
	}

	// Credentials issued over HTTP, one of them revoked and one expired.
	var issued []string
	var ids []string
	for i, ttl := range []string{"24h", "24h", "1s"} {
		var tok struct{ TokenID, Secret string }
		admin.Must(201, "POST", "/api/v1/tokens", map[string]any{"principal": map[string]string{"id": fmt.Sprintf("kiem-toan-%d", i), "role": "auditor"}, "ttl": ttl}).JSON(t, &tok)
		issued, ids = append(issued, tok.Secret), append(ids, tok.TokenID)
	}
	keep(admin.Must(200, "DELETE", "/api/v1/tokens/"+ids[1]+"?reason=Thu+h%E1%BB%93i", nil))
	time.Sleep(1100 * time.Millisecond) // the third expires
	secrets := append([]string{f.Unit001, f.Unit005, f.AppraiserSNV, f.AppraiserSTP, f.HomeAffairs, f.Council, f.Institute, f.Auditor}, issued...)

	for _, s := range secrets {
		c := f.As(t, s)
		keep(c.Do("GET", "/api/v1/whoami", nil))
		keep(c.Do("GET", f.A001, nil))
		keep(c.Do("POST", f.A001+"/self-scores", `{"scores":[{"item":"1.2","points":"x`+s+`"}]}`))
		keep(c.Do("POST", f.A005+"/appraisals", map[string]any{"round": 1, "scores": []map[string]any{{"item": "2.1", "points": "1"}}}))
		keep(c.Do("GET", "/api/v1/tokens", nil))
		// Mistyped, in the wrong scheme, in the wrong header.
		keep(f.As(t, s[:len(s)-1]+"x").Do("GET", "/api/v1/whoami", nil))
		keep(f.Anonymous(t).Do("GET", "/api/v1/whoami", nil, "Authorization", "Basic "+s))
		keep(f.Anonymous(t).Do("GET", "/api/v1/whoami", nil, "Authorization", "Bearer  "+s+" extra"))
		keep(f.Anonymous(t).Do("GET", "/api/v1/whoami?token="+s, nil))
		keep(f.Anonymous(t).Do("GET", "/api/v1/no-such-route/"+s, nil))
	}
	if r := f.As(t, issued[1]).Do("GET", "/api/v1/whoami", nil); r.Status != 401 {
		t.Errorf("the revoked credential answered %d", r.Status)
	}
	if r := f.As(t, issued[2]).Do("GET", "/api/v1/whoami", nil); r.Status != 401 {
		t.Errorf("the expired credential answered %d", r.Status)
	}
	keep(admin.Must(200, "GET", "/api/v1/tokens", nil))
	keep(f.Anonymous(t).Must(200, "GET", "/metrics", nil))

	// The ledger holds each secret's hash and never the secret.
	var ledgerText strings.Builder
	hashes := map[string]bool{}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for e, err := range f.Store.ReadAll(ctx, eventstore.ReadAllOptions{}) {
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(&ledgerText, "%s %v %s %s\n", e.Payload, e.Metadata, e.Reason, e.CorrelationID)
		rec, err := ledger.Decode(e)
		if err != nil {
			t.Fatal(err)
		}
		if ti, ok := rec.Event.(*domain.TokenIssued); ok {
			hashes[ti.SecretSHA] = true
		}
	}
	for _, s := range secrets {
		if !hashes[ledger.HashSecret(s)] {
			t.Errorf("the ledger does not hold the hash of a secret (%s…)", s[:8])
		}
	}
	for where, text := range map[string]string{"responses": seen.String(), "server log": f.logs.String(), "ledger": ledgerText.String()} {
		for _, s := range secrets {
			// Any 24 characters of it are too many: "plt_" and 20 of its
			// random part.
			if i := strings.Index(text, s[:24]); i >= 0 {
				t.Errorf("a secret (%s…) appears in the %s: …%s…", s[:8], where, text[max(0, i-300):min(len(text), i+80)])
			}
		}
	}
	t.Logf("%d secrets; %d bytes of responses, %d of log and %d of ledger searched: none holds a secret", len(secrets), seen.Len(), len(f.logs.String()), ledgerText.Len())
}
