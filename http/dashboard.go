package http

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"io/fs"
	"net/http"
	"path"
	"strings"
	"time"

	"github.com/gorilla/mux"

	"github.com/parledger/parledger/domain"
)

// web holds the dashboard's front end: plain HTML, CSS and JavaScript
// modules, served as they are (no build step, no CDN).
//
//go:embed web
var web embed.FS

// ContentSecurityPolicy is the policy of the dashboard's page and assets:
// scripts and styles from the server only (no inline script or style, no
// eval), connections to the server only, DOM sinks closed by Trusted
// Types (the page builds its DOM with textContent), and no framing.
const ContentSecurityPolicy = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; " +
	"connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; " +
	"frame-ancestors 'none'; require-trusted-types-for 'script'; trusted-types 'none'"

// asset is one embedded file of the front end.
type asset struct {
	name  string
	body  []byte
	ctype string
	etag  string
}

// contentTypes are the media types of the front end's files, set
// explicitly: ES modules load only with a JavaScript type under nosniff.
var contentTypes = map[string]string{
	".html": "text/html; charset=utf-8",
	".js":   "text/javascript; charset=utf-8",
	".css":  "text/css; charset=utf-8",
	".svg":  "image/svg+xml",
}

// loadAssets reads the embedded front end: index.html, and every other
// file by its name under /assets/.
func loadAssets() (index *asset, files map[string]*asset, err error) {
	files = map[string]*asset{}
	err = fs.WalkDir(web, "web", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		ctype, ok := contentTypes[path.Ext(p)]
		if !ok {
			return nil // not served
		}
		body, err := web.ReadFile(p)
		if err != nil {
			return err
		}
		sum := sha256.Sum256(body)
		a := &asset{name: path.Base(p), body: body, ctype: ctype, etag: `"` + hex.EncodeToString(sum[:8]) + `"`}
		if p == "web/index.html" {
			index = a
		} else {
			files[strings.TrimPrefix(p, "web/")] = a
		}
		return nil
	})
	return index, files, err
}

// securityHeaders sets the headers every dashboard response carries.
func securityHeaders(h http.Header) {
	h.Set("Content-Security-Policy", ContentSecurityPolicy)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Cross-Origin-Opener-Policy", "same-origin")
	h.Set("Cross-Origin-Resource-Policy", "same-origin")
	h.Set("Permissions-Policy", "camera=(), microphone=(), geolocation=(), payment=(), usb=()")
}

// serveAsset writes a file of the front end; clients revalidate it with
// its ETag, so a new binary's front end is picked up at once.
func serveAsset(w http.ResponseWriter, r *http.Request, a *asset) {
	h := w.Header()
	securityHeaders(h)
	h.Set("Content-Type", a.ctype)
	h.Set("Cache-Control", "no-cache")
	h.Set("ETag", a.etag)
	http.ServeContent(w, r, a.name, time.Time{}, bytes.NewReader(a.body))
}

// dashboardRoutes registers the web dashboard: its page at /, its files
// under /assets/, and the live rankings stream it listens to.
func (s *Server) dashboardRoutes() {
	index, files, err := loadAssets()
	if err != nil || index == nil {
		// The files are compiled in: only a broken build gets here, and
		// the dashboard then says so instead of failing the API.
		s.Logger.Error("dashboard assets", "err", err)
		index = &asset{name: "index.html", ctype: contentTypes[".html"], etag: `"broken"`, body: []byte("<!doctype html><title>parledger</title><p>Bảng điều khiển không tải được.</p>")}
	}
	s.router.Handle("/", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		serveAsset(w, r, index)
	})).Methods(http.MethodGet, http.MethodHead)
	s.router.Handle("/assets/{file}", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		a, ok := files[mux.Vars(r)["file"]]
		if !ok {
			securityHeaders(w.Header())
			s.Error(w, r, domain.Errorf(domain.ENOTFOUND, "No such file: %s.", r.URL.Path))
			return
		}
		serveAsset(w, r, a)
	})).Methods(http.MethodGet, http.MethodHead)

	live := newLiveStreams(s, MaxLiveStreams)
	s.handle(http.MethodGet, "/api/v1/campaigns/{campaign}/live", anyone, live.serve)
}
