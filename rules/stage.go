package rules

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/qingliu/qingliu/domain"
	"github.com/qingliu/qingliu/internal/bus"
)

// StageConfig configures the rules stage. Zero values take the defaults.
type StageConfig struct {
	// Prefetch bounds the READINGS messages buffered ahead of the engine
	// (default 2000).
	Prefetch int
	// SnapshotEvery is how often the engine state is saved (default 5s).
	// A restart replays READINGS from the last save.
	SnapshotEvery time.Duration
	// TickEvery is how often silence and hold timers are checked (default 1s).
	TickEvery time.Duration
	// StateBucket is the JetStream object store holding the state (default
	// ql_rules_state).
	StateBucket string
	// Series, if set, receives the derived AQI and water-class series.
	Series SeriesSink
	// Maintenance, if set, is the alert service's silences bucket
	// (bus.KVSilences): its maintenance windows suppress evaluation of their
	// stations, followed while the stage runs.
	Maintenance jetstream.KeyValue
}

func (c StageConfig) withDefaults() StageConfig {
	if c.Prefetch <= 0 {
		c.Prefetch = 2000
	}
	if c.SnapshotEvery <= 0 {
		c.SnapshotEvery = 5 * time.Second
	}
	if c.TickEvery <= 0 {
		c.TickEvery = time.Second
	}
	if c.StateBucket == "" {
		c.StateBucket = StateBucket
	}
	return c
}

// StateBucket is the default object store of the rules state.
const StateBucket = "ql_rules_state"

const stateObject = "engine"

// saved is what the stage stores: the engine snapshot and the stream
// positions it corresponds to.
type saved struct {
	// ReadingsSeq is the last READINGS stream sequence the engine state
	// includes; a restart resumes after it.
	ReadingsSeq uint64 `json:"readings_seq"`
	// AlertsSeq is the ALERTS stream sequence of the last transition
	// published before the save; a restart reads ALERTS after it to know
	// which regenerated transitions are already out.
	AlertsSeq uint64    `json:"alerts_seq"`
	SavedAt   time.Time `json:"saved_at"`
	Engine    *Snapshot `json:"engine"`
}

// Stage is the rules stage: it evaluates READINGS in stream order with an
// Engine and publishes transitions to ALERTS (Nats-Msg-Id alert_id:seq); it
// acks nothing, as its position is the one saved with its state. It saves the engine
// state with the stream position in a JetStream object store; on start it
// restores it and replays READINGS from that position. Transitions the
// replay regenerates carry the same alert_id:seq: those already in ALERTS
// (read back from the saved ALERTS position) are not published again, so a
// crash at any point loses and repeats nothing. It needs only NATS, never
// InfluxDB.
//
// One stage instance may run per NATS system: the engine's state is not
// shared.
type Stage struct {
	cfg StageConfig
	js  jetstream.JetStream
	log *slog.Logger
	m   *metrics

	mu    sync.Mutex // guards set and maint: what the next Run starts with
	set   *Set
	maint []Maintenance

	ctl   chan func(*Engine) []domain.Transition
	ready atomic.Bool
}

// NewStage builds the stage over js for the compiled rules set.
func NewStage(cfg StageConfig, js jetstream.JetStream, set *Set, reg prometheus.Registerer, log *slog.Logger) *Stage {
	return &Stage{cfg: cfg.withDefaults(), js: js, set: set, log: log, m: newMetrics(reg),
		ctl: make(chan func(*Engine) []domain.Transition)}
}

// Ready reports whether the stage has restored its state and is consuming.
func (s *Stage) Ready() error {
	if !s.ready.Load() {
		return errors.New("rules engine starting: restoring state and replaying readings")
	}
	return nil
}

