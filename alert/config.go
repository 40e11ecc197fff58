package alert

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/qingliu/qingliu/domain"
	"github.com/qingliu/qingliu/internal/conf"
)

// Config is configs/routing.yaml as written: agencies, receivers, the routing
// tree, inhibition rules and silences from configuration. Compile turns it
// into a Routing.
type Config struct {
	Service      ServiceConfig    `yaml:"service"`
	Agencies     []AgencyConfig   `yaml:"agencies"`
	Receivers    []ReceiverConfig `yaml:"receivers"`
	Route        RouteConfig      `yaml:"route"`
	InhibitRules []InhibitConfig  `yaml:"inhibit_rules"`
	Silences     []SilenceConfig  `yaml:"silences"`

	// File and Dir locate the file, for messages and relative paths.
	File string `yaml:"-"`
	Dir  string `yaml:"-"`
}

// ServiceConfig holds the service-wide settings.
type ServiceConfig struct {
	// PublicURL is the base of links in notifications (the API server).
	PublicURL string `yaml:"public_url"`
	// CAPSender identifies the originator in CAP messages.
	CAPSender     string  `yaml:"cap_sender"`
	CAPSenderName string  `yaml:"cap_sender_name"`
	CAPRadiusKm   float64 `yaml:"cap_radius_km"`
	// Templates is the directory of <lang>.tmpl, relative to routing.yaml.
	Templates string `yaml:"templates"`
	// ResolvedRetention: how long a resolved alert stays in the alert store
	// (InfluxDB keeps the transitions for good).
	ResolvedRetention Duration `yaml:"resolved_retention"`
	// Tick drives group waits, repeats, escalation and quiet hours.
	Tick Duration  `yaml:"tick"`
	API  APIConfig `yaml:"api"`
}

// APIConfig limits the HTTP API.
type APIConfig struct {
	MaxBodyBytes int64   `yaml:"max_body_bytes"`
	RatePerSec   float64 `yaml:"rate_per_sec"`
	Burst        int     `yaml:"burst"`
	// PublicFeeds serves the CAP documents and the Atom feed without a token.
	PublicFeeds bool `yaml:"public_feeds"`
}

// AgencyConfig is one agency: who it is, what it covers, its API token and
// its escalation policy.
type AgencyConfig struct {
	ID           string             `yaml:"id"`
	Name         string             `yaml:"name"`
	NameEN       string             `yaml:"name_en"`
	Token        string             `yaml:"token"`
	TokenFile    string             `yaml:"token_file"`
	Jurisdiction JurisdictionConfig `yaml:"jurisdiction"`
	Escalation   *EscalationConfig  `yaml:"escalation"`
}

// JurisdictionConfig says which alerts an agency covers. Empty lists mean
// any. Alerts lists the classes: value (non-joint warnings), joint and
// technical; the default is value and joint.
type JurisdictionConfig struct {
	Cities       []string `yaml:"cities"`
	Districts    []string `yaml:"districts"`
	Rivers       []string `yaml:"rivers"`
	StationKinds []string `yaml:"station_kinds"`
	Alerts       []string `yaml:"alerts"`
}

// EscalationConfig: a firing alert at MinLevel or above that the agency has
// not acknowledged After its first notification is sent again to the
// agency's receivers and to Chain[0]; after another After, to Chain[1] …
type EscalationConfig struct {
	MinLevel domain.Level `yaml:"min_level"`
	After    Duration     `yaml:"after"`
	Chain    []string     `yaml:"chain"`
}

// ReceiverConfig is one destination of one agency with exactly one channel.
type ReceiverConfig struct {
	Name     string       `yaml:"name"`
	Agency   string       `yaml:"agency"`
	MinLevel domain.Level `yaml:"min_level"`
	// SendResolved (default true) sends the resolution to a receiver that
	// was told of the alert.
	SendResolved *bool            `yaml:"send_resolved"`
	QuietHours   *QuietHours      `yaml:"quiet_hours"`
	Concurrency  int              `yaml:"concurrency"`
	Retry        RetryConfig      `yaml:"retry"`
	Webhook      *WebhookReceiver `yaml:"webhook"`
	Email        *EmailReceiver   `yaml:"email"`
	SMS          *SMSReceiver     `yaml:"sms"`
	NATS         *NATSReceiver    `yaml:"nats"`
}

// QuietHours hold notifications below orange between From and To (local
// time of Timezone, default Asia/Shanghai); orange and red are never held.
type QuietHours struct {
	From     string `yaml:"from"`
	To       string `yaml:"to"`
	Timezone string `yaml:"timezone"`
}

// RetryConfig is the exponential backoff of a receiver's outbox.
type RetryConfig struct {
	Initial     Duration `yaml:"initial"`
	Max         Duration `yaml:"max"`
	GiveUpAfter Duration `yaml:"give_up_after"`
}

// WebhookReceiver posts signed CloudEvents.
type WebhookReceiver struct {
	URL        string            `yaml:"url"`
	Secret     string            `yaml:"secret"`
	SecretFile string            `yaml:"secret_file"`
	Headers    map[string]string `yaml:"headers"`
	Timeout    Duration          `yaml:"timeout"`
}

