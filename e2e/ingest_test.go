package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	influxdb2 "github.com/influxdata/influxdb-client-go/v2"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/qingliu/qingliu/domain"
	"github.com/qingliu/qingliu/internal/bus"
	"github.com/qingliu/qingliu/internal/testenv"
	"github.com/qingliu/qingliu/registry"
)

func waterStations(t *testing.T) []*registry.Station {
	t.Helper()
	reg, err := registry.Load(filepath.Join(testenv.RepoRoot(t), "configs", "stations.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var out []*registry.Station
	for _, s := range reg.Stations() {
		if s.Medium == domain.Water {
			out = append(out, s)
		}
	}
	if len(out) < 3 {
		t.Fatalf("registry has %d water stations", len(out))
	}
	return out
}

// reading builds a JSON v1 payload with distinct values per i.
func reading(ts time.Time, i int) []byte {
	b, _ := json.Marshal(map[string]any{
		"ts":     ts.Format(time.RFC3339Nano),
		"seq":    i,
		"values": map[string]float64{"ph": 7 + float64(i%100)/1000, "do": 7.5, "nh3n": 0.3 + float64(i%7)/100},
	})
	return b
}

func jsConn(t *testing.T, port int) jetstream.JetStream {
	t.Helper()
	nc, err := nats.Connect(fmt.Sprintf("nats://127.0.0.1:%d", port))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	return js
}

func streamMsgs(t *testing.T, js jetstream.JetStream, name string) uint64 {
	t.Helper()
	s, err := js.Stream(context.Background(), name)
	if err != nil {
		t.Fatalf("stream %s: %v", name, err)
	}
	info, err := s.Info(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return info.State.Msgs
}

// publishReadings publishes n readings round-robin over stations, one per
// message, and returns how many the broker acked.
func publishReadings(t *testing.T, broker string, stations []*registry.Station, t0 time.Time, from, n int) int {
	t.Helper()
	c := publisher(t, broker, "e2e-pub-"+strconv.Itoa(from))
	acked := 0
	for i := from; i < from+n; i++ {
		st := stations[i%len(stations)]
		ts := t0.Add(time.Duration(i/len(stations)) * time.Second)
		if publish(c, "qingliu/v1/"+st.ID+"/json", reading(ts, i)) {
			acked++
		}
	}
	return acked
}

func TestEmbeddedBrokerEveryReadingArrivesOnce(t *testing.T) {
	influx := testenv.StartInflux(t)
	s := newStack(t, influx, stackOptions{})
	s.start("up")
	stations := waterStations(t)
	t0 := time.Now().Add(-time.Hour).Truncate(time.Second)
	const n = 600
	if got := publishReadings(t, s.mqttURL(), stations, t0, 0, n); got != n {
		t.Fatalf("broker acked %d of %d", got, n)
	}
	testenv.Eventually(t, 30*time.Second, "600 rows in influxdb", func() bool {
		return influx.Count(s.db, "water", "ph") >= n
	})

	// Resend the first 100 identical payloads: the stream drops them by
	// Nats-Msg-Id and InfluxDB keeps exactly n rows.
	if got := publishReadings(t, s.mqttURL(), stations, t0, 0, 100); got != 100 {
		t.Fatalf("broker acked %d of 100 duplicates", got)
	}
	js := jsConn(t, s.ports.NATS)
	testenv.Eventually(t, 10*time.Second, "duplicates processed", func() bool {
		c, err := js.Consumer(context.Background(), bus.StreamReadings, bus.ConsumerWriter)
		if err != nil {
			return false
		}
		info, err := c.Info(context.Background())
		return err == nil && info.NumPending == 0 && info.NumAckPending == 0
	})
	if got := streamMsgs(t, js, bus.StreamReadings); got != n {
		t.Errorf("READINGS holds %d messages after resending duplicates, want %d", got, n)
	}
	if got := influx.Count(s.db, "water", "ph"); got != n {
		t.Errorf("influxdb has %d rows, want exactly %d", got, n)
	}

	// One row, checked field by field: tags from the registry, the
	// observation time as timestamp.
	st := stations[0]
	series, err := influx.Query(s.db, fmt.Sprintf(`SELECT * FROM water WHERE station = '%s' ORDER BY time ASC LIMIT 1`, st.ID))
	if err != nil {
		t.Fatal(err)
	}
	if len(series) != 1 || len(series[0].Values) != 1 {
		t.Fatalf("query returned %v", series)
	}
	row := map[string]any{}
	for i, c := range series[0].Columns {
		row[c] = series[0].Values[0][i]
	}
	want := map[string]string{"station": st.ID, "river": st.River, "city": st.City, "district": st.District, "site_kind": st.Kind, "source": "mqtt", "basin": st.Basin}
	for k, v := range want {
		if v == "" {
			continue
		}
		if got, _ := row[k].(string); got != v {
			t.Errorf("tag %s = %q, want %q", k, got, v)
		}
	}
	if ts, _ := row["time"].(json.Number).Int64(); ts != t0.UnixNano() {
		t.Errorf("timestamp %d, want observation time %d", ts, t0.UnixNano())
	}
	if ph, _ := row["ph"].(json.Number).Float64(); ph != 7 {
		t.Errorf("ph = %v, want 7", ph)
	}

	// The same rows through Flux, as influxdb-client-go's query API reads them.
	client := influxdb2.NewClientWithOptions(influx.URL(), "", influxdb2.DefaultOptions().SetLogLevel(0))
	defer client.Close()
	res, err := client.QueryAPI("").Query(t.Context(), fmt.Sprintf(`from(bucket: "%s/autogen")
  |> range(start: -1d)
  |> filter(fn: (r) => r._measurement == "water" and r._field == "ph")
  |> group()
  |> count()`, s.db))
	if err != nil {
		t.Fatalf("flux query: %v", err)
	}
	fluxCount := int64(-1)
	for res.Next() {
		fluxCount, _ = res.Record().Value().(int64)
	}
	if res.Err() != nil || fluxCount != n {
		t.Errorf("flux count = %d (err %v), want %d", fluxCount, res.Err(), n)
	}

	// A corrected value at the same instant is not a duplicate: it replaces
	// the field in place (still n rows) with the new value.
	c := publisher(t, s.mqttURL(), "e2e-correct")
	corrected := []byte(fmt.Sprintf(`{"ts":%q,"values":{"ph":7.9,"do":7.5,"nh3n":0.3}}`, t0.Format(time.RFC3339)))
	if !publish(c, "qingliu/v1/"+st.ID+"/json", corrected) {
		t.Fatal("publish corrected")
	}
	testenv.Eventually(t, 10*time.Second, "corrected value in influxdb", func() bool {
		s2, err := influx.Query(s.db, fmt.Sprintf(`SELECT ph FROM water WHERE station = '%s' AND time = %d`, st.ID, t0.UnixNano()))
		if err != nil || len(s2) == 0 {
			return false
		}
		v, _ := s2[0].Values[0][1].(json.Number).Float64()
		return v == 7.9
	})
	if got := streamMsgs(t, js, bus.StreamReadings); got != n+1 {
		t.Errorf("READINGS holds %d messages after a correction, want %d", got, n+1)
	}
}

func TestMalformedInputIsQuarantinedWithReason(t *testing.T) {
	influx := testenv.StartInflux(t)
	s := newStack(t, influx, stackOptions{})
	p := s.start("up")
	stations := waterStations(t)
	st := stations[0].ID
	now := time.Now()
	ts := now.Format(time.RFC3339)
	cases := []struct {
		topic, payload string
		code           string
		field          string
	}{
		{"qingliu/v1/" + st + "/json", `{"ts": "2026-`, "malformed", ""},
		{"qingliu/v1/" + st + "/json", ``, "empty", ""},
		{"qingliu/v1/" + st + "/json", `{"ts":"` + ts + `","values":{"ph":"seven"}}`, "not_a_number", "ph"},
		{"qingliu/v1/" + st + "/json", `{"ts":"` + ts + `","values":{"zzz":1}}`, "unknown_parameter", "zzz"},
		{"qingliu/v1/" + st + "/json", `{"ts":"` + ts + `","values":{"ph":15.2}}`, "out_of_range", "ph"},
		{"qingliu/v1/" + st + "/json", `{"ts":"` + ts + `","values":{"pm25":20}}`, "wrong_medium", "pm25"},
		{"qingliu/v1/" + st + "/json", `{"ts":"` + now.Add(48*time.Hour).Format(time.RFC3339) + `","values":{"ph":7}}`, "future_timestamp", "ts"},
		{"qingliu/v1/" + st + "/json", `{"ts":"` + now.Add(-30*24*time.Hour).Format(time.RFC3339) + `","values":{"ph":7}}`, "too_old", "ts"},
		{"qingliu/v1/" + st + "/json", `{"ts":"yesterday","values":{"ph":7}}`, "bad_timestamp", "ts"},
		{"qingliu/v1/" + st + "/json", `{"ts":"` + ts + `","values":{"ph":7},"flags":{"ph":"X"}}`, "bad_flag", "ph"},
		{"qingliu/v1/" + st + "/json", `{"ts":"` + ts + `","values":{"ph":7},"extra":1}`, "schema", "extra"},
		{"qingliu/v1/no-such-station/json", `{"ts":"` + ts + `","values":{"ph":7}}`, "unknown_station", "station"},
		{"qingliu/v1/" + st + "/xml", `<ph>7</ph>`, "unknown_format", "format"},
		{"qingliu/v1/" + st + "/senml", `[{"n":"ph","v":1e999}]`, "malformed", ""},
		{"qingliu/v1/" + st + "/senml", `[{"bn":"` + st + `/","n":"ph","u":"mg/L","v":7}]`, "bad_unit", "ph"},
	}
	c := publisher(t, s.mqttURL(), "e2e-bad")
	for _, tc := range cases {
		if !publish(c, tc.topic, []byte(tc.payload)) {
			t.Fatalf("publish %s", tc.payload)
		}
	}
	js := jsConn(t, s.ports.NATS)
	testenv.Eventually(t, 20*time.Second, "every bad payload quarantined", func() bool {
		return streamMsgs(t, js, bus.StreamQuarantine) >= uint64(len(cases))
	})
	if got := streamMsgs(t, js, bus.StreamQuarantine); got != uint64(len(cases)) {
		t.Errorf("QUARANTINE holds %d messages, want %d", got, len(cases))
	}
	cons, err := js.OrderedConsumer(context.Background(), bus.StreamQuarantine, jetstream.OrderedConsumerConfig{})
	if err != nil {
		t.Fatal(err)
	}
	for i, tc := range cases {
		m, err := cons.Next(jetstream.FetchMaxWait(5 * time.Second))
		if err != nil {
			t.Fatalf("quarantine message %d: %v", i, err)
		}
		h := m.Headers()
		if got := h.Get(bus.HdrCode); got != tc.code {
			t.Errorf("case %d (%s): code %q, want %q (reason %q)", i, tc.payload, got, tc.code, h.Get(bus.HdrReason))
		}
		if got := h.Get(bus.HdrField); got != tc.field {
			t.Errorf("case %d: field %q, want %q", i, got, tc.field)
		}
		if h.Get(bus.HdrReason) == "" {
			t.Errorf("case %d: no reason header", i)
		}
		if string(m.Data()) != tc.payload {
			t.Errorf("case %d: quarantined bytes %q, want the original %q", i, m.Data(), tc.payload)
		}
		if got := h.Get(bus.HdrTopic); got != tc.topic {
			t.Errorf("case %d: topic header %q, want %q", i, got, tc.topic)
		}
	}
	// The process survived all of it and still takes good data.
	select {
	case <-p.done:
		t.Fatal("qingliu exited")
	default:
	}
	good := []byte(`{"ts":"` + ts + `","values":{"ph":7.1}}`)
	if !publish(c, "qingliu/v1/"+st+"/json", good) {
		t.Fatal("publish good")
	}
	testenv.Eventually(t, 20*time.Second, "good reading in influxdb", func() bool {
		return influx.Count(s.db, "water", "ph") == 1
	})
}
