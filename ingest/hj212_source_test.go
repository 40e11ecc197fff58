package ingest

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/qingliu/qingliu/domain"
	"github.com/qingliu/qingliu/ingest/hj212"
	"github.com/qingliu/qingliu/internal/bus"
	"github.com/qingliu/qingliu/internal/testenv"
	"github.com/qingliu/qingliu/registry"
)

// The test registry: stations whose HJ 212 identities match the frames the
// tests send, including the MNs of the shared samples.
const hjStationsYAML = `stations:
  - {id: hj-w1, name: 测试一, medium: water, kind: national, river: 测试河, city: 清远, district: 清城区, lat: 23.7, lon: 113.0, target_class: II,
     params: {ph: 1h, do: 1h}, hj212: {mn: QLTEST0000000000000000W1, password: w1-Secret-7781}}
  - {id: hj-w2, name: 测试二, medium: water, kind: national, river: 测试河, city: 清远, district: 清城区, lat: 23.7, lon: 113.0, target_class: II,
     params: {ph: 1h, nh3n: 4h}, units: {nh3n: µg/L}, hj212: {mn: QLTEST0000000000000000W2, password: w2-Secret-5512, crc_mode: lenient}}
  - {id: hj-air, name: 测试空气, medium: air, kind: air_station, city: 清远, district: 清城区, lat: 23.7, lon: 113.0,
     params: {so2: 1h, pm25: 1h}, hj212: {mn: QLTEST00000000000000AIR1, password: air-Secret-9903}}
  - {id: smp-zld, name: 样本一, medium: water, kind: municipal, river: 样本河, city: 清远, district: 清城区, lat: 23.7, lon: 113.0, target_class: III,
     params: {ph: 1h}, hj212: {mn: ZLDSZ20210127, password: "123456"}}
  - {id: smp-dm3, name: 样本二, medium: water, kind: municipal, river: 样本河, city: 清远, district: 清城区, lat: 23.7, lon: 113.0, target_class: III,
     params: {ph: 1h}, hj212: {mn: DM000003, password: "123456"}}
  - {id: smp-cems, name: 样本三, medium: water, kind: municipal, river: 样本河, city: 清远, district: 清城区, lat: 23.7, lon: 113.0, target_class: III,
     params: {ph: 1h}, hj212: {mn: "4201003", password: "123456", crc_mode: lenient}}
  - {id: smp-ack, name: 样本四, medium: air, kind: air_station, city: 清远, district: 清城区, lat: 23.7, lon: 113.0,
     params: {pm25: 1h}, hj212: {mn: 010000A8900016F000169DC0, password: "123456"}}
`

const (
	mnW1, pwW1   = "QLTEST0000000000000000W1", "w1-Secret-7781"
	mnW2, pwW2   = "QLTEST0000000000000000W2", "w2-Secret-5512"
	mnAir, pwAir = "QLTEST00000000000000AIR1", "air-Secret-9903"
)

var hjBeijing = time.FixedZone("CST", 8*3600)

// hjT0 is the ingest clock of most tests.
var hjT0 = time.Date(2026, 11, 26, 14, 0, 0, 0, hjBeijing)

func hjRegistry(t testing.TB, yaml string) *registry.Registry {
	t.Helper()
	f := filepath.Join(t.TempDir(), "stations.yaml")
	if err := os.WriteFile(f, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	reg, err := registry.Load(f)
	if err != nil {
		t.Fatalf("test registry: %v", err)
	}
	return reg
}

// hjClock is a settable ingest clock.
type hjClock struct{ ns atomic.Int64 }

func (c *hjClock) Now() time.Time  { return time.Unix(0, c.ns.Load()).In(hjBeijing) }
func (c *hjClock) Set(t time.Time) { c.ns.Store(t.UnixNano()) }

// hjEnv is a running listener over a real embedded JetStream.
type hjEnv struct {
	t     testing.TB
	src   *HJ212Source
	js    jetstream.JetStream
	prom  *prometheus.Registry
	clock *hjClock
	// stop cancels Run and returns its error (once).
	stop func() error
}

func newHJEnv(t testing.TB, cfg HJ212Config) *hjEnv {
	return newHJEnvWith(t, cfg, hjRegistry(t, hjStationsYAML), testenv.Logger(t).With("component", "hj212"))
}

func newHJEnvWith(t testing.TB, cfg HJ212Config, reg *registry.Registry, log *slog.Logger) *hjEnv {
	t.Helper()
	rig := newBusRig(t, "hj212-test", log)
	js, prom, pub := rig.js, rig.prom, rig.pub

	clock := &hjClock{}
	clock.Set(hjT0)
	if cfg.Listen == "" {
		cfg.Listen = "127.0.0.1:0"
	}
	src, err := NewHJ212Source(cfg, reg, NewPipeline(reg, Limits{}), pub, prom, log, clock.Now)
	if err != nil {
		t.Fatal(err)
	}
	if err := src.Listen(); err != nil {
		t.Fatal(err)
	}
	e := &hjEnv{t: t, src: src, js: js, prom: prom, clock: clock}
	e.stop = rig.runSource(t, "hj212", src.Run, src.Ready)
	return e
}

// metric sums the samples of name whose labels include labels (counters and
// gauges by value, histograms by count).
func (e *hjEnv) metric(name string, labels ...string) float64 {
	e.t.Helper()
	return testenv.Metric(e.t, e.prom, name, labels...)
}

// reading returns the last READINGS message of station, if any.
func (e *hjEnv) reading(medium domain.Medium, station string) (domain.Reading, bool) {
	e.t.Helper()
	s, err := e.js.Stream(context.Background(), bus.StreamReadings)
	if err != nil {
		e.t.Fatal(err)
	}
	m, err := s.GetLastMsgForSubject(context.Background(), bus.ReadingSubject(string(medium), station))
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return domain.Reading{}, false
	}
	if err != nil {
		e.t.Fatal(err)
	}
	r, err := bus.DecodeReading(m.Data)
	if err != nil {
		e.t.Fatal(err)
	}
	return r, true
}

func (e *hjEnv) waitReading(medium domain.Medium, station string) domain.Reading {
	e.t.Helper()
	var r domain.Reading
	testenv.Eventually(e.t, 5*time.Second, "reading of "+station, func() bool {
		var ok bool
		r, ok = e.reading(medium, station)
		return ok
	})
	return r
}

