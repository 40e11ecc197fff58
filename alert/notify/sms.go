package notify

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"text/template"
	"time"
	"unicode/utf8"

	"golang.org/x/text/encoding/simplifiedchinese"
	"golang.org/x/text/unicode/norm"
)

// SMSSegmentRunes is the length of one SMS segment with Chinese text (UCS-2):
// 70 characters. Longer texts are sent as concatenated segments of 67, which
// many gateways bill and some refuse, so by default the text is cut to fit
// one segment.
const SMSSegmentRunes = 70

// SMSConfig configures the HTTP SMS gateway notifier.
type SMSConfig struct {
	URL         string
	Method      string
	ContentType string
	Headers     map[string]string
	// Body is a text/template for the request body, with .Phone, .Phones
	// (comma-joined), .Text and .Sign, and functions json (a JSON string
	// literal) and urlquery (which escapes GBK bytes for a GBK body). .Text
	// does not start with .Sign: the body or the gateway adds it.
	Body    string
	Numbers []string
	// OnePerNumber sends one request per number (else one with .Phones).
	OnePerNumber bool
	// Charset of the request body: utf-8 or gbk (GB2312/GBK gateways).
	Charset string
	Sign    string // the registered signature, e.g. 【清流】, for .Sign
	Lang    string
	// MaxRunes is the length the signature, the text and the link are cut
	// to: 70 for one Chinese segment. Gateways count the signature.
	MaxRunes int
	// Link appends the alert's URL (the API or a short link) to the text.
	Link bool
	// Success, if set, must match the response body of a 2xx answer
	// (gateways often answer 200 with an error code inside).
	Success *regexp.Regexp
	Timeout time.Duration
}

// SMS sends alert texts through an HTTP SMS gateway.
type SMS struct {
	cfg    SMSConfig
	body   *template.Template
	tmpl   *Templates
	client *http.Client
}

// NewSMS builds the SMS notifier; client may be nil.
func NewSMS(cfg SMSConfig, tmpl *Templates, client *http.Client) (*SMS, error) {
	if client == nil {
		client = &http.Client{}
	}
	if cfg.Method == "" {
		cfg.Method = http.MethodPost
	}
	if cfg.MaxRunes <= 0 {
		cfg.MaxRunes = SMSSegmentRunes
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 10 * time.Second
	}
	if !tmpl.Has(cfg.Lang) {
		return nil, fmt.Errorf("sms: no templates for language %q", cfg.Lang)
	}
	bt, err := template.New("sms-body").Option("missingkey=error").Funcs(template.FuncMap{
		"json": func(s string) (string, error) { b, err := json.Marshal(s); return string(b), err },
		// The built-in urlquery escapes UTF-8, which a GBK gateway reads as
		// mojibake.
		"urlquery": func(args ...any) string {
			s := fmt.Sprint(args...)
			if isGBK(cfg.Charset) {
				s = string(toGBK(s))
			}
			return url.QueryEscape(s)
		},
	}).Parse(cfg.Body)
	if err != nil {
		return nil, fmt.Errorf("sms: body template: %w", err)
	}
	// text/template finds an unknown field only when it runs: run it once
	// here, so that a typo fails at start-up and not on every alert.
	if err := bt.Execute(io.Discard, smsVars{Phone: "13800000000", Phones: "13800000000", Text: "预警", Sign: cfg.Sign}); err != nil {
		return nil, fmt.Errorf("sms: body template: %w", err)
	}
	return &SMS{cfg: cfg, body: bt, tmpl: tmpl, client: client}, nil
}

func isGBK(charset string) bool {
	return strings.EqualFold(charset, "gbk") || strings.EqualFold(charset, "gb2312")
}

// toGBK encodes s as GBK. A character GBK lacks becomes its compatibility
// form when GBK has that (µ → μ, ³ → 3: air-quality units), else '?': one
// odd character must not stop a warning.
func toGBK(s string) []byte {
	enc := simplifiedchinese.GBK.NewEncoder()
	out := make([]byte, 0, len(s))
	for _, r := range s {
		b, err := enc.String(string(r))
		if err != nil {
			if b, err = enc.String(norm.NFKC.String(string(r))); err != nil {
				b = "?"
			}
		}
		out = append(out, b...)
	}
	return out
}

