// Package http serves parledger's JSON API under /api/v1, the health and
// readiness probes and Prometheus metrics. It wraps net/http and
// gorilla/mux so that cmd/ never has to.
package http

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"mime"
	"net"
	"net/http"
	"os"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/gorilla/mux"
	"github.com/shopspring/decimal"

	"github.com/parledger/parledger/domain"
	"github.com/parledger/parledger/eventstore/blobs"
	"github.com/parledger/parledger/ledger"
	"github.com/parledger/parledger/projections"
	"github.com/parledger/parledger/transparency"
)

// Limits of requests.
const (
	// MaxBodySize caps a JSON request body.
	MaxBodySize = 1 << 20
	// MaxFrameworkUpload caps an uploaded framework sheet.
	MaxFrameworkUpload = 10 << 20
	// MaxHeaderBytes caps request headers.
	MaxHeaderBytes = 32 << 10
	// MaxKeyLen caps Idempotency-Key and X-Request-ID.
	MaxKeyLen = 200
)

// Server is parledger's HTTP server. Set its fields, then call Open.
type Server struct {
	ln     net.Listener
	server *http.Server
	router *mux.Router

	// Addr is the address to listen on, e.g. ":8080" or "127.0.0.1:0".
	Addr string

	Service *ledger.Service
	Blobs   *blobs.Store
	Board   *projections.Scoreboard
	Tokens  *projections.Tokens
	Runner  *projections.Runner
	// History answers rankings as of a past moment; nil disables that.
	History *projections.History
	// Log and Signer serve the Merkle log's checkpoints and proofs; nil
	// disables them.
	Log     *transparency.Log
	Signer  *transparency.Signer
	Metrics *Metrics
	Logger  *slog.Logger
	// WriteWait bounds how long a write waits for the projections to show
	// it before answering (read-your-writes).
	WriteWait time.Duration
	// OIDC, when set, signs in bearers of an identity provider's ID
	// tokens (OpenID Connect); parledger's own credentials work as well.
	OIDC Authenticator
	// Timeouts of the connection, as http.Server has them: slow clients
	// are cut off after ReadHeaderTimeout (headers) and ReadTimeout (the
	// whole request). NewServer sets the defaults.
	ReadHeaderTimeout, ReadTimeout, WriteTimeout, IdleTimeout time.Duration
}

// Authenticator verifies a bearer token issued elsewhere (an identity
// provider's ID token) and returns its principal, or an EUNAUTHORIZED
// error when the token is not valid and EFORBIDDEN when it maps to no
// principal. Package oidc has one.
type Authenticator interface {
	Authenticate(ctx context.Context, token string) (domain.Principal, error)
}

// NewServer returns a server with its routes; the caller sets the
// dependencies before Open.
func NewServer() *Server {
	s := &Server{router: mux.NewRouter(), Logger: slog.Default(), WriteWait: 5 * time.Second,
		ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 2 * time.Minute, WriteTimeout: 2 * time.Minute, IdleTimeout: 2 * time.Minute}
	s.routes()
	return s
}

// Open listens on Addr and serves in the background.
func (s *Server) Open() error {
	ln, err := net.Listen("tcp", s.Addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", s.Addr, err)
	}
	s.ln = ln
	s.server = &http.Server{
		Handler:           s.Handler(),
		ReadHeaderTimeout: s.ReadHeaderTimeout,
		ReadTimeout:       s.ReadTimeout,
		WriteTimeout:      s.WriteTimeout,
		IdleTimeout:       s.IdleTimeout,
		MaxHeaderBytes:    MaxHeaderBytes,
		ErrorLog:          slog.NewLogLogger(s.Logger.Handler(), slog.LevelWarn),
	}
	go func() {
		if err := s.server.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.Logger.Error("http server", "err", err)
		}
	}()
	return nil
}

// Close stops accepting requests and waits for those in flight until ctx
// ends; then it cuts off the connections still open and says so.
func (s *Server) Close(ctx context.Context) error {
	if s.server == nil {
		return nil
	}
	if err := s.server.Shutdown(ctx); err != nil {
		_ = s.server.Close()
		return fmt.Errorf("requests still in flight when the drain ended were cut off: %w", err)
	}
	return nil
}

