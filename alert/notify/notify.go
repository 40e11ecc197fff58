// Package notify is the alert service's delivery side: the message an outbox
// entry carries, the notifiers that send it (signed CloudEvents webhook,
// SMTP email, an HTTP SMS gateway, a NATS subject), the templates they
// render, CAP 1.2 documents and the Atom feed, and the classification of
// delivery errors into permanent and retryable ones.
//
// Every notifier has one method, Notify(ctx, *Message) error; the sender in
// package alert declares that interface where it uses it.
package notify

import (
	"errors"
	"fmt"
	"net/url"
	"time"

	"github.com/qingliu/qingliu/domain"
)

// Event says why a notification is sent.
type Event string

// The notification events. Their CloudEvents type is cn.qingliu.alert.<event>.
const (
	EventFiring      Event = "firing"      // a new alert, first notification to this receiver
	EventEscalated   Event = "escalated"   // the level rose
	EventDeescalated Event = "deescalated" // the level fell, still firing
	EventUpdated     Event = "updated"     // same level: confirmed, new ETA, more evidence
	EventResolved    Event = "resolved"    // the condition cleared
	EventReminder    Event = "reminder"    // repeat interval passed without acknowledgement
	EventOverdue     Event = "overdue"     // escalation policy: unacknowledged after N minutes
)

// CloudEventType is the CloudEvents type attribute of the event.
func (e Event) CloudEventType() string { return "cn.qingliu.alert." + string(e) }

// ZH is the event in Chinese, for templates.
func (e Event) ZH() string {
	switch e {
	case EventFiring:
		return "发布"
	case EventEscalated:
		return "升级"
	case EventDeescalated:
		return "降级"
	case EventUpdated:
		return "更新"
	case EventResolved:
		return "解除"
	case EventReminder:
		return "提醒"
	case EventOverdue:
		return "超时未确认"
	}
	return string(e)
}

// AgencyAck is one owning agency of an alert and its acknowledgement state.
type AgencyAck struct {
	Agency  string     `json:"agency"`
	Name    string     `json:"name"`
	Acked   bool       `json:"acked"`
	By      string     `json:"by,omitempty"`
	At      *time.Time `json:"at,omitempty"`
	Comment string     `json:"comment,omitempty"`
}

// Alert is what a notification says about one alert. It is the data of a
// CloudEvent, the input of the templates and of CAP.
type Alert struct {
	ID      string `json:"id"`  // the rules engine's alert_id, stable
	Ref     string `json:"ref"` // short fingerprint of ID used in URLs
	Episode int    `json:"episode"`
	Seq     uint64 `json:"seq"`
	// Status is pending, firing or resolved.
	Status      domain.Status `json:"status"`
	Level       domain.Level  `json:"level"`
	LevelZH     string        `json:"level_zh"`
	PrevLevel   domain.Level  `json:"prev_level"`
	Technical   bool          `json:"technical"`
	Joint       bool          `json:"joint"`
	Rule        string        `json:"rule"`
	Kind        string        `json:"kind"`
	Station     string        `json:"station"`
	StationName string        `json:"station_name,omitempty"`
	StationKind string        `json:"station_kind,omitempty"`
	Parameter   string        `json:"parameter,omitempty"`
	River       string        `json:"river,omitempty"`
	City        string        `json:"city,omitempty"`
	District    string        `json:"district,omitempty"`
	Lat         float64       `json:"lat,omitempty"`
	Lon         float64       `json:"lon,omitempty"`
	// Jurisdictions are the cities whose agencies own the alert.
	Jurisdictions []string    `json:"jurisdictions"`
	Agencies      []AgencyAck `json:"agencies"`
	Value         float64     `json:"value"`
	Threshold     float64     `json:"threshold,omitempty"`
	Window        string      `json:"window,omitempty"`
	ETA           *time.Time  `json:"eta,omitempty"`
	Confidence    string      `json:"confidence,omitempty"`
	SourceAlert   string      `json:"source_alert,omitempty"`
	SourceStation string      `json:"source_station,omitempty"`
	SummaryZH     string      `json:"summary_zh"`
	SummaryEN     string      `json:"summary_en"`
	Reason        string      `json:"reason,omitempty"`
	// At is the observation time of the latest transition.
	At         time.Time  `json:"at"`
	StartsAt   time.Time  `json:"starts_at"`
	UpdatedAt  time.Time  `json:"updated_at"`
	ResolvedAt *time.Time `json:"resolved_at,omitempty"`
	URL        string     `json:"url,omitempty"`
	CAPURL     string     `json:"cap_url,omitempty"`
}

// Item is one alert in a message, with its notification id
// (alert_id:seq:receiver, plus :r<n> for a reminder or :o<step> for an
// overdue re-notification): the CloudEvent id and idempotency key.
type Item struct {
	ID    string `json:"id"`
	Event Event  `json:"event"`
	Alert Alert  `json:"alert"`
}

// Message is one outbox entry: what one receiver gets in one delivery. A
// group of alerts that went out together is one message with several items.
// ID is the delivery's idempotency key (the Nats-Msg-Id of the outbox entry
// and the Webhook-Id header): the item id for one item, else a hash of them.
type Message struct {
	ID       string    `json:"id"`
	Receiver string    `json:"receiver"`
	Agency   string    `json:"agency"`
	Created  time.Time `json:"created"`
	Items    []Item    `json:"items"`
}

// Error is a classified delivery failure.
type Error struct {
	Err error
	// Permanent: retrying cannot help (4xx, bad address, template error).
	Permanent bool
	// RetryAfter is the endpoint's hint (Retry-After), zero when none.
	RetryAfter time.Duration
}

func (e *Error) Error() string { return e.Err.Error() }
func (e *Error) Unwrap() error { return e.Err }

// Permanent marks err as not worth retrying.
func Permanent(err error) error { return &Error{Err: err, Permanent: true} }

// Retry marks err as transient, with the endpoint's retry-after hint.
func Retry(err error, after time.Duration) error { return &Error{Err: err, RetryAfter: after} }

// Classify reports whether err is permanent and the retry-after hint.
// Unclassified errors are transient.
func Classify(err error) (permanent bool, retryAfter time.Duration) {
	var e *Error
	if errors.As(err, &e) {
		return e.Permanent, e.RetryAfter
	}
	return false, 0
}

// scrub removes the URL from a *url.Error: gateway URLs often carry API keys
// in the query, and errors end up in logs and in the notification log.
func scrub(op string, err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return fmt.Errorf("%s: %w", op, ue.Err)
	}
	return fmt.Errorf("%s: %w", op, err)
}
