package mqttgate

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
	"github.com/eclipse/paho.mqtt.golang/packets"
	"github.com/nats-io/nats.go"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/qingliu/qingliu/internal/auth"
	"github.com/qingliu/qingliu/internal/testenv"
)

// rig is a running gate and its metrics.
type rig struct {
	t    testing.TB
	gate *Gate
	prom *prometheus.Registry
	// stop cancels Run and returns its error, once.
	stop func() error
}

// startGate runs a gate in front of upstream (host:port) until the test
// ends, and returns once it accepts connections.
func startGate(t testing.TB, cfg Config, upstream string) *rig {
	t.Helper()
	cfg.Listen, cfg.Upstream = "127.0.0.1:0", upstream
	prom := prometheus.NewRegistry()
	g, err := New(cfg, prom, testenv.Logger(t))
	if err != nil {
		t.Fatal(err)
	}
	if err := g.Listen(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	runErr := make(chan error, 1)
	go func() { runErr <- g.Run(ctx) }()
	var once sync.Once
	var stopErr error
	r := &rig{t: t, gate: g, prom: prom, stop: func() error {
		once.Do(func() { cancel(); stopErr = <-runErr })
		return stopErr
	}}
	t.Cleanup(func() {
		if err := r.stop(); err != nil {
			t.Errorf("gate Run: %v", err)
		}
	})
	testenv.Eventually(t, 5*time.Second, "gate ready", func() bool { return g.Ready() == nil })
	return r
}

// url is the gate's address for paho: tcp://… or ssl://….
func (r *rig) url() string {
	if r.gate.cfg.TLS != nil {
		return "ssl://" + r.gate.Addr()
	}
	return "tcp://" + r.gate.Addr()
}

// metric sums the samples of a counter or gauge whose labels include the
// given name/value pairs.
func (r *rig) metric(name string, labels ...string) float64 {
	r.t.Helper()
	return testenv.Metric(r.t, r.prom, name, labels...)
}

// natsUpstream starts an embedded NATS server with its MQTT listener and
// returns the listener's host:port and a core NATS connection to watch
// what arrives.
func natsUpstream(t testing.TB) (string, *nats.Conn) {
	t.Helper()
	srv := testenv.NATS(t)
	u, err := url.Parse(srv.MQTTAddr())
	if err != nil {
		t.Fatal(err)
	}
	nc, err := srv.Connect("watch")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	return u.Host, nc
}

type clientOpts struct {
	tls  *tls.Config
	lost chan<- error // receives the error when the connection is lost
	// writeTimeout bounds a blocked Publish (paho's default is 30 s) and
	// a blocked write, after which the client drops the connection.
	writeTimeout time.Duration
}

// device connects a paho MQTT 3.1.1 client as a device would.
func device(t testing.TB, broker, id string, o clientOpts) mqtt.Client {
	t.Helper()
	opts := mqtt.NewClientOptions().AddBroker(broker).SetClientID(id).SetProtocolVersion(4).
		SetCleanSession(true).SetAutoReconnect(false).SetConnectTimeout(5 * time.Second).
		SetKeepAlive(30 * time.Second)
	if o.tls != nil {
		opts.SetTLSConfig(o.tls)
	}
	if o.writeTimeout > 0 {
		opts.SetWriteTimeout(o.writeTimeout)
	}
	if o.lost != nil {
		opts.SetConnectionLostHandler(func(_ mqtt.Client, err error) { o.lost <- err })
	}
	c := mqtt.NewClient(opts)
	if tok := c.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("connect %s to %s: %v", id, broker, tok.Error())
	}
	t.Cleanup(func() { c.Disconnect(0) })
	return c
}

