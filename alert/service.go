package alert

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/qingliu/qingliu/alert/notify"
	"github.com/qingliu/qingliu/domain"
	"github.com/qingliu/qingliu/registry"
)

// Notifier delivers one outbox message.
type Notifier interface {
	Notify(ctx context.Context, m *notify.Message) error
}

// Options configure the service.
type Options struct {
	Routing  *Routing
	Registry *registry.Registry
	Bus      Bus
	// NATS publishes for receivers of kind nats; nil refuses such receivers.
	NATS notify.Publisher
	// HTTPClient for webhooks and SMS gateways; nil builds one.
	HTTPClient *http.Client
	// Notifiers overrides the notifier of a receiver by name (tests,
	// benchmarks).
	Notifiers map[string]Notifier
	// Instance names this replica in the leader lease; replicas need
	// distinct names.
	Instance string
	// LeaseTTL: a leader that stops renewing is replaced after this long.
	LeaseTTL time.Duration
	// MaxBatch bounds the transitions handled in one store round.
	MaxBatch int
	// MaxEventStreams caps the open GET /api/v1/events streams (256);
	// EventBuffer is each stream's backlog before it is dropped (256).
	MaxEventStreams int
	EventBuffer     int
	Prom            prometheus.Registerer
	Log             *slog.Logger
	Now             func() time.Time
}

// Service is the alert service: it consumes ALERTS, keeps the alert
// records, plans notifications, stores them in the outbox, delivers them
// per receiver and serves the API. Run it with Run.
//
// Replicas share the work safely: one holds a lease in the Lease bucket and
// alone consumes transitions and runs the timers; every replica delivers
// from the outbox (each message to one of them) and serves the API, whose
// writes are compare-and-set on the record.
type Service struct {
	opts Options
	log  *slog.Logger
	m    *metrics
	now  func() time.Time

	rt        atomic.Pointer[Routing]
	notifiers atomic.Pointer[map[string]Notifier]

	// Owned by the loop goroutine.
	cache    map[string]*entry
	silences map[string]*silEntry

	cmds    chan func()
	msgs    chan jetstream.Msg
	updates chan kvUpdate
	leader  atomic.Bool
	ready   atomic.Bool
	kick    chan struct{}
	hub     *hub
}

type silEntry struct {
	s   *Silence
	rev uint64
}

type kvUpdate struct {
	bucket string // records or silences
	key    string
	rev    uint64
	value  []byte
	del    bool
}

// New builds the service and its notifiers.
func New(o Options) (*Service, error) {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.LeaseTTL <= 0 {
		o.LeaseTTL = 10 * time.Second
	}
	if o.MaxBatch <= 0 {
		o.MaxBatch = 512
	}
	if o.MaxEventStreams <= 0 {
		o.MaxEventStreams = 256
	}
	if o.EventBuffer <= 0 {
		o.EventBuffer = 256
	}
	if o.Instance == "" {
		o.Instance = "alert"
	}
	if o.HTTPClient == nil {
		o.HTTPClient = &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 32, IdleConnTimeout: 90 * time.Second}}
	}
	s := &Service{opts: o, log: o.Log, m: newMetrics(o.Prom), now: o.Now,
		cache: map[string]*entry{}, silences: map[string]*silEntry{},
		cmds: make(chan func()), msgs: make(chan jetstream.Msg, 2*o.MaxBatch), updates: make(chan kvUpdate, 1024),
		kick: make(chan struct{}, 1)}
	s.hub = newHub(s.m, o.MaxEventStreams, o.EventBuffer)
	ns, err := s.buildNotifiers(o.Routing)
	if err != nil {
		return nil, err
	}
	s.rt.Store(o.Routing)
	s.notifiers.Store(&ns)
	return s, nil
}

func (s *Service) buildNotifiers(rt *Routing) (map[string]Notifier, error) {
	ns := map[string]Notifier{}
	for _, r := range rt.receivers {
		if n, ok := s.opts.Notifiers[r.Name]; ok {
			ns[r.Name] = n
			continue
		}
		n, err := rt.notifier(r, s.opts.NATS, s.opts.HTTPClient, s.now)
		if err != nil {
			return nil, fmt.Errorf("receiver %s: %w", r.Name, err)
		}
		ns[r.Name] = n
	}
	return ns, nil
}

