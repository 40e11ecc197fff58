// Package console is the duty officers' web console: a static page (HTML,
// CSS and JavaScript without a build step or any outside resource) built
// into the binary and served beside the alert API, which it calls with the
// agency token the officer pastes in.
package console

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
)

//go:embed static
var static embed.FS

// Path is where the console is served.
const Path = "/console/"

// contentSecurityPolicy allows nothing but the console's own files and
// calls to its own origin: no inline script or style, no other host.
// form-action 'none' because every form is handled by the script; should
// the script not run, a plain submit must not carry the token into a URL.
const contentSecurityPolicy = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; " +
	"connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

var contentTypes = map[string]string{
	".html": "text/html; charset=utf-8",
	".css":  "text/css; charset=utf-8",
	".js":   "text/javascript; charset=utf-8",
	".svg":  "image/svg+xml",
}

type file struct {
	body  []byte
	ctype string
	etag  string
}

// Handler serves the console's files.
type Handler struct {
	files map[string]file
}

// Mux is where the console is mounted (the process's HTTP server).
type Mux interface {
	Handle(pattern string, h http.Handler)
}

// New builds the handler over the files built into the binary.
func New() *Handler {
	h := &Handler{files: map[string]file{}}
	err := fs.WalkDir(static, "static", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := static.ReadFile(p)
		if err != nil {
			return err
		}
		ct, ok := contentTypes[path.Ext(p)]
		if !ok {
			ct = "application/octet-stream"
		}
		sum := sha256.Sum256(b)
		h.files[strings.TrimPrefix(p, "static/")] = file{body: b, ctype: ct, etag: `"` + hex.EncodeToString(sum[:8]) + `"`}
		return nil
	})
	if err != nil {
		// The files are part of the binary; failing to read them is a build defect.
		panic("console: embedded files: " + err.Error())
	}
	return h
}

// Mount serves the console under /console/ and sends / there.
func (h *Handler) Mount(mux Mux) {
	mux.Handle("GET "+Path, h)
	mux.Handle("GET /{$}", http.RedirectHandler(Path, http.StatusFound))
}

// ServeHTTP serves one file; /console/ is index.html.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	hd := w.Header()
	hd.Set("Content-Security-Policy", contentSecurityPolicy)
	hd.Set("X-Content-Type-Options", "nosniff")
	hd.Set("X-Frame-Options", "DENY")
	hd.Set("Referrer-Policy", "no-referrer")
	name := strings.TrimPrefix(r.URL.Path, Path)
	if name == "" {
		name = "index.html"
	}
	f, ok := h.files[name]
	if !ok {
		http.Error(w, "404 page not found", http.StatusNotFound)
		return
	}
	// The names carry no version: the browser revalidates each time and
	// gets 304 while the binary is the same.
	hd.Set("Cache-Control", "no-cache")
	hd.Set("ETag", f.etag)
	hd.Set("Content-Type", f.ctype)
	http.ServeContent(w, r, name, time.Time{}, bytes.NewReader(f.body))
}