// EmailReceiver sends bilingual email through SMTP.
type EmailReceiver struct {
	SMTP         string   `yaml:"smtp"`
	TLS          string   `yaml:"tls"`
	Username     string   `yaml:"username"`
	Password     string   `yaml:"password"`
	PasswordFile string   `yaml:"password_file"`
	From         string   `yaml:"from"`
	To           []string `yaml:"to"`
	Langs        []string `yaml:"langs"`
	Timeout      Duration `yaml:"timeout"`
}

// SMSReceiver calls an HTTP SMS gateway.
type SMSReceiver struct {
	URL          string            `yaml:"url"`
	Method       string            `yaml:"method"`
	ContentType  string            `yaml:"content_type"`
	Headers      map[string]string `yaml:"headers"`
	Body         string            `yaml:"body"`
	Numbers      []string          `yaml:"numbers"`
	OnePerNumber bool              `yaml:"one_per_number"`
	Charset      string            `yaml:"charset"`
	Sign         string            `yaml:"sign"`
	Lang         string            `yaml:"lang"`
	MaxChars     int               `yaml:"max_chars"`
	Link         bool              `yaml:"link"`
	Success      string            `yaml:"success"`
	Timeout      Duration          `yaml:"timeout"`
}

// NATSReceiver publishes CloudEvents on <subject>.<event>.
type NATSReceiver struct {
	Subject string `yaml:"subject"`
}

// RouteConfig is one node of the routing tree (Alertmanager semantics: a
// node matches when all its matchers do; its children are tried in order;
// the first matching child ends the search unless it says continue; a node
// none of whose children match is itself the match).
type RouteConfig struct {
	Matchers       []string      `yaml:"matchers"`
	Receivers      []string      `yaml:"receivers"`
	Continue       bool          `yaml:"continue"`
	GroupBy        []string      `yaml:"group_by"`
	GroupWait      *Duration     `yaml:"group_wait"`
	RepeatInterval *Duration     `yaml:"repeat_interval"`
	Routes         []RouteConfig `yaml:"routes"`
}

// InhibitConfig mutes target alerts while a source alert fires with the same
// values of the Equal labels.
type InhibitConfig struct {
	Name           string   `yaml:"name"`
	SourceMatchers []string `yaml:"source_matchers"`
	TargetMatchers []string `yaml:"target_matchers"`
	Equal          []string `yaml:"equal"`
}

// SilenceConfig is a silence or maintenance window from configuration.
type SilenceConfig struct {
	ID        string    `yaml:"id"`
	Matchers  []string  `yaml:"matchers"`
	StartsAt  time.Time `yaml:"starts_at"`
	EndsAt    time.Time `yaml:"ends_at"`
	CreatedBy string    `yaml:"created_by"`
	Comment   string    `yaml:"comment"`
}

// Duration is a time.Duration written like 30s or 15m in YAML.
type Duration = conf.Duration

// LoadConfig reads routing.yaml: ${ENV} and ${ENV:-default} are expanded,
// *_file secrets read (relative to the file), unknown keys refused.
func LoadConfig(file string) (*Config, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, &conf.Error{Problems: []conf.Problem{{File: file, Msg: "cannot read: " + err.Error()}}}
	}
	ps := conf.Problems{File: file}
	expanded := conf.ExpandEnv(string(data), &ps)
	var c Config
	if err := conf.DecodeStrict(file, []byte(expanded), &c); err != nil {
		return nil, err
	}
	c.File, c.Dir = file, filepath.Dir(file)
	c.readSecrets(&ps)
	if err := ps.Err(); err != nil {
		return nil, err
	}
	return &c, nil
}

// path resolves p relative to the file's directory.
func (c *Config) path(p string) string {
	if p == "" || filepath.IsAbs(p) {
		return p
	}
	return filepath.Join(c.Dir, p)
}

func (c *Config) readSecrets(ps *conf.Problems) {
	read := func(path, file string, dst *string) {
		if file == "" {
			return
		}
		if *dst != "" {
			ps.Addf(path, "set either the value or the _file reference, not both")
			return
		}
		b, err := os.ReadFile(c.path(file))
		if err != nil {
			ps.Addf(path+"_file", "cannot read secret file %s", file)
			return
		}
		*dst = strings.TrimSpace(string(b))
	}
	for i := range c.Agencies {
		a := &c.Agencies[i]
		read(fmt.Sprintf("agencies[%d].token", i), a.TokenFile, &a.Token)
	}
	for i := range c.Receivers {
		r := &c.Receivers[i]
		if r.Webhook != nil {
			read(fmt.Sprintf("receivers[%d].webhook.secret", i), r.Webhook.SecretFile, &r.Webhook.Secret)
		}
		if r.Email != nil {
			read(fmt.Sprintf("receivers[%d].email.password", i), r.Email.PasswordFile, &r.Email.Password)
		}
	}
}