// A device that publishes QoS 0 as fast as it can is read at its rate and
// then cut off; another device's QoS 1 messages meanwhile arrive promptly.
func TestGateFloodDoesNotStarveOthers(t *testing.T) {
	upstream, nc := natsUpstream(t)
	const rate, burst = 50, 10
	r := startGate(t, Config{RatePerSec: rate, Burst: burst, FloodTimeout: 3 * time.Second}, upstream)

	var flooded atomic.Int64
	var mu sync.Mutex
	quietAt := map[string]time.Time{}
	var quietLate []string
	quietGot := make(chan struct{}, 100)
	sub, err := nc.Subscribe("qingliu.v1.>", func(m *nats.Msg) {
		switch m.Subject {
		case "qingliu.v1.flood.json":
			flooded.Add(1)
		case "qingliu.v1.quiet.json":
			mu.Lock()
			if d := time.Since(quietAt[string(m.Data)]); d > time.Second {
				quietLate = append(quietLate, fmt.Sprintf("%s after %s", m.Data, d))
			}
			mu.Unlock()
			quietGot <- struct{}{}
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Unsubscribe()
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}

	lost := make(chan error, 1)
	// Its write timeout bounds the wait for the flood goroutine at the end;
	// paho may drop the connection itself when a write blocks that long,
	// but the gate keeps reading what the device's socket still holds
	// until it cuts it off.
	flood := device(t, r.url(), "flood", clientOpts{lost: lost, writeTimeout: 2 * time.Second})
	quiet := device(t, r.url(), "quiet", clientOpts{})

	// The flood: QoS 0 as fast as paho writes, until the gate cuts it off
	// (bounded: 10 s or 200 000 messages).
	payload := bytes.Repeat([]byte("x"), 200)
	var floodWG sync.WaitGroup
	stopFlood := make(chan struct{})
	start := time.Now()
	floodWG.Go(func() {
		for i := 0; i < 200_000 && time.Since(start) < 10*time.Second; i++ {
			select {
			case <-stopFlood:
				return
			default:
			}
			flood.Publish("qingliu/v1/flood/json", 0, false, payload)
		}
	})
	defer func() { close(stopFlood); floodWG.Wait() }()

	// The quiet device: one QoS 1 message every 50 ms for 2 s, each due at
	// the subscriber within 1 s.
	const quietN = 40
	for i := range quietN {
		id := strconv.Itoa(i)
		mu.Lock()
		quietAt[id] = time.Now()
		mu.Unlock()
		if tok := quiet.Publish("qingliu/v1/quiet/json", 1, false, []byte(id)); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
			t.Fatalf("quiet publish %d: %v", i, tok.Error())
		}
		time.Sleep(50 * time.Millisecond) // the quiet device's pace, not a wait for a result
	}
	for i := range quietN {
		select {
		case <-quietGot:
		case <-time.After(5 * time.Second):
			t.Fatalf("quiet device: %d of %d messages arrived", i, quietN)
		}
	}
	mu.Lock()
	if len(quietLate) > 0 {
		t.Errorf("quiet device's messages late under a flood: %v", quietLate)
	}
	mu.Unlock()

	// Throttled on every packet for FloodTimeout: disconnected and counted.
	testenv.Eventually(t, 10*time.Second, "the flood's disconnect counted", func() bool {
		return r.metric("qingliu_mqtt_gate_disconnects_total", "reason", ReasonRateLimited) == 1
	})
	cut := time.Since(start) // a little after the cut
	select {
	case <-lost:
	case <-time.After(5 * time.Second):
		t.Fatal("flooding device still connected")
	}
	// Until the cut the flood went through at the burst plus the rate (with
	// a margin for timing), at least half the rate.
	maxN := int64(burst + rate*cut.Seconds()*1.1 + 5)
	minN := int64(rate * cut.Seconds() / 2)
	testenv.Eventually(t, 5*time.Second, "the flood's messages before the cut", func() bool { return flooded.Load() >= minN })
	n := flooded.Load()
	t.Logf("flood: %d messages through before the cut at %s (rate %d/s, burst %d); quiet device: %d messages", n, cut.Round(time.Millisecond), rate, burst, quietN)
	if n > maxN {
		t.Errorf("flood: %d messages through in %s, want at most %d", n, cut, maxN)
	}
	if v := r.metric("qingliu_mqtt_gate_throttled_packets_total"); v < 10 {
		t.Errorf("throttled packets = %v, want the flood's", v)
	}
	if v := r.metric("qingliu_mqtt_gate_throttle_wait_seconds_total"); v < 1 {
		t.Errorf("throttle wait = %vs, want about the flood's duration", v)
	}
	if !quiet.IsConnected() {
		t.Error("the quiet device was disconnected")
	}
	if got := r.metric("qingliu_mqtt_gate_packets_total", "type", "publish"); got < float64(quietN)+float64(n) {
		t.Errorf("publish packets forwarded = %v, want at least %d", got, quietN+int(n))
	}
}

// A QoS 1 client that waits for its PUBACKs (a window of 20) paces itself
// at the rate: every message arrives, none lost to the throttling.
func TestGateQoS1ClientPacedNotCut(t *testing.T) {
	upstream, nc := natsUpstream(t)
	const rate, burst = 100, 5
	r := startGate(t, Config{RatePerSec: rate, Burst: burst, FloodTimeout: time.Minute}, upstream)
	var got atomic.Int64
	sub, err := nc.Subscribe("qingliu.v1.>", func(*nats.Msg) { got.Add(1) })
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Unsubscribe()
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	c := device(t, r.url(), "paced", clientOpts{})
	const n = 150
	start := time.Now()
	window := make(chan mqtt.Token, 20)
	var acks sync.WaitGroup
	acks.Go(func() {
		for tok := range window {
			if !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
				t.Errorf("publish: %v", tok.Error())
			}
		}
	})
	for i := range n {
		window <- c.Publish("qingliu/v1/paced/json", 1, false, []byte(strconv.Itoa(i)))
	}
	close(window)
	acks.Wait()
	elapsed := time.Since(start)
	// (n - burst) tokens at rate: about 1.45 s.
	if want := time.Duration(float64(n-burst) / rate * 0.9 * float64(time.Second)); elapsed < want {
		t.Errorf("%d QoS 1 messages acked in %s, want at least %s at %d/s", n, elapsed, want, rate)
	}
	testenv.Eventually(t, 5*time.Second, "every paced message", func() bool { return got.Load() == n })
	if v := r.metric("qingliu_mqtt_gate_disconnects_total", "reason", ReasonRateLimited); v != 0 {
		t.Errorf("rate_limited disconnects = %v, want 0", v)
	}
}

