// Package bus is the one place where Qingliu's JetStream streams, subjects,
// consumers and message headers are defined. Every stage declares what it
// uses through this package, and Ensure creates it idempotently at start-up.
package bus

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// Stream names and subject filters (DESIGN §3.3).
const (
	StreamReadings   = "READINGS"
	StreamQuarantine = "QUARANTINE"
	StreamAlerts     = "ALERTS"
	// StreamDerived holds the derived series (aqi, water_class) as InfluxDB
	// line protocol, from the rules engine to the writer.
	StreamDerived = "DERIVED"
	// StreamOutbox holds the alert service's notifications before they are
	// sent: one subject and one durable consumer per receiver, so that a
	// dead endpoint holds up only its own queue. Nats-Msg-Id is the
	// notification id (alert_id:seq:receiver), also the idempotency key.
	StreamOutbox = "OUTBOX"

	subjReadings   = "ql.readings"
	subjQuarantine = "ql.quarantine"
	subjAlerts     = "ql.alerts"
	subjDerived    = "ql.derived"
	subjOutbox     = "ql.outbox"
)

// Key-value buckets of the alert service.
const (
	// KVAlerts holds one alert record per alert (lifecycle, routing,
	// per-agency acknowledgements, audit), keyed by the alert's ref.
	KVAlerts = "ql_alerts"
	// KVSilences holds the silences and maintenance windows made through
	// the API.
	KVSilences = "ql_silences"
	// KVNotifyLog holds the delivery state of each notification; a
	// redelivered outbox entry already delivered is not sent again.
	KVNotifyLog = "ql_notify_log"
	// KVAlertLease holds the alert service's leader lease: one replica
	// consumes transitions and runs the timers.
	KVAlertLease = "ql_alert_lease"
	// AlertLeaseTTL is how long a lease outlives its last renewal.
	AlertLeaseTTL = 10 * time.Second
)

// Durable consumer names.
const (
	ConsumerWriter = "writer"
	ConsumerRules  = "rules"
	ConsumerAlert  = "alert"
	// ConsumerAlertsWriter writes ALERTS into InfluxDB.
	ConsumerAlertsWriter = "writer-alerts"
	// ConsumerDerivedWriter writes DERIVED into InfluxDB.
	ConsumerDerivedWriter = "writer-derived"
)

// Headers carried by QUARANTINE messages to say why the original bytes were
// refused, and by READINGS messages for tracing.
const (
	HdrMsgID   = "Nats-Msg-Id" // JetStream dedupe key
	HdrReason  = "Ql-Reason"   // human-readable reason, e.g. "value out of physical range"
	HdrCode    = "Ql-Code"     // machine-readable reason class, e.g. out_of_range
	HdrDecoder = "Ql-Decoder"  // json, senml, hj212, writer …
	HdrField   = "Ql-Field"    // offending field or parameter, when there is one
	HdrStation = "Ql-Station"  // station id, when known
	HdrTopic   = "Ql-Topic"    // MQTT topic or source address
	HdrIndex   = "Ql-Index"    // element index inside a batch payload
	HdrSource  = "Ql-Source"   // mqtt, hj212, push, coap, writer
)

// ReadingSubject is the subject of one station report.
func ReadingSubject(medium, station string) string {
	return subjReadings + "." + medium + "." + station
}

// QuarantineSubject is the subject for refused input from source.
func QuarantineSubject(source string) string { return subjQuarantine + "." + source }

// DerivedSubject is the subject of one derived point.
func DerivedSubject(measurement, station string) string {
	return subjDerived + "." + measurement + "." + station
}

// AlertSubject is the subject of one alert transition.
func AlertSubject(station, rule string) string { return subjAlerts + "." + station + "." + rule }

// OutboxSubject is the outbox subject of one receiver.
func OutboxSubject(receiver string) string { return subjOutbox + "." + receiver }

