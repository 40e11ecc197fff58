package notify

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
)

// Publisher is what the NATS notifier needs from a connection.
type Publisher interface {
	PublishMsg(m *nats.Msg) error
	FlushWithContext(ctx context.Context) error
}

// NATS publishes each item of a message as a CloudEvent (structured JSON) on
// a subject, with Nats-Msg-Id set to the notification id so that a JetStream
// stream on that subject drops repeats.
type NATS struct {
	pub     Publisher
	subject string
	source  string
}

// NewNATS builds the NATS notifier.
func NewNATS(pub Publisher, subject, source string) *NATS {
	return &NATS{pub: pub, subject: subject, source: source}
}

// Notify publishes and flushes, so that a broken connection is an error.
func (n *NATS) Notify(ctx context.Context, m *Message) error {
	for _, ev := range CloudEvents(m, n.source) {
		msg := nats.NewMsg(n.subject + "." + strings.TrimPrefix(ev.Type, "cn.qingliu.alert."))
		msg.Header.Set("Nats-Msg-Id", ev.ID)
		msg.Header.Set("Content-Type", ContentTypeCloudEvent)
		b, err := json.Marshal(ev)
		if err != nil {
			return Permanent(fmt.Errorf("nats notifier: encode: %w", err))
		}
		msg.Data = b
		if err := n.pub.PublishMsg(msg); err != nil {
			err = fmt.Errorf("nats notifier: publish: %w", err)
			if errors.Is(err, nats.ErrMaxPayload) || errors.Is(err, nats.ErrBadSubject) || errors.Is(err, nats.ErrHeadersNotSupported) {
				return Permanent(err) // the same message to the same server fails again
			}
			return Retry(err, 0)
		}
	}
	fctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := n.pub.FlushWithContext(fctx); err != nil {
		return Retry(fmt.Errorf("nats notifier: flush: %w", err), 0)
	}
	return nil
}
