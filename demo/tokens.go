package demo

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/parledger/parledger/domain"
	"github.com/parledger/parledger/ledger"
)

// DemoTokenTTL is how long the demo's credentials stay valid, in real
// time.
const DemoTokenTTL = 30 * 24 * time.Hour

// DemoToken is a credential issued for trying the demo. Secret is shown
// once; the ledger keeps only its hash.
type DemoToken struct {
	Role        domain.Role
	Scope       string
	PrincipalID string
	Name        string
	Secret      string
	ExpiresAt   time.Time
}

// tokenUnits are the units that get a credential: a department and two
// districts.
var tokenUnits = []string{"SNV", "001", "005"}

// IssueDemoTokens issues one credential, valid for 30 days of real time,
// to each role of the demo: Home Affairs, the council, the survey
// institute, an auditor, every appraising agency of the demo frameworks,
// and the units SNV, 001 and 005. It acts as the demo's Home Affairs
// principal. The TokenIssued events carry svc's clock time: with the demo's
// service, call it after Load, so that they follow the campaign on the
// simulated clock (Load refuses a ledger holding events recorded after
// Start). It stops at the first error and returns the tokens issued until
// then.
func IssueDemoTokens(ctx context.Context, svc *ledger.Service) ([]DemoToken, error) {
	agencies, err := appraisingAgencies()
	if err != nil {
		return nil, err
	}
	type grant struct {
		p    domain.Principal
		name string
	}
	grants := []grant{
		{HomeAffairs, "Sở Nội vụ - Phòng Cải cách hành chính"},
		{Council, "Hội đồng thẩm định Chỉ số CCHC"},
		{Institute, "Viện Nghiên cứu phát triển kinh tế - xã hội Hà Nội"},
		{Auditor, "Thanh tra, kiểm toán (chỉ đọc)"},
	}
	for _, a := range agencies {
		grants = append(grants, grant{AppraiserPrincipal(a), "Thẩm định - " + agencyName(a)})
	}
	names := map[string]string{}
	for _, u := range Units() {
		names[u.Code] = u.Name
	}
	for _, code := range tokenUnits {
		grants = append(grants, grant{UnitPrincipal(code), "Tổ công tác - " + names[code]})
	}
	out := make([]DemoToken, 0, len(grants))
	for _, g := range grants {
		tok, err := svc.IssueToken(ctx, req(HomeAffairs), g.p, g.name, DemoTokenTTL)
		if err != nil {
			return out, fmt.Errorf("demo: issue a credential to %s: %w", g.p.ID, err)
		}
		out = append(out, DemoToken{Role: g.p.Role, Scope: g.p.Scope, PrincipalID: g.p.ID, Name: g.name, Secret: tok.Secret, ExpiresAt: tok.ExpiresAt})
	}
	return out, nil
}

// appraisingAgencies returns the agencies that appraise items of the demo
// frameworks, sorted.
func appraisingAgencies() ([]string, error) {
	fws, err := Frameworks()
	if err != nil {
		return nil, err
	}
	var out []string
	for _, f := range fws {
		for _, n := range f.Leaves() {
			if n.Method != domain.MethodSelf && n.Method != domain.MethodHigherLevel {
				continue
			}
			if a := f.LeafAgency(n.Code); !slices.Contains(out, a) {
				out = append(out, a)
			}
		}
	}
	slices.Sort(out)
	return out, nil
}