// URL returns the server's base URL, e.g. "http://127.0.0.1:34567".
func (s *Server) URL() string {
	if s.ln == nil {
		return ""
	}
	addr := s.ln.Addr().(*net.TCPAddr)
	host := addr.IP.String()
	if addr.IP.IsUnspecified() {
		host = "localhost"
	}
	return fmt.Sprintf("http://%s", net.JoinHostPort(host, strconv.Itoa(addr.Port)))
}

// Handler returns the server's handler with its middleware.
func (s *Server) Handler() http.Handler {
	return s.instrument(s.requestID(s.recoverPanics(s.router)))
}

// requestID gives every request an X-Request-ID (the client's, if it sent
// a sensible one) and echoes it, so a caller can cite it and the events it
// caused carry it as their correlation id.
func (s *Server) requestID(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := r.Header.Get("X-Request-ID")
		if id == "" || len(id) > MaxKeyLen || strings.ContainsFunc(id, func(c rune) bool { return c < 0x21 || c > 0x7e }) {
			var b [12]byte
			_, _ = rand.Read(b[:])
			id = hex.EncodeToString(b[:])
			r.Header.Set("X-Request-ID", id)
		}
		w.Header().Set("X-Request-ID", id)
		next.ServeHTTP(w, r)
	})
}

// recoverPanics turns a panic in a handler into a 500, logged, so one bad
// request cannot take the server down.
func (s *Server) recoverPanics(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			if p := recover(); p != nil {
				if p == http.ErrAbortHandler {
					panic(p)
				}
				s.Error(w, r, fmt.Errorf("panic: %v", p))
			}
		}()
		next.ServeHTTP(w, r)
	})
}

// statusOf maps error codes to HTTP statuses, in one table.
var statusOf = map[string]int{
	domain.EINVALID:      http.StatusBadRequest,
	domain.ENOTFOUND:     http.StatusNotFound,
	domain.ECONFLICT:     http.StatusConflict,
	domain.EPRECONDITION: http.StatusPreconditionFailed,
	domain.EUNAUTHORIZED: http.StatusUnauthorized,
	domain.EFORBIDDEN:    http.StatusForbidden,
	domain.EUNAVAILABLE:  http.StatusServiceUnavailable,
	domain.EINTERNAL:     http.StatusInternalServerError,
	domain.ETOOLARGE:     http.StatusRequestEntityTooLarge,
	domain.EDEADLINE:     http.StatusConflict,
	eUnsupported:         http.StatusUnsupportedMediaType,
	eMethod:              http.StatusMethodNotAllowed,
	eTimeout:             http.StatusRequestTimeout,
}

// Codes used only by the HTTP layer.
const (
	eUnsupported = "unsupported_media_type"
	eMethod      = "method_not_allowed"
	eTimeout     = "request_timeout"
)

// bodyError explains why a request body could not be read: the client
// sent it too slowly (408), or broke off or sent garbage (400). Nothing
// was recorded either way.
func bodyError(err error) error {
	var ne net.Error
	if errors.Is(err, os.ErrDeadlineExceeded) || errors.As(err, &ne) && ne.Timeout() {
		return &domain.Error{Code: eTimeout, Message: "The body arrived too slowly: the server stopped waiting for it. Nothing was recorded; send it again."}
	}
	return domain.Errorf(domain.EINVALID, "The body could not be read (%v). Nothing was recorded.", err)
}

// Problem is an RFC 9457 problem details body.
type Problem struct {
	Type     string              `json:"type"`
	Title    string              `json:"title"`
	Status   int                 `json:"status"`
	Detail   string              `json:"detail"`
	Instance string              `json:"instance,omitempty"`
	Code     string              `json:"code"`
	Errors   []domain.FieldError `json:"errors,omitempty"`
}

