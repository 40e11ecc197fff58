package notify

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"text/template"
	"time"

	"github.com/qingliu/qingliu/domain"
)

// Languages of the shipped templates: one file per language,
// <dir>/<lang>.tmpl, each defining the templates named below.
const (
	TmplEmailSubject = "email.subject"
	TmplEmailBody    = "email.body"
	TmplSMS          = "sms"
)

// chinaTime is China Standard Time (no daylight saving since 1991).
var chinaTime = time.FixedZone("CST", 8*3600)

// TemplateData is what the templates see.
type TemplateData struct {
	Message    *Message
	Items      []Item
	First      Item
	Receiver   string
	Agency     string
	AgencyName string
	Lang       string
}

// Templates are the parsed text/template files, one set per language.
type Templates struct {
	byLang map[string]*template.Template
}

func funcs() template.FuncMap {
	return template.FuncMap{
		"cst": func(t any) string {
			switch v := t.(type) {
			case time.Time:
				return v.In(chinaTime).Format("2006-01-02 15:04")
			case *time.Time:
				if v == nil {
					return ""
				}
				return v.In(chinaTime).Format("2006-01-02 15:04")
			}
			return ""
		},
		"num":     func(v float64) string { return strconv.FormatFloat(v, 'g', 4, 64) },
		"join":    func(sep string, s []string) string { return strings.Join(s, sep) },
		"upper":   strings.ToUpper,
		"eventzh": func(e Event) string { return e.ZH() },
		"statuszh": func(s domain.Status) string {
			switch s {
			case domain.Firing:
				return "生效"
			case domain.Resolved:
				return "已解除"
			case domain.Pending:
				return "待定"
			}
			return s.String()
		},
	}
}

// LoadTemplates parses <dir>/<lang>.tmpl for each language. Missing keys are
// errors at render time; every language must define every template, checked
// here by rendering a sample.
func LoadTemplates(dir string, langs ...string) (*Templates, error) {
	t := &Templates{byLang: map[string]*template.Template{}}
	for _, lang := range langs {
		file := filepath.Join(dir, lang+".tmpl")
		b, err := os.ReadFile(file)
		if err != nil {
			return nil, fmt.Errorf("templates: %w", err)
		}
		tm, err := template.New(lang).Funcs(funcs()).Option("missingkey=error").Parse(string(b))
		if err != nil {
			return nil, fmt.Errorf("templates: %s: %w", file, err)
		}
		t.byLang[lang] = tm
		sample := sampleMessage()
		for _, name := range []string{TmplEmailSubject, TmplEmailBody, TmplSMS} {
			if tm.Lookup(name) == nil {
				return nil, fmt.Errorf("templates: %s: no template %q defined", file, name)
			}
			if _, err := t.Render(lang, name, sample, "sample", "sample"); err != nil {
				return nil, fmt.Errorf("templates: %s: %w", file, err)
			}
		}
	}
	return t, nil
}

// Has reports whether lang was loaded.
func (t *Templates) Has(lang string) bool { _, ok := t.byLang[lang]; return ok }

// Render executes template name of lang for m.
func (t *Templates) Render(lang, name string, m *Message, agency, agencyName string) (string, error) {
	tm, ok := t.byLang[lang]
	if !ok {
		return "", fmt.Errorf("no templates for language %q", lang)
	}
	d := TemplateData{Message: m, Items: m.Items, Receiver: m.Receiver, Agency: agency, AgencyName: agencyName, Lang: lang}
	if len(m.Items) > 0 {
		d.First = m.Items[0]
	}
	var buf bytes.Buffer
	if err := tm.ExecuteTemplate(&buf, name, d); err != nil {
		return "", fmt.Errorf("render %s/%s: %w", lang, name, err)
	}
	return strings.TrimSpace(buf.String()), nil
}

func sampleMessage() *Message {
	now := time.Date(2026, 11, 26, 14, 0, 0, 0, chinaTime)
	eta := now.Add(6 * time.Hour)
	a := Alert{ID: "nh3n-high/bj-shijiao/nh3n", Ref: "0123456789abcdef", Seq: 2, Status: domain.Firing,
		Level: domain.Red, LevelZH: domain.Red.Chinese(), Station: "bj-shijiao", StationName: "石角", River: "北江",
		City: "清远", Parameter: "nh3n", Jurisdictions: []string{"广州", "清远"}, Joint: true, Value: 3.1, Threshold: 2,
		ETA: &eta, SummaryZH: "北江石角氨氮红色预警", SummaryEN: "Beijiang Shijiao ammonia red warning",
		Agencies: []AgencyAck{{Agency: "gz", Name: "广州市生态环境局"}}, At: now, StartsAt: now, UpdatedAt: now,
		URL: "http://127.0.0.1:8080/api/v1/alerts/0123456789abcdef"}
	return &Message{ID: "sample", Receiver: "sample", Created: now, Items: []Item{{ID: "x:2:sample", Event: EventFiring, Alert: a}}}
}