// A packet over the size limit disconnects its device and is not
// forwarded; one just under it is.
func TestGatePacketTooLarge(t *testing.T) {
	upstream, nc := natsUpstream(t)
	const limit = 4096
	r := startGate(t, Config{MaxPacketBytes: limit}, upstream)
	var sizes []int
	var mu sync.Mutex
	sub, err := nc.Subscribe("qingliu.v1.>", func(m *nats.Msg) {
		mu.Lock()
		sizes = append(sizes, len(m.Data))
		mu.Unlock()
	})
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Unsubscribe()
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	lost := make(chan error, 1)
	c := device(t, r.url(), "big", clientOpts{lost: lost})
	topic := "qingliu/v1/big/json"
	fits := limit - 2 - len(topic) - 2 // topic length, topic, packet id
	if tok := c.Publish(topic, 1, false, bytes.Repeat([]byte("a"), fits)); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		t.Fatalf("publish %d bytes: %v", fits, tok.Error())
	}
	c.Publish(topic, 1, false, bytes.Repeat([]byte("b"), fits+1))
	select {
	case <-lost:
	case <-time.After(5 * time.Second):
		t.Fatal("device with an oversized packet not disconnected")
	}
	testenv.Eventually(t, 5*time.Second, "the disconnect counted", func() bool {
		return r.metric("qingliu_mqtt_gate_disconnects_total", "reason", ReasonPacketTooLarge) == 1
	})
	// A message published after the big one, on another connection, is
	// the sentinel: once it is in, the big one would have been too.
	after := device(t, r.url(), "after", clientOpts{})
	if tok := after.Publish(topic, 1, false, []byte("sentinel")); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		t.Fatalf("sentinel: %v", tok.Error())
	}
	testenv.Eventually(t, 5*time.Second, "the sentinel", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(sizes) == 2
	})
	mu.Lock()
	defer mu.Unlock()
	if sizes[0] != fits || sizes[1] != len("sentinel") {
		t.Errorf("payload sizes through the gate %v, want [%d 8]", sizes, fits)
	}
}

// Bytes that are not MQTT, or a first packet other than CONNECT, end the
// connection as malformed.
func TestGateMalformed(t *testing.T) {
	upstream, _ := natsUpstream(t)
	r := startGate(t, Config{}, upstream)
	for i, junk := range [][]byte{
		[]byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n"), // 'G': a PUBACK before CONNECT
		{0x10, 0xff, 0xff, 0xff, 0xff, 0x01},        // CONNECT with five length bytes
		{0x00, 0x00},                                // reserved type
	} {
		conn, err := net.Dial("tcp", r.gate.Addr())
		if err != nil {
			t.Fatal(err)
		}
		if _, err := conn.Write(junk); err != nil {
			t.Fatal(err)
		}
		conn.SetReadDeadline(time.Now().Add(5 * time.Second))
		if _, err := io.ReadAll(conn); err != nil {
			t.Errorf("junk %d: read %v, want the gate to close the connection", i, err)
		}
		conn.Close()
		testenv.Eventually(t, 5*time.Second, "malformed counted", func() bool {
			return r.metric("qingliu_mqtt_gate_disconnects_total", "reason", ReasonMalformed) == float64(i+1)
		})
	}
}