// Error writes err as application/problem+json. Only internal errors are
// logged; their details never reach the client.
func (s *Server) Error(w http.ResponseWriter, r *http.Request, err error) {
	code := domain.ErrorCode(err)
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		code = domain.EUNAVAILABLE
		err = &domain.Error{Code: code, Message: "The request was cancelled or timed out; nothing was recorded unless a retry with the same Idempotency-Key says so."}
	}
	status, ok := statusOf[code]
	if !ok {
		status = http.StatusInternalServerError
	}
	p := Problem{
		Type: "urn:parledger:problem:" + code, Title: http.StatusText(status), Status: status,
		Detail: redactSecrets(domain.ErrorMessage(err)), Instance: redactSecrets(r.URL.EscapedPath()), Code: code,
	}
	var de *domain.Error
	if errors.As(err, &de) {
		for _, f := range de.Fields {
			p.Errors = append(p.Errors, domain.FieldError{Field: redactSecrets(f.Field), Detail: redactSecrets(f.Detail)})
		}
	}
	if code == domain.EINTERNAL {
		s.Logger.Error("internal error", "method", r.Method, "path", redactSecrets(r.URL.Path), "err", redactSecrets(err.Error()))
	}
	if status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Bearer realm="parledger"`)
	}
	if status == http.StatusServiceUnavailable {
		w.Header().Set("Retry-After", "2")
	}
	w.Header().Set("Content-Type", "application/problem+json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false) // as writeJSON: "Bearer <token>" reads as written
	_ = enc.Encode(p)
}

// secretPattern matches a credential's secret (ledger.TokenPrefix and its
// random part), whole or cut short.
var secretPattern = regexp.MustCompile(regexp.QuoteMeta(ledger.TokenPrefix) + `[A-Za-z0-9_-]{8,}`)

// redactSecrets hides anything that looks like a secret in text the
// server writes into an error or a log: a client that pasted its secret
// into a path, a query or a field must not find it echoed where proxies
// and logs keep it.
func redactSecrets(text string) string {
	return secretPattern.ReplaceAllString(text, ledger.TokenPrefix+"…")
}

// writeJSON writes v as JSON with the given status.
func writeJSON(w http.ResponseWriter, status int, v any) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		http.Error(w, "encoding failed", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}

// decodeJSON reads a request body into v strictly: a JSON object of at
// most MaxBodySize bytes, no unknown fields, right types, one value. Its
// errors say exactly what is wrong.
func decodeJSON(w http.ResponseWriter, r *http.Request, v any) error {
	if ct := r.Header.Get("Content-Type"); ct != "" {
		if mt, _, err := mime.ParseMediaType(ct); err != nil || mt != "application/json" {
			return &domain.Error{Code: eUnsupported, Message: fmt.Sprintf("The body must be application/json, not %s.", ct)}
		}
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxBodySize))
	var tooLarge *http.MaxBytesError
	if errors.As(err, &tooLarge) {
		return domain.Errorf(domain.ETOOLARGE, "The body is larger than %d bytes.", MaxBodySize)
	}
	if err != nil {
		return bodyError(err)
	}
	if len(bytes.TrimSpace(body)) == 0 {
		return domain.Invalid("The body is empty; send a JSON object.")
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return clipFields(jsonError(err, body, reflect.TypeOf(v)))
	}
	if dec.More() {
		return domain.Invalid("The body holds more than one JSON value.")
	}
	if _, err := dec.Token(); err != io.EOF {
		return domain.Invalid("The body has data after its JSON value.")
	}
	if path := hugeDecimal(reflect.ValueOf(v), ""); path != "" {
		return clipFields(domain.Invalid("A number is out of range.", domain.FieldError{Field: path, Detail: "write a plain decimal number such as 1.25: at most 60 digits and no large exponent"}))
	}
	return nil
}

// maxFieldPath caps a field's path in an error about a request body: the
// path holds the body's own keys (or a form's part names), which a client
// can make as long as the body.
const maxFieldPath = 200

// clipFields cuts the field paths of err, a *domain.Error, to at most
// maxFieldPath bytes (at a character boundary), and marks each cut with
// "…".
func clipFields(err error) error {
	var de *domain.Error
	if errors.As(err, &de) {
		for i := range de.Fields {
			if f := de.Fields[i].Field; len(f) > maxFieldPath {
				cut := maxFieldPath
				for cut > 0 && !utf8.RuneStart(f[cut]) {
					cut--
				}
				de.Fields[i].Field = f[:cut] + "…"
			}
		}
	}
	return err
}

var decimalType = reflect.TypeFor[decimal.Decimal]()

// hugeDecimal returns the path of the first decimal in v (a decoded
// request body) written with so large an exponent or so many digits that
// printing it, in an error message say, would take megabytes ("1e999999"
// is nine bytes in a body); "" when there is none.
func hugeDecimal(v reflect.Value, path string) string {
	switch v.Kind() {
	case reflect.Pointer, reflect.Interface:
		if v.IsNil() {
			return ""
		}
		return hugeDecimal(v.Elem(), path)
	case reflect.Struct:
		if v.Type() == decimalType {
			d := v.Interface().(decimal.Decimal)
			if e := d.Exponent(); e > 60 || e < -60 || d.Coefficient().BitLen() > 200 {
				return path
			}
			return ""
		}
		for i := range v.NumField() {
			sf := v.Type().Field(i)
			if !sf.IsExported() {
				continue
			}
			name, _, _ := strings.Cut(sf.Tag.Get("json"), ",")
			p := path
			if !sf.Anonymous || name != "" {
				if name == "" {
					name = sf.Name
				}
				p = joinPath(path, name)
			}
			if bad := hugeDecimal(v.Field(i), p); bad != "" {
				return bad
			}
		}
	case reflect.Slice, reflect.Array:
		for i := range v.Len() {
			if bad := hugeDecimal(v.Index(i), fmt.Sprintf("%s[%d]", path, i)); bad != "" {
				return bad
			}
		}
	case reflect.Map:
		for _, k := range v.MapKeys() {
			if bad := hugeDecimal(v.MapIndex(k), joinPath(path, fmt.Sprint(k.Interface()))); bad != "" {
				return bad
			}
		}
	}
	return ""
}

// jsonError explains a decoding error of body into a value of type t
// with the field and the place.
func jsonError(err error, body []byte, t reflect.Type) error {
	var syntax *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syntax):
		// Offset counts the offending byte: point at it.
		line, col := position(body, syntax.Offset-1)
		return domain.Invalid(fmt.Sprintf("The body is not valid JSON: %v at line %d, column %d.", syntax, line, col))
	case errors.As(err, &typ):
		// The decoder names the field without array indexes
		// ("scores.points"); find the value itself, as the domain names it.
		if field, want := badValue(body, t); field != "" {
			return domain.Invalid("A field has the wrong type.", domain.FieldError{Field: field, Detail: "expected " + want})
		}
		field := typ.Field
		if field == "" {
			field = "(body)"
		}
		return domain.Invalid("A field has the wrong type.", domain.FieldError{Field: field, Detail: fmt.Sprintf("expected %s, got a JSON %s", typeName(typ.Type.String()), typ.Value)})
	case errors.Is(err, io.ErrUnexpectedEOF):
		return domain.Invalid("The body is not valid JSON: it ends too early.")
	case !strings.HasPrefix(err.Error(), "json: "):
		// A type's own decoder refused its value (a decimal, a date): the
		// decoder does not say where, so find it.
		if field, want := badValue(body, t); field != "" {
			return domain.Invalid("A field has the wrong type.", domain.FieldError{Field: field, Detail: "expected " + want})
		}
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		name := strings.Trim(strings.TrimPrefix(err.Error(), "json: unknown field "), `"`)
		if path, _ := badValue(body, t); path == name || strings.HasSuffix(path, "."+name) {
			name = path // with its place, e.g. scores[1].ghiChu
		}
		return domain.Invalid("The body has a field this request does not take.", domain.FieldError{Field: name, Detail: "unknown field"})
	}
	// The error may quote the body's bytes, which need not be UTF-8.
	return domain.Invalid(fmt.Sprintf("The body could not be decoded: %s.", strings.ToValidUTF8(strings.TrimPrefix(err.Error(), "json: "), "\uFFFD")))
}

