package e2e

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
	influxdb2 "github.com/influxdata/influxdb-client-go/v2"

	"github.com/qingliu/qingliu/domain"
	"github.com/qingliu/qingliu/internal/testenv"
	"github.com/qingliu/qingliu/registry"
	"github.com/qingliu/qingliu/sim"
)

// Load shape of the ingest benchmark (issue 2): 200 000 readings, one per
// MQTT message, 200 stations with 7 water parameters, QoS 1, 4 publishers.
// QINGLIU_BENCH_N overrides the count for a quick run.
const (
	benchStations   = 200
	benchPublishers = 4
)

func benchN() int {
	if v, err := strconv.Atoi(os.Getenv("QINGLIU_BENCH_N")); err == nil && v > 0 {
		return v
	}
	return 200000
}

// syntheticRegistry writes a station file for the synthetic load stations.
func syntheticRegistry(t testing.TB, stations []*registry.Station) string {
	var b strings.Builder
	b.WriteString("stations:\n")
	for _, st := range stations {
		fmt.Fprintf(&b, "  - id: %s\n    name: 负载测试%s\n    medium: water\n    kind: municipal\n    river: 负载河\n    basin: 北江\n    city: 清远\n    district: 清城区\n    lat: 23.7\n    lon: 113.0\n    target_class: III\n    params: {", st.ID, st.ID)
		i := 0
		for p := range st.Params {
			if i > 0 {
				b.WriteString(", ")
			}
			fmt.Fprintf(&b, "%s: 1m", p)
			i++
		}
		b.WriteString("}\n")
	}
	f := filepath.Join(t.TempDir(), "stations.yaml")
	if err := os.WriteFile(f, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	return f
}

// benchRules is a rule set for the synthetic stations (the shipped one names
// real sections): water class, thresholds with hysteresis, stuck sensors —
// the stage evaluates every reading, as in production.
const benchRules = `jurisdictions: [广州, 清远]
rules:
  - name: wq-latest
    kind: water-class
    window: latest
    for: 2
    clear_for: 2
  - name: nh3n-high
    kind: threshold
    select: {medium: water}
    parameter: nh3n
    direction: above
    levels: {blue: 1.0, yellow: 1.5, orange: 2.0, red: 4.0}
    clear: {blue: 0.9, yellow: 1.35, orange: 1.8, red: 3.6}
    clear_for: 2
  - name: stuck
    kind: stuck
    select: {medium: water}
    parameters: [temp, ph, do, cond, turb, nh3n, tp]
    count: 6
`

func benchRulesFile(t testing.TB) string {
	f := filepath.Join(t.TempDir(), "rules.yaml")
	if err := os.WriteFile(f, []byte(benchRules), 0o600); err != nil {
		t.Fatal(err)
	}
	return f
}

// benchGate lifts the per-connection limits of the MQTT gate in front of
// the embedded broker: the benchmark's 4 publishers each send thousands of
// messages a second, which the shipped limits (50/s) are there to stop.
const benchGate = "mqtt_gate: {rate_per_sec: 1000000000, burst: 1000000000, bytes_per_sec: 0}\n"

// loadMessages pre-generates the payloads so generation is not measured.
func loadMessages(stations []*registry.Station, n int) []sim.Message {
	start := time.Now().Add(-time.Duration(n/len(stations)+60) * time.Minute).Truncate(time.Minute)
	msgs := make([]sim.Message, 0, n)
	for m := range sim.Messages(stations, n, start, 1) {
		msgs = append(msgs, m)
	}
	return msgs
}

// publishAll sends msgs over QoS 1 with benchPublishers clients, each with a
// bounded window of unacknowledged messages, and returns when all are acked.
func publishAll(b *testing.B, broker string, msgs []sim.Message) {
	var wg sync.WaitGroup
	errs := make(chan error, benchPublishers)
	for p := range benchPublishers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			opts := mqtt.NewClientOptions().AddBroker(broker).SetClientID(fmt.Sprintf("bench-pub-%d", p)).
				SetCleanSession(true).SetMaxResumePubInFlight(1000).SetWriteTimeout(30 * time.Second)
			c := mqtt.NewClient(opts)
			if tok := c.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
				errs <- fmt.Errorf("connect: %v", tok.Error())
				return
			}
			defer c.Disconnect(100)
			window := make(chan mqtt.Token, 500)
			done := make(chan struct{})
			go func() {
				defer close(done)
				for tok := range window {
					if !tok.WaitTimeout(60*time.Second) || tok.Error() != nil {
						errs <- fmt.Errorf("publish: %v", tok.Error())
					}
				}
			}()
			for i := p; i < len(msgs); i += benchPublishers {
				window <- c.Publish(msgs[i].Topic, 1, false, msgs[i].Payload)
			}
			close(window)
			<-done
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		b.Fatal(err)
	}
}

// peakRSS reads the peak resident set size of pid, in MB.
func peakRSS(pid int) float64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "VmHWM:" {
			kb, _ := strconv.ParseFloat(f[1], 64)
			return kb / 1024
		}
	}
	return 0
}

// cpuSeconds is the CPU time (user + system) a process has used so far.
// Divided by the readings it carried it is the figure that a noisy, shared
// machine disturbs least.
func cpuSeconds(pid int) float64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	// Fields after the command name (which may hold spaces): utime and
	// stime are the 12th and 13th, in clock ticks of 1/100 s.
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	if len(f) < 13 {
		return 0
	}
	ut, _ := strconv.ParseFloat(f[11], 64)
	st, _ := strconv.ParseFloat(f[12], 64)
	return (ut + st) / 100
}