// notifier builds the notifier of receiver r (an explicit switch, no
// registry of kinds).
func (rt *Routing) notifier(r *Receiver, pub notify.Publisher, client *http.Client, now func() time.Time) (Notifier, error) {
	ag := rt.agencyBy[r.Agency]
	switch c := r.cfg; r.Kind {
	case "webhook":
		return notify.NewWebhook(notify.WebhookConfig{URL: c.Webhook.URL, Secret: []byte(c.Webhook.Secret), Headers: c.Webhook.Headers,
			Timeout: c.Webhook.Timeout.D(), Source: "/qingliu/alert"}, client, now), nil
	case "email":
		langs := c.Email.Langs
		if len(langs) == 0 {
			langs = []string{"zh", "en"}
		}
		return notify.NewEmail(notify.EmailConfig{Addr: c.Email.SMTP, TLS: c.Email.TLS, Username: c.Email.Username,
			Password: c.Email.Password, From: c.Email.From, To: c.Email.To, Langs: langs, Timeout: c.Email.Timeout.D(),
			AgencyName: ag.Name}, rt.templates)
	case "sms":
		var succ = c.SMS.Success
		cfg := notify.SMSConfig{URL: c.SMS.URL, Method: c.SMS.Method, ContentType: c.SMS.ContentType, Headers: c.SMS.Headers,
			Body: c.SMS.Body, Numbers: c.SMS.Numbers, OnePerNumber: c.SMS.OnePerNumber, Charset: c.SMS.Charset, Sign: c.SMS.Sign,
			Lang: c.SMS.Lang, MaxRunes: c.SMS.MaxChars, Link: c.SMS.Link, Timeout: c.SMS.Timeout.D()}
		if cfg.Lang == "" {
			cfg.Lang = "zh"
		}
		if succ != "" {
			cfg.Success = mustRegexp(succ)
		}
		return notify.NewSMS(cfg, rt.templates, client)
	case "nats":
		if pub == nil {
			return nil, errors.New("no NATS connection for a nats receiver")
		}
		return notify.NewNATS(pub, c.NATS.Subject, "/qingliu/alert"), nil
	}
	return nil, fmt.Errorf("unknown receiver kind %q", r.Kind)
}

// Ready reports whether the service has loaded its state.
func (s *Service) Ready() error {
	if !s.ready.Load() {
		return errors.New("alert service starting: loading alert records")
	}
	return nil
}

// Leader reports whether this replica holds the lease.
func (s *Service) Leader() bool { return s.leader.Load() }

// Routing returns the routing in force.
func (s *Service) Routing() *Routing { return s.rt.Load() }

// Reload swaps in a new routing. Receivers cannot be added or removed
// without a restart (each has its outbox consumer); everything else can.
func (s *Service) Reload(ctx context.Context, rt *Routing) error {
	old := s.rt.Load()
	if len(old.receivers) != len(rt.receivers) {
		return errors.New("reload alert routing: the receivers changed; restart to add or remove receivers")
	}
	for i, r := range rt.receivers {
		if old.receivers[i].Name != r.Name || old.receivers[i].Kind != r.Kind {
			return errors.New("reload alert routing: the receivers changed; restart to add or remove receivers")
		}
	}
	ns, err := s.buildNotifiers(rt)
	if err != nil {
		return fmt.Errorf("reload alert routing: %w", err)
	}
	return s.do(ctx, func() {
		s.rt.Store(rt)
		s.notifiers.Store(&ns)
		s.log.Info("alert routing reloaded", "receivers", len(rt.receivers), "agencies", len(rt.agencies))
	})
}