// Config sizes the streams. Zero values take the defaults of DESIGN §3.3.
type Config struct {
	Replicas int
	// ReadingsMaxAge is how long readings stay in JetStream: the replay window
	// for an InfluxDB outage. At least 7 days.
	ReadingsMaxAge   time.Duration
	QuarantineMaxAge time.Duration
	AlertsMaxAge     time.Duration
	// OutboxMaxAge is how long sent notifications stay in OUTBOX (the
	// delivery record); OutboxDuplicateWindow how long a notification id is
	// remembered, so that a replanned notification is not stored twice.
	OutboxMaxAge          time.Duration
	OutboxDuplicateWindow time.Duration
	// NotifyLogMaxAge is how long a notification's delivery state is kept.
	NotifyLogMaxAge time.Duration
	// DuplicateWindow is how long a Nats-Msg-Id is remembered for dedupe.
	DuplicateWindow time.Duration
	// MaxBytes caps each stream's size on disk (0 = unlimited).
	MaxBytes int64
}

// Defaults returns the stream sizing of DESIGN §3.3.
func Defaults() Config {
	return Config{
		Replicas:         1,
		ReadingsMaxAge:   7 * 24 * time.Hour,
		QuarantineMaxAge: 30 * 24 * time.Hour,
		AlertsMaxAge:     365 * 24 * time.Hour,
		DuplicateWindow:  10 * time.Minute,

		OutboxMaxAge:          7 * 24 * time.Hour,
		OutboxDuplicateWindow: 2 * time.Hour,
		NotifyLogMaxAge:       7 * 24 * time.Hour,
	}
}

func (c Config) withDefaults() Config {
	d := Defaults()
	if c.Replicas <= 0 {
		c.Replicas = d.Replicas
	}
	if c.ReadingsMaxAge <= 0 {
		c.ReadingsMaxAge = d.ReadingsMaxAge
	}
	if c.QuarantineMaxAge <= 0 {
		c.QuarantineMaxAge = d.QuarantineMaxAge
	}
	if c.AlertsMaxAge <= 0 {
		c.AlertsMaxAge = d.AlertsMaxAge
	}
	if c.DuplicateWindow <= 0 {
		c.DuplicateWindow = d.DuplicateWindow
	}
	if c.OutboxMaxAge <= 0 {
		c.OutboxMaxAge = d.OutboxMaxAge
	}
	if c.OutboxDuplicateWindow <= 0 {
		c.OutboxDuplicateWindow = d.OutboxDuplicateWindow
	}
	if c.NotifyLogMaxAge <= 0 {
		c.NotifyLogMaxAge = d.NotifyLogMaxAge
	}
	return c
}

// Streams returns the stream configurations.
func Streams(c Config) []jetstream.StreamConfig {
	c = c.withDefaults()
	maxBytes := c.MaxBytes
	if maxBytes == 0 {
		maxBytes = -1
	}
	return []jetstream.StreamConfig{
		{
			Name:        StreamReadings,
			Description: "Validated station reports, one message per station and instant",
			Subjects:    []string{subjReadings + ".>"},
			Storage:     jetstream.FileStorage,
			Retention:   jetstream.LimitsPolicy,
			MaxAge:      c.ReadingsMaxAge,
			MaxBytes:    maxBytes,
			Duplicates:  c.DuplicateWindow,
			Replicas:    c.Replicas,
			Discard:     jetstream.DiscardOld,
		},
		{
			Name:        StreamQuarantine,
			Description: "Refused input: the original bytes with headers that say why",
			Subjects:    []string{subjQuarantine + ".>"},
			Storage:     jetstream.FileStorage,
			Retention:   jetstream.LimitsPolicy,
			MaxAge:      c.QuarantineMaxAge,
			MaxBytes:    maxBytes,
			Duplicates:  c.DuplicateWindow,
			Replicas:    c.Replicas,
		},
		{
			Name:        StreamAlerts,
			Description: "Alert transitions from the rules engine",
			Subjects:    []string{subjAlerts + ".>"},
			Storage:     jetstream.FileStorage,
			Retention:   jetstream.LimitsPolicy,
			MaxAge:      c.AlertsMaxAge,
			Duplicates:  c.DuplicateWindow,
			Replicas:    c.Replicas,
		},
		{
			Name:        StreamDerived,
			Description: "Derived series (aqi, water_class) as line protocol, rules engine to writer",
			Subjects:    []string{subjDerived + ".>"},
			Storage:     jetstream.FileStorage,
			Retention:   jetstream.LimitsPolicy,
			MaxAge:      c.ReadingsMaxAge,
			MaxBytes:    maxBytes,
			Duplicates:  c.DuplicateWindow,
			Replicas:    c.Replicas,
		},
		{
			Name:        StreamOutbox,
			Description: "Alert notifications, stored before they are sent, one subject per receiver",
			Subjects:    []string{subjOutbox + ".>"},
			Storage:     jetstream.FileStorage,
			Retention:   jetstream.LimitsPolicy,
			MaxAge:      c.OutboxMaxAge,
			Duplicates:  c.OutboxDuplicateWindow,
			Replicas:    c.Replicas,
		},
	}
}

