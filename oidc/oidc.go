// Package oidc lets a deployment with an identity provider sign people in
// with OpenID Connect: it verifies the provider's ID tokens (signature,
// issuer, audience, expiry) with github.com/coreos/go-oidc and maps their
// claims to a parledger principal, a role and a scope, by configuration.
//
// # Mapping claims
//
// A principal's id comes from IDClaim ("sub" unless set). Its role and
// scope come, in this order, from:
//
//   - Groups: the first value of the GroupsClaim (a string or a list of
//     strings) that the Groups table names, each mapped to a role and a
//     scope, e.g. "/ubnd-ba-dinh/to-cong-tac" to unit 001;
//   - RoleClaim and ScopeClaim, when the provider carries parledger's own
//     role names ("unit", "appraiser", ...) and unit or agency codes.
//
// A token that verifies but maps to no valid principal is refused as
// forbidden: the person is known, but has no place in parledger.
package oidc

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/coreos/go-oidc/v3/oidc"

	"github.com/parledger/parledger/domain"
)

// Config configures an Authenticator; it is read from a JSON file by
// LoadConfig.
type Config struct {
	// Issuer is the provider's issuer URL; its discovery document is at
	// Issuer + "/.well-known/openid-configuration".
	Issuer string `json:"issuer"`
	// ClientID is parledger's client id at the provider: tokens must name
	// it as their audience.
	ClientID string `json:"clientId"`
	// IDClaim names the claim that identifies the person ("sub" if empty).
	IDClaim string `json:"idClaim,omitempty"`
	// RoleClaim and ScopeClaim name claims holding a parledger role and
	// scope directly (optional).
	RoleClaim  string `json:"roleClaim,omitempty"`
	ScopeClaim string `json:"scopeClaim,omitempty"`
	// GroupsClaim names a claim holding the person's groups ("groups" if
	// empty); Groups maps group names to a role and a scope.
	GroupsClaim string               `json:"groupsClaim,omitempty"`
	Groups      map[string]GroupRole `json:"groups,omitempty"`
}

// GroupRole is the role, and the scope for roles that have one, that a
// group of the identity provider grants.
type GroupRole struct {
	Role  domain.Role `json:"role"`
	Scope string      `json:"scope,omitempty"`
}

// LoadConfig reads a JSON configuration file and validates it.
func LoadConfig(path string) (Config, error) {
	f, err := os.Open(path)
	if err != nil {
		return Config{}, fmt.Errorf("oidc: %w", err)
	}
	defer f.Close()
	var c Config
	dec := json.NewDecoder(io.LimitReader(f, 1<<20))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&c); err != nil {
		return Config{}, fmt.Errorf("oidc: %s: %w", path, err)
	}
	return c, c.Validate()
}

// Validate reports every problem of the configuration at once.
func (c Config) Validate() error {
	var errs []error
	if !strings.HasPrefix(c.Issuer, "https://") && !strings.HasPrefix(c.Issuer, "http://127.0.0.1") && !strings.HasPrefix(c.Issuer, "http://localhost") {
		errs = append(errs, fmt.Errorf("oidc: issuer %q must be an https:// URL", c.Issuer))
	}
	if c.ClientID == "" {
		errs = append(errs, errors.New("oidc: clientId is empty"))
	}
	if c.RoleClaim == "" && len(c.Groups) == 0 {
		errs = append(errs, errors.New("oidc: set roleClaim or groups, or no token can map to a role"))
	}
	for g, r := range c.Groups {
		if err := domain.ValidatePrincipal(domain.Principal{ID: "x", Role: r.Role, Scope: r.Scope}); err != nil {
			errs = append(errs, fmt.Errorf("oidc: group %q: %v", g, domain.ErrorMessage(err)+fieldText(err)))
		}
		if r.Role == domain.RolePublic {
			errs = append(errs, fmt.Errorf("oidc: group %q maps to the anonymous public", g))
		}
	}
	return errors.Join(errs...)
}

func fieldText(err error) string {
	var de *domain.Error
	if !errors.As(err, &de) {
		return ""
	}
	var b strings.Builder
	for _, f := range de.Fields {
		fmt.Fprintf(&b, " %s %s;", f.Field, f.Detail)
	}
	return b.String()
}

