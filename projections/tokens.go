package projections

import (
	"crypto/subtle"
	"sync"
	"time"

	"github.com/parledger/parledger/domain"
	"github.com/parledger/parledger/ledger"
)

// Tokens is the read model of credentials: issued, not revoked, not
// expired. Only the SHA-256 of each secret is known. It is safe for
// concurrent use.
type Tokens struct {
	mu       sync.RWMutex
	byHash   map[string]*Token
	byID     map[string]*Token
	ordering []string
}

// Token is a credential as the ledger records it.
type Token struct {
	ID        string           `json:"id"`
	Principal domain.Principal `json:"principal"`
	Name      string           `json:"name,omitempty"`
	IssuedAt  time.Time        `json:"issuedAt"`
	IssuedBy  string           `json:"issuedBy"`
	ExpiresAt time.Time        `json:"expiresAt"`
	Revoked   bool             `json:"revoked"`
	RevokedAt time.Time        `json:"revokedAt,omitzero"`
	hash      string
}

// NewTokens returns an empty credentials model.
func NewTokens() *Tokens {
	return &Tokens{byHash: make(map[string]*Token), byID: make(map[string]*Token)}
}

// Apply folds one event in.
func (t *Tokens) Apply(r domain.Recorded) {
	switch e := r.Event.(type) {
	case *domain.TokenIssued:
		t.mu.Lock()
		tok := &Token{ID: e.TokenID, Principal: e.Principal, Name: e.Name, IssuedAt: r.At, IssuedBy: r.Actor.ID, ExpiresAt: e.ExpiresAt, hash: e.SecretSHA}
		t.byHash[e.SecretSHA] = tok
		t.byID[e.TokenID] = tok
		t.ordering = append(t.ordering, e.TokenID)
		t.mu.Unlock()
	case *domain.TokenRevoked:
		t.mu.Lock()
		if tok := t.byID[e.TokenID]; tok != nil {
			tok.Revoked, tok.RevokedAt = true, r.At
		}
		t.mu.Unlock()
	}
}

// Authenticate returns the principal of a secret valid at now. The secret
// is hashed before lookup and the stored hash compared in constant time.
func (t *Tokens) Authenticate(secret string, now time.Time) (domain.Principal, string, bool) {
	h := ledger.HashSecret(secret)
	t.mu.RLock()
	tok := t.byHash[h]
	t.mu.RUnlock()
	if tok == nil || subtle.ConstantTimeCompare([]byte(tok.hash), []byte(h)) != 1 {
		return domain.Principal{}, "", false
	}
	if tok.Revoked || !now.Before(tok.ExpiresAt) {
		return domain.Principal{}, tok.ID, false
	}
	return tok.Principal, tok.ID, true
}

// Get returns a credential by id.
func (t *Tokens) Get(id string) (Token, bool) {
	t.mu.RLock()
	defer t.mu.RUnlock()
	tok := t.byID[id]
	if tok == nil {
		return Token{}, false
	}
	return *tok, true
}

// List returns every credential, oldest first.
func (t *Tokens) List() []Token {
	t.mu.RLock()
	defer t.mu.RUnlock()
	out := make([]Token, 0, len(t.ordering))
	for _, id := range t.ordering {
		out = append(out, *t.byID[id])
	}
	return out
}
