package alert

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/qingliu/qingliu/alert/notify"
)

// Bus is the JetStream objects the service uses. The caller creates them
// (internal/bus declares them); tests build their own.
type Bus struct {
	JS jetstream.JetStream
	// Transitions is the durable consumer on ALERTS.
	Transitions jetstream.Consumer
	// Records holds one Record per alert (key: Ref).
	Records jetstream.KeyValue
	// Silences holds one Silence per id.
	Silences jetstream.KeyValue
	// NotifyLog holds the delivery state of each notification (key:
	// <ref>.<hash of the notification id>), with a bucket TTL.
	NotifyLog jetstream.KeyValue
	// Lease is a bucket with a short TTL holding the leader lease.
	Lease jetstream.KeyValue
	// OutboxSubject is the outbox subject of a receiver.
	OutboxSubject func(receiver string) string
	// OutboxConsumer creates or binds the durable outbox consumer of a
	// receiver.
	OutboxConsumer func(ctx context.Context, receiver string, maxAckPending int) (jetstream.Consumer, error)
}

// entry is a cached record with its KV revision.
type entry struct {
	rec *Record
	rev uint64
}

func decodeRecord(b []byte) (*Record, error) {
	var r Record
	if err := json.Unmarshal(b, &r); err != nil {
		return nil, fmt.Errorf("decode alert record: %w", err)
	}
	return &r, nil
}

// putRecord writes r at revision rev (0: create) and returns the new revision.
func putRecord(ctx context.Context, kv jetstream.KeyValue, r *Record, rev uint64) (uint64, error) {
	b, err := json.Marshal(r)
	if err != nil {
		return 0, fmt.Errorf("encode alert record: %w", err)
	}
	if rev == 0 {
		return kv.Create(ctx, r.Ref, b)
	}
	return kv.Update(ctx, r.Ref, b, rev)
}

// isConflict reports a failed compare-and-set.
func isConflict(err error) bool {
	var apiErr *jetstream.APIError
	return errors.Is(err, jetstream.ErrKeyExists) ||
		(errors.As(err, &apiErr) && apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequence)
}

// mergeAPI takes into ours (the leader's lifecycle and notification state)
// what the API changed in latest: acknowledgements, comments and audit
// entries.
func mergeAPI(ours, latest *Record) *Record {
	m := ours.clone()
	for _, la := range latest.Agencies {
		if a := m.agency(la.Agency); a != nil {
			a.Ack = la.Ack
		}
	}
	m.Comments = slices.Clone(latest.Comments)
	for _, e := range latest.Audit {
		if !slices.ContainsFunc(m.Audit, func(x AuditEntry) bool { return x.At.Equal(e.At) && x.Action == e.Action && x.Actor == e.Actor }) {
			m.Audit = append(m.Audit, e)
		}
	}
	slices.SortStableFunc(m.Audit, func(a, b AuditEntry) int { return a.At.Compare(b.At) })
	return m
}

// LogEntry is the delivery state of one notification.
type LogEntry struct {
	Notification string       `json:"notification"`
	Delivery     string       `json:"delivery"`
	Receiver     string       `json:"receiver"`
	Event        notify.Event `json:"event"`
	Status       string       `json:"status"` // delivered, retrying, failed
	Attempts     uint64       `json:"attempts"`
	Error        string       `json:"error,omitempty"`
	At           time.Time    `json:"at"`
}

func logKey(ref, notificationID string) string {
	h := sha256.Sum256([]byte(notificationID))
	return ref + "." + hex.EncodeToString(h[:12])
}