// Authenticator verifies ID tokens of one provider and maps them to
// principals. It is safe for concurrent use.
type Authenticator struct {
	cfg      Config
	verifier *oidc.IDTokenVerifier
}

// New fetches the provider's discovery document and returns an
// Authenticator for it; the provider's signing keys are fetched when a
// token needs them, and again when the provider rotates them.
func New(ctx context.Context, cfg Config) (*Authenticator, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	p, err := oidc.NewProvider(ctx, cfg.Issuer)
	if err != nil {
		return nil, fmt.Errorf("oidc: discover %s: %w", cfg.Issuer, err)
	}
	if cfg.IDClaim == "" {
		cfg.IDClaim = "sub"
	}
	if cfg.GroupsClaim == "" {
		cfg.GroupsClaim = "groups"
	}
	// The verifier outlives ctx: it fetches keys with a context of its own.
	return &Authenticator{cfg: cfg, verifier: p.VerifierContext(context.WithoutCancel(ctx), &oidc.Config{ClientID: cfg.ClientID})}, nil
}

// Authenticate verifies an ID token and returns its principal. A token
// that does not verify (signature, issuer, audience, expiry) is an
// EUNAUTHORIZED error; one that verifies but maps to no valid principal is
// EFORBIDDEN. Neither message repeats the token.
func (a *Authenticator) Authenticate(ctx context.Context, rawToken string) (domain.Principal, error) {
	tok, err := a.verifier.Verify(ctx, rawToken)
	if err != nil {
		var expired *oidc.TokenExpiredError
		if errors.As(err, &expired) {
			return domain.Principal{}, domain.Errorf(domain.EUNAUTHORIZED, "The identity provider's token has expired; sign in again.")
		}
		return domain.Principal{}, domain.Errorf(domain.EUNAUTHORIZED, "The identity provider's token is not valid here (signature, issuer or audience).")
	}
	var claims map[string]any
	if err := tok.Claims(&claims); err != nil {
		return domain.Principal{}, domain.Errorf(domain.EUNAUTHORIZED, "The identity provider's token has unreadable claims.")
	}
	return a.principal(claims)
}

// principal maps verified claims to a principal.
func (a *Authenticator) principal(claims map[string]any) (domain.Principal, error) {
	id, _ := claims[a.cfg.IDClaim].(string)
	p := domain.Principal{ID: id}
	mapped := false
	for _, g := range stringsOf(claims[a.cfg.GroupsClaim]) {
		if r, ok := a.cfg.Groups[g]; ok {
			p.Role, p.Scope, mapped = r.Role, r.Scope, true
			break
		}
	}
	if !mapped && a.cfg.RoleClaim != "" {
		role, _ := claims[a.cfg.RoleClaim].(string)
		p.Role, mapped = domain.Role(role), role != ""
		if a.cfg.ScopeClaim != "" {
			p.Scope, _ = claims[a.cfg.ScopeClaim].(string)
		}
	}
	if !mapped {
		return domain.Principal{}, domain.Errorf(domain.EFORBIDDEN, "%s is signed in with the identity provider but has no role in parledger; ask Home Affairs to add one.", safeID(id))
	}
	if p.Role == domain.RolePublic {
		return domain.Principal{}, domain.Errorf(domain.EFORBIDDEN, "%s maps to no role in parledger.", safeID(id))
	}
	if err := domain.ValidatePrincipal(p); err != nil {
		return domain.Principal{}, domain.Errorf(domain.EFORBIDDEN, "The identity provider's claims for %s do not make a parledger principal:%s", safeID(id), fieldText(err))
	}
	return p, nil
}

// stringsOf reads a claim that is a string or a list of strings.
func stringsOf(v any) []string {
	switch x := v.(type) {
	case string:
		return []string{x}
	case []any:
		out := make([]string, 0, len(x))
		for _, e := range x {
			if s, ok := e.(string); ok {
				out = append(out, s)
			}
		}
		return out
	}
	return nil
}

// safeID writes a claimed id for a message: at most 64 characters.
func safeID(id string) string {
	if id == "" {
		return "The person"
	}
	if r := []rune(id); len(r) > 64 {
		return string(r[:64]) + "…"
	}
	return id
}