// Ensure creates or updates every stream. It is safe to call from every stage
// at every start.
func Ensure(ctx context.Context, js jetstream.JetStream, c Config) error {
	for _, sc := range Streams(c) {
		if _, err := js.CreateOrUpdateStream(ctx, sc); err != nil {
			return fmt.Errorf("ensure stream %s: %w", sc.Name, err)
		}
	}
	return nil
}

// WriterConsumer is the durable pull consumer of the InfluxDB writer.
// MaxAckPending must cover several batches, or ack-after-write caps the
// writer at MaxAckPending per flush interval. Acks are explicit: with AckAll,
// a restarted writer acking its first batch would also ack the messages the
// crashed one had fetched but never written.
func WriterConsumer(batchSize int, ackWait time.Duration) jetstream.ConsumerConfig {
	if batchSize <= 0 {
		batchSize = 5000
	}
	if ackWait <= 0 {
		ackWait = time.Minute
	}
	return jetstream.ConsumerConfig{
		Durable:     ConsumerWriter,
		Description: "InfluxDB writer: acks after the write succeeded",
		// No filter: the stream holds only readings, and a wildcard filter
		// makes the server match every message it loads.
		AckPolicy:     jetstream.AckExplicitPolicy,
		AckWait:       ackWait,
		MaxAckPending: 4 * batchSize,
		MaxDeliver:    -1,
		DeliverPolicy: jetstream.DeliverAllPolicy,
	}
}

// RulesConsumer is the durable consumer of the rules engine. It acks
// nothing: the engine's position is the READINGS sequence saved with its
// state, and every start recreates the consumer there (acks would only cost
// the server one more message per reading).
func RulesConsumer() jetstream.ConsumerConfig {
	return jetstream.ConsumerConfig{
		Durable:       ConsumerRules,
		Description:   "Rules engine: evaluates every reading (its position is saved with its state)",
		AckPolicy:     jetstream.AckNonePolicy,
		DeliverPolicy: jetstream.DeliverAllPolicy,
	}
}

// AlertsWriterConsumer is the durable consumer that writes ALERTS into
// InfluxDB's alerts measurement.
func AlertsWriterConsumer(batchSize int) jetstream.ConsumerConfig {
	return writerConsumer(ConsumerAlertsWriter, "InfluxDB writer of alert history: acks after the write succeeded", batchSize)
}

// DerivedWriterConsumer is the durable consumer that writes DERIVED into
// InfluxDB's aqi and water_class measurements.
func DerivedWriterConsumer(batchSize int) jetstream.ConsumerConfig {
	return writerConsumer(ConsumerDerivedWriter, "InfluxDB writer of the derived series: acks after the write succeeded", batchSize)
}

func writerConsumer(durable, description string, batchSize int) jetstream.ConsumerConfig {
	if batchSize <= 0 {
		batchSize = 1000
	}
	return jetstream.ConsumerConfig{
		Durable:       durable,
		Description:   description,
		AckPolicy:     jetstream.AckExplicitPolicy,
		AckWait:       30 * time.Second,
		MaxAckPending: 4 * batchSize,
		MaxDeliver:    -1,
		DeliverPolicy: jetstream.DeliverAllPolicy,
	}
}

// AlertConsumer is the durable consumer of the alert service.
func AlertConsumer() jetstream.ConsumerConfig {
	return jetstream.ConsumerConfig{
		Durable:       ConsumerAlert,
		Description:   "Alert service: lifecycle, routing and notification",
		FilterSubject: subjAlerts + ".>",
		AckPolicy:     jetstream.AckExplicitPolicy,
		AckWait:       time.Minute,
		MaxAckPending: 1000,
		MaxDeliver:    -1,
		DeliverPolicy: jetstream.DeliverAllPolicy,
	}
}

