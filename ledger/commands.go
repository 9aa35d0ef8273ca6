package ledger

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"time"

	"github.com/parledger/parledger/domain"
	"github.com/parledger/parledger/eventstore"
)

// RegisterFramework adds a framework version to the library.
func (s *Service) RegisterFramework(ctx context.Context, req Request, f *domain.Framework) (Result, error) {
	stream := domain.FrameworkStream(f.ID)
	return s.command(ctx, req, stream, func() (uint64, bool, []domain.Decision, error) {
		rev, exists, err := s.lastRevision(ctx, stream)
		if err != nil {
			return 0, false, nil, err
		}
		latest := 0
		if exists {
			latest = int(rev) + 1 // one event per version
		}
		events, err := domain.DecideRegisterFramework(req.Principal, f, latest)
		return rev, exists, wrap(events), err
	})
}

func wrap(events []domain.Event) []domain.Decision {
	out := make([]domain.Decision, len(events))
	for i, e := range events {
		out[i] = domain.Decision{Event: e}
	}
	return out
}

// OpenCampaign opens a campaign, freezing a copy of the named framework
// version for each block.
func (s *Service) OpenCampaign(ctx context.Context, req Request, cmd domain.OpenCampaign, frameworks map[domain.Block]domain.FrameworkRef) (Result, error) {
	if err := domain.ValidateCampaignID(cmd.ID); err != nil {
		return Result{}, err
	}
	cmd.Frameworks = make(map[domain.Block]*domain.Framework, len(frameworks))
	var missing []domain.FieldError
	for b, ref := range frameworks {
		if !domain.ValidFrameworkID(ref.ID) {
			missing = append(missing, domain.FieldError{Field: "frameworks." + string(b), Detail: fmt.Sprintf("%q is not a framework id (lowercase letters, digits and '-')", ref.ID)})
			continue
		}
		versions, err := s.Frameworks(ctx, ref.ID)
		if err != nil {
			return Result{}, err
		}
		if ref.Version < 1 || ref.Version > len(versions) {
			missing = append(missing, domain.FieldError{Field: "frameworks." + string(b), Detail: "no framework " + ref.String() + " in the library"})
			continue
		}
		cmd.Frameworks[b] = versions[ref.Version-1]
	}
	if len(missing) > 0 {
		return Result{}, domain.Invalid("The campaign cannot be opened.", missing...)
	}
	stream := domain.CampaignStream(cmd.ID)
	return s.command(ctx, req, stream, func() (uint64, bool, []domain.Decision, error) {
		rev, exists, err := s.lastRevision(ctx, stream)
		if err != nil {
			return 0, false, nil, err
		}
		events, err := domain.DecideOpenCampaign(req.Principal, cmd, exists)
		return rev, exists, wrap(events), err
	})
}

// campaignCommand runs a decision on a campaign's state.
func (s *Service) campaignCommand(ctx context.Context, req Request, id string, decide func(c *domain.Campaign) ([]domain.Event, error)) (Result, error) {
	stream := domain.CampaignStream(id)
	return s.command(ctx, req, stream, func() (uint64, bool, []domain.Decision, error) {
		c, err := s.Campaign(ctx, id)
		if err != nil {
			return 0, false, nil, err
		}
		events, err := decide(c)
		return c.Revision, true, wrap(events), err
	})
}

// EnrolUnits enrols units in a campaign.
func (s *Service) EnrolUnits(ctx context.Context, req Request, campaign string, units []domain.Unit) (Result, error) {
	return s.campaignCommand(ctx, req, campaign, func(c *domain.Campaign) ([]domain.Event, error) {
		return c.DecideEnrolUnits(req.Principal, units)
	})
}

// ChangeDeadline moves a phase's deadline; reason (recorded on the event)
// says why, e.g. the request that justified an extension.
func (s *Service) ChangeDeadline(ctx context.Context, req Request, campaign string, phase domain.Phase, due domain.Date, reason string) (Result, error) {
	stream := domain.CampaignStream(campaign)
	return s.command(ctx, req, stream, func() (uint64, bool, []domain.Decision, error) {
		c, err := s.Campaign(ctx, campaign)
		if err != nil {
			return 0, false, nil, err
		}
		events, err := c.DecideChangeDeadline(req.Principal, phase, due)
		ds := wrap(events)
		for i := range ds {
			ds[i].Reason = reason
		}
		return c.Revision, true, ds, err
	})
}

