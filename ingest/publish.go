package ingest

import (
	"context"
	"fmt"
	"hash/fnv"
	"log/slog"
	"strconv"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/qingliu/qingliu/domain"
	"github.com/qingliu/qingliu/internal/bus"
)

// Meta says where a payload came from, for quarantine headers.
type Meta struct {
	Source  domain.Source
	Decoder string // json, senml, hj212 …
	Topic   string // MQTT topic, remote address or URL path
}

// Publisher puts the outcome of a payload on JetStream asynchronously with a
// bounded window and calls the source's done callback only when every
// message of that payload is durably stored. Messages that fail to publish are
// retried with the same dedupe id until they are stored or the publisher
// stops; a stopped publisher never acks, so the device or broker resends.
type Publisher struct {
	js      jetstream.JetStream
	log     *slog.Logger
	m       *Metrics
	pending chan *pending
	sem     chan struct{}
}

type pending struct {
	msgs    []*nats.Msg
	futures []jetstream.PubAckFuture
	done    func(error)
}

// NewPublisher builds a publisher with at most maxInflight payloads awaiting
// their JetStream acks. js must have been created with a PublishAsyncMaxPending
// at least as large.
func NewPublisher(js jetstream.JetStream, maxInflight int, m *Metrics, log *slog.Logger) *Publisher {
	if maxInflight <= 0 {
		maxInflight = 4096
	}
	return &Publisher{
		js:      js,
		log:     log,
		m:       m,
		pending: make(chan *pending, maxInflight),
		sem:     make(chan struct{}, maxInflight),
	}
}

// Submit publishes res. It blocks while maxInflight payloads are in flight
// (back-pressure on the source). done is called exactly once: with nil when
// everything is stored, or with an error when the publisher stopped first.
func (p *Publisher) Submit(ctx context.Context, res Result, meta Meta, done func(error)) {
	select {
	case p.sem <- struct{}{}:
	case <-ctx.Done():
		done(ctx.Err())
		return
	}
	pd := &pending{done: done}
	for i := range res.Readings {
		r := &res.Readings[i]
		msg, err := readingMsg(r)
		if err != nil {
			// Cannot happen for validated readings; keep the bytes anyway.
			res.Rejects = append(res.Rejects, Reject{Code: CodeMalformed, Reason: err.Error(), Station: r.Station, Index: -1})
			continue
		}
		pd.msgs = append(pd.msgs, msg)
		p.m.readings.WithLabelValues(string(r.Medium)).Inc()
		p.m.skew.Observe(r.Received.Sub(r.Time).Seconds())
	}
	for i := range res.Rejects {
		pd.msgs = append(pd.msgs, quarantineMsg(&res.Rejects[i], meta))
		p.m.rejects.WithLabelValues(string(meta.Source), string(res.Rejects[i].Code)).Inc()
	}
	for _, msg := range pd.msgs {
		f, err := p.js.PublishMsgAsync(msg)
		if err != nil {
			f = nil // retried synchronously by the acker
		}
		pd.futures = append(pd.futures, f)
	}
	p.m.inflight.Inc()
	p.pending <- pd
}

// Run acks payloads in order as their publishes complete, until ctx is done.
// Payloads still in flight when ctx ends are completed with an error (not
// acked), after waiting up to drain for acks already on their way.
func (p *Publisher) Run(ctx context.Context) error {
	for {
		select {
		case pd := <-p.pending:
			p.complete(ctx, pd)
		case <-ctx.Done():
			p.drain()
			return nil
		}
	}
}

// drain finishes what is in the window with a fresh bounded context, so a
// clean shutdown acks what JetStream already stored.
func (p *Publisher) drain() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for {
		select {
		case pd := <-p.pending:
			p.complete(ctx, pd)
		default:
			return
		}
	}
}

func (p *Publisher) complete(ctx context.Context, pd *pending) {
	var err error
	for i, f := range pd.futures {
		if f != nil {
			select {
			case <-f.Ok():
				continue
			case e := <-f.Err():
				p.m.publishErrors.Inc()
				p.log.Debug("publish failed, retrying", "subject", pd.msgs[i].Subject, "err", e)
			case <-ctx.Done():
				err = ctx.Err()
			}
		}
		if err != nil {
			break
		}
		if err = p.retry(ctx, pd.msgs[i]); err != nil {
			break
		}
	}
	<-p.sem
	p.m.inflight.Dec()
	pd.done(err)
}

// retry publishes msg synchronously with capped backoff until it is stored.
func (p *Publisher) retry(ctx context.Context, msg *nats.Msg) error {
	backoff := 50 * time.Millisecond
	logged := false
	for {
		_, err := p.js.PublishMsg(ctx, msg)
		if err == nil {
			if logged {
				p.log.Info("jetstream publish recovered")
			}
			return nil
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		p.m.publishErrors.Inc()
		if !logged {
			p.log.Warn("jetstream publish failing, retrying", "subject", msg.Subject, "err", err)
			logged = true
		}
		t := time.NewTimer(backoff)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		}
		backoff = min(backoff*2, 5*time.Second)
	}
}

func readingMsg(r *domain.Reading) (*nats.Msg, error) {
	body, id, err := bus.EncodeWithID(r)
	if err != nil {
		return nil, err
	}
	msg := nats.NewMsg(bus.ReadingSubject(string(r.Medium), r.Station))
	msg.Data = body
	msg.Header.Set(bus.HdrMsgID, id)
	return msg, nil
}

func quarantineMsg(r *Reject, meta Meta) *nats.Msg {
	msg := nats.NewMsg(bus.QuarantineSubject(string(meta.Source)))
	msg.Data = r.Raw
	h := msg.Header
	h.Set(bus.HdrCode, string(r.Code))
	h.Set(bus.HdrReason, r.Reason)
	h.Set(bus.HdrSource, string(meta.Source))
	if meta.Decoder != "" {
		h.Set(bus.HdrDecoder, meta.Decoder)
	}
	if meta.Topic != "" {
		h.Set(bus.HdrTopic, meta.Topic)
	}
	if r.Field != "" {
		h.Set(bus.HdrField, r.Field)
	}
	if r.Station != "" {
		h.Set(bus.HdrStation, r.Station)
	}
	if r.Index >= 0 {
		h.Set(bus.HdrIndex, strconv.Itoa(r.Index))
	}
	// A redelivered payload must not be quarantined twice.
	f := fnv.New64a()
	f.Write([]byte(meta.Topic))
	f.Write(r.Raw)
	f.Write([]byte(r.Field))
	f.Write([]byte(r.Code))
	h.Set(bus.HdrMsgID, fmt.Sprintf("q|%d|%x", r.Index, f.Sum64()))
	return msg
}
