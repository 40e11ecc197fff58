package alert

import (
	"context"
	"encoding/json"
	"errors"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/qingliu/qingliu/alert/notify"
)

// send delivers one receiver's outbox until ctx is done: each message from
// the receiver's own durable consumer, so that a dead endpoint holds up only
// itself. A message is acked after the delivery succeeded and was logged; a
// transient failure is redelivered after an exponential backoff, a
// permanent one (or one older than give_up_after) is terminated and logged.
func (s *Service) send(ctx context.Context, r *Receiver) {
	var cons jetstream.Consumer
	for {
		c, err := s.opts.Bus.OutboxConsumer(ctx, r.Name, 2*r.Concurrency)
		if err == nil {
			cons = c
			break
		}
		if ctx.Err() != nil {
			return
		}
		s.log.Error("outbox consumer unavailable; retrying", "receiver", r.Name, "err", err)
		select {
		case <-ctx.Done():
			return
		case <-time.After(2 * time.Second):
		}
	}
	sem := make(chan struct{}, r.Concurrency)
	var wg sync.WaitGroup
	cc, err := cons.Consume(func(m jetstream.Msg) {
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
			return
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			s.deliver(ctx, r, m)
		}()
	}, jetstream.PullMaxMessages(2*r.Concurrency), jetstream.ConsumeErrHandler(func(_ jetstream.ConsumeContext, err error) {
		if ctx.Err() == nil {
			s.log.Debug("outbox consumer", "receiver", r.Name, "err", err)
		}
	}))
	if err != nil {
		s.log.Error("outbox consume failed", "receiver", r.Name, "err", err)
		return
	}
	<-ctx.Done()
	cc.Stop()
	<-cc.Closed()
	wg.Wait()
}

// backoff is the delay before attempt n+1: initial·2^(n-1) with ±20 %
// jitter, at most max, and never less than the endpoint's Retry-After.
func backoff(n uint64, initial, maxD, hint time.Duration) time.Duration {
	d := initial
	for i := uint64(1); i < n && d < maxD; i++ {
		d *= 2
	}
	d = min(d, maxD)
	d = time.Duration(float64(d) * (0.8 + 0.4*rand.Float64()))
	return max(d, hint)
}

func (s *Service) deliver(ctx context.Context, r *Receiver, msg jetstream.Msg) {
	var m notify.Message
	if err := json.Unmarshal(msg.Data(), &m); err != nil || len(m.Items) == 0 {
		s.log.Error("outbox message unreadable; terminated", "receiver", r.Name, "err", err)
		_ = msg.Term()
		return
	}
	md, err := msg.Metadata()
	if err != nil {
		_ = msg.Nak()
		return
	}
	logKV := s.opts.Bus.NotifyLog
	first := logKey(m.Items[0].Alert.Ref, m.Items[0].ID)
	if e, err := logKV.Get(ctx, first); err == nil {
		var le LogEntry
		if json.Unmarshal(e.Value(), &le) == nil && le.Status == "delivered" {
			// Sent before a crash or a lost ack: not again.
			s.m.notifications.WithLabelValues(r.Name, "duplicate").Inc()
			_ = msg.Ack()
			return
		}
	}
	ns := *s.notifiers.Load()
	n := ns[r.Name]
	start := time.Now()
	err = n.Notify(ctx, &m)
	s.m.sendSeconds.WithLabelValues(r.Kind).Observe(time.Since(start).Seconds())
	now := s.now()
	status := "delivered"
	switch {
	case err == nil:
	case ctx.Err() != nil:
		// Shutting down: the message comes back after the ack wait.
		return
	default:
		permanent, _ := notify.Classify(err)
		age := now.Sub(md.Timestamp)
		switch {
		case permanent || age > r.GiveUpAfter:
			status = "failed"
			s.m.notifications.WithLabelValues(r.Name, "failed").Inc()
			s.log.Error("notification failed; given up", "receiver", r.Name, "delivery", m.ID,
				"attempts", md.NumDelivered, "permanent", permanent, "err", err)
		default:
			status = "retrying"
			s.m.notifications.WithLabelValues(r.Name, "retry").Inc()
			if md.NumDelivered == 1 {
				s.log.Warn("notification failed; retrying with backoff", "receiver", r.Name, "delivery", m.ID, "err", err)
			}
		}
	}
	s.logDelivery(ctx, &m, r, status, md.NumDelivered, err, now)
	switch status {
	case "delivered":
		s.m.notifications.WithLabelValues(r.Name, "sent").Inc()
		_ = msg.Ack()
	case "failed":
		_ = msg.Term()
	default:
		_, hint := notify.Classify(err)
		_ = msg.NakWithDelay(backoff(md.NumDelivered, r.RetryInitial, r.RetryMax, hint))
	}
}

// logDelivery records the delivery state of each item (best effort: the
// outbox, not this log, is what makes delivery reliable).
func (s *Service) logDelivery(ctx context.Context, m *notify.Message, r *Receiver, status string, attempts uint64, err error, now time.Time) {
	for _, it := range m.Items {
		le := LogEntry{Notification: it.ID, Delivery: m.ID, Receiver: r.Name, Event: it.Event, Status: status,
			Attempts: attempts, At: now}
		if err != nil {
			le.Error = err.Error()
		}
		b, _ := json.Marshal(le)
		if _, perr := s.opts.Bus.NotifyLog.Put(ctx, logKey(it.Alert.Ref, it.ID), b); perr != nil && ctx.Err() == nil &&
			!errors.Is(perr, context.Canceled) {
			s.log.Warn("notification log write failed", "receiver", r.Name, "err", perr)
		}
	}
}

// Deliveries returns the delivery log of an alert.
func (s *Service) Deliveries(ctx context.Context, ref string) ([]LogEntry, error) {
	kv := s.opts.Bus.NotifyLog
	lister, err := kv.ListKeysFiltered(ctx, ref+".>")
	if err != nil {
		return nil, err
	}
	var out []LogEntry
	for k := range lister.Keys() {
		e, err := kv.Get(ctx, k)
		if err != nil {
			continue
		}
		var le LogEntry
		if json.Unmarshal(e.Value(), &le) == nil {
			out = append(out, le)
		}
	}
	return out, nil
}