// A connection that sends no CONNECT in time is closed; one that did may
// then stay quiet.
func TestGateConnectTimeout(t *testing.T) {
	upstream, nc := natsUpstream(t)
	r := startGate(t, Config{ConnectTimeout: 300 * time.Millisecond}, upstream)
	got := make(chan struct{}, 1)
	sub, err := nc.Subscribe("qingliu.v1.>", func(*nats.Msg) { got <- struct{}{} })
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Unsubscribe()
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	dev := device(t, r.url(), "patient", clientOpts{})
	silent, err := net.Dial("tcp", r.gate.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()
	silent.Write([]byte{0x10, 0x20}) // a CONNECT header, and nothing more
	silent.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.ReadAll(silent); err != nil {
		t.Errorf("silent connection: read %v, want it closed", err)
	}
	testenv.Eventually(t, 5*time.Second, "connect_timeout counted", func() bool {
		return r.metric("qingliu_mqtt_gate_disconnects_total", "reason", ReasonConnectTimeout) == 1
	})
	// By now the paho device has been idle longer than ConnectTimeout.
	if tok := dev.Publish("qingliu/v1/patient/json", 1, false, []byte("late")); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		t.Fatalf("publish after an idle spell: %v", tok.Error())
	}
	select {
	case <-got:
	case <-time.After(5 * time.Second):
		t.Fatal("message after an idle spell not delivered")
	}
}

// In front of Mosquitto, with TLS to the devices: what a device publishes
// reaches a subscriber on the broker unchanged, a device that speaks plain
// TCP is turned away, and a closed connection is counted.
func TestGateTLSInFrontOfMosquitto(t *testing.T) {
	mq := testenv.StartMosquitto(t, testenv.MosquittoOptions{})
	pki := testenv.NewPKI(t)
	serverTLS, err := auth.ServerTLS(pki.CertFile, pki.KeyFile)
	if err != nil {
		t.Fatal(err)
	}
	clientTLS, err := auth.ClientTLS(pki.CAFile)
	if err != nil {
		t.Fatal(err)
	}
	r := startGate(t, Config{TLS: serverTLS}, "127.0.0.1:"+strconv.Itoa(mq.Port))

	got := make(chan []byte, 100)
	subscriber := device(t, mq.URL(), "subscriber", clientOpts{})
	if tok := subscriber.Subscribe("qingliu/v1/#", 1, func(_ mqtt.Client, m mqtt.Message) { got <- m.Payload() }); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		t.Fatalf("subscribe: %v", tok.Error())
	}
	dev := device(t, r.url(), "tls-dev", clientOpts{tls: clientTLS})
	const n = 20
	for i := range n {
		payload := fmt.Appendf(nil, `{"seq":%d}`, i)
		if tok := dev.Publish("qingliu/v1/tls-dev/json", 1, false, payload); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
			t.Fatalf("publish %d: %v", i, tok.Error())
		}
		select {
		case p := <-got:
			if !bytes.Equal(p, payload) {
				t.Fatalf("subscriber got %q, want %q", p, payload)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("message %d not delivered", i)
		}
	}
	dev.Disconnect(100)
	testenv.Eventually(t, 5*time.Second, "a clean close counted", func() bool {
		return r.metric("qingliu_mqtt_gate_disconnects_total", "reason", ReasonEOF) == 1
	})

	plain := mqtt.NewClient(mqtt.NewClientOptions().AddBroker("tcp://" + r.gate.Addr()).SetClientID("plain").
		SetProtocolVersion(4).SetAutoReconnect(false).SetConnectTimeout(3 * time.Second))
	if tok := plain.Connect(); tok.WaitTimeout(5*time.Second) && tok.Error() == nil {
		plain.Disconnect(0)
		t.Error("a plain-TCP device connected through the TLS gate")
	}
	testenv.Eventually(t, 5*time.Second, "the failed handshake counted", func() bool {
		return r.metric("qingliu_mqtt_gate_disconnects_total", "reason", ReasonTLS) == 1
	})
	if v := r.metric("qingliu_mqtt_gate_connections_total"); v != 2 {
		t.Errorf("connections accepted = %v, want 2", v)
	}
}

