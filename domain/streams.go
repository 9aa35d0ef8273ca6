package domain

import (
	"fmt"
	"strings"
)

// Stream name prefixes. Every parledger stream starts with one of them, so
// an EventStoreDB deployment can filter parledger's streams by prefix.
const (
	FrameworkStreamPrefix  = "par.framework:"
	CampaignStreamPrefix   = "par.campaign:"
	AssessmentStreamPrefix = "par.assessment:"
	TokenStream            = "par.tokens"
	CheckpointStream       = "par.checkpoints"
)

// StreamPrefixes lists the prefixes of all parledger streams.
var StreamPrefixes = []string{FrameworkStreamPrefix, CampaignStreamPrefix, AssessmentStreamPrefix, TokenStream, CheckpointStream}

// FrameworkStream names the stream of a framework's versions.
func FrameworkStream(id string) string { return FrameworkStreamPrefix + id }

// CampaignStream names a campaign's stream.
func CampaignStream(id string) string { return CampaignStreamPrefix + id }

// AssessmentStream names the stream of a unit's assessment in a campaign.
func AssessmentStream(campaign, unit string) string {
	return AssessmentStreamPrefix + campaign + ":" + unit
}

// ParseAssessmentStream returns the campaign and unit of an assessment
// stream name.
func ParseAssessmentStream(stream string) (campaign, unit string, ok bool) {
	rest, ok := strings.CutPrefix(stream, AssessmentStreamPrefix)
	if !ok {
		return "", "", false
	}
	campaign, unit, ok = strings.Cut(rest, ":")
	return campaign, unit, ok
}

// ValidateUnitCode checks a unit code: 1 to 16 capital letters or digits.
func ValidateUnitCode(code string) error {
	if !unitCodePattern.MatchString(code) {
		return Errorf(ENOTFOUND, "%q is not a unit code.", code)
	}
	return nil
}

// DecideRegisterFramework returns the event that adds a framework version
// to the library. latest is the library's latest version of that id (0
// when none); the new version must follow it.
func DecideRegisterFramework(p Principal, f *Framework, latest int) ([]Event, error) {
	if err := require(p, "register frameworks", RoleHomeAffairs); err != nil {
		return nil, err
	}
	if err := f.Validate(); err != nil {
		return nil, err
	}
	if f.Version != latest+1 {
		return nil, Errorf(ECONFLICT, "Framework %s is at version %d; the next version is %d, not %d.", f.ID, latest, latest+1, f.Version)
	}
	return []Event{&FrameworkRegistered{Framework: f}}, nil
}

// FrameworkRef names a framework version.
type FrameworkRef struct {
	ID      string `json:"id"`
	Version int    `json:"version"`
}

// String returns "id@version".
func (r FrameworkRef) String() string { return fmt.Sprintf("%s@%d", r.ID, r.Version) }
