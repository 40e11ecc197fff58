package grafana_test

import (
	"context"
	"fmt"
	"log/slog"
	"maps"
	"path/filepath"
	"testing"
	"time"

	influxdb2 "github.com/influxdata/influxdb-client-go/v2"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/qingliu/qingliu/domain"
	"github.com/qingliu/qingliu/ingest"
	"github.com/qingliu/qingliu/internal/bus"
	"github.com/qingliu/qingliu/internal/testenv"
	"github.com/qingliu/qingliu/registry"
	"github.com/qingliu/qingliu/rules"
	"github.com/qingliu/qingliu/sim"
	"github.com/qingliu/qingliu/standards"
	"github.com/qingliu/qingliu/writer"
)

const db = "qingliu"

// loaded is an InfluxDB holding what the pipeline wrote for six hours of
// simulated reports ending at end.
type loaded struct {
	influx *testenv.Influx
	end    time.Time
}

// The scenario, chosen so that every panel has something to show: an
// ammonia spike at the upstream Beijiang boundary (warnings at 高桥, river
// pre-warnings and joint 广州 + 清远 warnings downstream), three hours of
// PM2.5 haze at a Qingyuan air station (hourly AQI over 200), one air station
// that goes silent (a deadman alert and empty hours), and reports carrying
// HJ 212 data flags.
const (
	span          = 6 * time.Hour
	spikeStation  = "bj-gaoqiao"
	silentStation = "aq-fogang-county"
	hazeStation   = "aq-qingcheng-fengcheng"
)

// flagged are reports with HJ 212 flags, sent as devices send them (JSON
// v1) at these offsets before the end of the data.
var flagged = []struct {
	station string
	ago     time.Duration
	payload string // %s is the timestamp
}{
	{"bj-lixi", 90 * time.Minute, `{"ts":%q,"values":{"tp":0.08,"nh3n":0.31},"flags":{"tp":"M","nh3n":"C"}}`},
	{"lx-yagang", 50 * time.Minute, `{"ts":%q,"values":{"tp":0.11},"flags":{"tp":"D"}}`},
	{"aq-huadu-shifan", 70 * time.Minute, `{"ts":%q,"values":{"pm25":38,"pm10":61},"flags":{"pm25":"M"}}`},
}

// loadPipeline runs the real stages in process — the simulator's device
// payloads through ingest's pipeline onto READINGS, the rules stage with
// its DERIVED sink, and the three writers (readings, alerts, derived) into
// a real InfluxDB 1.8.10 — and waits until every measurement has arrived.
func loadPipeline(t *testing.T) *loaded {
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
	influx := testenv.StartInflux(t)
	influx.CreateDB(db)
	srv := testenv.NATS(t)
	nc, err := srv.Connect("grafana-test")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	if err := bus.Ensure(ctx, js, bus.Config{}); err != nil {
		t.Fatal(err)
	}

	runCtx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 4)
	t.Cleanup(func() {
		cancel()
		for range 4 {
			if err := <-done; err != nil {
				t.Errorf("stage: %v", err)
			}
		}
	})
	log := testenv.Logger(t)
	client := influxdb2.NewClientWithOptions(influx.URL(), "", influxdb2.DefaultOptions().SetMaxRetries(0).SetLogLevel(0))
	t.Cleanup(client.Close)
	out := client.WriteAPIBlocking("", db+"/autogen")
	prom := prometheus.NewRegistry()
	wcfg := writer.Config{BatchSize: 1000, FlushInterval: 100 * time.Millisecond}
	cons := func(stream string, cc jetstream.ConsumerConfig) jetstream.Consumer {
		c, err := bus.Consumer(ctx, js, stream, cc)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	stages := []interface{ Run(context.Context) error }{
		writer.New(wcfg, cons(bus.StreamReadings, bus.WriterConsumer(1000, 30*time.Second)), js, out, reg, nil, prom, log.With("component", "writer")),
		writer.NewAlerts(wcfg, cons(bus.StreamAlerts, bus.AlertsWriterConsumer(1000)), js, out, nil, prom, log.With("component", "writer", "stream", "alerts")),
		writer.NewDerived(wcfg, cons(bus.StreamDerived, bus.DerivedWriterConsumer(1000)), js, out, nil, prom, log.With("component", "writer", "stream", "derived")),
		rules.NewStage(rules.StageConfig{Series: rules.NewDerivedSink(js, log), TickEvery: 100 * time.Millisecond},
			js, set, prom, slog.New(slog.DiscardHandler)),
	}
	for _, s := range stages {
		go func() { done <- s.Run(runCtx) }()
	}

	end := time.Now().Truncate(5 * time.Minute)
	start := end.Add(-span)
	publishSimulated(t, js, reg, start, end)
	for _, f := range flagged {
		ts := end.Add(-f.ago).Add(-30 * time.Second)
		publishPayload(t, js, reg, f.station, fmt.Sprintf(f.payload, ts.Format(time.RFC3339)), end)
	}

	for _, w := range []struct{ what, q string }{
		{"water readings", `SELECT count("temp") FROM "water"`},
		{"water flags", `SELECT count("tp_flag") FROM "water"`},
		{"air readings", `SELECT count("pm25") FROM "air"`},
		{"air flags", `SELECT count("pm25_flag") FROM "air"`},
		{"hourly aqi", `SELECT count("aqi") FROM "aqi" WHERE "period" = '1h'`},
		{"water classes", `SELECT count("class_num") FROM "water_class"`},
		{"a joint warning", `SELECT count("seq") FROM "alerts" WHERE "joint" = 'true'`},
		{"a red or orange warning", `SELECT count("seq") FROM "alerts" WHERE "level" = 'orange' OR "level" = 'red'`},
		{"an air warning", fmt.Sprintf(`SELECT count("seq") FROM "alerts" WHERE "kind" = 'aqi' AND "station" = '%s'`, hazeStation)},
		{"a silent-station alert", fmt.Sprintf(`SELECT count("seq") FROM "alerts" WHERE "kind" = 'deadman' AND "station" = '%s'`, silentStation)},
	} {
		testenv.Eventually(t, 60*time.Second, w.what+" in InfluxDB", func() bool {
			s, err := influx.Query(db, w.q)
			return err == nil && len(s) > 0 && len(s[0].Values) > 0
		})
	}
	// The last batches of each stream: let the writers drain what the
	// checks above did not wait for.
	testenv.Eventually(t, 30*time.Second, "the writers to drain their streams", func() bool {
		for _, c := range []string{bus.StreamReadings, bus.StreamAlerts, bus.StreamDerived} {
			st, err := js.Stream(ctx, c)
			if err != nil {
				return false
			}
			for cl := st.ListConsumers(ctx); ; {
				info, ok := <-cl.Info()
				if !ok {
					break
				}
				if info.NumPending > 0 || info.NumAckPending > 0 {
					return false
				}
			}
		}
		return true
	})
	return &loaded{influx: influx, end: end}
}