// OutboxConsumer is the durable consumer of one receiver's notifications.
// MaxAckPending bounds the deliveries in flight to that receiver; AckWait
// is how long a delivery may take before another replica (or a restarted
// process) retries it.
func OutboxConsumer(receiver string, maxAckPending int, ackWait time.Duration) jetstream.ConsumerConfig {
	if maxAckPending <= 0 {
		maxAckPending = 8
	}
	if ackWait <= 0 {
		ackWait = 30 * time.Second
	}
	return jetstream.ConsumerConfig{
		Durable:       "outbox_" + receiver,
		Description:   "Alert notifications to receiver " + receiver,
		FilterSubject: OutboxSubject(receiver),
		AckPolicy:     jetstream.AckExplicitPolicy,
		AckWait:       ackWait,
		MaxAckPending: maxAckPending,
		MaxDeliver:    -1,
		DeliverPolicy: jetstream.DeliverAllPolicy,
	}
}

// KeyValues returns the alert service's bucket configurations.
func KeyValues(c Config) []jetstream.KeyValueConfig {
	c = c.withDefaults()
	return []jetstream.KeyValueConfig{
		{Bucket: KVAlerts, Description: "Alert records", Storage: jetstream.FileStorage, Replicas: c.Replicas, History: 1},
		{Bucket: KVSilences, Description: "Silences and maintenance windows", Storage: jetstream.FileStorage, Replicas: c.Replicas, History: 1},
		{Bucket: KVNotifyLog, Description: "Delivery state per notification", Storage: jetstream.FileStorage, Replicas: c.Replicas,
			History: 1, TTL: c.NotifyLogMaxAge},
		{Bucket: KVAlertLease, Description: "Alert service leader lease", Storage: jetstream.FileStorage, Replicas: c.Replicas,
			History: 1, TTL: AlertLeaseTTL},
	}
}

// EnsureKeyValues creates or updates the buckets and returns them by name.
func EnsureKeyValues(ctx context.Context, js jetstream.JetStream, c Config) (map[string]jetstream.KeyValue, error) {
	out := map[string]jetstream.KeyValue{}
	for _, kc := range KeyValues(c) {
		kv, err := js.CreateOrUpdateKeyValue(ctx, kc)
		if err != nil {
			return nil, fmt.Errorf("ensure bucket %s: %w", kc.Bucket, err)
		}
		out[kc.Bucket] = kv
	}
	return out, nil
}

// Consumer creates or updates the durable consumer cc on stream.
func Consumer(ctx context.Context, js jetstream.JetStream, stream string, cc jetstream.ConsumerConfig) (jetstream.Consumer, error) {
	c, err := js.CreateOrUpdateConsumer(ctx, stream, cc)
	if err != nil {
		return nil, fmt.Errorf("ensure consumer %s on %s: %w", cc.Durable, stream, err)
	}
	return c, nil
}

// IsNotFound reports whether err says that a stream or consumer is missing.
func IsNotFound(err error) bool {
	return errors.Is(err, jetstream.ErrStreamNotFound) || errors.Is(err, jetstream.ErrConsumerNotFound)
}

// EnsureKeyValue creates or updates the one bucket of KeyValues named name:
// a stage that only reads a bucket (the rules stage reads KVSilences) may
// start before the stage that writes it.
func EnsureKeyValue(ctx context.Context, js jetstream.JetStream, c Config, name string) (jetstream.KeyValue, error) {
	for _, kc := range KeyValues(c) {
		if kc.Bucket == name {
			kv, err := js.CreateOrUpdateKeyValue(ctx, kc)
			if err != nil {
				return nil, fmt.Errorf("ensure bucket %s: %w", name, err)
			}
			return kv, nil
		}
	}
	return nil, fmt.Errorf("no bucket %s", name)
}

// MaintenanceRecord is the part of a KVSilences record (the alert service's
// silence) that the rules stage reads: a maintenance window suppresses the
// evaluation of its stations' readings observed in [StartsAt, EndsAt).
type MaintenanceRecord struct {
	Maintenance bool      `json:"maintenance"`
	Stations    []string  `json:"stations"`
	StartsAt    time.Time `json:"starts_at"`
	EndsAt      time.Time `json:"ends_at"`
	Comment     string    `json:"comment"`
}