// do runs f on the loop goroutine and waits for it.
func (s *Service) do(ctx context.Context, f func()) error {
	done := make(chan struct{})
	select {
	case s.cmds <- func() { defer close(done); f() }:
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Run loads the state and serves until ctx is done; it returns after every
// goroutine it started has exited.
func (s *Service) Run(ctx context.Context) error {
	rw, err := s.loadBucket(ctx, s.opts.Bus.Records, "records")
	if err != nil {
		return err
	}
	sw, err := s.loadBucket(ctx, s.opts.Bus.Silences, "silences")
	if err != nil {
		_ = rw.Stop()
		return err
	}
	s.updateGauges()
	gctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	goRun := func(f func()) {
		wg.Add(1)
		go func() { defer wg.Done(); f() }()
	}
	goRun(func() { s.forward(gctx, rw, "records") })
	goRun(func() { s.forward(gctx, sw, "silences") })
	goRun(func() { s.lease(gctx) })
	goRun(func() { s.consumeWhileLeader(gctx) })
	for _, r := range s.rt.Load().receivers {
		goRun(func() { s.send(gctx, r) })
	}
	s.ready.Store(true)
	s.log.Info("alert service running", "records", len(s.cache), "silences", len(s.silences), "instance", s.opts.Instance)
	err = s.loop(gctx)
	s.hub.close() // the event streams end with the service, not with the HTTP server's grace period
	cancel()
	wg.Wait()
	s.ready.Store(false)
	s.leader.Store(false)
	s.m.leader.Set(0)
	if errors.Is(err, context.Canceled) {
		return nil
	}
	return err
}

// loadBucket reads every value of kv into the cache and returns the watcher
// positioned after the initial values.
func (s *Service) loadBucket(ctx context.Context, kv jetstream.KeyValue, name string) (jetstream.KeyWatcher, error) {
	w, err := kv.WatchAll(ctx)
	if err != nil {
		return nil, fmt.Errorf("watch %s: %w", name, err)
	}
	for {
		select {
		case e, ok := <-w.Updates():
			if !ok {
				return nil, fmt.Errorf("watch %s: closed during load", name)
			}
			if e == nil {
				return w, nil
			}
			s.applyUpdate(kvUpdate{bucket: name, key: e.Key(), rev: e.Revision(), value: e.Value(),
				del: e.Operation() != jetstream.KeyValuePut})
		case <-ctx.Done():
			_ = w.Stop()
			return nil, ctx.Err()
		}
	}
}

// forward passes other replicas' changes (and echoes of ours) to the loop.
func (s *Service) forward(ctx context.Context, w jetstream.KeyWatcher, name string) {
	defer func() { _ = w.Stop() }()
	for {
		select {
		case e, ok := <-w.Updates():
			if !ok {
				return
			}
			if e == nil {
				continue
			}
			u := kvUpdate{bucket: name, key: e.Key(), rev: e.Revision(), value: e.Value(), del: e.Operation() != jetstream.KeyValuePut}
			select {
			case s.updates <- u:
			case <-ctx.Done():
				return
			}
		case <-ctx.Done():
			return
		}
	}
}

// applyUpdate takes a KV change into the cache unless the cache is newer.
func (s *Service) applyUpdate(u kvUpdate) {
	switch u.bucket {
	case "records":
		if e, ok := s.cache[u.key]; ok && e.rev >= u.rev {
			return
		}
		if u.del {
			delete(s.cache, u.key)
			return
		}
		r, err := decodeRecord(u.value)
		if err != nil {
			s.log.Error("alert record unreadable; skipped", "key", u.key, "err", err)
			return
		}
		var old *Record
		if e, ok := s.cache[u.key]; ok {
			old = e.rec
		}
		s.cache[u.key] = &entry{rec: r, rev: u.rev}
		// Another replica's change (ours come back with a revision we have).
		s.publishChange(old, r)
	case "silences":
		if e, ok := s.silences[u.key]; ok && e.rev >= u.rev {
			return
		}
		if u.del {
			delete(s.silences, u.key)
			return
		}
		var sl Silence
		if err := json.Unmarshal(u.value, &sl); err != nil {
			s.log.Error("silence unreadable; skipped", "key", u.key, "err", err)
			return
		}
		s.silences[u.key] = &silEntry{s: &sl, rev: u.rev}
		s.hub.publish(Event{What: "silence", Silence: u.key})
	}
}

// lease keeps or tries to take the leader lease every TTL/3.
func (s *Service) lease(ctx context.Context) {
	const key = "leader"
	kv := s.opts.Bus.Lease
	val := []byte(s.opts.Instance)
	var rev uint64
	set := func(v bool) {
		if s.leader.Swap(v) != v {
			if v {
				s.log.Info("alert lease taken: consuming transitions", "instance", s.opts.Instance)
				s.m.leader.Set(1)
			} else {
				s.log.Warn("alert lease lost", "instance", s.opts.Instance)
				s.m.leader.Set(0)
			}
		}
	}
	try := func() {
		if s.leader.Load() {
			r, err := kv.Update(ctx, key, val, rev)
			if err == nil {
				rev = r
				return
			}
			if ctx.Err() == nil {
				set(false)
			}
		}
		r, err := kv.Create(ctx, key, val)
		if err == nil {
			rev = r
			set(true)
			return
		}
		// A restarted instance takes back its own lease at once.
		if e, gerr := kv.Get(ctx, key); gerr == nil && string(e.Value()) == s.opts.Instance {
			if r, err := kv.Update(ctx, key, val, e.Revision()); err == nil {
				rev = r
				set(true)
			}
		}
	}
	try()
	t := time.NewTicker(s.opts.LeaseTTL / 3)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			if s.leader.Load() {
				dctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
				_ = kv.Delete(dctx, key, jetstream.LastRevision(rev))
				cancel()
			}
			return
		case <-t.C:
			try()
		}
	}
}

