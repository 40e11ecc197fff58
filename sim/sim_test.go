package sim

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
	"github.com/nats-io/nats-server/v2/server"

	"github.com/qingliu/qingliu/domain"
	"github.com/qingliu/qingliu/registry"
)

// startBroker runs an embedded NATS server with JetStream and its MQTT
// listener on a free loopback port and returns the MQTT URL.
func startBroker(t *testing.T) string {
	t.Helper()
	_, url := runBroker(t, t.TempDir(), -1)
	return url
}

// runBroker starts a NATS server storing in dir with MQTT on mqttPort (-1:
// any free port); it is shut down at the end of the test.
func runBroker(t *testing.T, dir string, mqttPort int) (*server.Server, string) {
	t.Helper()
	opts := &server.Options{
		ServerName: "sim-test",
		Host:       "127.0.0.1",
		Port:       -1,
		JetStream:  true,
		StoreDir:   dir,
		NoLog:      true,
		NoSigs:     true,
	}
	opts.MQTT.Host = "127.0.0.1"
	opts.MQTT.Port = mqttPort
	s, err := server.NewServer(opts)
	if err != nil {
		t.Fatal(err)
	}
	s.Start()
	t.Cleanup(func() {
		s.Shutdown()
		s.WaitForShutdown()
	})
	if !s.ReadyForConnections(10 * time.Second) {
		t.Fatal("nats server not ready")
	}
	return s, fmt.Sprintf("tcp://127.0.0.1:%d", opts.MQTT.Port)
}

// subscriber counts the messages a paho client receives on qingliu/v1/#.
type subscriber struct {
	n      atomic.Int64
	mu     sync.Mutex
	topics map[string]int
}

func subscribe(t *testing.T, broker string) *subscriber {
	t.Helper()
	sub := &subscriber{topics: map[string]int{}}
	opts := mqtt.NewClientOptions().AddBroker(broker).SetClientID("sim-test-sub").SetCleanSession(true).
		SetOrderMatters(false)
	c := mqtt.NewClient(opts)
	if tok := c.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("subscriber connect: %v", tok.Error())
	}
	t.Cleanup(func() { c.Disconnect(100) })
	tok := c.Subscribe("qingliu/v1/#", 1, func(_ mqtt.Client, m mqtt.Message) {
		sub.mu.Lock()
		sub.topics[m.Topic()]++
		sub.mu.Unlock()
		sub.n.Add(1)
	})
	if !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("subscribe: %v", tok.Error())
	}
	return sub
}

// eventually polls cond until it holds or the deadline passes.
func eventually(t *testing.T, within time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		<-tick.C
	}
}

func discard() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func TestRunPublishesEveryMessageWithAcks(t *testing.T) {
	broker := startBroker(t)
	sub := subscribe(t, broker)
	reg := newTestRegistry()

	cfg := DefaultConfig()
	cfg.Broker = broker
	cfg.ClientIDPrefix = "sim-test"
	cfg.Speedup = math.Inf(1)
	cfg.Start = at(t, "2026-11-20T00:00:00+08:00")
	cfg.Count = 2000
	cfg.Publishers = 2
	cfg.MaxInFlight = 64
	cfg.Malformed = 0.05
	cfg.Duplicates = 0.05
	cfg.Seed = 9
	s := New(cfg, reg, discard())
	if err := s.Run(t.Context()); err != nil {
		t.Fatal(err)
	}
	st := s.Stats()
	if st.Published != 2000 || st.Acked != 2000 || st.Failed != 0 {
		t.Fatalf("stats %+v, want 2000 published and acked", st)
	}
	if st.Malformed < 50 || st.Malformed > 150 || st.Duplicates < 50 || st.Duplicates > 150 {
		t.Errorf("stats %+v, want about 100 malformed and 100 duplicates", st)
	}
	eventually(t, 20*time.Second, "the subscriber to receive every acked message", func() bool {
		return sub.n.Load() == st.Acked
	})
	sub.mu.Lock()
	defer sub.mu.Unlock()
	for _, id := range []string{"aq-x", "bj-a", "bj-b", "bj-c"} {
		if sub.topics[Topic(id)] == 0 {
			t.Errorf("nothing received on %s", Topic(id))
		}
	}
	if sub.topics["qingliu/v1/unknown-bj-a/json"]+sub.topics["qingliu/v1/unknown-bj-b/json"]+
		sub.topics["qingliu/v1/unknown-bj-c/json"]+sub.topics["qingliu/v1/unknown-aq-x/json"] == 0 {
		t.Error("no unknown-station messages received")
	}
}

