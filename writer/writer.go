// Package writer is the stage that batches readings from the READINGS stream
// into InfluxDB and acks them only after InfluxDB accepted the write.
package writer

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/influxdata/line-protocol/v2/lineprotocol"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/qingliu/qingliu/domain"
	"github.com/qingliu/qingliu/internal/bus"
	"github.com/qingliu/qingliu/registry"
)

// RecordWriter writes line protocol to InfluxDB and returns when it is
// stored (influxdb-client-go's blocking write API).
type RecordWriter interface {
	WriteRecord(ctx context.Context, line ...string) error
}

// Stations gives the registry's view of a station, for the tags.
type Stations interface {
	Station(id string) (*registry.Station, bool)
}

// Publisher publishes one message and waits for the JetStream ack; used to
// quarantine readings InfluxDB refuses.
type Publisher interface {
	PublishMsg(ctx context.Context, msg *nats.Msg, opts ...jetstream.PublishOpt) (*jetstream.PubAck, error)
}

// Config sizes the writer.
type Config struct {
	BatchSize     int
	FlushInterval time.Duration
	WriteTimeout  time.Duration
	MaxBackoff    time.Duration
}

func (c Config) withDefaults() Config {
	if c.BatchSize <= 0 {
		c.BatchSize = 5000
	}
	if c.FlushInterval <= 0 {
		c.FlushInterval = 500 * time.Millisecond
	}
	if c.WriteTimeout <= 0 {
		c.WriteTimeout = 30 * time.Second
	}
	if c.MaxBackoff <= 0 {
		c.MaxBackoff = 30 * time.Second
	}
	return c
}

// CreateDB creates the InfluxDB database (or bucket) when a write says it is
// missing.
type CreateDB func(ctx context.Context) error

// Writer is the InfluxDB writer stage.
type Writer struct {
	cfg      Config
	cons     jetstream.Consumer
	pub      Publisher
	out      RecordWriter
	dec      bus.Decoder
	encodeFn func(enc *lineprotocol.Encoder, data []byte) error
	reg      Stations
	createDB CreateDB
	log      *slog.Logger
	m        *metrics
	failing  atomic.Bool
}

// New builds a writer over the durable consumer cons (see bus.WriterConsumer).
func New(cfg Config, cons jetstream.Consumer, pub Publisher, out RecordWriter, reg Stations, createDB CreateDB, promReg prometheus.Registerer, log *slog.Logger) *Writer {
	w := &Writer{cfg: cfg.withDefaults(), cons: cons, pub: pub, out: out, reg: reg, createDB: createDB, log: log,
		m: newMetrics(prometheus.WrapRegistererWith(prometheus.Labels{"stream": "readings"}, promReg))}
	w.encodeFn = w.encode
	return w
}

// NewAlerts builds a writer of the ALERTS stream into the InfluxDB alerts
// measurement (history and Grafana annotations), over its own durable
// consumer (bus.AlertsWriterConsumer). It shares the batching, ack and error
// handling of the readings writer.
func NewAlerts(cfg Config, cons jetstream.Consumer, pub Publisher, out RecordWriter, createDB CreateDB, promReg prometheus.Registerer, log *slog.Logger) *Writer {
	return &Writer{cfg: cfg.withDefaults(), cons: cons, pub: pub, out: out, createDB: createDB, log: log,
		m: newMetrics(prometheus.WrapRegistererWith(prometheus.Labels{"stream": "alerts"}, promReg)), encodeFn: encodeAlert}
}

// Ready reports whether the last write attempt succeeded.
func (w *Writer) Ready() error {
	if w.failing.Load() {
		return errors.New("influxdb writes failing; readings are waiting in JetStream")
	}
	return nil
}

type batch struct {
	msgs []jetstream.Msg
}

// Run fetches and writes batches until ctx is done. One goroutine fetches the
// next batch while the other writes the current one; acks go out in order.
func (w *Writer) Run(ctx context.Context) error {
	batches := make(chan batch, 1)
	fetchErr := make(chan error, 1)
	go func() {
		defer close(batches)
		fetchErr <- w.fetchLoop(ctx, batches)
	}()
	for b := range batches {
		w.writeBatch(ctx, b)
	}
	return <-fetchErr
}

