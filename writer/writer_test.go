package writer

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	influxdb2 "github.com/influxdata/influxdb-client-go/v2"
	ihttp "github.com/influxdata/influxdb-client-go/v2/api/http"
	"github.com/influxdata/line-protocol/v2/lineprotocol"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/qingliu/qingliu/domain"
	"github.com/qingliu/qingliu/internal/bus"
	"github.com/qingliu/qingliu/internal/testenv"
	"github.com/qingliu/qingliu/registry"
)

// The classification is tested against what influxdb-client-go really
// returns for each status, from a fake server (unit test of the error
// classes only; real writes are proven against InfluxDB 1.8.10 in e2e).
func TestClassify(t *testing.T) {
	for _, tc := range []struct {
		status int
		body   string
		header map[string]string
		want   class
		after  time.Duration
	}{
		{413, `{"code":"request too large","message":"too large"}`, nil, classSplit, 0},
		{400, `{"code":"invalid","message":"partial write: field type conflict"}`, nil, classPoison, 0},
		{422, `{"code":"unprocessable entity","message":"points beyond retention"}`, nil, classPoison, 0},
		{404, `{"error":"database not found: \"qingliu\""}`, map[string]string{"X-Influxdb-Error": `database not found: "qingliu"`}, classMissingDB, 0},
		{404, `{"code":"not found","message":"bucket \"qingliu\" not found"}`, nil, classMissingDB, 0},
		{429, `{"code":"too many requests"}`, map[string]string{"Retry-After": "7"}, classRetry, 7 * time.Second},
		{503, `{"code":"unavailable"}`, map[string]string{"Retry-After": "2"}, classRetry, 2 * time.Second},
		{500, `{"code":"internal error","message":"engine: cache-max-memory-size exceeded"}`, nil, classRetry, 0},
		{401, `{"code":"unauthorized","message":"unauthorized access"}`, nil, classRetry, 0},
	} {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			for k, v := range tc.header {
				w.Header().Set(k, v)
			}
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(tc.status)
			_, _ = w.Write([]byte(tc.body))
		}))
		c := influxdb2.NewClientWithOptions(srv.URL, "", influxdb2.DefaultOptions().SetLogLevel(0).SetMaxRetries(0))
		err := c.WriteAPIBlocking("", "db/rp").WriteRecord(context.Background(), "water,station=x ph=7 1")
		got, after := classify(err)
		if got != tc.want || after != tc.after {
			t.Errorf("status %d: class %s after %s, want %s after %s (err %v)", tc.status, got, after, tc.want, tc.after, err)
		}
		c.Close()
		srv.Close()
	}
	if got, _ := classify(context.DeadlineExceeded); got != classRetry {
		t.Errorf("timeout: class %s, want retry", got)
	}
}

// fakeInflux refuses lines containing "poison" with 400 and any write of
// more than maxLines lines with 413, like InfluxDB does; it records what it
// stored.
type fakeInflux struct {
	mu       sync.Mutex
	maxLines int
	stored   []string
	fails    int // fail this many writes with 503 first
}

func (f *fakeInflux) WriteRecord(_ context.Context, line ...string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	lines := strings.Split(strings.TrimSpace(strings.Join(line, "")), "\n")
	if f.fails > 0 {
		f.fails--
		return &ihttp.Error{StatusCode: 503, Code: "unavailable", Message: "down"}
	}
	if len(lines) > f.maxLines {
		return &ihttp.Error{StatusCode: 413, Code: "request too large", Message: "too large"}
	}
	for _, l := range lines {
		if strings.Contains(l, "poison") {
			return &ihttp.Error{StatusCode: 400, Code: "invalid", Message: "field type conflict"}
		}
	}
	f.stored = append(f.stored, lines...)
	return nil
}

func (f *fakeInflux) lines() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.stored...)
}