// runIngestBench measures publish → last row in InfluxDB.
func runIngestBench(b *testing.B, mosquitto bool) {
	n := benchN()
	stations := sim.SyntheticStations(benchStations, domain.Water)
	msgs := loadMessages(stations, n)
	influx := testenv.StartInflux(b)
	file := syntheticRegistry(b, stations)
	var procs []*proc
	var broker string
	var db string
	if mosquitto {
		mq := testenv.StartMosquitto(b, testenv.MosquittoOptions{})
		natsURL := testenv.NATS(b).ClientURL()
		in := newStack(b, influx, stackOptions{natsURL: natsURL, mqttBroker: mq.URL(), stations: file, shipped: true})
		wr := newStack(b, influx, stackOptions{natsURL: natsURL, mqttBroker: mq.URL(), stations: file, shipped: true})
		procs = append(procs, wr.start("writer"), in.start("ingest"))
		broker, db = mq.URL(), in.db
	} else {
		s := newStack(b, influx, stackOptions{stations: file, shipped: true, rules: benchRulesFile(b), extra: benchGate})
		procs = append(procs, s.start("up"))
		broker, db = s.mqttURL(), s.db
	}
	b.ResetTimer()
	start := time.Now()
	cpu0 := 0.0
	for _, p := range procs {
		cpu0 += cpuSeconds(p.cmd.Process.Pid)
	}
	if dir := os.Getenv("QINGLIU_BENCH_PROFILE"); dir != "" {
		go profile(dir, procs)
	}
	publishAll(b, broker, msgs)
	published := time.Since(start)
	deadline := time.Now().Add(5 * time.Minute)
	for influx.Count(db, "water", "ph") < n {
		if time.Now().After(deadline) {
			b.Fatalf("only %d of %d rows after 5 minutes", influx.Count(db, "water", "ph"), n)
		}
		time.Sleep(100 * time.Millisecond)
	}
	elapsed := time.Since(start)
	b.StopTimer()
	var rss, cpu float64
	for _, p := range procs {
		rss += peakRSS(p.cmd.Process.Pid)
		cpu += cpuSeconds(p.cmd.Process.Pid)
	}
	b.ReportMetric((cpu-cpu0)/float64(n)*1e6, "qingliu-cpu-µs/reading")
	b.ReportMetric(float64(n)/elapsed.Seconds(), "readings/s")
	b.ReportMetric(float64(n)/published.Seconds(), "published/s")
	b.ReportMetric(rss, "peak-RSS-MB")
	for _, p := range procs {
		if pts, batches := metricValue(p.http, `qingliu_writer_points_total{stream="readings"}`), metricValue(p.http, `qingliu_writer_batches_total{stream="readings"}`); batches > 0 {
			b.ReportMetric(pts/batches, "points/batch")
		}
	}
	b.ReportMetric(0, "ns/op")
}

// BenchmarkIngestEmbedded: qingliu up (embedded NATS MQTT + JetStream file
// storage) → InfluxDB 1.8.10.
func BenchmarkIngestEmbedded(b *testing.B) {
	for range b.N {
		runIngestBench(b, false)
	}
}

// BenchmarkIngestMosquitto: Mosquitto → qingliu ingest → JetStream (file) →
// qingliu writer → InfluxDB 1.8.10.
func BenchmarkIngestMosquitto(b *testing.B) {
	for range b.N {
		runIngestBench(b, true)
	}
}

// BenchmarkBaselineInfluxWrite is the reference in the same run: the same
// points written straight to InfluxDB in 5000-point batches.
func BenchmarkBaselineInfluxWrite(b *testing.B) {
	n := benchN()
	stations := sim.SyntheticStations(benchStations, domain.Water)
	msgs := loadMessages(stations, n)
	influx := testenv.StartInflux(b)
	influx.CreateDB("base")
	client := influxdb2.NewClientWithOptions(influx.URL(), "", influxdb2.DefaultOptions().SetLogLevel(0))
	defer client.Close()
	w := client.WriteAPIBlocking("", "base/autogen")
	lines := make([]string, len(msgs))
	for i, m := range msgs {
		lines[i] = fmt.Sprintf("water,station=%s,city=清远 ph=7.1,do=7.5,nh3n=0.3,tp=0.1,temp=21,cond=200,turb=10 %d", m.Station, m.Time.UnixNano())
	}
	b.ResetTimer()
	start := time.Now()
	for i := 0; i < len(lines); i += 5000 {
		if err := w.WriteRecord(context.Background(), lines[i:min(i+5000, len(lines))]...); err != nil {
			b.Fatal(err)
		}
	}
	elapsed := time.Since(start)
	b.ReportMetric(float64(n)/elapsed.Seconds(), "points/s")
	b.ReportMetric(0, "ns/op")
}

// profile saves a 10 s CPU profile of each process (QINGLIU_BENCH_PROFILE=dir).
func profile(dir string, procs []*proc) {
	for i, p := range procs {
		go func() {
			resp, err := http.Get(fmt.Sprintf("http://%s/debug/pprof/profile?seconds=10", p.http))
			if err != nil {
				return
			}
			defer resp.Body.Close()
			f, err := os.Create(filepath.Join(dir, fmt.Sprintf("cpu-%d.pprof", i)))
			if err != nil {
				return
			}
			defer f.Close()
			_, _ = io.Copy(f, resp.Body)
		}()
	}
}

// metricValue reads one unlabelled metric from a process's /metrics.
func metricValue(addr, name string) float64 {
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		return 0
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	for _, line := range strings.Split(string(body), "\n") {
		if v, ok := strings.CutPrefix(line, name+" "); ok {
			f, _ := strconv.ParseFloat(v, 64)
			return f
		}
	}
	return 0
}