// consumeWhileLeader pulls transitions only while this replica leads.
func (s *Service) consumeWhileLeader(ctx context.Context) {
	poll := time.NewTicker(100 * time.Millisecond)
	defer poll.Stop()
	var cc jetstream.ConsumeContext
	stop := func() {
		if cc != nil {
			cc.Stop()
			<-cc.Closed()
			cc = nil
		}
	}
	defer stop()
	for {
		switch lead := s.leader.Load(); {
		case lead && cc == nil:
			c, err := s.opts.Bus.Transitions.Consume(func(m jetstream.Msg) {
				select {
				case s.msgs <- m:
				case <-ctx.Done():
				}
			}, jetstream.PullMaxMessages(s.opts.MaxBatch), jetstream.ConsumeErrHandler(func(_ jetstream.ConsumeContext, err error) {
				if ctx.Err() == nil && !errors.Is(err, nats.ErrConnectionClosed) {
					s.log.Debug("alerts consumer", "err", err)
				}
			}))
			if err != nil {
				s.log.Error("consume alerts failed; retrying", "err", err)
			} else {
				cc = c
			}
		case !lead && cc != nil:
			stop()
		}
		select {
		case <-ctx.Done():
			return
		case <-poll.C:
		}
	}
}

// loop owns the cache: it applies transitions, API commands, KV changes and
// the timers, one at a time.
func (s *Service) loop(ctx context.Context) error {
	tick := time.NewTicker(s.rt.Load().svc.tick)
	defer tick.Stop()
	batch := make([]jetstream.Msg, 0, s.opts.MaxBatch)
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case m := <-s.msgs:
			batch = append(batch[:0], m)
		drain:
			for len(batch) < s.opts.MaxBatch {
				select {
				case m := <-s.msgs:
					batch = append(batch, m)
				default:
					break drain
				}
			}
			s.handle(ctx, batch)
		case u := <-s.updates:
			s.applyUpdate(u)
		case f := <-s.cmds:
			f()
		case <-s.kick:
			if s.leader.Load() {
				s.handle(ctx, nil)
			}
		case <-tick.C:
			if s.leader.Load() {
				s.handle(ctx, nil)
				s.sweep(ctx)
			}
			s.updateGauges()
		}
	}
}

func (s *Service) updateGauges() {
	n := 0
	for _, e := range s.cache {
		if e.rec.Status == domain.Firing {
			n++
		}
	}
	s.m.records.Set(float64(len(s.cache)))
	s.m.firing.Set(float64(n))
}