// OpenExplanationWindow opens the explanation round until due.
func (s *Service) OpenExplanationWindow(ctx context.Context, req Request, campaign string, due domain.Date) (Result, error) {
	return s.campaignCommand(ctx, req, campaign, func(c *domain.Campaign) ([]domain.Event, error) {
		return c.DecideOpenExplanationWindow(req.Principal, due, s.clock())
	})
}

// Publish records the decision publishing a campaign's results; every
// assessment must be finalized.
func (s *Service) Publish(ctx context.Context, req Request, campaign, decisionNumber string, decisionDate domain.Date) (Result, error) {
	return s.campaignCommand(ctx, req, campaign, func(c *domain.Campaign) ([]domain.Event, error) {
		var unfinished []string
		if req.Principal.Role == domain.RoleHomeAffairs && c.Published == nil {
			for _, code := range c.UnitOrder {
				a, err := s.Assessment(ctx, campaign, code)
				if err != nil {
					return nil, err
				}
				if !a.Finalized {
					unfinished = append(unfinished, code)
				}
			}
		}
		return c.DecidePublish(req.Principal, decisionNumber, decisionDate, unfinished)
	})
}

// Assess runs a decision on a unit's assessment: decide receives the
// current state and the decision context (campaign, framework, principal,
// time) and returns the events to record.
func (s *Service) Assess(ctx context.Context, req Request, campaign, unit string, decide func(a *domain.Assessment, x domain.Context) ([]domain.Decision, error)) (Result, error) {
	c, err := s.Campaign(ctx, campaign)
	if err != nil {
		return Result{}, err
	}
	if _, ok := c.Units[unit]; !ok {
		return Result{}, domain.Errorf(domain.ENOTFOUND, "Unit %s is not enrolled in campaign %s.", unit, campaign)
	}
	stream := domain.AssessmentStream(campaign, unit)
	return s.command(ctx, req, stream, func() (uint64, bool, []domain.Decision, error) {
		c, err := s.Campaign(ctx, campaign)
		if err != nil {
			return 0, false, nil, err
		}
		a, err := s.Assessment(ctx, campaign, unit)
		if err != nil {
			return 0, false, nil, err
		}
		x, err := domain.NewContext(c, unit, req.Principal, s.clock())
		if err != nil {
			return 0, false, nil, err
		}
		ds, err := decide(a, x)
		return a.Revision, a.Exists, ds, err
	})
}

// IssuedToken is a new credential. Secret is shown once and never stored.
type IssuedToken struct {
	TokenID   string
	Secret    string
	Principal domain.Principal
	ExpiresAt time.Time
	Result    Result
}

// TokenPrefix starts every secret, so that a leaked one is recognisable.
const TokenPrefix = "plt_"

// HashSecret returns the SHA-256 (hex) under which a secret is recorded.
func HashSecret(secret string) string {
	h := sha256.Sum256([]byte(secret))
	return hex.EncodeToString(h[:])
}