func (w *Writer) fetchLoop(ctx context.Context, out chan<- batch) error {
	logged := false
	for ctx.Err() == nil {
		mb, err := w.cons.Fetch(w.cfg.BatchSize, jetstream.FetchMaxWait(w.cfg.FlushInterval))
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			if !logged {
				w.log.Warn("fetch from jetstream failing, retrying", "err", err)
				logged = true
			}
			sleep(ctx, time.Second)
			continue
		}
		logged = false
		var b batch
		for m := range mb.Messages() {
			b.msgs = append(b.msgs, m)
		}
		if err := mb.Error(); err != nil && !errors.Is(err, nats.ErrTimeout) && ctx.Err() == nil {
			w.log.Debug("fetch ended with error", "err", err)
		}
		if len(b.msgs) == 0 {
			continue
		}
		select {
		case out <- b:
		case <-ctx.Done():
			return nil
		}
	}
	return nil
}

// writeBatch writes b until it is stored (or isolated into quarantine), then
// acks it. It gives up only when ctx ends: the batch is then redelivered.
func (w *Writer) writeBatch(ctx context.Context, b batch) {
	var enc lineprotocol.Encoder
	enc.SetBuffer(make([]byte, 0, 256*len(b.msgs)))
	// ends[i] is where line i ends in the buffer; msg[i] is its message.
	ends := make([]int, 0, len(b.msgs))
	idx := make([]int, 0, len(b.msgs))
	for i, m := range b.msgs {
		start := len(enc.Bytes())
		err := w.encodeFn(&enc, m.Data())
		if err == nil {
			err = enc.Err()
		}
		if err != nil {
			enc.ClearErr()
			enc.SetBuffer(enc.Bytes()[:start])
			w.quarantine(ctx, m, fmt.Sprintf("cannot build an InfluxDB point: %v", err))
			continue
		}
		ends = append(ends, len(enc.Bytes()))
		idx = append(idx, i)
	}
	if err := w.store(ctx, b.msgs, enc.Bytes(), 0, ends, idx); err != nil {
		return // stopping: leave the batch unacked for redelivery
	}
	// A lost ack means a redelivery, which rewrites identical points:
	// idempotent. The last ack waits for the server so a batch is not left
	// pending for a whole ack wait when the connection drops.
	for _, m := range b.msgs[:len(b.msgs)-1] {
		_ = m.Ack()
	}
	ackCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	if err := b.msgs[len(b.msgs)-1].DoubleAck(ackCtx); err != nil {
		w.log.Warn("ack after write failed; the batch will be redelivered and rewritten", "err", err)
	}
	w.m.points.Add(float64(len(ends)))
	w.m.batches.Inc()
}