func (s *Service) activeSilences(rt *Routing, now time.Time) []*Silence {
	out := make([]*Silence, 0, len(rt.silences)+len(s.silences))
	for _, sl := range rt.silences {
		if sl.Active(now) {
			out = append(out, sl)
		}
	}
	for _, e := range s.silences {
		if e.s.Active(now) {
			out = append(out, e.s)
		}
	}
	return out
}

// handle applies a batch of transitions (none for a timer run), plans the
// notifications, stores the outbox entries, then the records, then acks.
func (s *Service) handle(ctx context.Context, msgs []jetstream.Msg) {
	now := s.now()
	rt := s.rt.Load()
	work := map[string]*Record{}
	var acks []jetstream.Msg
	for _, m := range msgs {
		var tr domain.Transition
		if err := json.Unmarshal(m.Data(), &tr); err != nil || tr.AlertID == "" || tr.Seq == 0 {
			s.log.Error("alert transition unreadable; terminated", "subject", m.Subject(), "err", err)
			_ = m.Term()
			continue
		}
		acks = append(acks, m)
		ref := RefOf(tr.AlertID)
		r := work[ref]
		if r == nil {
			if e, ok := s.cache[ref]; ok {
				r = e.rec.clone()
			} else {
				r = newRecord(tr.AlertID)
			}
		}
		st, _ := s.opts.Registry.Station(tr.Station)
		ev, ok := r.apply(&tr, st, now)
		if !ok {
			continue
		}
		s.m.transitions.WithLabelValues(ev).Inc()
		rt.route(r, ev, now)
		work[ref] = r
	}
	// Plan over the cache with this batch's changes in place.
	saved := map[string]*entry{}
	for ref, r := range work {
		old := s.cache[ref]
		saved[ref] = old
		rev := uint64(0)
		if old != nil {
			rev = old.rev
		}
		s.cache[ref] = &entry{rec: r, rev: rev}
	}
	all := make(map[string]*Record, len(s.cache))
	for ref, e := range s.cache {
		all[ref] = e.rec
	}
	out, changed := rt.plan(all, s.activeSilences(rt, now), now)
	for ref, r := range changed {
		work[ref] = r
	}
	restore := func() {
		for ref, old := range saved {
			if old == nil {
				delete(s.cache, ref)
			} else {
				s.cache[ref] = old
			}
		}
	}
	if len(work) == 0 && len(out) == 0 {
		restore()
		ackAll(acks)
		return
	}
	if err := s.publishOutbox(ctx, out); err != nil {
		s.failBatch(ctx, "outbox", err, acks, restore)
		return
	}
	// What the event streams compare against; nothing when none is open (a
	// stream opened meanwhile starts with a full refresh anyway).
	var before map[string]*Record
	if !s.hub.idle() {
		before = make(map[string]*Record, len(work))
		for ref := range work {
			if old, ok := saved[ref]; ok {
				if old != nil {
					before[ref] = old.rec
				}
			} else if e := s.cache[ref]; e != nil {
				before[ref] = e.rec
			}
		}
	}
	if err := s.writeRecords(ctx, work, saved); err != nil {
		s.failBatch(ctx, "alert store", err, acks, restore)
		return
	}
	ackAll(acks)
	if before != nil {
		for ref := range work {
			s.publishChange(before[ref], s.cache[ref].rec)
		}
	}
}

// publishChange tells the event streams about a change from old (nil: a new
// alert) to r that a duty officer sees. It runs on the loop and never
// blocks.
func (s *Service) publishChange(old, r *Record) {
	if ev, ok := recordEvent(old, r); ok {
		s.hub.publish(ev)
	}
}

func ackAll(ms []jetstream.Msg) {
	for _, m := range ms {
		_ = m.Ack()
	}
}

func (s *Service) failBatch(ctx context.Context, what string, err error, acks []jetstream.Msg, restore func()) {
	restore()
	s.m.storeErrors.Inc()
	if ctx.Err() == nil {
		s.log.Error("store failed; transitions will be redelivered", "what", what, "err", err)
	}
	for _, m := range acks {
		_ = m.NakWithDelay(time.Second)
	}
}

