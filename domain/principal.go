package domain

import (
	"fmt"
	"regexp"
)

// Role is what a principal may do.
type Role string

// The roles of a PAR campaign.
const (
	// RoleUnit scores its own unit (scope: the unit code).
	RoleUnit Role = "unit"
	// RoleAppraiser appraises the items of its agency's areas (scope: the
	// agency code, e.g. "STP").
	RoleAppraiser Role = "appraiser"
	// RoleHomeAffairs runs the campaign (Sở Nội vụ).
	RoleHomeAffairs Role = "home-affairs"
	// RoleCouncil is the appraisal council: resolves explanations.
	RoleCouncil Role = "council"
	// RoleInstitute records survey scores.
	RoleInstitute Role = "institute"
	// RoleAuditor reads everything and writes nothing.
	RoleAuditor Role = "auditor"
	// RolePublic is the anonymous reader of published results.
	RolePublic Role = "public"
	// RoleSystem is parledger itself, for what it records on its own
	// (published checkpoints). No credential carries it.
	RoleSystem Role = "system"
)

// System is the principal of what the server records on its own.
var System = Principal{ID: "parledger", Role: RoleSystem}

// Roles lists the roles that credentials can carry.
var Roles = []Role{RoleUnit, RoleAppraiser, RoleHomeAffairs, RoleCouncil, RoleInstitute, RoleAuditor}

// Valid reports whether r is a role credentials can carry.
func (r Role) Valid() bool {
	for _, x := range Roles {
		if r == x {
			return true
		}
	}
	return false
}

// NeedsScope reports whether principals of role r act within a scope.
func (r Role) NeedsScope() bool { return r == RoleUnit || r == RoleAppraiser }

// Principal is the authenticated actor behind a request, recorded on every
// event it causes.
type Principal struct {
	// ID names the credential's holder, e.g. "snv-nguyen-van-a".
	ID string `json:"id"`
	// Role is what the principal may do.
	Role Role `json:"role"`
	// Scope is the unit code (role unit) or agency code (role appraiser).
	Scope string `json:"scope,omitempty"`
}

// Anonymous is the principal of a request without credentials.
var Anonymous = Principal{ID: "anonymous", Role: RolePublic}

var (
	unitCodePattern   = regexp.MustCompile(`^[A-Z0-9]{1,16}$`)
	campaignIDPattern = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,63}$`)
	principalIDRe     = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._@-]{0,127}$`)
)

// ValidatePrincipal checks a principal before credentials are issued to it.
func ValidatePrincipal(p Principal) error {
	var fields []FieldError
	if !principalIDRe.MatchString(p.ID) {
		fields = append(fields, FieldError{"id", "must be 1 to 128 letters, digits or . _ @ -, starting with a letter or digit"})
	}
	if !p.Role.Valid() {
		fields = append(fields, FieldError{"role", fmt.Sprintf("unknown role %q; use one of %v", p.Role, Roles)})
	}
	switch {
	case p.Role.NeedsScope() && !unitCodePattern.MatchString(p.Scope):
		fields = append(fields, FieldError{"scope", fmt.Sprintf("role %s needs a scope: a unit or agency code of 1 to 16 capital letters or digits", p.Role)})
	case !p.Role.NeedsScope() && p.Scope != "":
		fields = append(fields, FieldError{"scope", fmt.Sprintf("role %s has no scope", p.Role)})
	}
	if len(fields) > 0 {
		return Invalid("The principal is not valid.", fields...)
	}
	return nil
}

// forbidden returns an EFORBIDDEN error for p.
func forbidden(p Principal, format string, args ...any) *Error {
	return Errorf(EFORBIDDEN, "%s (%s%s) may not %s.", p.ID, p.Role, scopeSuffix(p), fmt.Sprintf(format, args...))
}

func scopeSuffix(p Principal) string {
	if p.Scope == "" {
		return ""
	}
	return " " + p.Scope
}

// require returns EFORBIDDEN unless p has one of the roles.
func require(p Principal, action string, roles ...Role) error {
	for _, r := range roles {
		if p.Role == r {
			return nil
		}
	}
	return forbidden(p, "%s", action)
}