// store writes the lines buf[from:ends[len-1]] (line i ends at ends[i] and
// came from msgs[idx[i]]), splitting on 413 and isolating poison lines.
func (w *Writer) store(ctx context.Context, msgs []jetstream.Msg, buf []byte, from int, ends, idx []int) error {
	if len(ends) == 0 {
		return nil
	}
	backoff := 100 * time.Millisecond
	logged := false
	lastProgress := time.Now()
	for {
		if time.Since(lastProgress) > 10*time.Second {
			// Tell JetStream the batch is still being worked on, so it is not
			// redelivered (to us) while InfluxDB is down.
			for _, i := range idx {
				_ = msgs[i].InProgress()
			}
			lastProgress = time.Now()
		}
		start := time.Now()
		wctx, cancel := context.WithTimeout(ctx, w.cfg.WriteTimeout)
		err := w.out.WriteRecord(wctx, string(buf[from:ends[len(ends)-1]]))
		cancel()
		if err == nil {
			w.m.writeSeconds.Observe(time.Since(start).Seconds())
			if w.failing.Swap(false) {
				w.log.Info("influxdb writes recovered")
			}
			return nil
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		cl, after := classify(err)
		w.m.errors.WithLabelValues(cl.String()).Inc()
		switch cl {
		case classSplit, classPoison:
			if len(ends) == 1 {
				what := "refused the point"
				if cl == classSplit {
					what = "refused a single point as too large"
				}
				w.quarantine(ctx, msgs[idx[0]], fmt.Sprintf("influxdb %s: %v", what, err))
				return nil
			}
			h := len(ends) / 2
			if err := w.store(ctx, msgs, buf, from, ends[:h], idx[:h]); err != nil {
				return err
			}
			return w.store(ctx, msgs, buf, ends[h-1], ends[h:], idx[h:])
		case classMissingDB:
			if w.createDB != nil {
				cerr := w.createDB(ctx)
				if cerr == nil {
					w.log.Info("created missing influxdb database")
					continue
				}
				err = fmt.Errorf("%w (creating it failed: %v)", err, cerr)
			}
		}
		if !w.failing.Swap(true) || !logged {
			w.log.Error("influxdb write failing; readings wait in jetstream", "err", err, "class", cl.String(), "points", len(ends))
			logged = true
		}
		if !sleep(ctx, max(after, backoff)) {
			return ctx.Err()
		}
		backoff = min(backoff*2, w.cfg.MaxBackoff)
	}
}

func (w *Writer) quarantine(ctx context.Context, m jetstream.Msg, reason string) {
	msg := nats.NewMsg(bus.QuarantineSubject("writer"))
	msg.Data = m.Data()
	msg.Header.Set(bus.HdrCode, "influx_refused")
	msg.Header.Set(bus.HdrReason, reason)
	msg.Header.Set(bus.HdrSource, "writer")
	msg.Header.Set(bus.HdrTopic, m.Subject())
	if id := m.Headers().Get(bus.HdrMsgID); id != "" {
		msg.Header.Set(bus.HdrMsgID, "w|"+id)
	}
	w.m.poison.Inc()
	backoff := 100 * time.Millisecond
	for {
		if _, err := w.pub.PublishMsg(ctx, msg); err == nil || ctx.Err() != nil {
			w.log.Warn("reading quarantined by the writer", "subject", m.Subject(), "reason", reason)
			return
		}
		if !sleep(ctx, backoff) {
			return
		}
		backoff = min(backoff*2, 5*time.Second)
	}
}

// tagKeys are the tags of DESIGN §3.4, in the lexical order line protocol
// encoding wants.
var tagKeys = [...]string{"basin", "city", "district", "interval", "river", "site_kind", "source", "station"}

// encode appends the InfluxDB line of one READINGS message: one point per
// station report (DESIGN §3.4) with tags from the registry, the tag interval
// (minute, hour, day) for aggregates and none for samples, one float field
// per parameter, a string <param>_flag field where the flag is not N, and
// the observation time (the period start for aggregates) as timestamp.
func (w *Writer) encode(enc *lineprotocol.Encoder, data []byte) error {
	r, err := w.dec.Decode(data)
	if err != nil {
		return err
	}
	if len(r.Values) == 0 {
		return errors.New("reading has no values")
	}
	Encode(enc, &r, w.reg)
	return nil
}

// Encode appends the line of reading r to enc.
func Encode(enc *lineprotocol.Encoder, r *domain.Reading, reg Stations) {
	var tags [len(tagKeys)]string
	if st, ok := reg.Station(r.Station); ok {
		tags = [...]string{st.Basin, st.City, st.District, string(r.Interval), st.River, st.Kind, string(r.Source), r.Station}
	} else {
		tags[3], tags[6], tags[7] = string(r.Interval), string(r.Source), r.Station
	}
	enc.StartLine(string(r.Medium))
	for i, k := range tagKeys {
		if tags[i] != "" {
			enc.AddTag(k, tags[i])
		}
	}
	for k, v := range r.Values {
		if fv, ok := lineprotocol.FloatValue(v); ok {
			enc.AddField(k, fv)
		}
	}
	for k, f := range r.Flags {
		if f != domain.FlagNormal && f != "" {
			enc.AddField(k+"_flag", lineprotocol.MustNewValue(string(f)))
		}
	}
	enc.EndLine(r.Time)
}

func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

type metrics struct {
	points       prometheus.Counter
	batches      prometheus.Counter
	poison       prometheus.Counter
	errors       *prometheus.CounterVec
	writeSeconds prometheus.Histogram
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		points:  prometheus.NewCounter(prometheus.CounterOpts{Name: "qingliu_writer_points_total", Help: "Points written to InfluxDB."}),
		batches: prometheus.NewCounter(prometheus.CounterOpts{Name: "qingliu_writer_batches_total", Help: "Batches written and acked."}),
		poison:  prometheus.NewCounter(prometheus.CounterOpts{Name: "qingliu_writer_quarantined_total", Help: "Readings InfluxDB refused, moved to quarantine."}),
		errors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "qingliu_writer_write_errors_total", Help: "Failed InfluxDB writes by class (retry, split, poison, missing_database).",
		}, []string{"class"}),
		writeSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "qingliu_writer_write_duration_seconds", Help: "Duration of successful InfluxDB writes.",
			Buckets: prometheus.ExponentialBuckets(0.001, 2, 14),
		}),
	}
	reg.MustRegister(m.points, m.batches, m.poison, m.errors, m.writeSeconds)
	return m
}
