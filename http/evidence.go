package http

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/parledger/parledger/domain"
	"github.com/parledger/parledger/eventstore"
	"github.com/parledger/parledger/eventstore/blobs"
	"github.com/parledger/parledger/excel"
)

// allowedMedia lists the evidence types parledger accepts, by what their
// bytes say (the client's declared type and file name are ignored).
var allowedMedia = []struct {
	magic     []byte
	mediaType string
	ext       string
}{
	{[]byte("%PDF-"), "application/pdf", "pdf"},
	{[]byte("\x89PNG\r\n\x1a\n"), "image/png", "png"},
	{[]byte("\xff\xd8\xff"), "image/jpeg", "jpg"},
	{[]byte("GIF87a"), "image/gif", "gif"},
	{[]byte("GIF89a"), "image/gif", "gif"},
	{[]byte("PK\x03\x04"), "application/vnd.openxmlformats-officedocument", "zip"},
	{[]byte("\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"), "application/x-ole-storage", "doc"},
}

// sniffBytes names the media type of content from its first bytes, or
// fails with 415 when it is not an allowed kind.
func sniffBytes(head []byte) (string, string, error) {
	for _, m := range allowedMedia {
		if bytes.HasPrefix(head, m.magic) {
			return m.mediaType, m.ext, nil
		}
	}
	if len(head) >= 12 && string(head[:4]) == "RIFF" && string(head[8:12]) == "WEBP" {
		return "image/webp", "webp", nil
	}
	return "", "", &domain.Error{Code: eUnsupported, Message: "Evidence must be a PDF, an image (PNG, JPEG, GIF, WebP) or an office document; this file is " + http.DetectContentType(head) + "."}
}

// sniff reads the start of r, names its type, and rewinds it.
func sniff(r io.ReadSeeker) (string, error) {
	head := make([]byte, 512)
	n, err := io.ReadFull(r, head)
	if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, io.EOF) {
		return "", err
	}
	mt, _, err := sniffBytes(head[:n])
	if err != nil {
		return "", err
	}
	_, err = r.Seek(0, io.SeekStart)
	return mt, err
}

// sizeText writes a size limit for people: "32 MiB", "64 KiB", "1000 bytes".
func sizeText(n int64) string {
	switch {
	case n >= 1<<20 && n%(1<<20) == 0:
		return strconv.FormatInt(n>>20, 10) + " MiB"
	case n >= 1<<10 && n%(1<<10) == 0:
		return strconv.FormatInt(n>>10, 10) + " KiB"
	}
	return strconv.FormatInt(n, 10) + " bytes"
}

// blobProblem explains a blob store error to a client.
func blobProblem(err error) string {
	switch {
	case errors.Is(err, blobs.ErrNotFound):
		return "no file with this hash is stored"
	case errors.Is(err, blobs.ErrBlobCorrupt):
		return "the stored file no longer matches its hash"
	}
	return "the file store cannot be read"
}

// multipartError explains a multipart body that cannot be read.
func multipartError(err error) error {
	if e := bodyError(err); domain.ErrorCode(e) == eTimeout {
		return e
	}
	return domain.Errorf(domain.EINVALID, "The multipart body is not valid: %v.", err)
}

// putBlob stores an uploaded file after checking its kind.
func (s *Server) putBlob(r *http.Request, part io.Reader) (blobs.Blob, string, error) {
	head := make([]byte, 512)
	n, err := io.ReadFull(part, head)
	if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, io.EOF) {
		return blobs.Blob{}, "", bodyError(err)
	}
	mt, _, err := sniffBytes(head[:n])
	if err != nil {
		return blobs.Blob{}, "", err
	}
	b, err := s.Blobs.Put(r.Context(), io.MultiReader(bytes.NewReader(head[:n]), part))
	switch {
	case errors.Is(err, blobs.ErrTooLarge):
		return blobs.Blob{}, "", domain.Errorf(domain.ETOOLARGE, "The file is larger than %s.", sizeText(s.Blobs.MaxSize()))
	case errors.Is(err, eventstore.ErrInvalid):
		return blobs.Blob{}, "", domain.Errorf(domain.EINVALID, "The file is empty.")
	case errors.Is(err, eventstore.ErrUnavailable):
		return blobs.Blob{}, "", &domain.Error{Code: domain.EUNAVAILABLE, Message: "The file store cannot take files now; nothing was recorded."}
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return blobs.Blob{}, "", err
	case err != nil:
		// What is left is the upload itself: it broke off or was too slow.
		return blobs.Blob{}, "", bodyError(err)
	}
	return b, mt, nil
}

