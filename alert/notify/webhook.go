package notify

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Webhook headers (Standard Webhooks style). The signature covers the id,
// the timestamp and the exact body bytes:
//
//	Webhook-Signature: v1=<hex(HMAC-SHA256(secret, id + "." + timestamp + "." + body))>
//
// Several space-separated signatures may appear while a secret is rotated;
// one valid signature is enough.
const (
	HdrWebhookID        = "Webhook-Id"
	HdrWebhookTimestamp = "Webhook-Timestamp"
	HdrWebhookSignature = "Webhook-Signature"
	HdrIdempotencyKey   = "Idempotency-Key"
)

// Content types of CloudEvents 1.0 structured and batched JSON modes.
const (
	ContentTypeCloudEvent = "application/cloudevents+json; charset=utf-8"
	ContentTypeBatch      = "application/cloudevents-batch+json; charset=utf-8"
)

// CloudEvent is a CloudEvents 1.0 event in structured JSON mode whose data is
// an Alert.
type CloudEvent struct {
	SpecVersion     string    `json:"specversion"`
	Type            string    `json:"type"`
	Source          string    `json:"source"`
	ID              string    `json:"id"`
	Time            time.Time `json:"time"`
	Subject         string    `json:"subject,omitempty"`
	DataContentType string    `json:"datacontenttype"`
	// Extension attributes: the receiving agency and the delivery id.
	QLAgency   string `json:"qlagency,omitempty"`
	QLDelivery string `json:"qldelivery,omitempty"`
	Data       Alert  `json:"data"`
}

// CloudEvents returns the events of a message, one per item.
func CloudEvents(m *Message, source string) []CloudEvent {
	out := make([]CloudEvent, len(m.Items))
	for i, it := range m.Items {
		out[i] = CloudEvent{SpecVersion: "1.0", Type: it.Event.CloudEventType(), Source: source, ID: it.ID,
			Time: m.Created.UTC(), Subject: it.Alert.ID, DataContentType: "application/json",
			QLAgency: m.Agency, QLDelivery: m.ID, Data: it.Alert}
	}
	return out
}

// EncodeCloudEvents encodes a message: one event as a structured event, more
// as a batch (a JSON array). It returns the body and its content type.
func EncodeCloudEvents(m *Message, source string) ([]byte, string, error) {
	evs := CloudEvents(m, source)
	if len(evs) == 1 {
		b, err := json.Marshal(evs[0])
		return b, ContentTypeCloudEvent, err
	}
	b, err := json.Marshal(evs)
	return b, ContentTypeBatch, err
}

// Sign returns the Webhook-Signature value for id, timestamp and body.
func Sign(secret []byte, id string, ts int64, body []byte) string {
	mac := hmac.New(sha256.New, secret)
	mac.Write([]byte(id))
	mac.Write([]byte{'.'})
	mac.Write([]byte(strconv.FormatInt(ts, 10)))
	mac.Write([]byte{'.'})
	mac.Write(body)
	return "v1=" + hex.EncodeToString(mac.Sum(nil))
}

// Verification errors.
var (
	ErrBadSignature = errors.New("webhook signature does not match")
	ErrStale        = errors.New("webhook timestamp outside the replay window")
)

// Verify checks a received webhook: the timestamp is within window of now
// (replay protection) and one of the signatures matches. Receivers should
// also remember Webhook-Id values for at least the window and drop repeats:
// a retried delivery keeps its id.
func Verify(secret []byte, h http.Header, body []byte, now time.Time, window time.Duration) error {
	id, tsStr, sigs := h.Get(HdrWebhookID), h.Get(HdrWebhookTimestamp), h.Get(HdrWebhookSignature)
	ts, err := strconv.ParseInt(tsStr, 10, 64)
	if id == "" || err != nil {
		return fmt.Errorf("webhook: missing id or timestamp: %w", ErrBadSignature)
	}
	if d := now.Sub(time.Unix(ts, 0)); d > window || d < -window {
		return ErrStale
	}
	want := Sign(secret, id, ts, body)
	for _, s := range strings.Fields(sigs) {
		if hmac.Equal([]byte(s), []byte(want)) {
			return nil
		}
	}
	return ErrBadSignature
}

// WebhookConfig configures a webhook notifier.
type WebhookConfig struct {
	URL     string
	Secret  []byte
	Headers map[string]string
	Timeout time.Duration
	// Source is the CloudEvents source attribute, e.g. /qingliu/alert.
	Source string
}

// Webhook posts CloudEvents with HMAC signatures.
type Webhook struct {
	cfg    WebhookConfig
	client *http.Client
	now    func() time.Time
}

// NewWebhook builds a webhook notifier. client may be nil.
func NewWebhook(cfg WebhookConfig, client *http.Client, now func() time.Time) *Webhook {
	if client == nil {
		client = &http.Client{}
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 10 * time.Second
	}
	return &Webhook{cfg: cfg, client: client, now: now}
}

// Notify posts m. Each attempt is signed with a fresh timestamp; the id and
// body stay the same, so the receiver can drop repeats.
func (w *Webhook) Notify(ctx context.Context, m *Message) error {
	body, ctype, err := EncodeCloudEvents(m, w.cfg.Source)
	if err != nil {
		return Permanent(fmt.Errorf("webhook: encode: %w", err))
	}
	ctx, cancel := context.WithTimeout(ctx, w.cfg.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, w.cfg.URL, bytes.NewReader(body))
	if err != nil {
		return Permanent(scrub("webhook: build request", err))
	}
	ts := w.now().Unix()
	req.Header.Set("Content-Type", ctype)
	req.Header.Set("User-Agent", "qingliu-alert/1")
	for k, v := range w.cfg.Headers {
		req.Header.Set(k, v)
	}
	req.Header.Set(HdrWebhookID, m.ID)
	req.Header.Set(HdrIdempotencyKey, m.ID)
	req.Header.Set(HdrWebhookTimestamp, strconv.FormatInt(ts, 10))
	req.Header.Set(HdrWebhookSignature, Sign(w.cfg.Secret, m.ID, ts, body))
	resp, err := w.client.Do(req)
	if err != nil {
		return Retry(scrub("webhook: post", err), 0)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	return classifyHTTP("webhook", resp)
}

// classifyHTTP sorts an HTTP answer: 2xx ok; 408, 425, 429 and 5xx retry
// (honouring Retry-After); other statuses are permanent.
func classifyHTTP(what string, resp *http.Response) error {
	code := resp.StatusCode
	if code >= 200 && code < 300 {
		return nil
	}
	err := fmt.Errorf("%s: endpoint answered %d %s", what, code, http.StatusText(code))
	if code == http.StatusRequestTimeout || code == http.StatusTooEarly || code == http.StatusTooManyRequests || code >= 500 {
		return Retry(err, retryAfter(resp.Header.Get("Retry-After")))
	}
	return Permanent(err)
}

func retryAfter(v string) time.Duration {
	if v == "" {
		return 0
	}
	if s, err := strconv.Atoi(v); err == nil && s >= 0 {
		return time.Duration(s) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil {
		return max(time.Until(t), 0)
	}
	return 0
}
