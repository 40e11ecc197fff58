package e2e

import (
	"fmt"
	"io"
	"net/http"
	"regexp"
	"strconv"
	"testing"
	"time"

	"github.com/qingliu/qingliu/internal/testenv"
)

// externalNATS starts a NATS server with JetStream for stages that run
// against an external one.
func externalNATS(t *testing.T) string {
	t.Helper()
	return testenv.NATS(t).ClientURL()
}

func TestMosquittoIngestAndWriterStages(t *testing.T) {
	influx := testenv.StartInflux(t)
	mq := testenv.StartMosquitto(t, testenv.MosquittoOptions{})
	natsURL := externalNATS(t)
	in := newStack(t, influx, stackOptions{natsURL: natsURL, mqttBroker: mq.URL()})
	wr := newStack(t, influx, stackOptions{natsURL: natsURL, mqttBroker: mq.URL()})
	wr.start("writer")
	in.start("ingest")

	stations := waterStations(t)
	t0 := time.Now().Add(-time.Hour).Truncate(time.Second)
	const n = 1000
	if got := publishReadings(t, mq.URL(), stations, t0, 0, n); got != n {
		t.Fatalf("mosquitto acked %d of %d", got, n)
	}
	testenv.Eventually(t, 30*time.Second, "rows from mosquitto", func() bool {
		return influx.Count(in.db, "water", "ph") >= n
	})
	if got := influx.Count(in.db, "water", "ph"); got != n {
		t.Errorf("influxdb has %d rows, want exactly %d", got, n)
	}
}

// With the ingest stage down, Mosquitto keeps the QoS 1 messages for its
// persistent session; they arrive when it comes back.
func TestMosquittoIngestRestartKeepsQueuedMessages(t *testing.T) {
	influx := testenv.StartInflux(t)
	mq := testenv.StartMosquitto(t, testenv.MosquittoOptions{})
	natsURL := externalNATS(t)
	in := newStack(t, influx, stackOptions{natsURL: natsURL, mqttBroker: mq.URL()})
	wr := newStack(t, influx, stackOptions{natsURL: natsURL, mqttBroker: mq.URL()})
	wr.start("writer")
	p := in.start("ingest")
	stations := waterStations(t)
	t0 := time.Now().Add(-time.Hour).Truncate(time.Second)
	if got := publishReadings(t, mq.URL(), stations, t0, 0, 200); got != 200 {
		t.Fatalf("acked %d", got)
	}
	testenv.Eventually(t, 30*time.Second, "first rows", func() bool { return influx.Count(in.db, "water", "ph") == 200 })
	p.kill()
	if got := publishReadings(t, mq.URL(), stations, t0, 200, 300); got != 300 {
		t.Fatalf("acked %d while ingest was down", got)
	}
	in.start("ingest")
	testenv.Eventually(t, 30*time.Second, "queued messages delivered", func() bool { return influx.Count(in.db, "water", "ph") == 500 })
}

// Two ingest instances share the load through $share/<group>/… and together
// deliver every reading exactly once.
func TestMosquittoSharedSubscription(t *testing.T) {
	influx := testenv.StartInflux(t)
	mq := testenv.StartMosquitto(t, testenv.MosquittoOptions{})
	natsURL := externalNATS(t)
	a := newStack(t, influx, stackOptions{natsURL: natsURL, mqttBroker: mq.URL(), clientID: "ingest-a", shared: "ingest"})
	b := newStack(t, influx, stackOptions{natsURL: natsURL, mqttBroker: mq.URL(), clientID: "ingest-b", shared: "ingest"})
	wr := newStack(t, influx, stackOptions{natsURL: natsURL, mqttBroker: mq.URL()})
	wr.start("writer")
	a.start("ingest")
	b.start("ingest")
	stations := waterStations(t)
	t0 := time.Now().Add(-time.Hour).Truncate(time.Second)
	const n = 1000
	if got := publishReadings(t, mq.URL(), stations, t0, 0, n); got != n {
		t.Fatalf("acked %d", got)
	}
	testenv.Eventually(t, 30*time.Second, "all rows", func() bool { return influx.Count(a.db, "water", "ph") >= n })
	if got := influx.Count(a.db, "water", "ph"); got != n {
		t.Errorf("rows %d, want %d", got, n)
	}
	ma, mb := ingestedMessages(t, a.ports.HTTP), ingestedMessages(t, b.ports.HTTP)
	if ma+mb != n || ma == 0 || mb == 0 {
		t.Errorf("instances took %d and %d messages; want both > 0 and %d in all", ma, mb, n)
	}
}

var reMessages = regexp.MustCompile(`(?m)^qingliu_ingest_messages_total\{format="json",source="mqtt"\} (\d+)`)

func ingestedMessages(t *testing.T, port int) int {
	t.Helper()
	resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/metrics", port))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	m := reMessages.FindSubmatch(body)
	if m == nil {
		return 0
	}
	n, _ := strconv.Atoi(string(m[1]))
	return n
}