func TestRunStopsOnCancel(t *testing.T) {
	broker := startBroker(t)
	cfg := DefaultConfig()
	cfg.Broker = broker
	cfg.ClientIDPrefix = "sim-test-cancel"
	cfg.Start = at(t, "2026-11-20T00:00:00+08:00") // 4 messages at once, the next a minute later
	s := New(cfg, newTestRegistry(), discard())
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	eventually(t, 10*time.Second, "the first messages to be acked", func() bool { return s.Stats().Acked == 4 })
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("run after cancel: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("run did not return after cancel")
	}
	if st := s.Stats(); st.Published != 4 || st.Acked != 4 {
		t.Errorf("stats %+v", st)
	}
}

func TestRunPacing(t *testing.T) {
	broker := startBroker(t)
	for _, c := range []struct {
		name    string
		speedup float64
		rate    float64
		count   int64
		atLeast time.Duration
	}{
		// Hourly instants every 0.2 s of wall time: 3 instants × 4 stations.
		{name: "speedup", speedup: 5 * 3600, count: 12, atLeast: 400 * time.Millisecond},
		// 100 messages/s: the 50th leaves at 0.49 s.
		{name: "rate", speedup: 60, rate: 100, count: 50, atLeast: 490 * time.Millisecond},
	} {
		t.Run(c.name, func(t *testing.T) {
			cfg := DefaultConfig()
			cfg.Broker = broker
			cfg.ClientIDPrefix = "sim-test-" + c.name
			cfg.Start = at(t, "2026-11-20T00:00:00+08:00")
			cfg.Speedup, cfg.Rate, cfg.Count = c.speedup, c.rate, c.count
			s := New(cfg, newTestRegistry(), discard())
			began := time.Now()
			if err := s.Run(t.Context()); err != nil {
				t.Fatal(err)
			}
			if el := time.Since(began); el < c.atLeast {
				t.Errorf("took %v, want at least %v", el, c.atLeast)
			}
			if st := s.Stats(); st.Acked != c.count {
				t.Errorf("stats %+v", st)
			}
		})
	}
}

func TestRunUntilAndDuration(t *testing.T) {
	broker := startBroker(t)
	cfg := DefaultConfig()
	cfg.Broker = broker
	cfg.ClientIDPrefix = "sim-test-until"
	cfg.Speedup = math.Inf(1)
	cfg.Start = at(t, "2026-11-20T00:00:00+08:00")
	cfg.Until = At{Rel: 6 * time.Hour}
	cfg.Stations = []string{"bj-a", "bj-b"}
	cfg.Silent = []SilentSpec{{Station: "bj-b", After: At{Rel: 2 * time.Hour}}}
	s := New(cfg, newTestRegistry(), discard())
	if err := s.Run(t.Context()); err != nil {
		t.Fatal(err)
	}
	// bj-a: 6 hourly reports; bj-b: 00:00 and 01:00 before going silent.
	if st := s.Stats(); st.Acked != 8 {
		t.Errorf("stats %+v, want 8 acked", st)
	}

	cfg.Until = At{}
	cfg.Speedup = 60
	cfg.Duration = 300 * time.Millisecond
	cfg.ClientIDPrefix = "sim-test-duration"
	s = New(cfg, newTestRegistry(), discard())
	if err := s.Run(t.Context()); err != nil {
		t.Fatal(err)
	}
	if st := s.Stats(); st.Acked != 2 {
		t.Errorf("stats %+v, want the 2 messages at the start", st)
	}
}

