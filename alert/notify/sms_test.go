package notify_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"golang.org/x/text/encoding/simplifiedchinese"

	"github.com/qingliu/qingliu/alert/notify"
)

// Secrets a gateway configuration carries; no error may show them.
const (
	smsAPIKey = "sk-live-DO-NOT-LEAK-7f3a"
	smsToken  = "Bearer tok-DO-NOT-LEAK-91c2"
)

// gwRequest is what the gateway received.
type gwRequest struct {
	Method, Path string
	Query        url.Values
	Header       http.Header
	Body         []byte
}

// gateway is a real HTTP SMS gateway on 127.0.0.1 that records each request
// and answers with answer.
type gateway struct {
	URL  string // base URL, no path
	reqs chan gwRequest
}

func newGateway(t *testing.T, answer http.HandlerFunc) *gateway {
	t.Helper()
	l, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	g := &gateway{reqs: make(chan gwRequest, 16)}
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		b, err := io.ReadAll(r.Body)
		if err != nil {
			t.Errorf("gateway: read body: %v", err)
		}
		g.reqs <- gwRequest{Method: r.Method, Path: r.URL.Path, Query: r.URL.Query(), Header: r.Header.Clone(), Body: b}
		answer(rw, r)
	}))
	srv.Listener.Close()
	srv.Listener = l
	srv.Start()
	t.Cleanup(srv.Close)
	g.URL = srv.URL
	return g
}

// next returns the next request the gateway received.
func (g *gateway) next(t *testing.T) gwRequest {
	t.Helper()
	select {
	case r := <-g.reqs:
		return r
	case <-time.After(waitFor):
		t.Fatal("gateway received no request")
		return gwRequest{}
	}
}

// none checks that the gateway received nothing more. The handler records
// a request before it answers, so after Notify returned every request it
// made is in the channel.
func (g *gateway) none(t *testing.T) {
	t.Helper()
	select {
	case r := <-g.reqs:
		t.Fatalf("unexpected gateway request %s %s: %s", r.Method, r.Path, r.Body)
	default:
	}
}

func answerJSON(status int, body string) http.HandlerFunc {
	return func(rw http.ResponseWriter, _ *http.Request) {
		rw.Header().Set("Content-Type", "application/json")
		rw.WriteHeader(status)
		_, _ = io.WriteString(rw, body)
	}
}

// jsonGatewayConfig is the gz-sms receiver of configs/routing.yaml: a JSON
// body with the signature, the numbers and the text; the API key in the
// query and a bearer token in a header.
func jsonGatewayConfig(g *gateway) notify.SMSConfig {
	return notify.SMSConfig{
		URL:         g.URL + "/sms/send?appkey=" + smsAPIKey,
		ContentType: "application/json; charset=utf-8",
		Headers:     map[string]string{"Authorization": smsToken, "X-Gateway-Account": "qingliu"},
		Body:        `{"sign":{{json .Sign}},"phones":{{json .Phones}},"content":{{json .Text}}}`,
		Numbers:     []string{"13800000001", "13800000002"},
		Sign:        "【清流】",
		Lang:        "zh",
		MaxRunes:    70,
		Link:        true,
		Success:     regexp.MustCompile(`"code":\s*0\b`),
		Timeout:     waitFor,
	}
}

