package console

import (
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"

	"github.com/qingliu/qingliu/domain"
)

func serve(t *testing.T, method, target string, hdr map[string]string) *http.Response {
	t.Helper()
	mux := http.NewServeMux()
	New().Mount(mux)
	req := httptest.NewRequest(method, target, nil)
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	rec := httptest.NewRecorder()
	mux.ServeHTTP(rec, req)
	return rec.Result()
}

func body(t *testing.T, r *http.Response) string {
	t.Helper()
	b, err := io.ReadAll(r.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestServesFilesWithTheirTypesAndHeaders(t *testing.T) {
	for _, tc := range []struct {
		path, ctype, contains string
	}{
		{"/console/", "text/html; charset=utf-8", `<script src="console.js" defer></script>`},
		{"/console/index.html", "text/html; charset=utf-8", "清流 值班台"},
		{"/console/console.js", "text/javascript; charset=utf-8", "'use strict'"},
		{"/console/console.css", "text/css; charset=utf-8", ".badge.lvl-red"},
		{"/console/favicon.svg", "image/svg+xml", "<svg"},
	} {
		t.Run(tc.path, func(t *testing.T) {
			r := serve(t, "GET", tc.path, nil)
			b := body(t, r)
			if r.StatusCode != 200 || r.Header.Get("Content-Type") != tc.ctype || !strings.Contains(b, tc.contains) {
				t.Fatalf("%d %q, body has %q: %t", r.StatusCode, r.Header.Get("Content-Type"), tc.contains, strings.Contains(b, tc.contains))
			}
			for k, want := range map[string]string{
				"Content-Security-Policy": contentSecurityPolicy,
				"X-Content-Type-Options":  "nosniff",
				"X-Frame-Options":         "DENY",
				"Referrer-Policy":         "no-referrer",
				"Cache-Control":           "no-cache",
			} {
				if got := r.Header.Get(k); got != want {
					t.Errorf("%s: %q, want %q", k, got, want)
				}
			}
			etag := r.Header.Get("ETag")
			if etag == "" {
				t.Fatal("no ETag")
			}
			if r := serve(t, "GET", tc.path, map[string]string{"If-None-Match": etag}); r.StatusCode != http.StatusNotModified {
				t.Fatalf("revalidation: %d, want 304", r.StatusCode)
			}
		})
	}
}

func TestPolicyAllowsOnlyOwnOrigin(t *testing.T) {
	for _, d := range []string{"default-src 'none'", "script-src 'self'", "style-src 'self'", "connect-src 'self'", "frame-ancestors 'none'"} {
		if !strings.Contains(contentSecurityPolicy, d) {
			t.Errorf("policy lacks %s", d)
		}
	}
	if strings.Contains(contentSecurityPolicy, "unsafe") || strings.Contains(contentSecurityPolicy, "*") ||
		strings.Contains(contentSecurityPolicy, "http") || strings.Contains(contentSecurityPolicy, "data:") {
		t.Errorf("policy allows more than the origin: %s", contentSecurityPolicy)
	}
}

// The page loads nothing from elsewhere and has no inline script, style or
// event handler (the policy would block them); data goes in as text.
func TestPageIsSelfContained(t *testing.T) {
	h := New()
	for name, f := range h.files {
		s := string(f.body)
		for _, bad := range []string{"http://", "https://", "//cdn", "@import", "innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval("} {
			if name == "favicon.svg" && bad == "http://" {
				continue // the SVG namespace
			}
			if strings.Contains(s, bad) {
				t.Errorf("%s contains %q", name, bad)
			}
		}
	}
	html := string(h.files["index.html"].body)
	if m := regexp.MustCompile(`<script(?:[^>]*)>([^<]+)</script>|<style|\son[a-z]+=|\sstyle=`).FindString(html); m != "" {
		t.Errorf("index.html has inline script, style or handler: %q", m)
	}
}

// The level colours of the console are the unified scale's.
func TestLevelColoursAreTheDomains(t *testing.T) {
	css := string(New().files["console.css"].body)
	for _, l := range domain.Levels() {
		want := "--lvl-" + l.String() + ": " + l.Color() + ";"
		if !strings.Contains(css, want) {
			t.Errorf("console.css lacks %q", want)
		}
	}
}

func TestRootRedirectsAndUnknownIs404(t *testing.T) {
	r := serve(t, "GET", "/", nil)
	if r.StatusCode != http.StatusFound || r.Header.Get("Location") != "/console/" {
		t.Fatalf("GET /: %d %q", r.StatusCode, r.Header.Get("Location"))
	}
	// ServeMux's own redirect to the subtree (307 in Go 1.26).
	if r := serve(t, "GET", "/console", nil); r.StatusCode/100 != 3 || r.Header.Get("Location") != "/console/" {
		t.Fatalf("GET /console: %d %q", r.StatusCode, r.Header.Get("Location"))
	}
	for _, p := range []string{"/console/nope.js", "/console/static/console.js", "/console/console.js/x", "/console/.env", "/other"} {
		r := serve(t, "GET", p, nil)
		if r.StatusCode != http.StatusNotFound {
			t.Errorf("GET %s: %d, want 404", p, r.StatusCode)
		}
	}
	r = serve(t, "GET", "/console/nope.js", nil)
	if r.Header.Get("X-Content-Type-Options") != "nosniff" || !strings.HasPrefix(r.Header.Get("Content-Type"), "text/plain") {
		t.Errorf("404 headers: %v", r.Header)
	}
}

func TestOnlyGet(t *testing.T) {
	for _, m := range []string{"POST", "PUT", "DELETE"} {
		for _, p := range []string{"/console/", "/console/console.js", "/"} {
			if r := serve(t, m, p, nil); r.StatusCode != http.StatusMethodNotAllowed {
				t.Errorf("%s %s: %d, want 405", m, p, r.StatusCode)
			}
		}
	}
	r := serve(t, "HEAD", "/console/", nil)
	if r.StatusCode != 200 || body(t, r) != "" || r.Header.Get("Content-Type") != "text/html; charset=utf-8" {
		t.Fatalf("HEAD: %d", r.StatusCode)
	}
}
