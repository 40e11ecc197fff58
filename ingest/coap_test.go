package ingest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/plgd-dev/go-coap/v3/message"
	"github.com/plgd-dev/go-coap/v3/message/codes"
	"github.com/plgd-dev/go-coap/v3/message/pool"
	"github.com/plgd-dev/go-coap/v3/udp"
	udpClient "github.com/plgd-dev/go-coap/v3/udp/client"
	"github.com/plgd-dev/go-coap/v3/udp/coder"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/qingliu/qingliu/domain"
	"github.com/qingliu/qingliu/internal/bus"
	"github.com/qingliu/qingliu/internal/testenv"
)

// The CoAP test registry: stations are addressed by id in the path.
const coapStationsYAML = `stations:
  - {id: nb-w1, name: 测试一, medium: water, kind: national, river: 测试河, city: 清远, district: 清城区, lat: 23.7, lon: 113.0, target_class: II,
     params: {ph: 1h, nh3n: 4h, do: 1h}, coap: {psk: "` + coapPSK1 + `"}}
  - {id: nb-w2, name: 测试二, medium: water, kind: national, river: 测试河, city: 清远, district: 清城区, lat: 23.7, lon: 113.0, target_class: II,
     params: {ph: 1h, nh3n: 4h}, coap: {psk: "` + coapPSK2 + `"}}
  - {id: nb-w3, name: 测试三, medium: water, kind: national, river: 测试河, city: 清远, district: 清城区, lat: 23.7, lon: 113.0, target_class: II,
     params: {ph: 1h}}
`

// coapEnv is a running CoAP endpoint over a real embedded JetStream.
type coapEnv struct {
	*hjEnv
	src  *CoAPSource
	stop func() error
}

func newCoAPEnv(t testing.TB, cfg CoAPConfig) *coapEnv {
	t.Helper()
	log := testenv.Logger(t).With("component", "coap")
	rig := newBusRig(t, "coap-test", log)
	js, prom, pub := rig.js, rig.prom, rig.pub
	clock := &hjClock{}
	clock.Set(hjT0)
	reg := hjRegistry(t, coapStationsYAML)
	if cfg.Listen == "" {
		cfg.Listen = "127.0.0.1:0"
	}
	if cfg.DTLSListen != "" && cfg.PSKs == nil {
		cfg.PSKs = reg.CoAPKeys()
	}
	src, err := NewCoAPSource(cfg, NewPipeline(reg, Limits{}), pub, prom, log, clock.Now)
	if err != nil {
		t.Fatal(err)
	}
	if err := src.Listen(); err != nil {
		t.Fatal(err)
	}
	e := &coapEnv{hjEnv: &hjEnv{t: t, js: js, prom: prom, clock: clock}, src: src}
	e.stop = rig.runSource(t, "coap", src.Run, src.Ready)
	return e
}

// dial is a go-coap client of the endpoint.
func (e *coapEnv) dial() *udpClient.Conn {
	e.t.Helper()
	cc, err := udp.Dial(e.src.Addr())
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { cc.Close() })
	return cc
}

// coapAnswer is a response's code, diagnostic payload and Max-Age.
type coapAnswer struct {
	code   codes.Code
	diag   string
	maxAge uint32
}

func answerOf(t testing.TB, resp *pool.Message) coapAnswer {
	t.Helper()
	a := coapAnswer{code: resp.Code()}
	if b := resp.Body(); b != nil {
		d, _ := io.ReadAll(b)
		a.diag = string(d)
	}
	a.maxAge, _ = resp.GetOptionUint32(message.MaxAge)
	return a
}

func (e *coapEnv) post(cc *udpClient.Conn, path string, cf message.MediaType, payload string) coapAnswer {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	resp, err := cc.Post(ctx, path, cf, strings.NewReader(payload))
	if err != nil {
		e.t.Fatalf("POST %s: %v", path, err)
	}
	defer cc.ReleaseMessage(resp)
	return answerOf(e.t, resp)
}

func jsonPayload(t time.Time, values string) string {
	return fmt.Sprintf(`{"ts":%q,"values":%s}`, t.Format(time.RFC3339), values)
}

