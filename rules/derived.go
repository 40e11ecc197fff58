package rules

import (
	"fmt"
	"hash/fnv"
	"log/slog"
	"math"
	"strings"
	"sync/atomic"
	"time"

	"github.com/influxdata/line-protocol/v2/lineprotocol"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/qingliu/qingliu/internal/bus"
	"github.com/qingliu/qingliu/standards/aqi"
	"github.com/qingliu/qingliu/standards/water"
)

// AsyncPublisher publishes without waiting for the JetStream ack.
type AsyncPublisher interface {
	PublishMsgAsync(msg *nats.Msg, opts ...jetstream.PublishOpt) (jetstream.PubAckFuture, error)
}

// DerivedSink puts the derived series (DESIGN §3.4: measurements aqi and
// water_class) on the DERIVED stream as InfluxDB line protocol, for the
// writer to store; the engine itself never waits for InfluxDB. Points are
// batched, many lines to a message, so that a busy engine costs JetStream
// one message per batch, not one per reading: the stage calls Flush at least
// every FlushEvery and before each state save. A batch's dedupe id covers its
// content; a replay after a restart may batch differently and send a point
// again, which InfluxDB stores as the same point (same series and time).
type DerivedSink struct {
	js     AsyncPublisher
	log    *slog.Logger
	enc    lineprotocol.Encoder
	buf    []byte // lines waiting for Flush
	n      int
	failed atomic.Int64
	waters map[waterKey]waterSeen
}

// waterKey names one water_class series.
type waterKey struct{ rule, station, window string }

// waterSeen is what was last sent for a water_class series.
type waterSeen struct {
	hour int64  // observation hour of the point (Unix hours)
	sig  uint64 // its content
}

const (
	// derivedBatchPoints and derivedBatchBytes bound one DERIVED message.
	derivedBatchPoints = 500
	derivedBatchBytes  = 256 << 10
	// FlushEvery is how long a derived point may wait for its batch.
	FlushEvery = 200 * time.Millisecond
)

// NewDerivedSink builds the sink.
func NewDerivedSink(js AsyncPublisher, log *slog.Logger) *DerivedSink {
	return &DerivedSink{js: js, log: log, waters: map[waterKey]waterSeen{}}
}

// Failed is how many points could not be handed to JetStream.
func (d *DerivedSink) Failed() int64 { return d.failed.Load() }

// AQI implements SeriesSink.
func (d *DerivedSink) AQI(p AQIPoint) {
	e := &d.enc
	e.Reset()
	e.StartLine("aqi")
	e.AddTag("period", p.Period)
	e.AddTag("standard", p.Standard)
	e.AddTag("station", p.Station)
	r := p.Result
	e.AddField("published", lineprotocol.BoolValue(r.Published))
	if r.Published {
		e.AddField("aqi", lineprotocol.IntValue(int64(r.AQI)))
		e.AddField("level", lineprotocol.IntValue(int64(r.Level)))
		e.AddField("category", lineprotocol.MustNewValue(r.Category))
		e.AddField("primary", lineprotocol.MustNewValue(strings.Join(r.Primary(), ",")))
	}
	for _, s := range r.Subs() {
		if s.State == aqi.Computed {
			e.AddField("iaqi_"+s.Key, lineprotocol.IntValue(int64(s.IAQI)))
		}
	}
	e.EndLine(p.Hour)
	d.add()
}

// WaterClass implements SeriesSink. A section's class is a step function:
// a point goes out when the classification changes (the class, attainment,
// an item's class or exceedance multiple) and for the first evaluation of
// each hour, so that hourly last() and fill(previous) give the class at any
// time, without a point for every reading of a section that reports each
// minute. After a restart the first evaluation of each series goes out.
func (d *DerivedSink) WaterClass(p WaterClassPoint) {
	r := p.Result
	if r.Class == water.None {
		return
	}
	k := waterKey{p.Rule, p.Station, p.Window}
	now := waterSeen{hour: p.Time.Unix() / 3600, sig: waterSig(&r)}
	if last, ok := d.waters[k]; ok && last == now {
		return
	}
	d.waters[k] = now
	e := &d.enc
	e.Reset()
	e.StartLine("water_class")
	e.AddTag("rule", p.Rule)
	e.AddTag("station", p.Station)
	e.AddTag("window", p.Window)
	e.AddField("class", lineprotocol.MustNewValue(r.Class.String()))
	e.AddField("class_num", lineprotocol.IntValue(int64(r.Class)))
	e.AddField("status", lineprotocol.MustNewValue(r.Status))
	if r.Target != water.None {
		e.AddField("target", lineprotocol.MustNewValue(r.Target.String()))
		e.AddField("meets_target", lineprotocol.BoolValue(r.MeetsTarget))
	}
	for _, it := range r.Items {
		e.AddField(it.Key+"_class", lineprotocol.MustNewValue(it.Class.String()))
		if it.Exceeds && it.HasMultiple {
			if v, ok := lineprotocol.FloatValue(it.Multiple); ok {
				e.AddField(it.Key+"_multiple", v)
			}
		}
	}
	e.EndLine(p.Time)
	d.add()
}

// waterSig hashes (FNV-1a) what a water_class point says, but its time.
func waterSig(r *water.Result) uint64 {
	const prime = 1099511628211
	h := uint64(14695981039346656037)
	mix := func(v uint64) {
		for range 8 {
			h = (h ^ v&0xff) * prime
			v >>= 8
		}
	}
	b2u := func(b bool) uint64 {
		if b {
			return 1
		}
		return 0
	}
	mix(uint64(r.Class))
	mix(uint64(r.Target))
	mix(b2u(r.MeetsTarget))
	for i := range r.Items {
		it := &r.Items[i]
		for j := 0; j < len(it.Key); j++ {
			h = (h ^ uint64(it.Key[j])) * prime
		}
		mix(uint64(it.Class))
		mix(b2u(it.Exceeds) | b2u(it.HasMultiple)<<1)
		mix(math.Float64bits(it.Multiple))
	}
	return h
}

// add queues the line just encoded.
func (d *DerivedSink) add() {
	if err := d.enc.Err(); err != nil {
		d.fail("encode derived point", err)
		return
	}
	d.buf = append(d.buf, d.enc.Bytes()...)
	d.n++
	if d.n >= derivedBatchPoints || len(d.buf) >= derivedBatchBytes {
		d.Flush()
	}
}

// Flush hands the waiting points to JetStream as one message.
func (d *DerivedSink) Flush() {
	if d.n == 0 {
		return
	}
	msg := nats.NewMsg(bus.DerivedSubject("batch", "rules"))
	msg.Data = d.buf
	h := fnv.New64a()
	h.Write(d.buf)
	msg.Header.Set(bus.HdrMsgID, fmt.Sprintf("derived|%d|%x", d.n, h.Sum64()))
	d.buf, d.n = make([]byte, 0, len(d.buf)), 0
	if _, err := d.js.PublishMsgAsync(msg); err != nil {
		d.fail("publish derived points", err)
	}
}

func (d *DerivedSink) fail(what string, err error) {
	if d.failed.Add(1) == 1 {
		d.log.Warn(what+" failed; derived series have a gap", "err", err)
	}
}
