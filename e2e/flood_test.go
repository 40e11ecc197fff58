package e2e

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
	"github.com/nats-io/nats.go"

	"github.com/qingliu/qingliu/domain"
	"github.com/qingliu/qingliu/internal/bus"
	"github.com/qingliu/qingliu/internal/testenv"
)

// One station floods `qingliu up` with QoS 0 readings as fast as it can;
// another keeps publishing one QoS 1 reading every 100 ms. The MQTT gate
// reads the flood at its rate and then cuts it off; the quiet station's
// readings reach READINGS within a bound all the while, and InfluxDB.
func TestFloodDoesNotDelayOtherStations(t *testing.T) {
	const rate, burst = 20, 20
	influx := testenv.StartInflux(t)
	s := newStack(t, influx, stackOptions{extra: fmt.Sprintf("mqtt_gate:\n  rate_per_sec: %d\n  burst: %d\n  flood_timeout: 4s\n", rate, burst)})
	s.start("up")
	stations := waterStations(t)
	loud, quiet := stations[0].ID, stations[1].ID

	nc, err := nats.Connect(fmt.Sprintf("nats://127.0.0.1:%d", s.ports.NATS))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	var loudIn atomic.Int64
	var mu sync.Mutex
	sentAt := map[int64]time.Time{}
	var late []string
	arrived := make(chan struct{}, 100)
	sub, err := nc.Subscribe(bus.ReadingSubject(string(domain.Water), "*"), func(m *nats.Msg) {
		if m.Subject == bus.ReadingSubject(string(domain.Water), loud) {
			loudIn.Add(1)
			return
		}
		var r struct {
			Seq int64 `json:"seq"`
		}
		if json.Unmarshal(m.Data, &r) != nil {
			return
		}
		mu.Lock()
		if d := time.Since(sentAt[r.Seq]); d > 2*time.Second {
			late = append(late, fmt.Sprintf("seq %d after %s", r.Seq, d.Round(time.Millisecond)))
		}
		mu.Unlock()
		arrived <- struct{}{}
	})
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Unsubscribe()
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}

	lost := make(chan struct{}, 1)
	flood := mqtt.NewClient(mqtt.NewClientOptions().AddBroker(s.mqttURL()).SetClientID("e2e-flood").
		SetCleanSession(true).SetAutoReconnect(false).SetConnectTimeout(5 * time.Second).SetWriteTimeout(2 * time.Second).
		SetConnectionLostHandler(func(mqtt.Client, error) { lost <- struct{}{} }))
	if tok := flood.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("connect flood: %v", tok.Error())
	}
	defer flood.Disconnect(0)
	quietDev := publisher(t, s.mqttURL(), "e2e-quiet")

	t0 := time.Now().Add(-time.Hour).Truncate(time.Second)
	start := time.Now()
	stopCh := make(chan struct{})
	var floodWG sync.WaitGroup
	stopFlood := sync.OnceFunc(func() { close(stopCh); floodWG.Wait() })
	floodWG.Go(func() {
		// Bounded: 20 s or 200 000 messages, whichever ends first.
		for i := 0; i < 200_000 && time.Since(start) < 20*time.Second; i++ {
			select {
			case <-stopCh:
				return
			default:
			}
			flood.Publish("qingliu/v1/"+loud+"/json", 0, false, reading(t0.Add(time.Duration(i)*time.Millisecond), i))
		}
	})
	defer stopFlood()

	const n = 30
	for i := range n {
		seq := int64(1_000_000 + i)
		mu.Lock()
		sentAt[seq] = time.Now()
		mu.Unlock()
		if !publish(quietDev, "qingliu/v1/"+quiet+"/json", reading(t0.Add(time.Duration(i)*time.Second), int(seq))) {
			t.Fatalf("quiet reading %d not acked", i)
		}
		time.Sleep(100 * time.Millisecond) // the quiet station's pace
	}
	for i := range n {
		select {
		case <-arrived:
		case <-time.After(10 * time.Second):
			t.Fatalf("%d of %d quiet readings reached READINGS", i, n)
		}
	}
	mu.Lock()
	if len(late) > 0 {
		t.Errorf("quiet station's readings later than 2s under a flood: %v", late)
	}
	mu.Unlock()

	// Throttled on every message for flood_timeout: cut off.
	testenv.Eventually(t, 15*time.Second, "the flood's disconnect on /metrics", func() bool {
		return gateMetric(t, s.ports.HTTP, `qingliu_mqtt_gate_disconnects_total{reason="rate_limited"}`) == 1
	})
	cut := time.Since(start) // a little after the cut
	select {
	case <-lost:
	case <-time.After(5 * time.Second):
		t.Fatal("flooding station still connected")
	}
	stopFlood()
	if v := gateMetric(t, s.ports.HTTP, "qingliu_mqtt_gate_throttled_packets_total"); v < 10 {
		t.Errorf("qingliu_mqtt_gate_throttled_packets_total = %v, want the flood's", v)
	}
	if !quietDev.IsConnected() {
		t.Error("the quiet station was disconnected")
	}
	testenv.Eventually(t, 30*time.Second, "the quiet station's rows in influxdb", func() bool {
		series, err := influx.Query(s.db, fmt.Sprintf(`SELECT COUNT("ph") FROM water WHERE station = '%s'`, quiet))
		if err != nil || len(series) == 0 || len(series[0].Values) == 0 {
			return false
		}
		c, _ := series[0].Values[0][1].(json.Number).Int64()
		return c == n
	})
	// What got through before the cut (all processed by now): the burst
	// and the rate, no more.
	maxLoud := int64(burst + rate*cut.Seconds()*1.1 + 5)
	t.Logf("flood cut after %s; %d of its readings got through (at most %d allowed)", cut.Round(time.Millisecond), loudIn.Load(), maxLoud)
	if got := loudIn.Load(); got > maxLoud || got < rate {
		t.Errorf("%d flood readings got through in %s, want %d..%d", got, cut, rate, maxLoud)
	}
}

// gateMetric reads one sample (name with its labels, as exposed) from the
// admin /metrics endpoint; 0 when absent.
func gateMetric(t *testing.T, port int, sample string) float64 {
	t.Helper()
	resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/metrics", port))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(sample) + ` (\S+)$`).FindSubmatch(body)
	if m == nil {
		return 0
	}
	v, _ := strconv.ParseFloat(string(m[1]), 64)
	return v
}