func (e *hjEnv) streamCount(name string) uint64 {
	e.t.Helper()
	s, err := e.js.Stream(context.Background(), name)
	if err != nil {
		e.t.Fatal(err)
	}
	info, err := s.Info(context.Background())
	if err != nil {
		e.t.Fatal(err)
	}
	return info.State.Msgs
}

// quarantined is one QUARANTINE message.
type quarantined struct {
	code, reason, station, field string
	raw                          []byte
}

func (e *hjEnv) quarantine() []quarantined {
	e.t.Helper()
	s, err := e.js.Stream(context.Background(), bus.StreamQuarantine)
	if err != nil {
		e.t.Fatal(err)
	}
	info, err := s.Info(context.Background())
	if err != nil {
		e.t.Fatal(err)
	}
	var out []quarantined
	for seq := info.State.FirstSeq; seq <= info.State.LastSeq && info.State.Msgs > 0; seq++ {
		m, err := s.GetMsg(context.Background(), seq)
		if err != nil {
			continue
		}
		out = append(out, quarantined{
			code: m.Header.Get(bus.HdrCode), reason: m.Header.Get(bus.HdrReason),
			station: m.Header.Get(bus.HdrStation), field: m.Header.Get(bus.HdrField), raw: m.Data,
		})
	}
	return out
}

// waitQuarantine waits for a quarantine message with code (and station, when
// not empty) and returns it.
func (e *hjEnv) waitQuarantine(code Code, station string) quarantined {
	e.t.Helper()
	var found quarantined
	testenv.Eventually(e.t, 5*time.Second, fmt.Sprintf("quarantine %s for %q", code, station), func() bool {
		for _, q := range e.quarantine() {
			if q.code == string(code) && (station == "" || q.station == station) {
				found = q
				return true
			}
		}
		return false
	})
	if found.reason == "" || len(found.raw) == 0 {
		e.t.Errorf("quarantine %s has no reason or no bytes: %+v", code, found)
	}
	return found
}

// hjClient is a datalogger.
type hjClient struct {
	t    testing.TB
	conn net.Conn
	rd   *hj212.Reader
}

func (e *hjEnv) dial() *hjClient {
	e.t.Helper()
	conn, err := net.Dial("tcp", e.src.Addr())
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { conn.Close() })
	return &hjClient{t: e.t, conn: conn, rd: hj212.NewReader(conn, 0)}
}

func (c *hjClient) send(b []byte) {
	c.t.Helper()
	if _, err := c.conn.Write(b); err != nil {
		c.t.Fatalf("send: %v", err)
	}
}

// next reads the next reply, which must be a valid frame.
func (c *hjClient) next(timeout time.Duration) (hj212.Packet, error) {
	c.t.Helper()
	c.conn.SetReadDeadline(time.Now().Add(timeout))
	for {
		f, err := c.rd.ReadFrame()
		if errors.Is(err, hj212.ErrGarbage) {
			continue
		}
		if err != nil {
			return hj212.Packet{}, err
		}
		p, _, err := hj212.ParseFrame(f)
		if err != nil {
			c.t.Fatalf("reply %q does not parse: %v", f, err)
		}
		return p, nil
	}
}

// expect reads the next reply and checks its CN and QN.
func (c *hjClient) expect(cn, qn string) hj212.Packet {
	c.t.Helper()
	p, err := c.next(5 * time.Second)
	if err != nil {
		c.t.Fatalf("waiting for CN=%s QN=%s: %v", cn, qn, err)
	}
	if p.CN != cn || p.QN != qn {
		c.t.Fatalf("reply %v, want CN=%s QN=%s", p, cn, qn)
	}
	return p
}

func (c *hjClient) expectRefusal(qn string, rtn hj212.QnRtn) {
	c.t.Helper()
	p := c.expect(hj212.CNQnRtn, qn)
	if got, _ := p.CP.Field("QnRtn"); got != strconv.Itoa(int(rtn)) {
		c.t.Fatalf("QnRtn = %s, want %d", got, rtn)
	}
	if p.ST != hj212.STInteraction {
		c.t.Errorf("9011 has ST=%s, want 91", p.ST)
	}
}

// expectClosed waits for the server to close the connection.
func (c *hjClient) expectClosed(within time.Duration) {
	c.t.Helper()
	c.conn.SetReadDeadline(time.Now().Add(within))
	buf := make([]byte, 4096)
	for {
		_, err := c.conn.Read(buf)
		if err == nil {
			continue
		}
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			c.t.Fatalf("connection still open after %s", within)
		}
		return
	}
}

// hjVal is one statistic of one pollutant code.
type hjVal struct {
	code string
	stat hj212.Stat
	x    float64
	flag string
}

var hjQN atomic.Int64

func nextQN() string {
	return "20261126" + fmt.Sprintf("%09d", 135959000+hjQN.Add(1))
}

// hjPacket builds a 2017 packet (Flag 4 or 5) for mn.
func hjPacket(mn, pw, st, cn string, ack bool, dataTime time.Time, vals ...hjVal) hj212.Packet {
	p := hj212.Packet{QN: nextQN(), ST: st, CN: cn, PW: pw, MN: mn, Flag: 4, HasFlag: true, DataTime: dataTime}
	if ack {
		p.Flag |= hj212.FlagAck
	}
	for _, v := range vals {
		i := slices.IndexFunc(p.CP.Values, func(x hj212.Value) bool { return x.Code == v.code })
		if i < 0 {
			p.CP.Values = append(p.CP.Values, hj212.Value{Code: v.code})
			i = len(p.CP.Values) - 1
		}
		p.CP.Values[i].Set(v.stat, v.x)
		if v.flag != "" {
			p.CP.Values[i].Flag = v.flag
		}
	}
	return p
}