func newSMS(t *testing.T, cfg notify.SMSConfig) *notify.SMS {
	t.Helper()
	s, err := notify.NewSMS(cfg, shippedTemplates(t), nil)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestSMSGatewayRequestJSON checks the exact request a JSON gateway gets.
func TestSMSGatewayRequestJSON(t *testing.T) {
	g := newGateway(t, answerJSON(200, `{"code":0,"msg":"ok","data":{"batch":"b-1"}}`))
	s := newSMS(t, jsonGatewayConfig(g))
	if err := s.Notify(t.Context(), testMessage(firing(testAlert()))); err != nil {
		t.Fatalf("notify: %v", err)
	}
	r := g.next(t)
	g.none(t)
	if r.Method != http.MethodPost || r.Path != "/sms/send" || r.Query.Get("appkey") != smsAPIKey {
		t.Errorf("request line: %s %s?%s", r.Method, r.Path, r.Query.Encode())
	}
	for k, want := range map[string]string{
		"Content-Type":      "application/json; charset=utf-8",
		"Authorization":     smsToken,
		"X-Gateway-Account": "qingliu",
	} {
		if got := r.Header.Get(k); got != want {
			t.Errorf("header %s = %q, want %q", k, got, want)
		}
	}
	// The signature goes in its own field and is not repeated in the text
	// (the shipped template starts with it), and one request carries every
	// number.
	want := `{"sign":"【清流】","phones":"13800000001,13800000002","content":"发布红色预警：北江石角氨氮红色预警 http://127.0.0.1:8080/a/0123"}`
	if string(r.Body) != want {
		t.Errorf("body\n got %s\nwant %s", r.Body, want)
	}
	var v struct{ Sign, Phones, Content string }
	if err := json.Unmarshal(r.Body, &v); err != nil {
		t.Fatalf("body is not JSON: %v", err)
	}
	if n := utf8.RuneCountInString(v.Sign + v.Content); n > notify.SMSSegmentRunes {
		t.Errorf("signature and text are %d characters, more than one segment", n)
	}
}

// TestSMSGatewayRequestForm checks form bodies: one request per number, and
// a GBK gateway whose form values must be percent-encoded GBK bytes.
func TestSMSGatewayRequestForm(t *testing.T) {
	const text = "发布红色预警：北江石角氨氮红色预警 http://127.0.0.1:8080/a/0123"
	for _, tc := range []struct {
		name, charset, contentType string
		decode                     func(string) (string, error)
	}{
		{"utf-8", "utf-8", "application/x-www-form-urlencoded; charset=utf-8",
			func(s string) (string, error) { return s, nil }},
		{"gbk", "gbk", "application/x-www-form-urlencoded; charset=GBK",
			func(s string) (string, error) { return simplifiedchinese.GBK.NewDecoder().String(s) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := newGateway(t, answerJSON(200, `ok`))
			s := newSMS(t, notify.SMSConfig{
				URL: g.URL + "/sms", ContentType: tc.contentType, Charset: tc.charset,
				Body:    `account=qingliu&mobile={{urlquery .Phone}}&content={{urlquery .Sign}}{{urlquery .Text}}`,
				Numbers: []string{"13900000001", "13900000002"}, OnePerNumber: true,
				Sign: "【清流】", Lang: "zh", Link: true, Timeout: waitFor,
			})
			if err := s.Notify(t.Context(), testMessage(firing(testAlert()))); err != nil {
				t.Fatalf("notify: %v", err)
			}
			for _, phone := range []string{"13900000001", "13900000002"} {
				r := g.next(t)
				if r.Header.Get("Content-Type") != tc.contentType {
					t.Errorf("content type %q", r.Header.Get("Content-Type"))
				}
				// A form body is ASCII: url.ParseQuery unescapes to the raw
				// bytes, which are in the gateway's charset.
				for _, c := range r.Body {
					if c >= 0x80 {
						t.Fatalf("form body is not ASCII: %q", r.Body)
					}
				}
				f, err := url.ParseQuery(string(r.Body))
				if err != nil {
					t.Fatalf("form body %q: %v", r.Body, err)
				}
				content, err := tc.decode(f.Get("content"))
				if err != nil {
					t.Fatalf("decode content: %v", err)
				}
				if f.Get("account") != "qingliu" || f.Get("mobile") != phone || content != "【清流】"+text {
					t.Errorf("gateway read account=%q mobile=%q content=%q", f.Get("account"), f.Get("mobile"), content)
				}
			}
			g.none(t)
		})
	}
}

// TestSMSGatewayRequestGBKRaw checks a GBK body written without escaping:
// the whole body is encoded, and characters GBK lacks do not fail the
// delivery.
func TestSMSGatewayRequestGBKRaw(t *testing.T) {
	g := newGateway(t, answerJSON(200, `ok`))
	s := newSMS(t, notify.SMSConfig{
		URL: g.URL + "/sms", ContentType: "text/plain; charset=GBK", Charset: "GBK",
		Body: `{{.Phones}}|{{.Sign}}{{.Text}}`, Numbers: []string{"13900000001"},
		Sign: "【清流】", Lang: "zh", Timeout: waitFor,
	})
	a := testAlert()
	// GBK lacks µ (U+00B5), ³ and 𠀀 (U+20000).
	a.SummaryZH = "𠀀站PM2.5浓度120µg/m³"
	if err := s.Notify(t.Context(), testMessage(firing(a))); err != nil {
		t.Fatalf("notify: %v", err)
	}
	r := g.next(t)
	got, err := simplifiedchinese.GBK.NewDecoder().Bytes(r.Body)
	if err != nil {
		t.Fatal(err)
	}
	if want := "13900000001|【清流】发布红色预警：?站PM2.5浓度120μg/m3"; string(got) != want {
		t.Errorf("gateway read %q, want %q", got, want)
	}
}

// TestSMSSegments checks what the subscriber's phone shows: the signature
// and the text fit MaxRunes characters (runes, not bytes: one Chinese
// character is 3 bytes of UTF-8), a cut is marked with … and keeps the link
// whole, and the signature appears once.
func TestSMSSegments(t *testing.T) {
	const link = "http://127.0.0.1:8080/a/0123"
	long := testAlert()
	long.SummaryZH = "北江石角断面氨氮3.1 mg/L，超过地表水III类标准2.0 mg/L，预计6小时后到达清远七星岗水厂取水口，请立即启动应急监测 NH3-N above Class III limit at Shijiao"
	long.SummaryEN = "Beijiang Shijiao: ammonia nitrogen 3.1 mg/L exceeds the Class III limit of 2.0 mg/L; expected at the Qixinggang waterworks intake in 6 hours"
	longZH := "发布红色预警：" + long.SummaryZH
	longLink := testAlert()
	longLink.URL = "http://127.0.0.1:8080/api/v1/alerts/0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
	second := testAlert()
	second.ID = "nh3n-high/qy-qixinggang/nh3n"
	for _, tc := range []struct {
		name   string
		alerts []notify.Alert
		lang   string
		sign   string
		link   bool
		max    int
		want   string // what the phone shows: the body is {{.Sign}}{{.Text}}
	}{
		{name: "short, not cut", alerts: []notify.Alert{testAlert()}, lang: "zh", sign: "【清流】", link: true,
			want: "【清流】发布红色预警：北江石角氨氮红色预警 " + link},
		{name: "group", alerts: []notify.Alert{testAlert(), second}, lang: "zh", sign: "【清流】",
			want: "【清流】发布红色预警：北江石角氨氮红色预警等2条"},
		{name: "long bilingual with link", alerts: []notify.Alert{long}, lang: "zh", sign: "【清流】", link: true,
			want: "【清流】" + runes(longZH, 70-4-len(link)-1-1) + "… " + link},
		{name: "long bilingual without link", alerts: []notify.Alert{long}, lang: "zh", sign: "【清流】",
			want: "【清流】" + runes(longZH, 70-4-1) + "…"},
		{name: "no configured sign: the template's counts", alerts: []notify.Alert{long}, lang: "zh",
			want: runes("【清流】"+longZH, 70-1) + "…"},
		{name: "link that does not fit is dropped", alerts: []notify.Alert{longLink}, lang: "zh", sign: "【清流】", link: true,
			want: "【清流】发布红色预警：北江石角氨氮红色预警"},
		{name: "english, longer limit", alerts: []notify.Alert{long}, lang: "en", sign: "[Qingliu] ", max: 120,
			want: "[Qingliu] " + runes("firing red: "+long.SummaryEN, 120-10-1) + "…"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := newGateway(t, answerJSON(200, `ok`))
			s := newSMS(t, notify.SMSConfig{URL: g.URL + "/sms", ContentType: "text/plain; charset=utf-8",
				Body: `{{.Sign}}{{.Text}}`, Numbers: []string{"13800000001"}, Sign: tc.sign, Lang: tc.lang,
				MaxRunes: tc.max, Link: tc.link, Timeout: waitFor})
			var items []notify.Item
			for _, a := range tc.alerts {
				items = append(items, firing(a))
			}
			if err := s.Notify(t.Context(), testMessage(items...)); err != nil {
				t.Fatalf("notify: %v", err)
			}
			got := string(g.next(t).Body)
			if got != tc.want {
				t.Errorf("phone shows\n got %q\nwant %q", got, tc.want)
			}
			max := tc.max
			if max == 0 {
				max = notify.SMSSegmentRunes
			}
			if n := utf8.RuneCountInString(got); n > max {
				t.Errorf("%d characters (%d bytes), more than %d", n, len(got), max)
			}
			if strings.Count(got, "【清流】") > 1 {
				t.Errorf("signature repeated: %q", got)
			}
		})
	}
}