// Reload swaps in a new rules set (SIGHUP or the API) without losing the
// state of unchanged rules. It returns once the engine runs the new set,
// or with ctx's error.
func (s *Stage) Reload(ctx context.Context, set *Set) error {
	var rerr error
	err := s.control(ctx, func(e *Engine) []domain.Transition {
		out, err := e.Reload(set, time.Now())
		if err != nil {
			rerr = err
			s.m.reloads.WithLabelValues("error").Inc()
			return nil
		}
		s.m.reloads.WithLabelValues("ok").Inc()
		s.mu.Lock()
		s.set = set
		s.mu.Unlock()
		s.log.Info("rules reloaded", "rules", len(set.rules), "resolved", len(out))
		return out
	})
	if err != nil {
		return err
	}
	return rerr
}

// SetMaintenance replaces the run-time maintenance windows (from the alert
// service's API).
func (s *Stage) SetMaintenance(ctx context.Context, ws []Maintenance) error {
	ws = append([]Maintenance(nil), ws...)
	s.mu.Lock()
	s.maint = ws
	s.mu.Unlock()
	return s.control(ctx, func(e *Engine) []domain.Transition {
		e.SetMaintenance(ws)
		s.m.maintWindows.Set(float64(len(ws)))
		s.m.maintUpdates.Inc()
		return nil
	})
}