func typeName(t string) string {
	switch {
	case strings.HasSuffix(t, "decimal.Decimal"):
		return "a decimal number (e.g. 1.25 or \"1.25\")"
	case strings.HasSuffix(t, "domain.Date"):
		return "a date written \"YYYY-MM-DD\""
	case strings.HasPrefix(t, "[]"):
		return "an array"
	case t == "string" || strings.HasSuffix(t, "Block") || strings.HasSuffix(t, "Role") || strings.HasSuffix(t, "Phase"):
		return "a string"
	case strings.HasPrefix(t, "int") || strings.HasPrefix(t, "uint"):
		return "an integer"
	case t == "bool":
		return "true or false"
	}
	return "an object"
}

// badValue returns the path ("scores[2].points") of the first value of
// body, a JSON document, that does not decode into its place in a value
// of type t, and what that place expects; "" when it finds none.
func badValue(body []byte, t reflect.Type) (path, want string) {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var doc any
	if dec.Decode(&doc) != nil {
		return "", ""
	}
	return walkValue(doc, t, "")
}

var unmarshalerType = reflect.TypeFor[json.Unmarshaler]()

func walkValue(v any, t reflect.Type, path string) (string, string) {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if v == nil {
		return "", "" // null leaves any value alone
	}
	here := path
	if here == "" {
		here = "(body)"
	}
	decodes := func() bool {
		raw, err := json.Marshal(v)
		return err == nil && json.Unmarshal(raw, reflect.New(t).Interface()) == nil
	}
	switch {
	case reflect.PointerTo(t).Implements(unmarshalerType):
		if !decodes() {
			return here, typeName(t.String()) + ", got " + shortJSON(v)
		}
	case t.Kind() == reflect.Struct:
		obj, ok := v.(map[string]any)
		if !ok {
			return here, "an object"
		}
		for _, name := range slices.Sorted(maps.Keys(obj)) {
			ft, ok := jsonField(t, name)
			if !ok {
				return joinPath(path, name), "no such field"
			}
			if p, w := walkValue(obj[name], ft, joinPath(path, name)); p != "" {
				return p, w
			}
		}
	case t.Kind() == reflect.Slice || t.Kind() == reflect.Array:
		arr, ok := v.([]any)
		if !ok {
			return here, "an array"
		}
		for i, x := range arr {
			if p, w := walkValue(x, t.Elem(), fmt.Sprintf("%s[%d]", path, i)); p != "" {
				return p, w
			}
		}
	case t.Kind() == reflect.Map:
		obj, ok := v.(map[string]any)
		if !ok {
			return here, "an object"
		}
		for _, k := range slices.Sorted(maps.Keys(obj)) {
			if p, w := walkValue(obj[k], t.Elem(), joinPath(path, k)); p != "" {
				return p, w
			}
		}
	default:
		if !decodes() {
			return here, typeName(t.String()) + ", got " + shortJSON(v)
		}
	}
	return "", ""
}

