package notify

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"

	mail "github.com/wneessen/go-mail"
)

// TLS modes of the SMTP client.
const (
	TLSStartTLS      = "starttls"      // STARTTLS required (the default)
	TLSOpportunistic = "opportunistic" // STARTTLS when offered
	TLSNone          = "none"          // plain SMTP (loopback development only)
	TLSImplicit      = "tls"           // SMTPS, TLS from the first byte
)

// EmailConfig configures an SMTP notifier.
type EmailConfig struct {
	Addr     string // host:port
	TLS      string
	Username string
	Password string
	From     string
	To       []string
	// Langs are the languages of the bilingual subject and body, in order.
	Langs   []string
	Timeout time.Duration
	// InsecureSkipVerify is for tests against self-signed servers only.
	InsecureSkipVerify bool
	AgencyName         string
}

// Email sends one bilingual email per message through SMTP.
type Email struct {
	cfg  EmailConfig
	tmpl *Templates
	host string
	port int
}

// NewEmail builds an email notifier; templates must define every language.
func NewEmail(cfg EmailConfig, tmpl *Templates) (*Email, error) {
	host, ps, err := net.SplitHostPort(cfg.Addr)
	if err != nil {
		return nil, fmt.Errorf("email: smtp address %q: %w", cfg.Addr, err)
	}
	port, err := strconv.Atoi(ps)
	if err != nil {
		return nil, fmt.Errorf("email: smtp port %q: %w", ps, err)
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 30 * time.Second
	}
	for _, l := range cfg.Langs {
		if !tmpl.Has(l) {
			return nil, fmt.Errorf("email: no templates for language %q", l)
		}
	}
	return &Email{cfg: cfg, tmpl: tmpl, host: host, port: port}, nil
}

// MessageID is the Message-ID header of a delivery: the same on every
// attempt, so that a mail system drops a repeat.
func MessageID(deliveryID string) string {
	h := sha256.Sum256([]byte(deliveryID))
	return hex.EncodeToString(h[:16]) + "@qingliu"
}

// Compose renders the subject and the plain-text body of m.
func (e *Email) Compose(m *Message) (subject, body string, err error) {
	var subs, bodies []string
	for _, l := range e.cfg.Langs {
		s, err := e.tmpl.Render(l, TmplEmailSubject, m, m.Agency, e.cfg.AgencyName)
		if err != nil {
			return "", "", err
		}
		b, err := e.tmpl.Render(l, TmplEmailBody, m, m.Agency, e.cfg.AgencyName)
		if err != nil {
			return "", "", err
		}
		subs, bodies = append(subs, s), append(bodies, b)
	}
	return strings.Join(subs, " / "), strings.Join(bodies, "\n\n――――――――――――――――\n\n") + "\n", nil
}

// Notify sends m. SMTP 5xx answers are permanent; 4xx and connection
// failures are retried.
func (e *Email) Notify(ctx context.Context, m *Message) error {
	subject, body, err := e.Compose(m)
	if err != nil {
		return Permanent(fmt.Errorf("email: %w", err))
	}
	msg := mail.NewMsg()
	if err := msg.From(e.cfg.From); err != nil {
		return Permanent(fmt.Errorf("email: from address: %w", err))
	}
	if err := msg.To(e.cfg.To...); err != nil {
		return Permanent(fmt.Errorf("email: to address: %w", err))
	}
	msg.Subject(subject)
	msg.SetMessageIDWithValue(MessageID(m.ID))
	msg.SetGenHeader("X-Qingliu-Delivery", m.ID)
	msg.SetDateWithValue(m.Created)
	msg.SetBodyString(mail.TypeTextPlain, body)

	opts := []mail.Option{mail.WithPort(e.port), mail.WithTimeout(e.cfg.Timeout)}
	switch e.cfg.TLS {
	case TLSNone:
		opts = append(opts, mail.WithTLSPortPolicy(mail.NoTLS), mail.WithPort(e.port))
	case TLSOpportunistic:
		opts = append(opts, mail.WithTLSPolicy(mail.TLSOpportunistic))
	case TLSImplicit:
		opts = append(opts, mail.WithSSL(), mail.WithPort(e.port))
	default:
		opts = append(opts, mail.WithTLSPolicy(mail.TLSMandatory))
	}
	if e.cfg.InsecureSkipVerify {
		opts = append(opts, mail.WithTLSConfig(&tls.Config{InsecureSkipVerify: true, ServerName: e.host})) //nolint:gosec // tests only
	}
	if e.cfg.Username != "" {
		opts = append(opts, mail.WithSMTPAuth(mail.SMTPAuthAutoDiscover), mail.WithUsername(e.cfg.Username), mail.WithPassword(e.cfg.Password))
	}
	c, err := mail.NewClient(e.host, opts...)
	if err != nil {
		return Permanent(fmt.Errorf("email: client: %w", err))
	}
	ctx, cancel := context.WithTimeout(ctx, e.cfg.Timeout)
	defer cancel()
	if err := c.DialAndSendWithContext(ctx, msg); err != nil {
		var se *mail.SendError
		if errors.As(err, &se) && !se.IsTemp() && se.ErrorCode() >= 500 {
			return Permanent(fmt.Errorf("email: smtp %s: %w", e.cfg.Addr, err))
		}
		return Retry(fmt.Errorf("email: smtp %s: %w", e.cfg.Addr, err), 0)
	}
	return nil
}