// attachEvidence takes either a multipart upload (fields item, title,
// documentNumber and a file part "file") or JSON naming an uploaded blob
// ({"item", "sha256", "title", "documentNumber"}), and attaches the
// evidence to the item.
func (s *Server) attachEvidence(w http.ResponseWriter, r *http.Request, p domain.Principal) error {
	// Refuse another unit before storing anything it sends.
	if unit := vars(r, "unit"); p.Scope != unit {
		return domain.Errorf(domain.EFORBIDDEN, "%s (%s %s) may not attach evidence for unit %s.", p.ID, p.Role, p.Scope, unit)
	}
	var item string
	var ev domain.Evidence
	mt, params, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	switch mt {
	case "multipart/form-data":
		up, fields, err := s.readUpload(w, r, params["boundary"], "item", "title", "documentNumber")
		if err != nil {
			return err
		}
		ev.SHA256, ev.Size, ev.MediaType = up.SHA256, up.Size, up.MediaType
		item, ev.Title, ev.DocumentNumber = fields["item"], fields["title"], fields["documentNumber"]
		if body, ok := r.Context().Value(bodyKey).(*hashedBody); ok {
			body.canon = fmt.Appendf(nil, "multipart\n%q\n%q\n%q\n%s", item, ev.Title, ev.DocumentNumber, ev.SHA256)
		}
	default:
		var body struct {
			Item string `json:"item"`
			EvidenceRef
		}
		if err := decodeJSON(w, r, &body); err != nil {
			return err
		}
		var err error
		if ev, err = s.evidence(r.Context(), "", body.EvidenceRef); err != nil {
			return err
		}
		item = body.Item
	}
	return s.assess(w, r, p, func(a *domain.Assessment, x domain.Context) ([]domain.Decision, error) {
		return a.DecideAttachEvidence(x, item, ev)
	})
}

// readUpload reads a multipart upload: exactly one part named "file",
// stored in the blob store once its kind is checked, and small text fields
// of the allowed names (at most 4096 bytes each). Anything else is
// refused with a field error; a body over the blob limit is ETOOLARGE.
func (s *Server) readUpload(w http.ResponseWriter, r *http.Request, boundary string, allowed ...string) (*UploadedEvidence, map[string]string, error) {
	r.Body = http.MaxBytesReader(w, r.Body, s.Blobs.MaxSize()+1<<20)
	mr := multipart.NewReader(r.Body, boundary)
	fields := map[string]string{}
	var out *UploadedEvidence
	for {
		part, err := mr.NextPart()
		if errors.Is(err, io.EOF) {
			break
		}
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			return nil, nil, domain.Errorf(domain.ETOOLARGE, "The upload is larger than %s.", sizeText(s.Blobs.MaxSize()))
		}
		if err != nil {
			return nil, nil, multipartError(err)
		}
		name := part.FormName()
		switch {
		case name == "file" && out != nil:
			return nil, nil, domain.Invalid("Send one file per request.", domain.FieldError{Field: "file", Detail: "more than one file"})
		case name == "file":
			b, mediaType, err := s.putBlob(r, part)
			if err != nil {
				return nil, nil, err
			}
			out = &UploadedEvidence{SHA256: b.Hash.String(), Size: b.Size, MediaType: mediaType}
		case slices.Contains(allowed, name):
			v, err := io.ReadAll(io.LimitReader(part, 4097))
			if err != nil || len(v) > 4096 {
				return nil, nil, domain.Invalid("A form field is too long.", domain.FieldError{Field: name, Detail: "at most 4096 bytes"})
			}
			fields[name] = string(v)
		default:
			return nil, nil, clipFields(domain.Invalid("The upload has a field this request does not take.", domain.FieldError{Field: name, Detail: "unknown field"}))
		}
	}
	if out == nil {
		return nil, nil, domain.Invalid("The upload has no file.", domain.FieldError{Field: "file", Detail: "is required"})
	}
	return out, fields, nil
}

// UploadedEvidence is the answer to an upload of a file alone.
type UploadedEvidence struct {
	SHA256    string `json:"sha256"`
	Size      int64  `json:"size"`
	MediaType string `json:"mediaType"`
}

// uploadEvidence stores a file (multipart part "file") and answers its
// hash, for documents that accompany an explanation.
func (s *Server) uploadEvidence(w http.ResponseWriter, r *http.Request, p domain.Principal) error {
	mt, params, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if mt != "multipart/form-data" {
		return &domain.Error{Code: eUnsupported, Message: "Upload the file as multipart/form-data with a part named file."}
	}
	out, _, err := s.readUpload(w, r, params["boundary"])
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, out)
	return nil
}

func (s *Server) withdrawEvidence(w http.ResponseWriter, r *http.Request, p domain.Principal) error {
	item := r.URL.Query().Get("item")
	if item == "" {
		return domain.Invalid("Name the item.", domain.FieldError{Field: "item", Detail: "query parameter is required"})
	}
	sha := strings.ToLower(vars(r, "sha256"))
	reason := r.URL.Query().Get("reason")
	return s.assess(w, r, p, func(a *domain.Assessment, x domain.Context) ([]domain.Decision, error) {
		return a.DecideWithdrawEvidence(x, item, sha, reason)
	})
}