func encode(t testing.TB, p hj212.Packet) []byte {
	t.Helper()
	b, err := hj212.Encode(p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// withCRC replaces the CRC of frame (which ends in CR LF) by crc.
func withCRC(frame []byte, crc string) []byte {
	out := bytes.Clone(frame)
	copy(out[len(out)-6:], crc)
	return out
}

// modbusLE re-signs frame with CRC-16/MODBUS written low byte first.
func modbusLE(frame []byte) []byte {
	c := hj212.CRCModbus(frame[6 : len(frame)-6])
	return withCRC(frame, fmt.Sprintf("%02X%02X", c&0xFF, c>>8))
}

func waterVals(ph, do float64) []hjVal {
	return []hjVal{{"w01001", hj212.Rtd, ph, "N"}, {"w01009", hj212.Rtd, do, "N"}}
}

func near(a, b float64) bool { return math.Abs(a-b) <= 1e-9*math.Max(1, math.Abs(b)) }

// TestHJ212Protocol drives one listener through the protocol over real
// sockets and a real JetStream: acks after storage, refusals with the right
// QnRtn, quarantine with reasons, commands, stream robustness.
func TestHJ212Protocol(t *testing.T) {
	e := newHJEnv(t, HJ212Config{MaxFrame: 1024})
	c := e.dial()
	dt := hjT0.Add(-30 * time.Second)

	t.Run("2011 with A=1 is acked after the reading is stored", func(t *testing.T) {
		p := hjPacket(mnW1, pwW1, "21", "2011", true, dt, waterVals(7.21, 6.8)...)
		c.send(encode(t, p))
		ack := c.expect(hj212.CNDataAck, p.QN)
		if ack.ST != hj212.STInteraction || ack.Flag != 4 || ack.MN != mnW1 {
			t.Errorf("9014 = %v, want ST=91 Flag=4 MN=%s", ack, mnW1)
		}
		// No polling: the ack promises the reading is already stored.
		r, ok := e.reading(domain.Water, "hj-w1")
		if !ok {
			t.Fatal("9014 arrived before the READINGS message existed")
		}
		if !r.Time.Equal(dt) || r.Source != domain.SourceHJ212 || r.Values["ph"] != 7.21 || r.Values["do"] != 6.8 {
			t.Errorf("reading = %+v", r)
		}
		if r.Received.IsZero() || !r.Received.Equal(hjT0) {
			t.Errorf("received = %v, want the ingest clock %v", r.Received, hjT0)
		}
	})

	t.Run("wrong password: 9011 QnRtn=3, quarantined without the password", func(t *testing.T) {
		p := hjPacket(mnW1, "guessed-Pw-1", "21", "2011", true, dt, waterVals(7, 7)...)
		c.send(encode(t, p))
		c.expectRefusal(p.QN, hj212.QnBadPW)
		q := e.waitQuarantine(CodeBadPassword, "hj-w1")
		if bytes.Contains(q.raw, []byte("guessed-Pw-1")) || strings.Contains(q.reason, "guessed") {
			t.Errorf("quarantine keeps the password: %q / %q", q.raw, q.reason)
		}
		if !bytes.Contains(q.raw, []byte("PW=************;")) {
			t.Errorf("quarantined frame %q: want the PW masked in place", q.raw)
		}
	})

	t.Run("unknown MN: 9011 QnRtn=4", func(t *testing.T) {
		p := hjPacket("QLNOBODY", "x", "21", "2011", true, dt, waterVals(7, 7)...)
		c.send(encode(t, p))
		c.expectRefusal(p.QN, hj212.QnBadMN)
		e.waitQuarantine(CodeUnknownStation, "")
	})

	t.Run("bad CRC: 9011 QnRtn=9", func(t *testing.T) {
		p := hjPacket(mnW1, pwW1, "21", "2011", true, dt, waterVals(7, 7)...)
		c.send(withCRC(encode(t, p), "0000"))
		c.expectRefusal(p.QN, hj212.QnBadCRC)
		q := e.waitQuarantine(CodeBadCRC, "hj-w1")
		if !strings.Contains(q.reason, "CRC") {
			t.Errorf("reason %q does not name the CRC", q.reason)
		}
		if bytes.Contains(q.raw, []byte(pwW1)) {
			t.Errorf("quarantine keeps the password: %q", q.raw)
		}
	})

	t.Run("MODBUS CRC from a standard-mode device: 9011 QnRtn=9", func(t *testing.T) {
		p := hjPacket(mnW1, pwW1, "21", "2011", true, dt, waterVals(7, 7)...)
		c.send(modbusLE(encode(t, p)))
		c.expectRefusal(p.QN, hj212.QnBadCRC)
	})

	t.Run("MODBUS CRC from a lenient device, unit override converted", func(t *testing.T) {
		p := hjPacket(mnW2, pwW2, "21", "2011", true, dt, hjVal{"w01001", hj212.Rtd, 7.5, "N"}, hjVal{"w21003", hj212.Rtd, 420, "N"})
		c.send(modbusLE(encode(t, p)))
		c.expect(hj212.CNDataAck, p.QN)
		r, _ := e.reading(domain.Water, "hj-w2")
		if !near(r.Values["nh3n"], 0.42) || r.Values["ph"] != 7.5 {
			t.Errorf("values = %v, want nh3n 420 µg/L as 0.42 mg/L", r.Values)
		}
	})

	t.Run("air SO2 in the HJ 212 default mg/m³ becomes µg/m³", func(t *testing.T) {
		p := hjPacket(mnAir, pwAir, "22", "2011", true, dt, hjVal{"a21026", hj212.Rtd, 0.012, "N"}, hjVal{"a34004", hj212.Rtd, 35, "M"})
		c.send(encode(t, p))
		c.expect(hj212.CNDataAck, p.QN)
		r, _ := e.reading(domain.Air, "hj-air")
		if !near(r.Values["so2"], 12) || r.Values["pm25"] != 35 || r.Flags["pm25"] != domain.FlagMaintenance {
			t.Errorf("reading = %+v, want so2 12 µg/m³ and pm25 35 flagged M", r)
		}
	})

	t.Run("bad values are quarantined, good ones kept, ack after both stored", func(t *testing.T) {
		p := hjPacket(mnW1, pwW1, "21", "2011", true, dt.Add(time.Second),
			hjVal{"w01001", hj212.Rtd, 15.2, "N"}, hjVal{"w01009", hj212.Rtd, 6.1, "N"}, hjVal{"w99999", hj212.Rtd, 1, "N"})
		c.send(encode(t, p))
		c.expect(hj212.CNDataAck, p.QN)
		r, _ := e.reading(domain.Water, "hj-w1")
		if len(r.Values) != 1 || r.Values["do"] != 6.1 {
			t.Errorf("values = %v, want only do", r.Values)
		}
		var codes []string
		for _, q := range e.quarantine() {
			if bytes.Contains(q.raw, []byte(p.QN)) {
				codes = append(codes, q.code)
			}
		}
		slices.Sort(codes)
		if want := []string{string(CodeOutOfRange), string(CodeUnknownParam)}; !slices.Equal(codes, want) {
			t.Errorf("quarantined at ack time: %v, want %v", codes, want)
		}
	})

	t.Run("1013 is answered with 1012 and the platform time", func(t *testing.T) {
		p := hjPacket(mnW1, pwW1, "21", hj212.CNTimeRequest, false, time.Time{})
		c.send(encode(t, p))
		reply, err := c.next(5 * time.Second)
		if err != nil {
			t.Fatal(err)
		}
		st, _ := reply.CP.Field("SystemTime")
		if reply.CN != hj212.CNSetTime || st != hjT0.Format("20060102150405") || reply.MN != mnW1 || !reply.AckRequested() {
			t.Errorf("reply = %v SystemTime=%s, want 1012 with %s and A=1", reply, st, hjT0.Format("20060102150405"))
		}
	})

	t.Run("2081 restart notice is acked", func(t *testing.T) {
		p := hjPacket(mnW1, pwW1, "21", hj212.CNRestart, true, time.Time{})
		p.CP.Fields = []hj212.Field{{Name: "RestartTime", Value: "20261126135500"}}
		c.send(encode(t, p))
		c.expect(hj212.CNDataAck, p.QN)
	})

	t.Run("garbage between frames, several frames per write, a frame split across writes", func(t *testing.T) {
		var qns []string
		var stream []byte
		stream = append(stream, "hello\x00garbage"...)
		for i := range 3 {
			p := hjPacket(mnW1, pwW1, "21", "2011", true, dt.Add(time.Duration(10+i)*time.Second), waterVals(7.3, 6.5)...)
			qns = append(qns, p.QN)
			stream = append(stream, encode(t, p)...)
			stream = append(stream, "\r\n#"...)
		}
		last := hjPacket(mnW1, pwW1, "21", "2011", true, dt.Add(20*time.Second), waterVals(7.4, 6.5)...)
		qns = append(qns, last.QN)
		stream = append(stream, encode(t, last)...)
		// Cut inside the garbage, inside a header and inside the CRC.
		cuts := []int{3, 40, len(stream) - 4, len(stream)}
		from := 0
		for _, to := range cuts {
			c.send(stream[from:to])
			from = to
		}
		for _, qn := range qns {
			c.expect(hj212.CNDataAck, qn)
		}
		e.waitQuarantine(CodeGarbage, "")
	})

	t.Run("oversize frame refused, connection kept", func(t *testing.T) {
		var vals []hjVal
		for i := range 60 {
			vals = append(vals, hjVal{fmt.Sprintf("w9%04d", i), hj212.Rtd, 1.5, "N"})
		}
		big := hjPacket(mnW1, pwW1, "21", "2011", true, dt, vals...)
		frame := encode(t, big)
		if len(frame) <= 1024 {
			t.Fatalf("frame of %d bytes is not oversize", len(frame))
		}
		c.send(frame)
		c.expectRefusal(big.QN, hj212.QnRefused)
		q := e.waitQuarantine(CodeTooLarge, "hj-w1")
		if bytes.Contains(q.raw, []byte(pwW1)) {
			t.Errorf("quarantine keeps the password")
		}
		p := hjPacket(mnW1, pwW1, "21", "2011", true, dt.Add(2*time.Second), waterVals(7, 7)...)
		c.send(encode(t, p))
		c.expect(hj212.CNDataAck, p.QN)
		if n := e.metric("qingliu_hj212_refusals_total", "reason", "oversize"); n != 1 {
			t.Errorf("oversize refusals = %v, want 1", n)
		}
	})

	t.Run("split packet reassembled into one reading", func(t *testing.T) {
		sdt := dt.Add(-time.Hour)
		p1 := hjPacket(mnW1, pwW1, "21", "2011", true, sdt, hjVal{"w01001", hj212.Rtd, 7.7, "N"})
		p2 := hjPacket(mnW1, pwW1, "21", "2011", true, sdt, hjVal{"w01009", hj212.Rtd, 5.5, "D"})
		for i, p := range []*hj212.Packet{&p1, &p2} {
			p.Flag |= hj212.FlagSplit
			p.PNUM, p.PNO = 2, i+1
		}
		before := e.streamCount(bus.StreamReadings)
		c.send(encode(t, p1))
		c.expect(hj212.CNDataAck, p1.QN) // held, acked on receipt
		if n := e.streamCount(bus.StreamReadings); n != before {
			t.Fatalf("a reading was published from part 1 alone")
		}
		c.send(encode(t, p2))
		c.expect(hj212.CNDataAck, p2.QN)
		r, _ := e.reading(domain.Water, "hj-w1")
		if !r.Time.Equal(sdt) || r.Values["ph"] != 7.7 || r.Values["do"] != 5.5 || r.Flags["do"] != domain.FlagFault {
			t.Errorf("joined reading = %+v", r)
		}
		if n := e.streamCount(bus.StreamReadings); n != before+1 {
			t.Errorf("readings %d → %d, want one more", before, n)
		}
	})

	t.Run("2061 hourly beside the 2011 at the same instant: two readings, told apart by interval", func(t *testing.T) {
		at := hjT0.Add(-time.Hour)
		rt := hjPacket(mnW1, pwW1, "21", "2011", true, at, hjVal{"w01001", hj212.Rtd, 7.1, "N"})
		hr := hjPacket(mnW1, pwW1, "21", "2061", true, at, hjVal{"w01001", hj212.Avg, 7.1, "N"}, hjVal{"w01001", hj212.Max, 7.4, "N"})
		before := e.streamCount(bus.StreamReadings)
		c.send(encode(t, rt))
		c.expect(hj212.CNDataAck, rt.QN)
		c.send(encode(t, hr))
		c.expect(hj212.CNDataAck, hr.QN)
		r, _ := e.reading(domain.Water, "hj-w1")
		if r.Interval != domain.IntervalHour || !r.Time.Equal(at) || r.Values["ph"] != 7.1 {
			t.Errorf("hourly reading = %+v, want interval hour at %v (the start of the hour)", r, at)
		}
		if n := e.streamCount(bus.StreamReadings); n != before+2 {
			t.Errorf("readings %d → %d, want both stored (not deduplicated)", before, n)
		}
	})

	t.Run("metrics", func(t *testing.T) {
		for _, r := range []string{"bad_password", "unknown_mn", "crc"} {
			if n := e.metric("qingliu_hj212_refusals_total", "reason", r); n < 1 {
				t.Errorf("refusals{%s} = %v", r, n)
			}
		}
		if n := e.metric("qingliu_hj212_ack_seconds"); n < 10 {
			t.Errorf("ack_seconds count = %v, want every 9014 observed", n)
		}
		if n := e.metric("qingliu_hj212_connections"); n != 1 {
			t.Errorf("connections = %v, want 1", n)
		}
		if n := e.metric("qingliu_hj212_frames_total", "cn", "2011", "result", "accepted"); n < 9 {
			t.Errorf("accepted 2011 frames = %v", n)
		}
	})
}

// TestHJ212Samples sends the shared sample packets, whose MNs are in the
// test registry, with the clock at each packet's DataTime.
func TestHJ212Samples(t *testing.T) {
	e := newHJEnv(t, HJ212Config{})
	samples := hjSamples(t)
	pick := func(prefix, mn string) []byte {
		t.Helper()
		for _, s := range samples {
			if strings.HasPrefix(s, prefix) && strings.Contains(s, ";MN="+mn+";") {
				return []byte(s + "\r\n")
			}
		}
		t.Fatalf("no sample %s… with MN=%s", prefix, mn)
		return nil
	}

	t.Run("surface-water 2011 with Flag=8 (no ack asked)", func(t *testing.T) {
		e.clock.Set(time.Date(2021, 3, 1, 11, 12, 0, 0, hjBeijing))
		c := e.dial()
		c.send(pick("##0435", "ZLDSZ20210127"))
		r := e.waitReading(domain.Water, "smp-zld")
		want := map[string]float64{"ph": 8.33, "do": 10.15, "temp": 9.7, "cond": 1425, "turb": 13.10, "tp": 0, "tn": 3.563168, "nh3n": 0.09055002, "codmn": 4.102818}
		for k, v := range want {
			if r.Values[k] != v {
				t.Errorf("%s = %v, want %v", k, r.Values[k], v)
			}
		}
		if !r.Time.Equal(time.Date(2021, 3, 1, 11, 11, 0, 0, hjBeijing)) {
			t.Errorf("time = %v", r.Time)
		}
		if _, err := c.next(300 * time.Millisecond); err == nil {
			t.Errorf("a reply to a frame that asked for none")
		}
	})

	t.Run("HJ/T 212-2005 style: no QN, no Flag; impossible values quarantined", func(t *testing.T) {
		e.clock.Set(time.Date(2019, 12, 30, 14, 47, 0, 0, hjBeijing))
		c := e.dial()
		c.send(pick("##0321ST=21", "DM000003"))
		r := e.waitReading(domain.Water, "smp-dm3")
		if _, has := r.Values["ph"]; has || r.Values["cond"] != 18.088 || r.Values["codmn"] != 3.540 {
			t.Errorf("values = %v, want pH 66.6 refused and the others kept", r.Values)
		}
		e.waitQuarantine(CodeOutOfRange, "smp-dm3")
		q := e.waitQuarantine(CodeUnknownParam, "smp-dm3")
		if !strings.Contains(q.reason, "w01006") {
			t.Errorf("reason %q does not name w01006", q.reason)
		}
	})

	t.Run("real CEMS packet with MODBUS CRC from a lenient device", func(t *testing.T) {
		e.clock.Set(time.Date(2020, 9, 23, 11, 18, 0, 0, hjBeijing))
		c := e.dial()
		c.send(pick("##0868", "4201003"))
		// Parsed (not refused for its CRC); its legacy codes map to nothing.
		q := e.waitQuarantine(CodeUnknownParam, "smp-cems")
		if !strings.Contains(q.reason, "a99949") {
			t.Errorf("reason = %q", q.reason)
		}
		if n := e.metric("qingliu_hj212_refusals_total", "reason", "crc"); n != 0 {
			t.Errorf("crc refusals = %v, want 0", n)
		}
	})

	t.Run("Flag=5 upload of unknown codes is quarantined, then acked", func(t *testing.T) {
		e.clock.Set(time.Date(2023, 10, 8, 13, 24, 0, 0, hjBeijing))
		c := e.dial()
		c.send(pick("##0162", "010000A8900016F000169DC0"))
		c.expect(hj212.CNDataAck, "20231008132300648")
		e.waitQuarantine(CodeUnknownParam, "smp-ack")
	})

	t.Run("sample whose CRC matches nothing: 9011 QnRtn=9", func(t *testing.T) {
		c := e.dial()
		c.send(pick("##0136", "LD130133000015"))
		c.expectRefusal("", hj212.QnBadCRC)
	})

	t.Run("sample with a wrong length field: 9011 QnRtn=100", func(t *testing.T) {
		c := e.dial()
		c.send(pick("##0888", "DM000001"))
		c.expectRefusal("", hj212.QnUnknown)
		e.waitQuarantine(CodeBadLength, "")
	})
}

func hjSamples(t testing.TB) []string {
	t.Helper()
	f, err := os.Open(filepath.Join("hj212", "testdata", "samples.txt"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<16)
	for sc.Scan() {
		if strings.HasPrefix(sc.Text(), "##") {
			out = append(out, sc.Text())
		}
	}
	return out
}

func TestHJ212IdleAndSlowClients(t *testing.T) {
	e := newHJEnv(t, HJ212Config{IdleTimeout: 300 * time.Millisecond})
	idle := e.dial()
	slow := e.dial()
	p := hjPacket(mnW1, pwW1, "21", "2011", true, hjT0.Add(-time.Minute), waterVals(7, 7)...)
	slow.send(encode(t, p)[:20]) // and never the rest
	idle.expectClosed(3 * time.Second)
	slow.expectClosed(3 * time.Second)
	testenv.Eventually(t, 2*time.Second, "idle disconnects counted", func() bool {
		return e.metric("qingliu_hj212_disconnects_total", "reason", "idle") == 2
	})
}

func TestHJ212MaxConns(t *testing.T) {
	e := newHJEnv(t, HJ212Config{MaxConns: 2})
	a, b := e.dial(), e.dial()
	// Both are served before the third arrives.
	for _, c := range []*hjClient{a, b} {
		p := hjPacket(mnW1, pwW1, "21", "2011", true, hjT0.Add(-time.Minute), waterVals(7, 7)...)
		c.send(encode(t, p))
		c.expect(hj212.CNDataAck, p.QN)
	}
	e.dial().expectClosed(3 * time.Second)
	if n := e.metric("qingliu_hj212_refusals_total", "reason", "max_conns"); n != 1 {
		t.Errorf("max_conns refusals = %v, want 1", n)
	}
	// A freed slot is usable again.
	a.conn.Close()
	testenv.Eventually(t, 3*time.Second, "slot freed", func() bool { return e.metric("qingliu_hj212_connections") == 1 })
	c := e.dial()
	p := hjPacket(mnW1, pwW1, "21", "2011", true, hjT0.Add(-50*time.Second), waterVals(7, 7)...)
	c.send(encode(t, p))
	c.expect(hj212.CNDataAck, p.QN)
}

// TestHJ212FloodDoesNotStarveOthers runs a device that sends as fast as it
// can beside one that sends a frame and waits for its ack: the rate limit
// slows the flood, then disconnects it, and the other's acks stay fast.
func TestHJ212FloodDoesNotStarveOthers(t *testing.T) {
	e := newHJEnv(t, HJ212Config{RatePerSec: 100, Burst: 50, FloodTimeout: 2 * time.Second})
	flood := e.dial()
	frames := make([][]byte, 2000)
	for i := range frames {
		frames[i] = encode(t, hjPacket(mnW1, pwW1, "21", "2011", true, hjT0.Add(-time.Duration(i+1)*time.Second), waterVals(7+float64(i%50)/100, 6)...))
	}
	floodDone := make(chan struct{}, 1)
	var floodWG sync.WaitGroup
	floodWG.Go(func() {
		defer func() { floodDone <- struct{}{} }()
		for _, f := range frames {
			flood.conn.SetWriteDeadline(time.Now().Add(10 * time.Second))
			if _, err := flood.conn.Write(f); err != nil {
				return // disconnected
			}
		}
		// Keep it up until the server cuts the connection.
		for i := 0; ; i++ {
			flood.conn.SetWriteDeadline(time.Now().Add(10 * time.Second))
			if _, err := flood.conn.Write(frames[i%len(frames)]); err != nil {
				return
			}
		}
	})
	floodWG.Go(func() { // the flood's acks must be read, or its socket fills
		buf := make([]byte, 64<<10)
		for {
			if _, err := flood.conn.Read(buf); err != nil {
				return
			}
		}
	})
	testenv.Eventually(t, 5*time.Second, "the flood being throttled", func() bool {
		return e.metric("qingliu_hj212_throttled_frames_total") > 0
	})

	victim := e.dial()
	var lat []time.Duration
	for i := range 40 {
		p := hjPacket(mnAir, pwAir, "22", "2011", true, hjT0.Add(-time.Duration(i+1)*time.Second), hjVal{"a34004", hj212.Rtd, float64(20 + i), "N"})
		start := time.Now()
		victim.send(encode(t, p))
		victim.expect(hj212.CNDataAck, p.QN)
		lat = append(lat, time.Since(start))
	}
	slices.Sort(lat)
	p99 := lat[len(lat)*99/100]
	t.Logf("victim ack latency under flood: p50 %s p99 %s max %s", lat[len(lat)/2], p99, lat[len(lat)-1])
	if p99 > 500*time.Millisecond {
		t.Errorf("victim ack p99 = %s under a flood, want < 500ms", p99)
	}

	select {
	case <-floodDone:
	case <-time.After(15 * time.Second):
		t.Fatal("flooding connection not disconnected")
	}
	flood.conn.Close()
	floodWG.Wait()
	if n := e.metric("qingliu_hj212_refusals_total", "reason", "flood"); n != 1 {
		t.Errorf("flood refusals = %v, want 1", n)
	}
	// The server counts the disconnect as its connection goroutine ends,
	// which may be just after the client sees the socket close.
	testenv.Eventually(t, 5*time.Second, "one flood disconnect counted", func() bool {
		return e.metric("qingliu_hj212_disconnects_total", "reason", "flood") == 1
	})
}

func TestHJ212TLS(t *testing.T) {
	caPEM, certFile, keyFile := selfSignedChain(t)
	e := newHJEnv(t, HJ212Config{TLSCert: certFile, TLSKey: keyFile})
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(caPEM) {
		t.Fatal("CA not added")
	}
	conn, err := tls.Dial("tcp", e.src.Addr(), &tls.Config{RootCAs: pool, ServerName: "127.0.0.1", MinVersion: tls.VersionTLS12})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	c := &hjClient{t: t, conn: conn, rd: hj212.NewReader(conn, 0)}
	p := hjPacket(mnW1, pwW1, "21", "2011", true, hjT0.Add(-time.Minute), waterVals(7.05, 6.2)...)
	c.send(encode(t, p))
	c.expect(hj212.CNDataAck, p.QN)

	// A plain-TCP client gets nothing and is closed.
	plain := e.dial()
	plain.send(encode(t, p))
	plain.expectClosed(5 * time.Second)
	testenv.Eventually(t, 2*time.Second, "tls disconnect counted", func() bool {
		return e.metric("qingliu_hj212_disconnects_total", "reason", "tls") == 1
	})
}

// selfSignedChain is testenv.NewPKI with the CA as PEM, for a client's
// pool; the server's cert and key files are returned as they are.
func selfSignedChain(t *testing.T) ([]byte, string, string) {
	t.Helper()
	p := testenv.NewPKI(t)
	caPEM, err := os.ReadFile(p.CAFile)
	if err != nil {
		t.Fatal(err)
	}
	return caPEM, p.CertFile, p.KeyFile
}

// TestHJ212Shutdown: frames read before the stop are stored and acked, then
// the connections close and Run returns within the shutdown timeout.
func TestHJ212Shutdown(t *testing.T) {
	e := newHJEnv(t, HJ212Config{ShutdownTimeout: 2 * time.Second})
	c := e.dial()
	var qns []string
	var batch []byte
	for i := range 50 {
		p := hjPacket(mnW1, pwW1, "21", "2011", true, hjT0.Add(-time.Duration(i+1)*time.Second), waterVals(7, 6)...)
		qns = append(qns, p.QN)
		batch = append(batch, encode(t, p)...)
	}
	c.send(batch)
	testenv.Eventually(t, 5*time.Second, "frames read", func() bool {
		return e.metric("qingliu_hj212_frames_total", "result", "accepted") == 50
	})
	start := time.Now()
	if err := e.stop(); err != nil {
		t.Fatalf("Run: %v", err)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("Run returned %s after the stop, want within the 2s shutdown timeout", d)
	}
	for _, qn := range qns {
		c.expect(hj212.CNDataAck, qn)
	}
	c.expectClosed(2 * time.Second)
	if err := e.src.Ready(); err == nil {
		t.Error("Ready after Run returned")
	}
	if _, err := net.DialTimeout("tcp", e.src.Addr(), time.Second); err == nil {
		t.Error("still accepting after Run returned")
	}
}

func TestHJ212ListenAddressInUse(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	reg := hjRegistry(t, hjStationsYAML)
	src, err := NewHJ212Source(HJ212Config{Listen: ln.Addr().String()}, reg, NewPipeline(reg, Limits{}), nil, prometheus.NewRegistry(), testenv.Logger(t), time.Now)
	if err != nil {
		t.Fatal(err)
	}
	err = src.Listen()
	if !errors.Is(err, syscall.EADDRINUSE) || !strings.Contains(err.Error(), ln.Addr().String()) {
		t.Errorf("Listen = %v, want address in use naming %s", err, ln.Addr())
	}
	if _, err := NewHJ212Source(HJ212Config{TLSCert: "x.crt"}, reg, nil, nil, prometheus.NewRegistry(), testenv.Logger(t), time.Now); err == nil {
		t.Error("a certificate without a key was accepted")
	}
}

// TestHJ212SplitExpiry: a split transfer that never completes is
// quarantined with its parts after the reassembly timeout.
func TestHJ212SplitExpiry(t *testing.T) {
	e := newHJEnv(t, HJ212Config{ReassemblyTimeout: 200 * time.Millisecond})
	c := e.dial()
	p := hjPacket(mnW1, pwW1, "21", "2011", true, hjT0.Add(-time.Minute), waterVals(7, 7)...)
	p.Flag |= hj212.FlagSplit
	p.PNUM, p.PNO = 3, 1
	c.send(encode(t, p))
	c.expect(hj212.CNDataAck, p.QN)
	e.clock.Set(hjT0.Add(time.Second))
	q := e.waitQuarantine(CodeSplit, "hj-w1")
	if !strings.Contains(q.reason, "parts 1 of 3") || !bytes.Contains(q.raw, []byte(p.QN)) || bytes.Contains(q.raw, []byte(pwW1)) {
		t.Errorf("quarantined %q: %q", q.reason, q.raw)
	}
}

// TestHJ212HandlerSeries checks, without sockets, the timestamp and
// statistic of each data series when all are published.
func TestHJ212HandlerSeries(t *testing.T) {
	reg := hjRegistry(t, hjStationsYAML)
	cfg := HJ212Config{}.withDefaults()
	h := newHJ212Handler(reg, NewPipeline(reg, Limits{}), cfg, func() time.Time { return hjT0 })
	vals := []hjVal{{"w01001", hj212.Rtd, 7.0, ""}, {"w01001", hj212.Avg, 7.5, ""}, {"w01001", hj212.Min, 6, ""}, {"w01001", hj212.Max, 9, ""}}
	for _, tc := range []struct {
		cn       string
		dt       time.Time
		want     float64
		interval domain.Interval
	}{
		{"2011", time.Date(2026, 11, 26, 13, 59, 30, 0, hjBeijing), 7.0, domain.IntervalInstant},
		{"2051", time.Date(2026, 11, 26, 13, 50, 0, 0, hjBeijing), 7.5, domain.IntervalMinute},
		{"2061", time.Date(2026, 11, 26, 13, 0, 0, 0, hjBeijing), 7.5, domain.IntervalHour},
		{"2031", time.Date(2026, 11, 25, 0, 0, 0, 0, hjBeijing), 7.5, domain.IntervalDay},
	} {
		t.Run(tc.cn, func(t *testing.T) {
			f := encode(t, hjPacket(mnW1, pwW1, "21", tc.cn, true, tc.dt, vals...))
			out := h.handle(f[:len(f)-2], nil, hjT0)
			if !out.submit || out.result != "accepted" || !out.ack || len(out.res.Readings) != 1 {
				t.Fatalf("outcome = %+v", out)
			}
			r := out.res.Readings[0]
			if !r.Time.Equal(tc.dt) || r.Values["ph"] != tc.want || len(r.Values) != 1 || r.Interval != tc.interval {
				t.Errorf("reading at %v with %v interval %q, want %v (DataTime) with ph %v interval %q", r.Time, r.Values, r.Interval, tc.dt, tc.want, tc.interval)
			}
		})
	}
	if _, err := ParseHJ212Series([]string{"hourly", "weekly"}); err == nil {
		t.Error("weekly accepted")
	}
}

func TestHJ212MaskPW(t *testing.T) {
	for in, want := range map[string]string{
		"##0040QN=1;ST=21;CN=2011;PW=abc;MN=X;CP=&&PW=zz&&ABCD": "##0040QN=1;ST=21;CN=2011;PW=***;MN=X;CP=&&PW=zz&&ABCD",
		"##0040PW=secret;ST=21;CP=&&&&ABCD":                     "##0040PW=******;ST=21;CP=&&&&ABCD",
		"QN=1;XPW=abc;PW=;MN=X":                                 "QN=1;XPW=abc;PW=;MN=X",
		"garbage PW=abc":                                        "garbage PW=abc",
	} {
		if got := string(maskPW([]byte(in))); got != want {
			t.Errorf("maskPW(%q) = %q, want %q", in, got, want)
		}
	}
}

// FuzzHJ212Handle: the protocol core never panics, accounts for every chunk
// and never puts a registry password into quarantine or a reply to another
// device.
func FuzzHJ212Handle(f *testing.F) {
	reg := hjRegistry(f, hjStationsYAML)
	for _, s := range hjSamples(f) {
		f.Add([]byte(s))
	}
	good, _ := hj212.Encode(hjPacket(mnW1, pwW1, "21", "2011", true, hjT0.Add(-time.Minute), waterVals(7, 7)...))
	f.Add(good)
	f.Add(modbusLE(good))
	cfg := HJ212Config{Series: []hj212.Series{hj212.Realtime, hj212.Hourly}}.withDefaults()
	h := newHJ212Handler(reg, NewPipeline(reg, Limits{}), cfg, func() time.Time { return hjT0 })
	f.Fuzz(func(t *testing.T, chunk []byte) {
		for _, readErr := range []error{nil, hj212.ErrGarbage, hj212.ErrTooLong, hj212.ErrTruncated} {
			out := h.handle(chunk, readErr, hjT0)
			if out.result == "" || out.cn == "" {
				t.Fatalf("outcome without labels: %+v", out)
			}
			if out.submit && len(out.res.Readings)+len(out.res.Rejects) == 0 {
				t.Fatalf("submit of nothing: %+v", out)
			}
			for _, r := range out.res.Rejects {
				if r.Code == "" || r.Reason == "" || r.Index != -1 {
					t.Fatalf("reject %+v", r)
				}
				for _, pw := range []string{pwW1, pwW2, pwAir} {
					if !bytes.Contains(chunk, []byte(pw)) && (bytes.Contains(r.Raw, []byte(pw)) || strings.Contains(r.Reason, pw)) {
						t.Fatalf("password %q leaked into quarantine: %q", pw, r.Raw)
					}
				}
			}
			for _, pw := range []string{pwW1, pwW2, pwAir} {
				if !bytes.Contains(chunk, []byte(pw)) && bytes.Contains(out.reply, []byte(pw)) {
					t.Fatalf("password %q leaked into a reply: %q", pw, out.reply)
				}
			}
			if out.ack && out.reply == nil {
				t.Fatalf("ack without a reply: %+v", out)
			}
		}
	})
}

// TestHJ212HandlerSplitAndCommands covers the protocol core's less common
// outcomes without sockets.
func TestHJ212HandlerSplitAndCommands(t *testing.T) {
	reg := hjRegistry(t, hjStationsYAML)
	h := newHJ212Handler(reg, NewPipeline(reg, Limits{}), HJ212Config{MaxSplitParts: 8}.withDefaults(), func() time.Time { return hjT0 })
	dt := hjT0.Add(-time.Minute)
	frame := func(p hj212.Packet) []byte { return encode(t, p) }
	part := func(pnum, pno int, ph float64) hj212.Packet {
		p := hjPacket(mnW1, pwW1, "21", "2011", true, dt, hjVal{"w01001", hj212.Rtd, ph, "N"})
		p.Flag |= hj212.FlagSplit
		p.PNUM, p.PNO = pnum, pno
		return p
	}

	t.Run("parts that disagree are quarantined together and acked", func(t *testing.T) {
		if out := h.handle(frame(part(2, 1, 7)), nil, hjT0); out.result != "held" || !out.ack {
			t.Fatalf("part 1: %+v", out)
		}
		out := h.handle(frame(part(2, 2, 8)), nil, hjT0)
		if out.result != "rejected" || !out.submit || !out.ack || len(out.res.Rejects) != 1 || out.res.Rejects[0].Code != CodeSplit {
			t.Fatalf("part 2: %+v", out)
		}
		if raw := out.res.Rejects[0].Raw; bytes.Count(raw, []byte("\r\n")) != 2 || bytes.Contains(raw, []byte(pwW1)) {
			t.Errorf("quarantined parts %q: want both, masked", raw)
		}
	})

	t.Run("more parts than allowed: refused with QnRtn=2 and kept", func(t *testing.T) {
		p := part(9, 1, 7)
		out := h.handle(frame(p), nil, hjT0)
		reply, _, err := hj212.ParseFrame(out.reply)
		if out.refusal != "split" || !out.submit || err != nil || reply.CN != hj212.CNQnRtn {
			t.Fatalf("outcome %+v, reply %v %v", out, reply, err)
		}
		if rtn, _ := reply.CP.Field("QnRtn"); rtn != "2" {
			t.Errorf("QnRtn = %s, want 2", rtn)
		}
	})

	t.Run("transfers still open at shutdown are quarantined", func(t *testing.T) {
		h.handle(frame(part(3, 2, 7)), nil, hjT0)
		res := h.expire(hjT0, true)
		if len(res.Rejects) != 1 || !strings.Contains(res.Rejects[0].Reason, "parts 2 of 3 received, incomplete at shutdown") || res.Rejects[0].Station != "hj-w1" {
			t.Fatalf("expired: %+v", res.Rejects)
		}
	})

	for _, tc := range []struct {
		name, cn string
		ack      bool
		result   string
		replyCN  string
	}{
		{"device answer to our 1012", hj212.CNExeRtn, false, "reply", ""},
		{"running-state upload Qingliu does not use", "2021", true, "ignored", hj212.CNDataAck},
		{"unknown command code", "4999", true, "ignored", hj212.CNDataAck},
		{"time calibration request", hj212.CNTimeRequest, false, "handled", hj212.CNSetTime},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out := h.handle(frame(hjPacket(mnW1, pwW1, "21", tc.cn, tc.ack, time.Time{})), nil, hjT0)
			if out.result != tc.result || out.submit {
				t.Fatalf("outcome %+v", out)
			}
			if tc.replyCN == "" {
				if out.reply != nil {
					t.Errorf("reply %q, want none", out.reply)
				}
				return
			}
			reply, _, err := hj212.ParseFrame(out.reply)
			if err != nil || reply.CN != tc.replyCN {
				t.Errorf("reply %v, %v; want CN=%s", reply, err, tc.replyCN)
			}
			if tc.cn == "4999" && out.cn != "other" {
				t.Errorf("cn label %q, want other", out.cn)
			}
		})
	}
}