func TestCoAPPostStoredBeforeAck(t *testing.T) {
	e := newCoAPEnv(t, CoAPConfig{})
	cc := e.dial()
	obs := hjT0.Add(-10 * time.Minute)
	a := e.post(cc, "/qingliu/v1/nb-w1", message.AppJSON, jsonPayload(obs, `{"ph":7.21,"nh3n":0.4}`))
	if a.code != codes.Changed {
		t.Fatalf("answer %v %q", a.code, a.diag)
	}
	// No polling: the 2.04 promises the reading is in JetStream already.
	got, ok := e.reading(domain.Water, "nb-w1")
	if !ok || got.Values["ph"] != 7.21 || got.Source != domain.SourceCoAP || !got.Time.Equal(obs) {
		t.Fatalf("reading after 2.04 = %+v, %v", got, ok)
	}

	senml := fmt.Sprintf(`[{"bn":"urn:dev:nb-w2:","bt":%d,"n":"ph","v":7.4},{"n":"nh3n","u":"mg/L","v":0.2}]`, obs.Unix())
	if a := e.post(cc, "/qingliu/v1/nb-w2", message.AppSenmlJSON, senml); a.code != codes.Changed {
		t.Fatalf("senml: %v %q", a.code, a.diag)
	}
	if got, ok := e.reading(domain.Water, "nb-w2"); !ok || got.Values["nh3n"] != 0.2 {
		t.Errorf("senml reading = %+v, %v", got, ok)
	}
	if n := e.metric("qingliu_coap_requests_total", "result", "stored"); n != 2 {
		t.Errorf("stored counted %v", n)
	}
}

// coapRaw is a bare UDP socket speaking CoAP, to see exactly which
// datagrams arrive and when.
type coapRaw struct {
	t    testing.TB
	conn *net.UDPConn
}

func (e *coapEnv) raw() *coapRaw {
	e.t.Helper()
	addr, err := net.ResolveUDPAddr("udp", e.src.Addr())
	if err != nil {
		e.t.Fatal(err)
	}
	conn, err := net.DialUDP("udp", nil, addr)
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { conn.Close() })
	return &coapRaw{t: e.t, conn: conn}
}

func (c *coapRaw) send(typ message.Type, code codes.Code, mid int32, path string, payload string) {
	c.t.Helper()
	m := pool.NewMessage(context.Background())
	m.SetCode(code)
	m.SetType(typ)
	m.SetMessageID(mid)
	m.SetToken(message.Token{byte(mid >> 8), byte(mid)})
	if err := m.SetPath(path); err != nil {
		c.t.Fatal(err)
	}
	if payload != "" {
		m.SetContentFormat(message.AppJSON)
		m.SetBody(strings.NewReader(payload))
	}
	b, err := m.MarshalWithEncoder(coder.DefaultCoder)
	if err != nil {
		c.t.Fatal(err)
	}
	if _, err := c.conn.Write(b); err != nil {
		c.t.Fatal(err)
	}
}

// next reads the next datagram within d; ok is false when none came.
func (c *coapRaw) next(d time.Duration) (*pool.Message, bool) {
	c.t.Helper()
	buf := make([]byte, 2048)
	c.conn.SetReadDeadline(time.Now().Add(d))
	n, err := c.conn.Read(buf)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return nil, false
	}
	if err != nil {
		c.t.Fatal(err)
	}
	m := pool.NewMessage(context.Background())
	if _, err := m.UnmarshalWithDecoder(coder.DefaultCoder, buf[:n]); err != nil {
		c.t.Fatal(err)
	}
	return m, true
}