// publishOutbox stores the messages, each with its id as Nats-Msg-Id, and
// waits for every ack.
func (s *Service) publishOutbox(ctx context.Context, out []*notify.Message) error {
	if len(out) == 0 {
		return nil
	}
	futs := make([]jetstream.PubAckFuture, 0, len(out))
	for _, m := range out {
		b, err := json.Marshal(m)
		if err != nil {
			return fmt.Errorf("encode outbox message: %w", err)
		}
		msg := nats.NewMsg(s.opts.Bus.OutboxSubject(m.Receiver))
		msg.Header.Set(jetstream.MsgIDHeader, m.ID)
		msg.Data = b
		f, err := s.opts.Bus.JS.PublishMsgAsync(msg)
		if err != nil {
			return fmt.Errorf("publish outbox: %w", err)
		}
		futs = append(futs, f)
	}
	wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	for _, f := range futs {
		select {
		case <-f.Ok():
		case err := <-f.Err():
			return fmt.Errorf("outbox: %w", err)
		case <-wctx.Done():
			return fmt.Errorf("outbox: %w", wctx.Err())
		}
	}
	s.m.outbox.Add(float64(len(out)))
	return nil
}

// writeRecords stores the changed records in parallel, compare-and-set
// against the revision the batch started from; on a conflict (an API write
// on another replica) the API's part is merged in.
func (s *Service) writeRecords(ctx context.Context, work map[string]*Record, saved map[string]*entry) error {
	type res struct {
		ref string
		rec *Record
		rev uint64
		err error
	}
	results := make(chan res, len(work))
	sem := make(chan struct{}, 16)
	var wg sync.WaitGroup
	for ref, r := range work {
		rev := uint64(0)
		if e := s.cache[ref]; e != nil {
			rev = e.rev
		}
		if old, ok := saved[ref]; ok {
			rev = 0
			if old != nil {
				rev = old.rev
			}
		}
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			rec, nrev, err := s.casWrite(ctx, r, rev, func(latest *Record) *Record { return mergeAPI(r, latest) })
			results <- res{ref, rec, nrev, err}
		}()
	}
	wg.Wait()
	close(results)
	var firstErr error
	for x := range results {
		if x.err != nil {
			if firstErr == nil {
				firstErr = x.err
			}
			continue
		}
		s.cache[x.ref] = &entry{rec: x.rec, rev: x.rev}
	}
	return firstErr
}

// casWrite writes r at rev; on a conflict it reads the latest version and
// writes merge(latest) instead, a few times.
func (s *Service) casWrite(ctx context.Context, r *Record, rev uint64, merge func(latest *Record) *Record) (*Record, uint64, error) {
	kv := s.opts.Bus.Records
	for attempt := 0; ; attempt++ {
		nrev, err := putRecord(ctx, kv, r, rev)
		if err == nil {
			return r, nrev, nil
		}
		if !isConflict(err) || attempt == 4 {
			return nil, 0, fmt.Errorf("write alert %s: %w", r.ID, err)
		}
		e, gerr := kv.Get(ctx, r.Ref)
		if gerr != nil {
			return nil, 0, fmt.Errorf("write alert %s: re-read after conflict: %w", r.ID, gerr)
		}
		latest, derr := decodeRecord(e.Value())
		if derr != nil {
			return nil, 0, derr
		}
		r, rev = merge(latest), e.Revision()
	}
}

// sweep drops resolved records older than the retention.
func (s *Service) sweep(ctx context.Context) {
	rt := s.rt.Load()
	now := s.now()
	for ref, e := range s.cache {
		r := e.rec
		if r.Status != domain.Resolved || r.ResolvedAt.IsZero() || now.Sub(r.UpdatedAt) < rt.svc.resolvedRetention {
			continue
		}
		if err := s.opts.Bus.Records.Delete(ctx, ref, jetstream.LastRevision(e.rev)); err != nil {
			if ctx.Err() == nil && !isConflict(err) {
				s.log.Warn("drop resolved alert failed", "alert_id", r.ID, "err", err)
			}
			continue
		}
		delete(s.cache, ref)
	}
}

// Kick asks the loop to plan now (after an acknowledgement or a silence
// change the leader may have something to send or to stop).
func (s *Service) Kick() {
	select {
	case s.kick <- struct{}{}:
	default:
	}
}