func TestRunSurvivesABrokerRestart(t *testing.T) {
	dir := t.TempDir()
	srv, broker := runBroker(t, dir, -1)
	_, portText, _ := net.SplitHostPort(strings.TrimPrefix(broker, "tcp://"))
	port, _ := strconv.Atoi(portText)
	cfg := DefaultConfig()
	cfg.Broker = broker
	cfg.ClientIDPrefix = "sim-test-restart"
	cfg.Start = at(t, "2026-11-20T00:00:00+08:00")
	cfg.Rate = 200
	cfg.Count = 400
	cfg.DrainTimeout = 30 * time.Second
	s := New(cfg, newTestRegistry(), discard())
	done := make(chan error, 1)
	go func() { done <- s.Run(t.Context()) }()
	eventually(t, 10*time.Second, "100 acks", func() bool { return s.Stats().Acked >= 100 })
	srv.Shutdown()
	srv.WaitForShutdown()
	runBroker(t, dir, port)
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(60 * time.Second):
		t.Fatal("run did not finish")
	}
	st := s.Stats()
	if st.Published != 400 || st.Acked+st.Failed != 400 {
		t.Fatalf("stats %+v", st)
	}
	// Messages in flight when the connection dropped are resent after the
	// reconnect; at most those may fail.
	if st.Failed > int64(cfg.MaxInFlight) || st.Acked < 300 {
		t.Errorf("stats %+v", st)
	}
	t.Logf("stats after a restart: %+v", st)
}

func TestRunConnectError(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close() // nothing listens there any more
	cfg := DefaultConfig()
	cfg.Broker = "tcp://" + addr
	cfg.Password = "s3cret-pw"
	err = New(cfg, newTestRegistry(), discard()).Run(t.Context())
	wantErrContains(t, err, "connect", addr)
	if err != nil && strings.Contains(err.Error(), "s3cret-pw") {
		t.Errorf("error %q shows the password", err)
	}

	cfg.Stations = []string{"ghost"}
	wantErrContains(t, New(cfg, newTestRegistry(), discard()).Run(t.Context()), "ghost")
}

var _ Registry = (*registry.Registry)(nil)
var _ Registry = StationList(nil)

// BenchmarkPublish publishes b.N synthetic readings (200 stations, 7 water
// parameters each) through an embedded NATS MQTT listener with 4 publishers.
func BenchmarkPublish(b *testing.B) {
	dir := b.TempDir()
	opts := &server.Options{ServerName: "sim-bench", Host: "127.0.0.1", Port: -1, JetStream: true, StoreDir: dir, NoLog: true, NoSigs: true}
	opts.MQTT.Host, opts.MQTT.Port = "127.0.0.1", -1
	srv, err := server.NewServer(opts)
	if err != nil {
		b.Fatal(err)
	}
	srv.Start()
	defer func() { srv.Shutdown(); srv.WaitForShutdown() }()
	if !srv.ReadyForConnections(10 * time.Second) {
		b.Fatal("not ready")
	}
	cfg := DefaultConfig()
	cfg.Broker = fmt.Sprintf("tcp://127.0.0.1:%d", opts.MQTT.Port)
	cfg.ClientIDPrefix = "sim-bench"
	cfg.Speedup = math.Inf(1)
	cfg.Start = time.Now().Add(-72 * time.Hour)
	cfg.Publishers = 4
	cfg.Count = int64(b.N)
	cfg.StatsInterval = 0
	s := New(cfg, StationList(SyntheticStations(200, domain.Water)), discard())
	b.ResetTimer()
	if err := s.Run(b.Context()); err != nil {
		b.Fatal(err)
	}
	b.StopTimer()
	if st := s.Stats(); st.Acked != int64(b.N) {
		b.Fatalf("stats %+v", st)
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
}

func TestRedactURL(t *testing.T) {
	if got := redactURL("tcp://sim:hunter2@127.0.0.1:1883"); strings.Contains(got, "hunter2") {
		t.Errorf("redactURL shows the password: %s", got)
	}
}