// jsonField returns the type of the field of struct type t that decodes
// the JSON member name, the way encoding/json picks it.
func jsonField(t reflect.Type, name string) (reflect.Type, bool) {
	var fold reflect.Type
	for i := range t.NumField() {
		sf := t.Field(i)
		tag, _, _ := strings.Cut(sf.Tag.Get("json"), ",")
		if tag == "-" || !sf.IsExported() && !sf.Anonymous {
			continue
		}
		ft := sf.Type
		if sf.Anonymous && tag == "" {
			for ft.Kind() == reflect.Pointer {
				ft = ft.Elem()
			}
			if ft.Kind() == reflect.Struct {
				if inner, ok := jsonField(ft, name); ok {
					return inner, true
				}
				continue
			}
		}
		if tag == "" {
			tag = sf.Name
		}
		if tag == name {
			return sf.Type, true
		}
		if fold == nil && strings.EqualFold(tag, name) {
			fold = sf.Type
		}
	}
	return fold, fold != nil
}

func joinPath(path, name string) string {
	if path == "" {
		return name
	}
	return path + "." + name
}

// shortJSON writes a value for an error message, cut to a readable length.
func shortJSON(v any) string {
	enc, _ := json.Marshal(v)
	if s := []rune(string(enc)); len(s) > 40 {
		return string(s[:40]) + "…"
	}
	return string(enc)
}

func position(b []byte, offset int64) (line, col int) {
	line, col = 1, 1
	for i := int64(0); i < offset && i < int64(len(b)); i++ {
		if b[i] == '\n' {
			line, col = line+1, 1
		} else {
			col++
		}
	}
	return line, col
}

// vars returns a route variable.
func vars(r *http.Request, name string) string { return mux.Vars(r)[name] }