// Text renders the SMS text of m without the signature, cut so that the
// signature, the text and the link (kept whole) fit MaxRunes.
func (s *SMS) Text(m *Message) (string, error) {
	t, err := s.tmpl.Render(s.cfg.Lang, TmplSMS, m, m.Agency, "")
	if err != nil {
		return "", err
	}
	link := ""
	if s.cfg.Link && len(m.Items) > 0 {
		link = m.Items[0].Alert.URL
	}
	// The shipped templates start with the signature for gateways without
	// one; with Sign set the body or the gateway adds it, so it would show
	// twice and push the text into a second segment.
	t = strings.TrimPrefix(t, s.cfg.Sign)
	return FitSMS(t, link, s.cfg.MaxRunes-utf8.RuneCountInString(s.cfg.Sign)), nil
}

// FitSMS cuts text so that text, a space and link fit in max characters,
// marking a cut with "…". The link is dropped when it alone does not fit.
func FitSMS(text, link string, max int) string {
	if max < 1 {
		max = 1
	}
	text = strings.Join(strings.Fields(text), " ")
	if link != "" && utf8.RuneCountInString(link)+1 >= max {
		link = ""
	}
	room := max
	if link != "" {
		room -= utf8.RuneCountInString(link) + 1
	}
	if utf8.RuneCountInString(text) > room {
		r := []rune(text)
		text = string(r[:room-1]) + "…"
	}
	if link != "" {
		return text + " " + link
	}
	return text
}

type smsVars struct {
	Phone, Phones, Text, Sign string
}

// Notify sends the text to every configured number.
func (s *SMS) Notify(ctx context.Context, m *Message) error {
	text, err := s.Text(m)
	if err != nil {
		return Permanent(fmt.Errorf("sms: %w", err))
	}
	vars := []smsVars{{Phones: strings.Join(s.cfg.Numbers, ","), Text: text, Sign: s.cfg.Sign}}
	if s.cfg.OnePerNumber {
		vars = vars[:0]
		for _, n := range s.cfg.Numbers {
			vars = append(vars, smsVars{Phone: n, Phones: n, Text: text, Sign: s.cfg.Sign})
		}
	} else if len(s.cfg.Numbers) > 0 {
		vars[0].Phone = s.cfg.Numbers[0]
	}
	for _, v := range vars {
		if err := s.send(ctx, v); err != nil {
			return err
		}
	}
	return nil
}

func (s *SMS) send(ctx context.Context, v smsVars) error {
	var buf bytes.Buffer
	if err := s.body.Execute(&buf, v); err != nil {
		return Permanent(fmt.Errorf("sms: body template: %w", err))
	}
	body := buf.Bytes()
	if isGBK(s.cfg.Charset) {
		body = toGBK(buf.String())
	}
	ctx, cancel := context.WithTimeout(ctx, s.cfg.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, s.cfg.Method, s.cfg.URL, bytes.NewReader(body))
	if err != nil {
		return Permanent(scrub("sms: build request", err))
	}
	if s.cfg.ContentType != "" {
		req.Header.Set("Content-Type", s.cfg.ContentType)
	}
	for k, val := range s.cfg.Headers {
		req.Header.Set(k, val)
	}
	resp, err := s.client.Do(req)
	if err != nil {
		return Retry(scrub("sms: gateway", err), 0)
	}
	defer resp.Body.Close()
	rb, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if err := classifyHTTP("sms gateway", resp); err != nil {
		return err
	}
	if s.cfg.Success != nil && !s.cfg.Success.Match(rb) {
		// A gateway that answers 200 with an error code: retrying may help
		// (rate limit, balance topped up), so it is transient.
		return Retry(fmt.Errorf("sms gateway: answer does not match success pattern"), 0)
	}
	return nil
}