func runes(s string, n int) string { return string([]rune(s)[:n]) }

// TestFitSMS pins the cutting rules on their own.
func TestFitSMS(t *testing.T) {
	zh70 := strings.Repeat("氨", 70)
	for _, tc := range []struct {
		text, link string
		max        int
		want       string
	}{
		{zh70, "", 70, zh70}, // 70 characters, 210 bytes: one segment, not cut
		{zh70 + "氮", "", 70, strings.Repeat("氨", 69) + "…"}, // 71: cut
		{"预警\n  北江\t石角 ", "", 70, "预警 北江 石角"},               // whitespace collapsed
		{zh70, "http://x/1", 20, strings.Repeat("氨", 8) + "… http://x/1"},
		{"短", "http://x/1", 20, "短 http://x/1"},
		{"短", "http://127.0.0.1/abcdefghij", 20, "短"}, // the link alone does not fit
		{"预警", "", 1, "…"},
		{"预警", "", 0, "…"}, // no panic on a nonsense limit
	} {
		got := notify.FitSMS(tc.text, tc.link, tc.max)
		if got != tc.want {
			t.Errorf("FitSMS(%q, %q, %d) = %q, want %q", tc.text, tc.link, tc.max, got, tc.want)
		}
	}
}

// TestSMSTemplateErrors checks that broken templates are reported when the
// notifier is built, and a text template that fails on real data is a
// permanent error that names the template, with nothing sent.
func TestSMSTemplateErrors(t *testing.T) {
	tm := shippedTemplates(t)
	base := notify.SMSConfig{URL: "http://127.0.0.1:1/sms", Numbers: []string{"13800000001"}, Lang: "zh"}
	for _, tc := range []struct {
		name, body, lang, want string
	}{
		{"syntax", `{"content":{{json .Text}`, "zh", "sms: body template"},
		{"unknown field", `{"mobile":{{json .Mobile}},"content":{{json .Text}}}`, "zh", "Mobile"},
		{"unknown function", `{{gbk .Text}}`, "zh", `function "gbk" not defined`},
		{"language", `{{.Text}}`, "fr", `no templates for language "fr"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := base
			cfg.Body, cfg.Lang = tc.body, tc.lang
			_, err := notify.NewSMS(cfg, tm, nil)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("NewSMS error %v, want one containing %q", err, tc.want)
			}
		})
	}

	t.Run("text template fails at send", func(t *testing.T) {
		dir := t.TempDir()
		// Passes the start-up check (rendered for receiver "sample"), fails
		// for a real receiver.
		tmpl := `{{define "email.subject"}}s{{end}}{{define "email.body"}}b{{end}}` +
			`{{define "sms"}}{{if eq .Receiver "sample"}}ok{{else}}{{.First.Alert.Nope}}{{end}}{{end}}`
		if err := os.WriteFile(filepath.Join(dir, "zh.tmpl"), []byte(tmpl), 0o600); err != nil {
			t.Fatal(err)
		}
		tm, err := notify.LoadTemplates(dir, "zh")
		if err != nil {
			t.Fatal(err)
		}
		g := newGateway(t, answerJSON(200, `ok`))
		cfg := jsonGatewayConfig(g)
		s, err := notify.NewSMS(cfg, tm, nil)
		if err != nil {
			t.Fatal(err)
		}
		err = s.Notify(t.Context(), testMessage(firing(testAlert())))
		if perm, _ := notify.Classify(err); err == nil || !perm {
			t.Fatalf("error %v, want a permanent one", err)
		}
		if !strings.Contains(err.Error(), "sms: render zh/sms") || !strings.Contains(err.Error(), "Nope") {
			t.Errorf("error does not say which template failed: %v", err)
		}
		g.none(t)
	})
}

// TestSMSGatewayAnswers checks the classification of gateway answers: 4xx
// permanent, 408/429/5xx retryable with Retry-After honoured, a 200 whose
// body does not match the success pattern retryable; and that no error
// carries the API key, the token or the gateway's answer.
func TestSMSGatewayAnswers(t *testing.T) {
	for _, tc := range []struct {
		name       string
		status     int
		header     map[string]string
		body       string
		ok         bool
		permanent  bool
		retryAfter time.Duration
		msg        string
	}{
		{name: "200 code 0", status: 200, body: `{"code": 0, "msg": "ok"}`, ok: true},
		{name: "200 code 1001 balance", status: 200, body: `{"code":1001,"msg":"余额不足 key=` + smsAPIKey + `"}`,
			msg: "does not match success pattern"},
		{name: "200 code 10", status: 200, body: `{"code":10,"msg":"bad"}`, msg: "does not match success pattern"},
		{name: "202", status: 202, body: `{"code":0}`, ok: true},
		{name: "400", status: 400, body: `{"code":40001}`, permanent: true, msg: "400 Bad Request"},
		{name: "401", status: 401, permanent: true, msg: "401 Unauthorized"},
		{name: "403", status: 403, permanent: true, msg: "403 Forbidden"},
		{name: "404", status: 404, permanent: true, msg: "404 Not Found"},
		{name: "408", status: 408, msg: "408 Request Timeout"},
		{name: "429 Retry-After", status: 429, header: map[string]string{"Retry-After": "7"}, retryAfter: 7 * time.Second,
			msg: "429 Too Many Requests"},
		{name: "500", status: 500, body: `internal error: appkey=` + smsAPIKey, msg: "500 Internal Server Error"},
		{name: "502", status: 502, msg: "502 Bad Gateway"},
		{name: "503 Retry-After", status: 503, header: map[string]string{"Retry-After": "30"}, retryAfter: 30 * time.Second,
			msg: "503 Service Unavailable"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := newGateway(t, func(rw http.ResponseWriter, _ *http.Request) {
				for k, v := range tc.header {
					rw.Header().Set(k, v)
				}
				rw.WriteHeader(tc.status)
				_, _ = io.WriteString(rw, tc.body)
			})
			s := newSMS(t, jsonGatewayConfig(g))
			err := s.Notify(t.Context(), testMessage(firing(testAlert())))
			g.next(t)
			g.none(t) // the notifier does not retry by itself: the outbox does
			if tc.ok {
				if err != nil {
					t.Fatalf("notify: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatal("no error")
			}
			perm, after := notify.Classify(err)
			if perm != tc.permanent || after != tc.retryAfter {
				t.Errorf("classified permanent=%v retry-after=%s, want %v %s (%v)", perm, after, tc.permanent, tc.retryAfter, err)
			}
			if !strings.Contains(err.Error(), tc.msg) {
				t.Errorf("error %q does not contain %q", err, tc.msg)
			}
			noSecrets(t, err)
		})
	}
}

// TestSMSTimeout checks that a gateway that does not answer within Timeout
// is a retryable error without the URL.
func TestSMSTimeout(t *testing.T) {
	release := make(chan struct{})
	g := newGateway(t, func(rw http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-release:
		}
	})
	t.Cleanup(func() { close(release) }) // before the server's Close
	cfg := jsonGatewayConfig(g)
	cfg.Timeout = 200 * time.Millisecond
	s := newSMS(t, cfg)
	done := make(chan error, 1)
	go func() { done <- s.Notify(t.Context(), testMessage(firing(testAlert()))) }()
	g.next(t)
	var err error
	select {
	case err = <-done:
	case <-time.After(waitFor):
		t.Fatal("notify did not return after the gateway timeout")
	}
	if perm, _ := notify.Classify(err); err == nil || perm {
		t.Fatalf("error %v, want a retryable one", err)
	}
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("error %v is not a deadline", err)
	}
	noSecrets(t, err)
}

// TestSMSUnreachable checks that connection errors are retryable and a bad
// URL permanent, neither showing the URL with its API key.
func TestSMSUnreachable(t *testing.T) {
	l, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := l.Addr().String()
	l.Close()
	for _, tc := range []struct {
		name, url string
		permanent bool
	}{
		{"refused", "http://" + closed + "/sms?appkey=" + smsAPIKey, false},
		{"bad url", "http://" + closed + "/sms?appkey=" + smsAPIKey + "\x7f", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := notify.SMSConfig{URL: tc.url, Body: `{{json .Text}}`, Numbers: []string{"13800000001"},
				Headers: map[string]string{"Authorization": smsToken}, Lang: "zh", Timeout: waitFor}
			s := newSMS(t, cfg)
			err := s.Notify(t.Context(), testMessage(firing(testAlert())))
			if err == nil {
				t.Fatal("no error")
			}
			if perm, _ := notify.Classify(err); perm != tc.permanent {
				t.Errorf("permanent=%v, want %v: %v", perm, tc.permanent, err)
			}
			noSecrets(t, err)
		})
	}
}

// noSecrets fails if err shows a secret; errors go to logs and to the
// delivery log the API serves.
func noSecrets(t *testing.T, err error) {
	t.Helper()
	for _, s := range []string{smsAPIKey, smsToken, "appkey"} {
		if strings.Contains(err.Error(), s) {
			t.Errorf("error leaks %q: %v", s, err)
		}
	}
}