// IssueToken creates a credential for p valid for ttl. Only Home Affairs
// (or the operator on the command line, acting as Home Affairs) may.
func (s *Service) IssueToken(ctx context.Context, req Request, p domain.Principal, name string, ttl time.Duration) (IssuedToken, error) {
	if req.Principal.Role != domain.RoleHomeAffairs {
		return IssuedToken{}, domain.Errorf(domain.EFORBIDDEN, "%s (%s) may not issue credentials.", req.Principal.ID, req.Principal.Role)
	}
	if err := domain.ValidatePrincipal(p); err != nil {
		return IssuedToken{}, err
	}
	if ttl <= 0 || ttl > 5*366*24*time.Hour {
		return IssuedToken{}, domain.Invalid("The lifetime is not valid.", domain.FieldError{Field: "ttl", Detail: "between one second and five years"})
	}
	secretBytes := make([]byte, 32)
	idBytes := make([]byte, 8)
	if _, err := rand.Read(secretBytes); err != nil {
		return IssuedToken{}, err
	}
	if _, err := rand.Read(idBytes); err != nil {
		return IssuedToken{}, err
	}
	tok := IssuedToken{
		TokenID:   hex.EncodeToString(idBytes),
		Secret:    TokenPrefix + base64.RawURLEncoding.EncodeToString(secretBytes),
		Principal: p,
		// Credentials live in real time, even in the demo's simulated 2017.
		ExpiresAt: time.Now().Add(ttl).UTC().Truncate(time.Second),
	}
	ev := &domain.TokenIssued{TokenID: tok.TokenID, SecretSHA: HashSecret(tok.Secret), Principal: p, Name: name, ExpiresAt: tok.ExpiresAt}
	req.IdempotencyKey = "" // a new secret every time
	res, err := s.command(ctx, req, domain.TokenStream, func() (uint64, bool, []domain.Decision, error) {
		rev, exists, err := s.lastRevision(ctx, domain.TokenStream)
		return rev, exists, []domain.Decision{{Event: ev}}, err
	})
	tok.Result = res
	return tok, err
}

// RevokeToken withdraws a credential at once.
func (s *Service) RevokeToken(ctx context.Context, req Request, tokenID, reason string) (Result, error) {
	if req.Principal.Role != domain.RoleHomeAffairs {
		return Result{}, domain.Errorf(domain.EFORBIDDEN, "%s (%s) may not revoke credentials.", req.Principal.ID, req.Principal.Role)
	}
	return s.command(ctx, req, domain.TokenStream, func() (uint64, bool, []domain.Decision, error) {
		rev, exists, err := s.lastRevision(ctx, domain.TokenStream)
		return rev, exists, []domain.Decision{{Event: &domain.TokenRevoked{TokenID: tokenID}, Reason: reason}}, err
	})
}

// PublishCheckpoint records a signed checkpoint as published, once per
// tree size: publishing the same size again records nothing.
func (s *Service) PublishCheckpoint(ctx context.Context, req Request, size uint64, root []byte, note []byte) (Result, error) {
	if req.Principal.Role != domain.RoleHomeAffairs && req.Principal.Role != domain.RoleSystem {
		return Result{}, domain.Errorf(domain.EFORBIDDEN, "%s (%s) may not publish checkpoints.", req.Principal.ID, req.Principal.Role)
	}
	return s.command(ctx, req, domain.CheckpointStream, func() (uint64, bool, []domain.Decision, error) {
		events, err := s.lastEvents(ctx, domain.CheckpointStream, 1)
		if err != nil {
			return 0, false, nil, err
		}
		if len(events) > 0 {
			if last, ok := events[0].Event.(*domain.CheckpointPublished); ok && last.Size == size {
				return events[0].Revision, true, nil, nil
			}
		}
		rev, exists, err := s.lastRevision(ctx, domain.CheckpointStream)
		return rev, exists, []domain.Decision{{Event: &domain.CheckpointPublished{Size: size, Root: hex.EncodeToString(root), Note: string(note)}}}, err
	})
}

// LatestCheckpoint returns the last published checkpoint, if any.
func (s *Service) LatestCheckpoint(ctx context.Context) (*domain.CheckpointPublished, error) {
	events, err := s.lastEvents(ctx, domain.CheckpointStream, 1)
	if err != nil || len(events) == 0 {
		return nil, err
	}
	cp, _ := events[0].Event.(*domain.CheckpointPublished)
	return cp, nil
}

// lastEvents reads and decodes up to n events from the end of a stream,
// newest first.
func (s *Service) lastEvents(ctx context.Context, stream string, n uint64) ([]domain.Recorded, error) {
	return s.readDecoded(ctx, stream, eventstore.ReadStreamOptions{Direction: eventstore.Backwards, FromEnd: true, Limit: n})
}