func (s *Stage) control(ctx context.Context, f func(*Engine) []domain.Transition) error {
	done := make(chan struct{})
	wrapped := func(e *Engine) []domain.Transition {
		defer close(done)
		return f(e)
	}
	select {
	case s.ctl <- wrapped:
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

// runState is what Run keeps between messages.
type runState struct {
	eng       *Engine
	obs       jetstream.ObjectStore
	lastSeq   uint64
	alertsSeq uint64
	// already holds the transitions found in ALERTS after the saved
	// position: a replay regenerating one does not publish it again.
	already   map[string]bool
	maxSeq    map[string]uint64
	catchUp   uint64 // READINGS last sequence at start: the end of the replay
	unsafe    bool   // a transition could not be published: do not save
	lastSave  time.Time
	lastTick  time.Time
	lastFlush time.Time
	saves     chan saved
}

// Run restores the state, then consumes READINGS until ctx is done. It
// returns after its saver goroutine has written the final state.
func (s *Stage) Run(ctx context.Context) error {
	var mw *maintWatch
	if s.cfg.Maintenance != nil {
		var ws []Maintenance
		var err error
		if mw, ws, err = watchMaintenance(ctx, s.cfg.Maintenance); err != nil {
			return err
		}
		defer func() { _ = mw.w.Stop() }()
		s.mu.Lock()
		s.maint = ws
		s.mu.Unlock()
		s.log.Info("maintenance windows loaded", "windows", len(ws))
	}
	rs, cons, err := s.start(ctx)
	if err != nil {
		return err
	}
	if mw != nil {
		followCtx, stopFollow := context.WithCancel(ctx)
		var followWG sync.WaitGroup
		followWG.Add(1)
		go func() {
			defer followWG.Done()
			s.followMaintenance(followCtx, mw)
		}()
		defer func() {
			stopFollow()
			followWG.Wait()
		}()
	}
	// The saver outlives ctx (the final save) but not the connection.
	saveCtx, cancelSaves := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelSaves()
	var saverWG sync.WaitGroup
	saverWG.Add(1)
	go func() {
		defer saverWG.Done()
		for sv := range rs.saves {
			s.save(saveCtx, rs.obs, sv)
		}
	}()
	err = s.consume(ctx, rs, cons)
	if s.js.Conn().IsClosed() {
		cancelSaves()
	} else if !rs.unsafe {
		rs.saves <- s.savedOf(rs)
	}
	close(rs.saves)
	saverWG.Wait()
	s.ready.Store(false)
	return err
}

func (s *Stage) start(ctx context.Context) (*runState, jetstream.Consumer, error) {
	obs, err := s.js.CreateOrUpdateObjectStore(ctx, jetstream.ObjectStoreConfig{
		Bucket: s.cfg.StateBucket, Description: "Rules engine state and stream positions", Storage: jetstream.FileStorage,
	})
	if err != nil {
		return nil, nil, fmt.Errorf("rules state store %s: %w", s.cfg.StateBucket, err)
	}
	s.mu.Lock()
	set := s.set
	s.mu.Unlock()
	rs := &runState{eng: NewEngine(set), obs: obs, saves: make(chan saved, 1), lastSave: time.Now(), lastTick: time.Now()}
	rs.eng.SetSeriesSink(s.cfg.Series)
	s.mu.Lock()
	if len(s.maint) > 0 {
		rs.eng.SetMaintenance(s.maint)
	}
	s.m.maintWindows.Set(float64(len(s.maint)))
	s.mu.Unlock()

	sv, err := s.load(ctx, obs)
	if err != nil {
		return nil, nil, err
	}
	if sv != nil {
		orphans, err := rs.eng.Restore(sv.Engine, time.Now())
		if err != nil {
			return nil, nil, err
		}
		rs.lastSeq, rs.alertsSeq = sv.ReadingsSeq, sv.AlertsSeq
		if err := s.readPublished(ctx, rs); err != nil {
			return nil, nil, err
		}
		if err := s.publish(ctx, rs, orphans); err != nil {
			return nil, nil, err
		}
		s.log.Info("rules state restored", "readings_seq", sv.ReadingsSeq, "alerts_seq", sv.AlertsSeq,
			"saved_at", sv.SavedAt, "already_published", len(rs.already), "resolved_orphans", len(orphans))
	} else if err := s.readPublished(ctx, rs); err != nil {
		// No saved state: a first start, or a crash before the first save.
		// Whatever a previous run published is not published again.
		return nil, nil, err
	}
	st, err := s.js.Stream(ctx, bus.StreamReadings)
	if err != nil {
		return nil, nil, fmt.Errorf("rules: stream %s: %w", bus.StreamReadings, err)
	}
	info, err := st.Info(ctx)
	if err != nil {
		return nil, nil, fmt.Errorf("rules: stream %s info: %w", bus.StreamReadings, err)
	}
	rs.catchUp = info.State.LastSeq

	// The consumer's position is the saved state's, not its own ack floor:
	// recreate it to start right after the saved sequence, so that the
	// replay is in stream order.
	cc := bus.RulesConsumer()
	if rs.lastSeq > 0 {
		cc.DeliverPolicy, cc.OptStartSeq = jetstream.DeliverByStartSequencePolicy, rs.lastSeq+1
	}
	if err := s.js.DeleteConsumer(ctx, bus.StreamReadings, cc.Durable); err != nil && !errors.Is(err, jetstream.ErrConsumerNotFound) {
		return nil, nil, fmt.Errorf("rules: reset consumer: %w", err)
	}
	cons, err := s.js.CreateConsumer(ctx, bus.StreamReadings, cc)
	if err != nil {
		return nil, nil, fmt.Errorf("rules: create consumer: %w", err)
	}
	s.log.Info("rules engine started", "rules", len(set.rules), "stations", len(set.plans),
		"resume_after", rs.lastSeq, "replay_until", rs.catchUp)
	return rs, cons, nil
}

// load reads the saved state, or nil when there is none.
func (s *Stage) load(ctx context.Context, obs jetstream.ObjectStore) (*saved, error) {
	data, err := obs.GetBytes(ctx, stateObject)
	if errors.Is(err, jetstream.ErrObjectNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("rules: load state: %w", err)
	}
	zr, err := gzip.NewReader(bytes.NewReader(data))
	if err != nil {
		return nil, fmt.Errorf("rules: load state: %w", err)
	}
	raw, err := io.ReadAll(zr)
	if err != nil {
		return nil, fmt.Errorf("rules: load state: %w", err)
	}
	var sv saved
	if err := json.Unmarshal(raw, &sv); err != nil {
		return nil, fmt.Errorf("rules: load state: %w", err)
	}
	if sv.Engine == nil {
		return nil, errors.New("rules: load state: no engine snapshot")
	}
	return &sv, nil
}

// readPublished reads the transitions published after the saved ALERTS
// position (all of ALERTS when nothing was saved).
func (s *Stage) readPublished(ctx context.Context, rs *runState) error {
	rs.already, rs.maxSeq = map[string]bool{}, map[string]uint64{}
	st, err := s.js.Stream(ctx, bus.StreamAlerts)
	if err != nil {
		return fmt.Errorf("rules: stream %s: %w", bus.StreamAlerts, err)
	}
	info, err := st.Info(ctx)
	if err != nil {
		return fmt.Errorf("rules: stream %s info: %w", bus.StreamAlerts, err)
	}
	last := info.State.LastSeq
	from := max(rs.alertsSeq+1, info.State.FirstSeq)
	if info.State.Msgs == 0 || from > last {
		return nil
	}
	cons, err := s.js.OrderedConsumer(ctx, bus.StreamAlerts, jetstream.OrderedConsumerConfig{
		DeliverPolicy: jetstream.DeliverByStartSequencePolicy, OptStartSeq: from,
	})
	if err != nil {
		return fmt.Errorf("rules: read %s: %w", bus.StreamAlerts, err)
	}
	empty := 0
	for seq := from - 1; seq < last; {
		batch, err := cons.Fetch(1000, jetstream.FetchMaxWait(2*time.Second))
		if err != nil {
			return fmt.Errorf("rules: read %s: %w", bus.StreamAlerts, err)
		}
		n := 0
		for m := range batch.Messages() {
			n++
			md, err := m.Metadata()
			if err != nil {
				continue
			}
			seq = md.Sequence.Stream
			id := m.Headers().Get(bus.HdrMsgID)
			i := strings.LastIndexByte(id, ':')
			if i < 0 {
				continue
			}
			k, err := strconv.ParseUint(id[i+1:], 10, 64)
			if err != nil {
				continue
			}
			rs.already[id] = true
			rs.maxSeq[id[:i]] = max(rs.maxSeq[id[:i]], k)
			rs.alertsSeq = max(rs.alertsSeq, seq)
		}
		if err := batch.Error(); err != nil && !errors.Is(err, nats.ErrTimeout) {
			return fmt.Errorf("rules: read %s: %w", bus.StreamAlerts, err)
		}
		if n == 0 {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			// An empty fetch is a slow server as often as messages that aged
			// out: stopping early would publish again every transition not
			// read back. Stop only when the stream holds nothing after seq.
			info, err := st.Info(ctx)
			if err != nil {
				return fmt.Errorf("rules: stream %s info: %w", bus.StreamAlerts, err)
			}
			if info.State.Msgs == 0 || info.State.LastSeq <= seq || info.State.FirstSeq > last {
				break
			}
			empty++
			if empty >= maxEmptyFetches {
				return fmt.Errorf("rules: read %s: nothing delivered after sequence %d of %d in %d fetches", bus.StreamAlerts, seq, last, empty)
			}
			continue
		}
		empty = 0
	}
	return nil
}

// maxEmptyFetches bounds how long readPublished waits on a stream that
// says it holds messages but delivers none (2 s per fetch): failing the
// start is better than publishing transitions a second time.
const maxEmptyFetches = 30

// finishReplay ends the replay: every series continues after the highest
// sequence already published, even one the replay did not regenerate (a
// silence noticed by the clock before the crash).
func (rs *runState) finishReplay() {
	if rs.maxSeq != nil {
		rs.eng.AdvanceSeqs(rs.maxSeq)
	}
	rs.already, rs.maxSeq = nil, nil
}

func (s *Stage) consume(ctx context.Context, rs *runState, cons jetstream.Consumer) error {
	it, err := cons.Messages(jetstream.PullMaxMessages(s.cfg.Prefetch))
	if err != nil {
		return fmt.Errorf("rules: consume %s: %w", bus.StreamReadings, err)
	}
	stop := context.AfterFunc(ctx, it.Stop)
	defer stop()
	defer it.Stop()
	s.ready.Store(true)
	if rs.lastSeq >= rs.catchUp {
		rs.finishReplay()
	}
	var dec bus.Decoder
	failing := false
	for {
		if err := s.housekeeping(ctx, rs); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
		msg, err := it.Next(jetstream.NextMaxWait(s.cfg.TickEvery))
		switch {
		case errors.Is(err, nats.ErrTimeout):
			if rs.already != nil {
				rs.finishReplay()
			}
			continue
		case ctx.Err() != nil:
			return nil
		case errors.Is(err, nats.ErrConnectionClosed), errors.Is(err, jetstream.ErrConnectionClosed), s.js.Conn().IsClosed():
			rs.unsafe = true
			return fmt.Errorf("rules: consume readings: %w", nats.ErrConnectionClosed)
		case errors.Is(err, jetstream.ErrMsgIteratorClosed):
			return nil
		case err != nil:
			if !failing {
				s.log.Warn("consume readings failing, retrying", "err", err)
				failing = true
			}
			continue
		}
		failing = false
		md, err := msg.Metadata()
		if err != nil {
			continue
		}
		seq := md.Sequence.Stream
		if seq <= rs.lastSeq {
			continue // a reading already evaluated
		}
		r, err := dec.Decode(msg.Data())
		if err != nil {
			s.m.decodeErrors.Inc()
			s.log.Warn("undecodable reading skipped", "seq", seq, "err", err)
		} else {
			trs := rs.eng.Process(&r, time.Now())
			if err := s.publish(ctx, rs, trs); err != nil {
				rs.unsafe = true // not saved: replayed after the restart
				if ctx.Err() != nil {
					return nil
				}
				return err
			}
			s.m.readings.Inc()
			if !r.Received.IsZero() {
				s.m.latency.Observe(time.Since(r.Received).Seconds())
			}
		}
		rs.lastSeq = seq
		if rs.already != nil && seq >= rs.catchUp {
			rs.finishReplay()
		}
	}
}

// housekeeping runs control requests, the clock tick and periodic saves.
func (s *Stage) housekeeping(ctx context.Context, rs *runState) error {
	for {
		select {
		case f := <-s.ctl:
			if err := s.publish(ctx, rs, f(rs.eng)); err != nil {
				rs.unsafe = true
				return err
			}
			s.queueSave(rs, true)
			continue
		default:
		}
		break
	}
	now := time.Now()
	if now.Sub(rs.lastTick) >= s.cfg.TickEvery && rs.already == nil {
		rs.lastTick = now
		trs := rs.eng.Tick(now)
		if len(trs) > 0 {
			if err := s.publish(ctx, rs, trs); err != nil {
				rs.unsafe = true
				return err
			}
			// Clock-driven transitions cannot be regenerated by a replay:
			// save at once.
			s.queueSave(rs, true)
		}
	}
	if now.Sub(rs.lastFlush) >= FlushEvery {
		s.flushSeries(rs)
	}
	if now.Sub(rs.lastSave) >= s.cfg.SnapshotEvery {
		s.queueSave(rs, false)
	}
	return nil
}

// flushSeries hands the batched derived points to JetStream.
func (s *Stage) flushSeries(rs *runState) {
	rs.lastFlush = time.Now()
	if f, ok := s.cfg.Series.(flusher); ok {
		f.Flush()
	}
}

func (s *Stage) savedOf(rs *runState) saved {
	return saved{ReadingsSeq: rs.lastSeq, AlertsSeq: rs.alertsSeq, SavedAt: time.Now(), Engine: rs.eng.Snapshot()}
}

// queueSave hands a snapshot to the saver; a periodic save is skipped while
// the previous one is still being written, a forced one waits for it.
func (s *Stage) queueSave(rs *runState, force bool) {
	// The derived points of the readings the state includes go out first.
	s.flushSeries(rs)
	rs.lastSave = time.Now()
	sv := s.savedOf(rs)
	if force {
		rs.saves <- sv
		return
	}
	select {
	case rs.saves <- sv:
	default:
	}
}

func (s *Stage) save(ctx context.Context, obs jetstream.ObjectStore, sv saved) {
	if ctx.Err() != nil {
		return
	}
	start := time.Now()
	var buf bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&buf, gzip.BestSpeed)
	err := json.NewEncoder(zw).Encode(sv)
	if err == nil {
		err = zw.Close()
	}
	if err == nil {
		ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		_, err = obs.PutBytes(ctx, stateObject, buf.Bytes())
		cancel()
	}
	if err != nil {
		if ctx.Err() == nil {
			s.m.saveErrors.Inc()
			s.log.Warn("save rules state failed; a restart replays more readings", "err", err)
		}
		return
	}
	s.m.saves.Inc()
	s.m.saveBytes.Set(float64(buf.Len()))
	s.m.saveSeconds.Observe(time.Since(start).Seconds())
}

// publish stores transitions in ALERTS and waits for every ack, retrying
// until it succeeds or ctx ends.
func (s *Stage) publish(ctx context.Context, rs *runState, trs []domain.Transition) error {
	if len(trs) == 0 {
		return nil
	}
	type pending struct {
		msg *nats.Msg
		fut jetstream.PubAckFuture
	}
	var ps []pending
	for i := range trs {
		tr := &trs[i]
		id := tr.MsgID()
		if rs.already[id] {
			delete(rs.already, id)
			s.m.replayed.Inc()
			continue
		}
		data, err := json.Marshal(tr)
		if err != nil {
			return fmt.Errorf("rules: encode transition %s: %w", id, err)
		}
		msg := nats.NewMsg(bus.AlertSubject(tr.Station, tr.Rule))
		msg.Header.Set(bus.HdrMsgID, id)
		msg.Data = data
		fut, err := s.js.PublishMsgAsync(msg)
		if err != nil {
			fut = nil
		}
		ps = append(ps, pending{msg, fut})
		s.logTransition(tr)
	}
	// A future is never completed if the connection closes: bound the wait,
	// then fall back to synchronous publishes, which report it.
	wait := time.NewTimer(5 * time.Second)
	defer wait.Stop()
	for _, p := range ps {
		var ack *jetstream.PubAck
		if p.fut != nil {
			select {
			case ack = <-p.fut.Ok():
			case <-p.fut.Err():
			case <-wait.C:
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		backoff := 50 * time.Millisecond
		for ack == nil {
			var err error
			pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			ack, err = s.js.PublishMsg(pctx, p.msg)
			cancel()
			if err == nil {
				break
			}
			if ctx.Err() != nil {
				return ctx.Err()
			}
			if errors.Is(err, nats.ErrConnectionClosed) {
				return fmt.Errorf("rules: publish transition %s: %w", p.msg.Header.Get(bus.HdrMsgID), err)
			}
			s.m.publishRetries.Inc()
			s.log.Warn("publish transition failing, retrying", "msg_id", p.msg.Header.Get(bus.HdrMsgID), "err", err)
			select {
			case <-time.After(backoff):
			case <-ctx.Done():
				return ctx.Err()
			}
			backoff = min(2*backoff, 5*time.Second)
		}
		rs.alertsSeq = max(rs.alertsSeq, ack.Sequence)
	}
	for i := range trs {
		s.m.transitions.WithLabelValues(trs[i].Kind, trs[i].Status.String()).Inc()
	}
	return nil
}

func (s *Stage) logTransition(tr *domain.Transition) {
	attrs := []any{"alert_id", tr.AlertID, "seq", tr.Seq, "status", tr.Status.String(), "level", tr.Level.String(),
		"station", tr.Station, "rule", tr.Rule, "kind", tr.Kind, "at", tr.At.Format(time.RFC3339),
		"jurisdictions", strings.Join(tr.Jurisdictions, ","), "summary", tr.SummaryZH}
	if tr.Parameter != "" {
		attrs = append(attrs, "param", tr.Parameter)
	}
	if tr.Joint {
		attrs = append(attrs, "joint", true)
	}
	if tr.ETA != nil {
		attrs = append(attrs, "eta", tr.ETA.Format(time.RFC3339))
	}
	s.log.Info("alert transition", attrs...)
}

type metrics struct {
	readings       prometheus.Counter
	decodeErrors   prometheus.Counter
	transitions    *prometheus.CounterVec
	replayed       prometheus.Counter
	publishRetries prometheus.Counter
	saves          prometheus.Counter
	saveErrors     prometheus.Counter
	saveBytes      prometheus.Gauge
	saveSeconds    prometheus.Histogram
	latency        prometheus.Histogram
	maintWindows   prometheus.Gauge
	maintUpdates   prometheus.Counter
	reloads        *prometheus.CounterVec
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		readings: prometheus.NewCounter(prometheus.CounterOpts{Name: "qingliu_rules_readings_total",
			Help: "Readings evaluated by the rules engine."}),
		decodeErrors: prometheus.NewCounter(prometheus.CounterOpts{Name: "qingliu_rules_decode_errors_total",
			Help: "READINGS messages the rules engine could not decode (skipped)."}),
		transitions: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "qingliu_rules_transitions_total",
			Help: "Alert transitions published to ALERTS."}, []string{"kind", "status"}),
		replayed: prometheus.NewCounter(prometheus.CounterOpts{Name: "qingliu_rules_replayed_transitions_total",
			Help: "Transitions regenerated by a replay after a restart and found already published."}),
		publishRetries: prometheus.NewCounter(prometheus.CounterOpts{Name: "qingliu_rules_publish_retries_total",
			Help: "Retries of transition publishes to ALERTS."}),
		saves: prometheus.NewCounter(prometheus.CounterOpts{Name: "qingliu_rules_state_saves_total",
			Help: "Saves of the rules engine state."}),
		saveErrors: prometheus.NewCounter(prometheus.CounterOpts{Name: "qingliu_rules_state_save_errors_total",
			Help: "Failed saves of the rules engine state."}),
		saveBytes: prometheus.NewGauge(prometheus.GaugeOpts{Name: "qingliu_rules_state_bytes",
			Help: "Size of the last saved rules engine state (compressed)."}),
		saveSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "qingliu_rules_state_save_seconds",
			Help: "Time to encode and store the rules engine state.", Buckets: prometheus.ExponentialBuckets(0.001, 4, 8)}),
		latency: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "qingliu_rules_reading_latency_seconds",
			Help:    "From ingest accepting a reading to the rules engine having evaluated it and published its transitions.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 16)}),
		maintWindows: prometheus.NewGauge(prometheus.GaugeOpts{Name: "qingliu_rules_maintenance_windows",
			Help: "Station maintenance windows from the alert API the engine applies (past, current and scheduled)."}),
		maintUpdates: prometheus.NewCounter(prometheus.CounterOpts{Name: "qingliu_rules_maintenance_updates_total",
			Help: "Changes of the maintenance windows from the alert API applied by the engine."}),
		reloads: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "qingliu_rules_reloads_total",
			Help: "Rules reloads (SIGHUP or the API) by result."}, []string{"result"}),
	}
	if reg != nil {
		reg.MustRegister(m.readings, m.decodeErrors, m.transitions, m.replayed, m.publishRetries,
			m.saves, m.saveErrors, m.saveBytes, m.saveSeconds, m.latency, m.maintWindows, m.maintUpdates, m.reloads)
	}
	return m
}