func TestWriterIsolatesPoisonAndSplitsLargeBatches(t *testing.T) {
	srv := testenv.NATS(t)
	nc, err := srv.Connect("test")
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	ctx := t.Context()
	if err := bus.Ensure(ctx, js, bus.Config{}); err != nil {
		t.Fatal(err)
	}
	reg, err := registry.Load(filepath.Join("..", "configs", "stations.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	const n = 100
	t0 := time.Date(2026, 11, 26, 0, 0, 0, 0, time.UTC)
	for i := range n {
		r := domain.Reading{Station: "bj-gaoqiao", Medium: domain.Water, Source: domain.SourceMQTT,
			Time: t0.Add(time.Duration(i) * time.Minute), Values: map[string]float64{"ph": 7}}
		if i == 37 || i == 81 {
			r.Station = "poison" // InfluxDB refuses these lines
		}
		body, _ := bus.EncodeReading(&r)
		msg := nats.NewMsg(bus.ReadingSubject("water", r.Station))
		msg.Data = body
		if _, err := js.PublishMsg(ctx, msg); err != nil {
			t.Fatal(err)
		}
	}
	cons, err := bus.Consumer(ctx, js, bus.StreamReadings, bus.WriterConsumer(n, time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	out := &fakeInflux{maxLines: 16, fails: 2}
	w := New(Config{BatchSize: n, FlushInterval: 100 * time.Millisecond, MaxBackoff: 10 * time.Millisecond},
		cons, js, out, reg, nil, prometheus.NewRegistry(), testenv.Logger(t))
	wctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- w.Run(wctx) }()
	testenv.Eventually(t, 20*time.Second, "every reading acked", func() bool {
		info, err := cons.Info(ctx)
		return err == nil && info.NumPending == 0 && info.NumAckPending == 0 && info.AckFloor.Stream == n
	})
	cancel()
	if err := <-done; err != nil && !errors.Is(err, context.Canceled) {
		t.Fatal(err)
	}
	if got := len(out.lines()); got != n-2 {
		t.Errorf("stored %d lines, want %d", got, n-2)
	}
	for _, l := range out.lines() {
		if !strings.HasPrefix(l, "water,basin=北江,city=韶关,") || !strings.Contains(l, "station=bj-gaoqiao") || !strings.Contains(l, " ph=7 ") {
			t.Errorf("line %q lacks the registry tags or the field", l)
			break
		}
	}
	q, err := js.Stream(ctx, bus.StreamQuarantine)
	if err != nil {
		t.Fatal(err)
	}
	info, _ := q.Info(ctx)
	if info.State.Msgs != 2 {
		t.Fatalf("quarantine holds %d messages, want the 2 poison readings", info.State.Msgs)
	}
	m, err := q.GetMsg(ctx, info.State.FirstSeq)
	if err != nil {
		t.Fatal(err)
	}
	if m.Header.Get(bus.HdrCode) != "influx_refused" || !strings.Contains(m.Header.Get(bus.HdrReason), "field type conflict") {
		t.Errorf("quarantine headers %v", m.Header)
	}
	if r, err := bus.DecodeReading(m.Data); err != nil || r.Station != "poison" {
		t.Errorf("quarantined %q, want the original poison reading", m.Data)
	}
}

type noStations struct{}

func (noStations) Station(string) (*registry.Station, bool) { return nil, false }

// An hourly average and a real-time sample at the same instant are two
// series (the interval tag), so neither overwrites the other.
func TestEncodeIntervalTag(t *testing.T) {
	ts := time.Unix(1795672800, 0)
	var enc lineprotocol.Encoder
	enc.SetPrecision(lineprotocol.Nanosecond)
	for _, iv := range []domain.Interval{domain.IntervalInstant, domain.IntervalHour} {
		r := domain.Reading{Station: "s1", Medium: domain.Water, Source: domain.SourceHJ212, Time: ts, Interval: iv, Values: map[string]float64{"ph": 7}}
		Encode(&enc, &r, noStations{})
	}
	if err := enc.Err(); err != nil {
		t.Fatal(err)
	}
	want := "water,source=hj212,station=s1 ph=7 1795672800000000000\nwater,interval=hour,source=hj212,station=s1 ph=7 1795672800000000000\n"
	if got := string(enc.Bytes()); got != want {
		t.Errorf("lines:\n%s\nwant:\n%s", got, want)
	}
}