// A confirmable POST is answered with a piggybacked ACK only once JetStream
// has the reading: while READINGS is gone no ACK (not even an empty one)
// arrives, retransmissions are absorbed, and the 2.04 ACK follows the store.
func TestCoAPAckWaitsForJetStream(t *testing.T) {
	e := newCoAPEnv(t, CoAPConfig{AckTimeout: 20 * time.Second})
	c := e.raw()
	obs := hjT0.Add(-time.Minute)

	c.send(message.Confirmable, codes.POST, 0x1201, "/qingliu/v1/nb-w1", jsonPayload(obs, `{"ph":7.01}`))
	m, ok := c.next(5 * time.Second)
	if !ok || m.Type() != message.Acknowledgement || m.Code() != codes.Changed || m.MessageID() != 0x1201 {
		t.Fatalf("answer = %v, want a piggybacked 2.04 ACK", m)
	}
	if _, ok := e.reading(domain.Water, "nb-w1"); !ok {
		t.Fatal("ACK arrived before the reading was in READINGS")
	}

	if err := e.js.DeleteStream(context.Background(), bus.StreamReadings); err != nil {
		t.Fatal(err)
	}
	c.send(message.Confirmable, codes.POST, 0x1202, "/qingliu/v1/nb-w1", jsonPayload(obs.Add(time.Second), `{"ph":7.02}`))
	if m, ok := c.next(700 * time.Millisecond); ok {
		t.Fatalf("got %v while JetStream cannot store", m)
	}
	// A retransmission (same MID) is a duplicate of the request in flight.
	c.send(message.Confirmable, codes.POST, 0x1202, "/qingliu/v1/nb-w1", jsonPayload(obs.Add(time.Second), `{"ph":7.02}`))
	if m, ok := c.next(300 * time.Millisecond); ok {
		t.Fatalf("got %v for a retransmission while JetStream cannot store", m)
	}
	if err := bus.Ensure(context.Background(), e.js, bus.Config{}); err != nil {
		t.Fatal(err)
	}
	m, ok = c.next(10 * time.Second)
	if !ok || m.Type() != message.Acknowledgement || m.Code() != codes.Changed || m.MessageID() != 0x1202 {
		t.Fatalf("answer after recovery = %v, want a piggybacked 2.04 ACK", m)
	}
	got, ok := e.reading(domain.Water, "nb-w1")
	if !ok || got.Values["ph"] != 7.02 {
		t.Fatalf("ACK arrived before the reading was in READINGS: %+v, %v", got, ok)
	}
	if m, ok := c.next(300 * time.Millisecond); ok {
		t.Errorf("a second answer: %v", m)
	}
	if n := e.streamCount(bus.StreamReadings); n != 1 {
		t.Errorf("READINGS has %d messages after the retransmission, want 1", n)
	}
}

