package http

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"hash"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gorilla/mux"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/parledger/parledger/domain"
	"github.com/parledger/parledger/ledger"
)

type ctxKey int

const principalKey ctxKey = 0

// PrincipalFrom returns the principal a request was authenticated as.
func PrincipalFrom(ctx context.Context) domain.Principal {
	if p, ok := ctx.Value(principalKey).(domain.Principal); ok {
		return p
	}
	return domain.Anonymous
}

// authenticate resolves the request's bearer token: one of parledger's
// own credentials or, when OIDC is set, an identity provider's ID token.
// No Authorization header is the anonymous public; a bad, expired or
// revoked token is 401.
func (s *Server) authenticate(r *http.Request) (domain.Principal, error) {
	h := r.Header.Get("Authorization")
	if h == "" {
		return domain.Anonymous, nil
	}
	scheme, token, ok := strings.Cut(h, " ")
	token = strings.TrimSpace(token)
	if !ok || !strings.EqualFold(scheme, "Bearer") || token == "" {
		return domain.Principal{}, domain.Errorf(domain.EUNAUTHORIZED, "Send credentials as Authorization: Bearer <token>.")
	}
	if s.OIDC != nil && !strings.HasPrefix(token, ledger.TokenPrefix) {
		// Not one of parledger's own secrets: an identity provider's token.
		return s.OIDC.Authenticate(r.Context(), token)
	}
	p, _, ok := s.Tokens.Authenticate(token, time.Now())
	if !ok {
		return domain.Principal{}, domain.Errorf(domain.EUNAUTHORIZED, "The token is not valid, has expired or was revoked.")
	}
	return p, nil
}

// Role sets of routes.
var (
	anyone     = []domain.Role{domain.RolePublic, domain.RoleUnit, domain.RoleAppraiser, domain.RoleHomeAffairs, domain.RoleCouncil, domain.RoleInstitute, domain.RoleAuditor}
	signedIn   = anyone[1:]
	homeAffair = []domain.Role{domain.RoleHomeAffairs}
)

// handlerFunc is a handler that returns its error for Server.Error.
type handlerFunc func(w http.ResponseWriter, r *http.Request, p domain.Principal) error

// handle registers h for method and path, for principals of the given
// roles: anonymous requests to a route the public may not use get 401,
// others outside roles get 403.
func (s *Server) handle(method, path string, roles []domain.Role, h handlerFunc) {
	s.router.Handle(path, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, err := s.authenticate(r)
		if err != nil {
			s.Error(w, r, err)
			return
		}
		if !slices.Contains(roles, p.Role) {
			if p.Role == domain.RolePublic {
				s.Error(w, r, domain.Errorf(domain.EUNAUTHORIZED, "This needs credentials: send Authorization: Bearer <token>."))
			} else {
				s.Error(w, r, domain.Errorf(domain.EFORBIDDEN, "%s (%s) may not %s %s.", p.ID, p.Role, method, path))
			}
			return
		}
		ctx := context.WithValue(r.Context(), principalKey, p)
		if method != http.MethodGet {
			// Hash the body as the handler reads it, to fingerprint the
			// request behind an Idempotency-Key (a read records nothing,
			// so has none).
			body := &hashedBody{ReadCloser: r.Body, h: sha256.New()}
			r.Body = body
			ctx = context.WithValue(ctx, bodyKey, body)
		}
		r = r.WithContext(ctx)
		if err := h(w, r, p); err != nil {
			s.Error(w, r, err)
		}
	})).Methods(method)
}

// bodyKey holds a request's *hashedBody in its context.
const bodyKey ctxKey = 1

// hashedBody hashes a request body as it is read.
type hashedBody struct {
	io.ReadCloser
	h hash.Hash
	// canon, when set, stands for the body: what a multipart upload says,
	// whatever boundary a retry picks.
	canon []byte
}

func (b *hashedBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	b.h.Write(p[:n])
	return n, err
}

