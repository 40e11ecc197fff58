package e2e

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/qingliu/qingliu/domain"
	"github.com/qingliu/qingliu/internal/broker"
	"github.com/qingliu/qingliu/internal/bus"
	"github.com/qingliu/qingliu/internal/testenv"
	"github.com/qingliu/qingliu/registry"
	"github.com/qingliu/qingliu/rules"
	"github.com/qingliu/qingliu/standards"
)

const dedupeWindow = 100 * time.Millisecond

// rulesEnv is an embedded NATS server with the streams, and the shipped
// registry, standards and rules.
type rulesEnv struct {
	srv *broker.Server
	js  jetstream.JetStream
	set *rules.Set
	reg *registry.Registry
}

func newRulesEnv(t testing.TB) *rulesEnv {
	t.Helper()
	root := testenv.RepoRoot(t)
	reg, err := registry.Load(filepath.Join(root, "configs", "stations.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	std, err := standards.Load(filepath.Join(root, "configs", "standards"))
	if err != nil {
		t.Fatal(err)
	}
	set, err := rules.Load(filepath.Join(root, "configs", "rules.yaml"), reg, std)
	if err != nil {
		t.Fatal(err)
	}
	srv := testenv.NATS(t)
	nc, err := srv.Connect("test")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	// The smallest dedupe window: the stage's own replay dedupe must
	// prevent repeated transitions, not JetStream's window.
	if err := bus.Ensure(t.Context(), js, bus.Config{DuplicateWindow: dedupeWindow}); err != nil {
		t.Fatal(err)
	}
	return &rulesEnv{srv: srv, js: js, set: set, reg: reg}
}

// spikeReadings reads rules/testdata/spike.jsonl: an ammonia spike at
// bj-gaoqiao travelling down the 北江 to the intake section bj-shijiao.
func spikeReadings(t *testing.T, reg *registry.Registry) []domain.Reading {
	t.Helper()
	f, err := os.Open(filepath.Join(testenv.RepoRoot(t), "rules", "testdata", "spike.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []domain.Reading
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		var in struct {
			Station string             `json:"station"`
			TS      time.Time          `json:"ts"`
			Values  map[string]float64 `json:"values"`
		}
		if err := json.Unmarshal([]byte(line), &in); err != nil {
			t.Fatal(err)
		}
		st, ok := reg.Station(in.Station)
		if !ok {
			t.Fatalf("unknown station %s", in.Station)
		}
		out = append(out, domain.Reading{Station: in.Station, Medium: st.Medium, Time: in.TS, Source: domain.SourceMQTT,
			Values: in.Values, Received: time.Now()})
	}
	return out
}

func (re *rulesEnv) publishReadings(t *testing.T, rs []domain.Reading) {
	t.Helper()
	for i := range rs {
		data, err := bus.EncodeReading(&rs[i])
		if err != nil {
			t.Fatal(err)
		}
		msg := nats.NewMsg(bus.ReadingSubject(string(rs[i].Medium), rs[i].Station))
		msg.Header.Set(bus.HdrMsgID, bus.MsgID(&rs[i]))
		msg.Data = data
		if _, err := re.js.PublishMsg(t.Context(), msg); err != nil {
			t.Fatal(err)
		}
	}
}

// stage runs a rules stage on its own connection until stop is called.
type stage struct {
	nc     *nats.Conn
	cancel context.CancelFunc
	done   chan error
	st     *rules.Stage
}

func (re *rulesEnv) startStage(t testing.TB, name string) *stage {
	t.Helper()
	// Save after every message, so that a crash finds a recent save.
	return re.startStageWith(t, name, rules.StageConfig{SnapshotEvery: time.Millisecond, TickEvery: 50 * time.Millisecond},
		testenv.Logger(t).With("component", "rules", "stage", name))
}

func (re *rulesEnv) startStageWith(t testing.TB, name string, cfg rules.StageConfig, log *slog.Logger) *stage {
	t.Helper()
	nc, err := re.srv.Connect(name)
	if err != nil {
		t.Fatal(err)
	}
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	st := rules.NewStage(cfg, js, re.set, prometheus.NewRegistry(), log)
	ctx, cancel := context.WithCancel(context.Background())
	s := &stage{nc: nc, cancel: cancel, done: make(chan error, 1), st: st}
	go func() { s.done <- st.Run(ctx) }()
	t.Cleanup(func() { s.stop(t) })
	return s
}

// stop ends the stage gracefully and waits for Run to return.
func (s *stage) stop(t testing.TB) {
	if s.cancel == nil {
		return
	}
	s.cancel()
	s.cancel = nil
	select {
	case err := <-s.done:
		if err != nil {
			t.Errorf("stage: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Error("stage did not stop")
	}
	s.nc.Close()
}

// crash cuts the stage's connection, as a killed process would: nothing
// more is published, acked or saved.
func (s *stage) crash(t *testing.T) {
	s.nc.Close()
	select {
	case err := <-s.done:
		if !errors.Is(err, nats.ErrConnectionClosed) {
			t.Errorf("stage after its connection closed: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Error("stage did not stop after its connection closed")
	}
	s.cancel()
	s.cancel = nil
}

type alertMsg struct {
	subject, msgID string
	tr             domain.Transition
}

// alerts reads the whole ALERTS stream.
func (re *rulesEnv) alerts(t *testing.T) []alertMsg {
	t.Helper()
	ctx := t.Context()
	st, err := re.js.Stream(ctx, bus.StreamAlerts)
	if err != nil {
		t.Fatal(err)
	}
	info, err := st.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var out []alertMsg
	for seq := info.State.FirstSeq; seq <= info.State.LastSeq && info.State.Msgs > 0; seq++ {
		m, err := st.GetMsg(ctx, seq)
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		var tr domain.Transition
		if err := json.Unmarshal(m.Data, &tr); err != nil {
			t.Fatalf("ALERTS seq %d: %v: %s", seq, err, m.Data)
		}
		out = append(out, alertMsg{subject: m.Subject, msgID: m.Header.Get(bus.HdrMsgID), tr: tr})
	}
	return out
}

// offline is what the engine produces for the readings without NATS.
func offline(set *rules.Set, rs []domain.Reading) []domain.Transition {
	e := rules.NewEngine(set)
	var out []domain.Transition
	for i := range rs {
		out = append(out, e.Process(&rs[i], time.Now())...)
	}
	return out
}

func riverWarnings(ms []alertMsg) []alertMsg {
	var out []alertMsg
	for _, m := range ms {
		if !m.tr.Technical {
			out = append(out, m)
		}
	}
	return out
}

// waitAlerts polls ALERTS until cond holds.
func (re *rulesEnv) waitAlerts(t *testing.T, what string, cond func([]alertMsg) bool) []alertMsg {
	t.Helper()
	var ms []alertMsg
	testenv.Eventually(t, 60*time.Second, what, func() bool {
		ms = re.alerts(t)
		return cond(ms)
	})
	return ms
}

// TestRulesStageSpikeJointWarning: a simulated ammonia spike upstream
// produces, on the ALERTS stream, the section warning, a pre-warning for
// each section downstream with its ETA, and a joint warning owned by 广州
// and 清远 with the ETA at the intake section.
func TestRulesStageSpikeJointWarning(t *testing.T) {
	re := newRulesEnv(t)
	rs := spikeReadings(t, re.reg)
	want := offline(re.set, rs)
	re.publishReadings(t, rs)
	re.startStage(t, "rules")
	ms := re.waitAlerts(t, "every transition of the spike on ALERTS", func(ms []alertMsg) bool {
		return len(riverWarnings(ms)) >= len(want)
	})
	got := riverWarnings(ms)
	if len(got) != len(want) {
		t.Fatalf("%d warnings on ALERTS, want %d", len(got), len(want))
	}
	for i := range want {
		w, g := &want[i], got[i]
		if g.tr.AlertID != w.AlertID || g.tr.Seq != w.Seq || g.tr.Status != w.Status || g.tr.Level != w.Level {
			t.Fatalf("ALERTS[%d] = %s %d %s %s, want %s %d %s %s", i, g.tr.AlertID, g.tr.Seq, g.tr.Status, g.tr.Level,
				w.AlertID, w.Seq, w.Status, w.Level)
		}
		if g.msgID != w.AlertID+":"+fmt.Sprint(w.Seq) || g.subject != bus.AlertSubject(w.Station, w.Rule) {
			t.Errorf("ALERTS[%d]: subject %s, Nats-Msg-Id %s", i, g.subject, g.msgID)
		}
	}

	find := func(id string, level domain.Level) domain.Transition {
		t.Helper()
		for _, m := range got {
			if m.tr.AlertID == id && m.tr.Status == domain.Firing && m.tr.Level == level {
				return m.tr
			}
		}
		t.Fatalf("no %s firing at %s on ALERTS", id, level)
		return domain.Transition{}
	}
	const src = "nh3n-high/bj-gaoqiao/nh3n"
	first := find(src, domain.Blue)
	if find(src, domain.Orange).Jurisdictions[0] != "清远" {
		t.Errorf("section warning jurisdictions: %v", first.Jurisdictions)
	}
	for _, hop := range re.reg.Downstream("bj-gaoqiao") {
		pw := find("river/"+hop.Station+"/"+src, domain.Blue)
		if pw.Kind != rules.KindPropagation || pw.ETA == nil || !pw.ETA.Equal(first.At.Add(hop.ETA)) || pw.SourceStation != "bj-gaoqiao" {
			t.Errorf("pre-warning at %s: kind %s, eta %v (want %v), source %s", hop.Station, pw.Kind, pw.ETA, first.At.Add(hop.ETA), pw.SourceStation)
		}
	}
	joint := find("river/joint/"+src, domain.Orange)
	shijiao := first.At.Add(43 * time.Hour) // the intake section, 43 h down the 北江
	if !joint.Joint || !slices.Equal(joint.Jurisdictions, []string{"广州", "清远"}) || joint.ETA == nil || !joint.ETA.Equal(shijiao) {
		t.Errorf("joint warning: joint %v, jurisdictions %v, eta %v (want %v)", joint.Joint, joint.Jurisdictions, joint.ETA, shijiao)
	}
	if !strings.Contains(joint.SummaryZH, "联合") || joint.SummaryEN == "" {
		t.Errorf("joint summaries: %q / %q", joint.SummaryZH, joint.SummaryEN)
	}
	// Confirmation at bj-lixi within the window raises the event's warnings.
	if c := find("river/joint/"+src, domain.Red); c.Confidence != domain.ConfidenceConfirmed {
		t.Errorf("confirmed joint warning: confidence %q", c.Confidence)
	}
}

// TestRulesStageRestartMidStream: the stage's connection is cut in the
// middle of the stream (as a killed process: no final save, a publish
// perhaps unacked) and a new stage continues on the same NATS. The
// transitions on ALERTS are exactly those of an uninterrupted run: none
// lost, none repeated, every alert's sequence 1, 2, 3 … without gaps.
func TestRulesStageRestartMidStream(t *testing.T) {
	// The uninterrupted run, on its own server.
	ref := newRulesEnv(t)
	rs := spikeReadings(t, ref.reg)
	wantN := len(offline(ref.set, rs))
	ref.publishReadings(t, rs)
	ref.startStage(t, "rules")
	want := riverWarnings(ref.waitAlerts(t, "the reference run", func(ms []alertMsg) bool { return len(riverWarnings(ms)) >= wantN }))

	for _, cut := range []int{3, len(want) / 3, len(want) / 2, len(want) - 5} {
		t.Run(fmt.Sprintf("crash after %d", cut), func(t *testing.T) {
			re := newRulesEnv(t)
			re.publishReadings(t, rs)
			// Cut the first stage as soon as cut transitions are stored.
			watch, err := re.srv.Connect("watch")
			if err != nil {
				t.Fatal(err)
			}
			defer watch.Close()
			var once sync.Once
			seen := 0
			s1 := re.startStage(t, "rules-1")
			cutNow := make(chan struct{})
			sub, err := watch.Subscribe("ql.alerts.>", func(*nats.Msg) {
				seen++
				if seen >= cut {
					once.Do(func() { close(cutNow) })
				}
			})
			if err != nil {
				t.Fatal(err)
			}
			defer sub.Unsubscribe()
			select {
			case <-cutNow:
			case <-time.After(60 * time.Second):
				t.Fatal("the first stage published too little")
			}
			s1.crash(t)
			before := len(re.alerts(t))
			// Let JetStream's dedupe window pass, so that only the stage's
			// own replay dedupe can keep a transition from being repeated.
			<-time.After(2 * dedupeWindow)
			re.startStage(t, "rules-2")
			got := riverWarnings(re.waitAlerts(t, "the run to complete after the restart", func(ms []alertMsg) bool {
				return len(riverWarnings(ms)) >= len(want)
			}))
			t.Logf("crashed after %d transitions stored, %d in ALERTS at the restart", cut, before)
			checkSameTransitions(t, got, want)
			checkSequences(t, re.alerts(t))
		})
	}
}

func checkSameTransitions(t *testing.T, got, want []alertMsg) {
	t.Helper()
	key := func(m alertMsg) string {
		return fmt.Sprintf("%s %s %s %s", m.msgID, m.tr.Status, m.tr.Level, m.tr.At.UTC().Format(time.RFC3339))
	}
	if len(got) != len(want) {
		t.Errorf("%d transitions, want %d", len(got), len(want))
		// Name the surplus, so that a failure says which transitions
		// (a repeat, or one the reference had not yet stored) differ.
		longer, which := got, "got"
		if len(want) > len(got) {
			longer, which = want, "want"
		}
		for _, m := range longer[min(len(got), len(want)):] {
			t.Logf("only in %s: %s (kind %s, rule %s, emitted %s)", which, key(m), m.tr.Kind, m.tr.Rule, m.tr.Emitted.Format(time.RFC3339Nano))
		}
	}
	for i := range min(len(got), len(want)) {
		if key(got[i]) != key(want[i]) {
			t.Fatalf("transition %d: %s, want %s", i, key(got[i]), key(want[i]))
		}
	}
}

// checkSequences: each alert's transitions are numbered 1..n, each once.
func checkSequences(t *testing.T, ms []alertMsg) {
	t.Helper()
	seqs := map[string][]uint64{}
	for _, m := range ms {
		seqs[m.tr.AlertID] = append(seqs[m.tr.AlertID], m.tr.Seq)
	}
	for id, s := range seqs {
		sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
		for i, n := range s {
			if n != uint64(i+1) {
				t.Errorf("%s: sequences %v, want 1..%d once each", id, s, len(s))
				break
			}
		}
	}
}

// BenchmarkRulesLatency measures READINGS → ALERTS latency of a rule
// without for (nh3n-high, immediate escalation) while the stream carries
// 10 000 readings/s of ordinary data from every water station, with the
// shipped rules. Probe readings go to four sections on no river chain, each
// making exactly one transition (blue, yellow, orange, red, then resolved
// after clear_for 2). MQTT → READINGS is ingest's share (its own
// benchmark). QINGLIU_BENCH_SECONDS sets the duration (default 5).
func BenchmarkRulesLatency(b *testing.B) {
	secs := 5
	if v, err := strconv.Atoi(os.Getenv("QINGLIU_BENCH_SECONDS")); err == nil && v > 0 {
		secs = v
	}
	const rate = 10000
	re := newRulesEnv(b)
	probes := []string{"dy-shuichetou", "ms-sanqingdaqiao", "ms-huangkanqiao", "qh-zhengjiangkou"}
	var water []*registry.Station
	for _, st := range re.reg.Stations() {
		if st.Medium == domain.Water && !slices.Contains(probes, st.ID) {
			water = append(water, st)
		}
	}
	pattern := []float64{1.2, 1.7, 2.5, 4.5, 0.3, 0.3} // every one but the first 0.3 makes a transition

	nc, err := re.srv.Connect("bench")
	if err != nil {
		b.Fatal(err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc, jetstream.WithPublishAsyncMaxPending(4096))
	if err != nil {
		b.Fatal(err)
	}
	var mu sync.Mutex
	sent := map[string][]time.Time{} // probe station → send times of transition-making readings, FIFO
	var lat []time.Duration
	sub, err := nc.Subscribe("ql.alerts.*.nh3n-high", func(m *nats.Msg) {
		now := time.Now()
		st := strings.Split(m.Subject, ".")[2]
		mu.Lock()
		defer mu.Unlock()
		if q := sent[st]; len(q) > 0 {
			lat = append(lat, now.Sub(q[0]))
			sent[st] = q[1:]
		}
	})
	if err != nil {
		b.Fatal(err)
	}
	defer sub.Unsubscribe()
	re.startStageWith(b, "rules", rules.StageConfig{}, slog.New(slog.DiscardHandler))

	publish := func(r *domain.Reading) {
		data, err := bus.EncodeReading(r)
		if err != nil {
			b.Fatal(err)
		}
		msg := nats.NewMsg(bus.ReadingSubject(string(r.Medium), r.Station))
		msg.Header.Set(bus.HdrMsgID, bus.MsgID(r))
		msg.Data = data
		if _, err := js.PublishMsgAsync(msg); err != nil {
			b.Fatal(err)
		}
	}
	b.ResetTimer()
	start := time.Now()
	n, probeN, want := 0, 0, 0
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	for time.Since(start) < time.Duration(secs)*time.Second {
		<-tick.C
		due := int(time.Since(start).Seconds()*rate) - n
		for range due {
			now := time.Now()
			r := domain.Reading{Medium: domain.Water, Time: now, Source: domain.SourceMQTT, Received: now}
			if n%20 == 0 { // a probe every 2 ms
				st := probes[probeN%len(probes)]
				step := (probeN / len(probes)) % len(pattern)
				r.Station, r.Values = st, map[string]float64{"nh3n": pattern[step], "ph": 7.2, "do": 7.5}
				if step != 4 {
					mu.Lock()
					sent[st] = append(sent[st], now)
					mu.Unlock()
					want++
				}
				probeN++
			} else {
				st := water[n%len(water)]
				r.Station = st.ID
				r.Values = map[string]float64{"ph": 7.2 + float64(n%7)/100, "do": 7.5 + float64(n%5)/50, "turb": 14 + float64(n%11)/10, "nh3n": 0.3 + float64(n%13)/200}
			}
			publish(&r)
			n++
		}
	}
	published := time.Since(start)
	select {
	case <-js.PublishAsyncComplete():
	case <-time.After(30 * time.Second):
		b.Fatal("publishes not acknowledged")
	}
	deadline := time.Now().Add(60 * time.Second)
	for {
		mu.Lock()
		done := len(lat) >= want && allEmpty(sent)
		got := len(lat)
		mu.Unlock()
		if done {
			break
		}
		if time.Now().After(deadline) {
			b.Fatalf("%d of %d probe transitions arrived", got, want)
		}
		<-time.After(50 * time.Millisecond)
	}
	b.StopTimer()
	mu.Lock()
	defer mu.Unlock()
	slices.Sort(lat)
	pct := func(p float64) float64 { return float64(lat[int(p*float64(len(lat)-1))]) / 1e6 }
	b.ReportMetric(float64(n)/published.Seconds(), "readings/s")
	b.ReportMetric(pct(0.5), "p50-ms")
	b.ReportMetric(pct(0.99), "p99-ms")
	b.ReportMetric(pct(1), "max-ms")
	b.ReportMetric(float64(len(lat)), "transitions")
	b.ReportMetric(0, "ns/op")
}

func allEmpty(m map[string][]time.Time) bool {
	for _, q := range m {
		if len(q) > 0 {
			return false
		}
	}
	return true
}