func TestCoAPRefusals(t *testing.T) {
	e := newCoAPEnv(t, CoAPConfig{MaxPayload: 512})
	cc := e.dial()
	obs := hjT0.Add(-time.Minute)
	tests := []struct {
		name    string
		path    string
		cf      message.MediaType
		payload string
		code    codes.Code
		diag    string // in the diagnostic payload
		qcode   Code
	}{
		{"not json", "/qingliu/v1/nb-w1", message.AppJSON, `{"ts":`, codes.BadRequest, "not valid JSON", CodeMalformed},
		{"out of range", "/qingliu/v1/nb-w1", message.AppJSON, jsonPayload(obs, `{"ph":15}`), codes.BadRequest, "outside the physical range", CodeOutOfRange},
		{"unknown station", "/qingliu/v1/nope", message.AppJSON, jsonPayload(obs, `{"ph":7}`), codes.NotFound, "unknown station", CodeUnknownStation},
		{"cbor", "/qingliu/v1/nb-w1", message.AppSenmlCbor, "\x81", codes.UnsupportedMediaType, "content-format", ""},
		{"other path", "/qingliu/v2/nb-w1", message.AppJSON, "{}", codes.NotFound, "/qingliu/v1/<station>", ""},
		{"too large", "/qingliu/v1/nb-w1", message.AppJSON, jsonPayload(obs, `{"ph":7}`) + strings.Repeat(" ", 600), codes.RequestEntityTooLarge, "larger than 512", ""},
	}
	for _, tt := range tests {
		a := e.post(cc, tt.path, tt.cf, tt.payload)
		if a.code != tt.code || !strings.Contains(a.diag, tt.diag) {
			t.Errorf("%s: %v %q, want %v with %q", tt.name, a.code, a.diag, tt.code, tt.diag)
		}
		if tt.qcode != "" {
			q := e.waitQuarantine(tt.qcode, "")
			if !strings.HasPrefix(tt.payload, string(q.raw)) {
				t.Errorf("%s: quarantined %q", tt.name, q.raw)
			}
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	resp, err := cc.Get(ctx, "/qingliu/v1/nb-w1")
	if err != nil {
		t.Fatal(err)
	}
	if resp.Code() != codes.MethodNotAllowed {
		t.Errorf("GET: %v", resp.Code())
	}
	if n := e.streamCount(bus.StreamReadings); n != 0 {
		t.Errorf("%d readings stored from refused requests", n)
	}
}

func TestCoAPRateLimit(t *testing.T) {
	e := newCoAPEnv(t, CoAPConfig{RatePerSec: 0.01, Burst: 3})
	cc := e.dial()
	obs := hjT0.Add(-time.Minute)
	var got []codes.Code
	for i := range 4 {
		a := e.post(cc, "/qingliu/v1/nb-w1", message.AppJSON, jsonPayload(obs.Add(time.Duration(i)*time.Second), `{"ph":7}`))
		got = append(got, a.code)
		if a.code == codes.TooManyRequests && a.maxAge < 1 {
			t.Error("4.29 without Max-Age")
		}
	}
	if fmt.Sprint(got) != fmt.Sprint([]codes.Code{codes.Changed, codes.Changed, codes.Changed, codes.TooManyRequests}) {
		t.Errorf("answers %v", got)
	}
	if n := e.metric("qingliu_coap_requests_total", "result", "rate_limited"); n != 1 {
		t.Errorf("rate_limited counted %v", n)
	}
}

// Requests beyond a peer's MaxPending are dropped before they are queued,
// so a peer flooding while JetStream stalls cannot block the read loop that
// serves the others.
func TestCoAPFloodDoesNotStarveOthers(t *testing.T) {
	e := newCoAPEnv(t, CoAPConfig{RatePerSec: 1000, Burst: 1000, MaxPending: 2, AckTimeout: 20 * time.Second})
	obs := hjT0.Add(-time.Minute)
	// JetStream stalls; one peer floods with distinct requests.
	if err := e.js.DeleteStream(context.Background(), bus.StreamReadings); err != nil {
		t.Fatal(err)
	}
	flood := e.raw()
	for i := range 40 {
		flood.send(message.Confirmable, codes.POST, int32(0x2000+i), "/qingliu/v1/nb-w2", jsonPayload(obs, `{"ph":7}`))
	}
	testenv.Eventually(t, 5*time.Second, "flood dropped", func() bool {
		return e.metric("qingliu_coap_dropped_total", "reason", "overload") >= 30
	})
	// Another peer is still read and answered at once.
	other := e.raw()
	other.send(message.Confirmable, codes.GET, 0x3001, "/qingliu/v1/nb-w3", "")
	m, ok := other.next(2 * time.Second)
	if !ok || m.Code() != codes.MethodNotAllowed || m.MessageID() != 0x3001 {
		t.Fatalf("other peer during the flood: %v", m)
	}
	if err := bus.Ensure(context.Background(), e.js, bus.Config{}); err != nil {
		t.Fatal(err)
	}
	// The admitted requests are stored and answered.
	answered := 0
	for {
		m, ok := flood.next(3 * time.Second)
		if !ok {
			break
		}
		if m.Code() == codes.Changed {
			answered++
		}
	}
	if answered != 2 {
		t.Errorf("%d flood requests stored and answered, want 2 (MaxPending)", answered)
	}
	if n := e.metric("qingliu_coap_dropped_total", "reason", "overload"); n != 38 {
		t.Errorf("dropped %v, want 38", n)
	}
}

func TestCoAPNonConfirmable(t *testing.T) {
	e := newCoAPEnv(t, CoAPConfig{})
	c := e.raw()
	c.send(message.NonConfirmable, codes.POST, 0x4001, "/qingliu/v1/nb-w1", jsonPayload(hjT0.Add(-time.Minute), `{"ph":7.3}`))
	// go-coap answers a NON request with a separate (confirmable) response.
	m, ok := c.next(5 * time.Second)
	if !ok || m.Type() == message.Acknowledgement || m.Code() != codes.Changed {
		t.Fatalf("answer to NON = %v", m)
	}
	if _, ok := e.reading(domain.Water, "nb-w1"); !ok {
		t.Error("NON answered before the reading was stored")
	}
}

func TestCoAPShutdown(t *testing.T) {
	e := newCoAPEnv(t, CoAPConfig{ShutdownTimeout: 2 * time.Second})
	cc := e.dial()
	if a := e.post(cc, "/qingliu/v1/nb-w1", message.AppJSON, jsonPayload(hjT0.Add(-time.Minute), `{"ph":7}`)); a.code != codes.Changed {
		t.Fatalf("before stop: %v", a.code)
	}
	start := time.Now()
	if err := e.stop(); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("Run took %v to return", d)
	}
	if e.src.Ready() == nil {
		t.Error("ready after stop")
	}
	// The port is free again.
	conn, err := net.ListenPacket("udp", e.src.Addr())
	if err != nil {
		t.Errorf("port still bound after Run returned: %v", err)
	} else {
		conn.Close()
	}
}

func TestCoAPListenAddressInUse(t *testing.T) {
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	reg := hjRegistry(t, coapStationsYAML)
	src, err := NewCoAPSource(CoAPConfig{Listen: pc.LocalAddr().String()}, NewPipeline(reg, Limits{}), nil, prometheus.NewRegistry(), testenv.Logger(t), time.Now)
	if err != nil {
		t.Fatal(err)
	}
	if err := src.Listen(); err == nil || !strings.Contains(err.Error(), pc.LocalAddr().String()) {
		t.Errorf("Listen on a used port: %v", err)
	}
}