// downloadEvidence serves a stored file, checked against its hash, as an
// attachment named by its hash.
func (s *Server) downloadEvidence(w http.ResponseWriter, r *http.Request, p domain.Principal) error {
	h, err := eventstore.ParseHash(strings.ToLower(vars(r, "sha256")))
	if err != nil {
		return domain.Errorf(domain.ENOTFOUND, "No evidence %q.", vars(r, "sha256"))
	}
	if p.Role == domain.RoleUnit {
		// A unit reads no other unit's assessment before publication,
		// nor its evidence after: it may download the files its own
		// assessments name (withdrawn ones too), whether or not others
		// hold them.
		ok, err := s.unitNamesEvidence(r.Context(), p.Scope, h.String())
		if err != nil {
			return err
		}
		if !ok {
			return domain.Errorf(domain.EFORBIDDEN, "%s may download only the evidence of unit %s's own assessments.", p.ID, p.Scope)
		}
	}
	rd, err := s.Blobs.Open(r.Context(), h)
	switch {
	case errors.Is(err, blobs.ErrNotFound):
		return domain.Errorf(domain.ENOTFOUND, "No evidence %s.", h)
	case errors.Is(err, blobs.ErrBlobCorrupt):
		return &domain.Error{Code: domain.EINTERNAL, Message: "The stored file no longer matches its hash."}
	case err != nil:
		return err
	}
	defer rd.Close()
	head := make([]byte, 512)
	n, _ := io.ReadFull(rd, head)
	mt, ext, err := sniffBytes(head[:n])
	if err != nil {
		mt, ext = "application/octet-stream", "bin"
	}
	if _, err := rd.Seek(0, io.SeekStart); err != nil {
		return err
	}
	w.Header().Set("Content-Type", mt)
	w.Header().Set("Content-Disposition", fmt.Sprintf(`attachment; filename="%s.%s"`, h, ext))
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.Header().Set("ETag", `"`+h.String()+`"`)
	w.Header().Set("Content-Length", strconv.FormatInt(rd.Size, 10))
	http.ServeContent(w, r, "", time.Time{}, rd)
	return nil
}

// registerFramework takes a framework as JSON, or as a CSV or XLSX sheet
// in the officials' layout with the framework's id, version, title, block
// and decision as query parameters.
func (s *Server) registerFramework(w http.ResponseWriter, r *http.Request, p domain.Principal) error {
	mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	body := http.MaxBytesReader(w, r.Body, MaxFrameworkUpload)
	var f *domain.Framework
	var err error
	switch mt {
	case "application/json", "":
		f, err = domain.ParseFrameworkJSON(body)
	case "text/csv", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet":
		q := r.URL.Query()
		meta := domain.FrameworkMeta{ID: q.Get("id"), Title: q.Get("title"), Block: domain.Block(q.Get("block")), Decision: q.Get("decision"), Notes: q.Get("notes"), Illustrative: q.Get("illustrative") == "true"}
		if meta.Version, err = strconv.Atoi(q.Get("version")); err != nil {
			return domain.Invalid("Name the framework's version.", domain.FieldError{Field: "version", Detail: "query parameter must be a number"})
		}
		if mt == "text/csv" {
			f, err = domain.ParseFrameworkCSV(meta, body)
		} else {
			f, err = excel.ReadFrameworkSheet(meta, body)
		}
	default:
		return &domain.Error{Code: eUnsupported, Message: "Send the framework as application/json, text/csv or an XLSX sheet."}
	}
	var tooLarge *http.MaxBytesError
	if errors.As(err, &tooLarge) {
		return domain.Errorf(domain.ETOOLARGE, "The framework is larger than %d MiB.", MaxFrameworkUpload>>20)
	}
	if err != nil {
		return err
	}
	req, err := request(r, p)
	if err != nil {
		return err
	}
	res, err := s.Service.RegisterFramework(r.Context(), req, f)
	if err != nil {
		return err
	}
	w.Header().Set("Location", "/api/v1/frameworks/"+f.ID+"?version="+strconv.Itoa(f.Version))
	return s.written(w, r, res)
}

// unitNamesEvidence reports whether an assessment of unit, in any
// campaign, has ever named the file sha (attached to an item or to an
// explanation).
func (s *Server) unitNamesEvidence(ctx context.Context, unit, sha string) (bool, error) {
	for _, c := range s.Board.Campaigns() {
		if _, enrolled := s.Board.Standing(c.ID, unit); !enrolled {
			continue
		}
		events, err := s.Service.ReadStream(ctx, domain.AssessmentStream(c.ID, unit))
		if err != nil {
			return false, err
		}
		for _, r := range events {
			switch e := r.Event.(type) {
			case *domain.EvidenceAttached:
				if e.Evidence.SHA256 == sha {
					return true, nil
				}
			case *domain.ExplanationRaised:
				for _, ev := range e.Evidence {
					if ev.SHA256 == sha {
						return true, nil
					}
				}
			}
		}
	}
	return false, nil
}