// publishSimulated publishes the simulator's reports of every station from
// start to end, as `qingliu up --sim` does (every parameter at least every
// 5 minutes), with the ammonia spike, the haze and the silent station.
func publishSimulated(t *testing.T, js jetstream.JetStream, reg *registry.Registry, start, end time.Time) {
	t.Helper()
	var stations []*registry.Station
	for _, st := range reg.Stations() {
		c := *st
		c.Params = maps.Clone(st.Params)
		for p, iv := range c.Params {
			c.Params[p] = min(iv, 5*time.Minute)
		}
		stations = append(stations, &c)
	}
	spike := sim.Event{Station: spikeStation, Param: "nh3n", Start: start.Add(time.Hour), Peak: 3.5,
		Duration: 3 * time.Hour, Rise: 30 * time.Minute, Attenuation: sim.DefaultAttenuation}
	haze := sim.Event{Station: hazeStation, Param: "pm25", Start: start.Add(time.Hour), Peak: 180,
		Duration: 3 * time.Hour, Rise: 30 * time.Minute}
	model := sim.NewModel(7, []sim.Event{spike, haze}, nil, reg.Downstream)
	gen := sim.NewGenerator(stations, model, sim.GeneratorOptions{Start: start, End: end,
		Silent: []sim.Silent{{Station: silentStation, From: end.Add(-4 * time.Hour)}}})
	n := 0
	for m, ok := gen.Next(); ok; m, ok = gen.Next() {
		publishPayload(t, js, reg, m.Station, string(m.Payload), end)
		n++
	}
	t.Logf("published %d simulated reports from %s to %s", n, start.Format(time.RFC3339), end.Format(time.RFC3339))
}

// publishPayload runs one JSON v1 payload through ingest's pipeline and
// publishes its readings on READINGS as the ingest stage does.
func publishPayload(t *testing.T, js jetstream.JetStream, reg *registry.Registry, station, payload string, now time.Time) {
	t.Helper()
	res := ingest.NewPipeline(reg, ingest.Limits{}).Process(domain.SourceMQTT, station, ingest.FormatJSON, []byte(payload), now)
	if len(res.Rejects) > 0 {
		t.Fatalf("ingest refused %s %s: %+v", station, payload, res.Rejects)
	}
	futures := make([]jetstream.PubAckFuture, 0, len(res.Readings))
	for i := range res.Readings {
		r := &res.Readings[i]
		data, err := bus.EncodeReading(r)
		if err != nil {
			t.Fatal(err)
		}
		msg := nats.NewMsg(bus.ReadingSubject(string(r.Medium), r.Station))
		msg.Header.Set(bus.HdrMsgID, bus.MsgID(r))
		msg.Data = data
		f, err := js.PublishMsgAsync(msg)
		if err != nil {
			t.Fatal(err)
		}
		futures = append(futures, f)
	}
	for _, f := range futures {
		select {
		case <-f.Ok():
		case err := <-f.Err():
			t.Fatal(err)
		case <-time.After(10 * time.Second):
			t.Fatal("no publish ack from JetStream")
		}
	}
}