// A refused login reaches the device as the broker's CONNACK, not as a
// reset connection.
func TestGatePassesRefusedLogin(t *testing.T) {
	mq := testenv.StartMosquitto(t, testenv.MosquittoOptions{Extra: "allow_anonymous false\n"})
	r := startGate(t, Config{}, "127.0.0.1:"+strconv.Itoa(mq.Port))
	c := mqtt.NewClient(mqtt.NewClientOptions().AddBroker(r.url()).SetClientID("nobody").SetProtocolVersion(4).
		SetAutoReconnect(false).SetConnectTimeout(3 * time.Second))
	tok := c.Connect()
	if !tok.WaitTimeout(5 * time.Second) {
		t.Fatal("connect timed out")
	}
	if err := tok.Error(); !errors.Is(err, packets.ErrorRefusedNotAuthorised) {
		t.Errorf("connect error %v, want the broker's refusal (not Authorized)", err)
	}
	// Broker and device both close: whichever the gate sees first is the
	// reason.
	testenv.Eventually(t, 5*time.Second, "the close counted", func() bool {
		return r.metric("qingliu_mqtt_gate_disconnects_total", "reason", ReasonUpstreamClosed)+
			r.metric("qingliu_mqtt_gate_disconnects_total", "reason", ReasonEOF) == 1
	})
}

func TestGateMaxConnsAndUnreachableUpstream(t *testing.T) {
	upstream, _ := natsUpstream(t)
	r := startGate(t, Config{MaxConns: 1}, upstream)
	device(t, r.url(), "first", clientOpts{})
	conn, err := net.Dial("tcp", r.gate.Addr())
	if err != nil {
		t.Fatal(err)
	}
	conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.ReadAll(conn); err != nil {
		t.Errorf("second connection: read %v, want it closed", err)
	}
	conn.Close()
	if v := r.metric("qingliu_mqtt_gate_disconnects_total", "reason", ReasonMaxConns); v != 1 {
		t.Errorf("max_conns refusals = %v, want 1", v)
	}

	// A broker that is not there: the device is turned away and counted.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	gone := ln.Addr().String()
	ln.Close()
	r2 := startGate(t, Config{}, gone)
	if _, err := tryConnect(r2.url()); err == nil {
		t.Error("connected through a gate whose broker is down")
	}
	testenv.Eventually(t, 5*time.Second, "unreachable upstream counted", func() bool {
		return r2.metric("qingliu_mqtt_gate_disconnects_total", "reason", ReasonUpstreamUnreachable) == 1
	})
}

func tryConnect(broker string) (mqtt.Client, error) {
	c := mqtt.NewClient(mqtt.NewClientOptions().AddBroker(broker).SetClientID("try").SetProtocolVersion(4).
		SetAutoReconnect(false).SetConnectTimeout(3 * time.Second))
	tok := c.Connect()
	if !tok.WaitTimeout(5 * time.Second) {
		return nil, fmt.Errorf("connect timed out")
	}
	return c, tok.Error()
}

// Cancelling Run closes every connection, throttled ones included, and
// Run returns after all of them.
func TestGateShutdown(t *testing.T) {
	upstream, _ := natsUpstream(t)
	r := startGate(t, Config{RatePerSec: 1, Burst: 1, FloodTimeout: time.Minute}, upstream)
	lost := make(chan error, 2)
	idle := device(t, r.url(), "idle", clientOpts{lost: lost})
	busy := device(t, r.url(), "busy", clientOpts{lost: lost})
	for range 5 { // the second and later wait for tokens
		busy.Publish("qingliu/v1/busy/json", 0, false, []byte("x"))
	}
	testenv.Eventually(t, 5*time.Second, "the busy device throttled", func() bool {
		return r.metric("qingliu_mqtt_gate_throttled_packets_total") > 0
	})
	done := make(chan error, 1)
	go func() { done <- r.stop() }()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Run = %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not return within 5s of cancel")
	}
	for range 2 {
		select {
		case <-lost:
		case <-time.After(5 * time.Second):
			t.Fatal("a device still connected after shutdown")
		}
	}
	if idle.IsConnected() || busy.IsConnected() {
		t.Error("devices still connected")
	}
	if v := r.metric("qingliu_mqtt_gate_connections"); v != 0 {
		t.Errorf("open connections after shutdown = %v", v)
	}
	if v := r.metric("qingliu_mqtt_gate_disconnects_total", "reason", ReasonShutdown); v != 2 {
		t.Errorf("shutdown disconnects = %v, want 2", v)
	}
	if r.gate.Ready() == nil {
		t.Error("Ready after shutdown")
	}
}

func TestGateListenAddressInUse(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	g, err := New(Config{Listen: ln.Addr().String(), Upstream: "127.0.0.1:1"}, prometheus.NewRegistry(), testenv.Logger(t))
	if err != nil {
		t.Fatal(err)
	}
	if err := g.Listen(); err == nil {
		t.Error("Listen on a port in use succeeded")
	}
}