// fingerprint returns the SHA-256 of the request's method, URI and the
// body read so far (handlers read it whole before they record anything).
func (b *hashedBody) fingerprint(r *http.Request) string {
	h := sha256.New()
	body := b.h.Sum(nil)
	if b.canon != nil {
		body = b.canon
	}
	fmt.Fprintf(h, "%s %s\n%x", r.Method, r.URL.RequestURI(), body)
	return hex.EncodeToString(h.Sum(nil))
}

// request builds the ledger request of an HTTP request: principal,
// Idempotency-Key, If-Match and correlation id.
func request(r *http.Request, p domain.Principal) (ledger.Request, error) {
	req := ledger.Request{Principal: p, CorrelationID: r.Header.Get("X-Request-ID")}
	if len(req.CorrelationID) > MaxKeyLen {
		return req, domain.Invalid("X-Request-ID is too long.", domain.FieldError{Field: "X-Request-ID", Detail: "at most 200 bytes"})
	}
	if key := r.Header.Get("Idempotency-Key"); key != "" {
		if len(key) > MaxKeyLen || strings.ContainsAny(key, "\x00\r\n") {
			return req, domain.Invalid("The Idempotency-Key is not valid.", domain.FieldError{Field: "Idempotency-Key", Detail: "at most 200 bytes of printable text"})
		}
		req.IdempotencyKey = key
		if body, ok := r.Context().Value(bodyKey).(*hashedBody); ok {
			req.RequestHash = body.fingerprint(r)
		}
	}
	if m := r.Header.Get("If-Match"); m != "" {
		rev, err := strconv.ParseUint(strings.Trim(strings.TrimPrefix(m, "W/"), `"`), 10, 64)
		if err != nil {
			return req, domain.Invalid("If-Match must be an ETag this API returned, e.g. \"12\".", domain.FieldError{Field: "If-Match", Detail: "not a revision"})
		}
		req.IfMatch = &rev
	}
	return req, nil
}

// routes registers every route.
func (s *Server) routes() {
	s.router.Use(recordRoute)
	s.router.NotFoundHandler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.Error(w, r, domain.Errorf(domain.ENOTFOUND, "No such resource: %s.", r.URL.Path))
	})
	s.router.MethodNotAllowedHandler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// RFC 9110 §15.5.6: a 405 lists the methods the resource has.
		var allow []string
		for _, m := range []string{http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodDelete} {
			var match mux.RouteMatch
			rm := r.Clone(r.Context())
			rm.Method = m
			if s.router.Match(rm, &match) && match.MatchErr == nil {
				allow = append(allow, m)
			}
		}
		w.Header().Set("Allow", strings.Join(allow, ", "))
		s.Error(w, r, &domain.Error{Code: eMethod, Message: r.Method + " is not allowed on " + r.URL.Path + "."})
	})
	s.router.HandleFunc("/healthz", s.healthz).Methods(http.MethodGet)
	s.router.HandleFunc("/readyz", s.readyz).Methods(http.MethodGet)
	s.router.Handle("/metrics", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if s.Metrics == nil {
			http.NotFound(w, r)
			return
		}
		promhttp.HandlerFor(s.Metrics.Registry, promhttp.HandlerOpts{}).ServeHTTP(w, r)
	})).Methods(http.MethodGet)

	const c = "/api/v1/campaigns/{campaign}"
	const a = c + "/assessments/{unit}"
	for _, rt := range []struct {
		method, path string
		roles        []domain.Role
		h            handlerFunc
	}{
		{"GET", "/api/v1/frameworks", signedIn, s.listFrameworks},
		{"POST", "/api/v1/frameworks", homeAffair, s.registerFramework},
		{"GET", "/api/v1/frameworks/{framework}", signedIn, s.getFramework},
		{"GET", "/api/v1/campaigns", anyone, s.listCampaigns},
		{"POST", "/api/v1/campaigns", homeAffair, s.openCampaign},
		{"GET", c, anyone, s.getCampaign},
		{"POST", c + "/units", homeAffair, s.enrolUnits},
		{"PUT", c + "/deadlines/{phase}", homeAffair, s.changeDeadline},
		{"POST", c + "/explanation-window", homeAffair, s.openExplanationWindow},
		{"POST", c + "/publication", homeAffair, s.publish},
		{"GET", c + "/rankings", anyone, s.rankings},
		{"POST", c + "/survey-scores", []domain.Role{domain.RoleInstitute}, s.importSurveyScores},
		{"GET", c + "/assessments", signedIn, s.listAssessments},
		{"GET", a, anyone, s.getAssessment},
		{"POST", a + "/self-scores", []domain.Role{domain.RoleUnit}, s.recordSelfScores},
		{"POST", a + "/evidence", []domain.Role{domain.RoleUnit}, s.attachEvidence},
		{"DELETE", a + "/evidence/{sha256}", []domain.Role{domain.RoleUnit}, s.withdrawEvidence},
		{"POST", a + "/submission", []domain.Role{domain.RoleUnit}, s.submit},
		{"POST", a + "/submission/reopen", homeAffair, s.reopen},
		{"POST", a + "/appraisals", []domain.Role{domain.RoleAppraiser}, s.recordAppraisals},
		{"POST", a + "/survey-scores", []domain.Role{domain.RoleInstitute}, s.recordSurveyScores},
		{"POST", a + "/bonus-penalties", homeAffair, s.recordBonusPenalties},
		{"POST", a + "/explanations", []domain.Role{domain.RoleUnit}, s.raiseExplanation},
		{"POST", a + "/explanations/{explanation}/resolution", []domain.Role{domain.RoleCouncil}, s.resolveExplanation},
		{"POST", a + "/finalization", homeAffair, s.finalize},
		{"GET", a + "/audit", signedIn, s.audit},
		{"GET", a + "/diff", signedIn, s.diff},
		{"GET", a + "/disputes/{item}", signedIn, s.dispute},
		{"GET", a + "/explanations", signedIn, s.listExplanations},
		{"GET", c + "/explanations", signedIn, s.listExplanations},
		{"GET", c + "/audit", signedIn, s.campaignAudit},
		{"POST", "/api/v1/evidence", []domain.Role{domain.RoleUnit}, s.uploadEvidence},
		{"GET", "/api/v1/evidence/{sha256}", signedIn, s.downloadEvidence},
		{"GET", "/api/v1/tokens", homeAffair, s.listTokens},
		{"POST", "/api/v1/tokens", homeAffair, s.issueToken},
		{"DELETE", "/api/v1/tokens/{token}", homeAffair, s.revokeToken},
		{"GET", "/api/v1/whoami", signedIn, s.whoami},
	} {
		s.handle(rt.method, rt.path, rt.roles, rt.h)
	}
	s.dashboardRoutes()
	s.ledgerRoutes()
}

func (s *Server) healthz(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

// readyz answers 503 until the projections have caught up with the log.
func (s *Server) readyz(w http.ResponseWriter, r *http.Request) {
	head, err := s.Service.Store().Head(r.Context())
	body := map[string]any{"position": s.Runner.Position(), "head": head, "caughtUp": s.Runner.CaughtUp()}
	switch {
	case err != nil:
		body["error"] = "the store cannot be read"
		writeJSON(w, http.StatusServiceUnavailable, body)
	case s.Runner.Err() != nil:
		body["error"] = "projections stopped: " + s.Runner.Err().Error()
		writeJSON(w, http.StatusServiceUnavailable, body)
	case !s.Runner.CaughtUp():
		writeJSON(w, http.StatusServiceUnavailable, body)
	default:
		writeJSON(w, http.StatusOK, body)
	}
}

func (s *Server) whoami(w http.ResponseWriter, r *http.Request, p domain.Principal) error {
	writeJSON(w, http.StatusOK, p)
	return nil
}
