package rules

import (
	"fmt"
	"hash/fnv"
	"log/slog"
	"strings"
	"sync/atomic"

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
// writer to store; the engine itself never waits for InfluxDB. Each point's
// dedupe id covers its content, so a replay after a restart adds nothing,
// while a recomputed hour (late readings) replaces the point.
type DerivedSink struct {
	js     AsyncPublisher
	log    *slog.Logger
	enc    lineprotocol.Encoder
	failed atomic.Int64
}

// NewDerivedSink builds the sink.
func NewDerivedSink(js AsyncPublisher, log *slog.Logger) *DerivedSink {
	return &DerivedSink{js: js, log: log}
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
	d.publish("aqi", p.Station)
}

// WaterClass implements SeriesSink.
func (d *DerivedSink) WaterClass(p WaterClassPoint) {
	r := p.Result
	if r.Class == water.None {
		return
	}
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
	d.publish("water_class", p.Station)
}

func (d *DerivedSink) publish(measurement, station string) {
	if err := d.enc.Err(); err != nil {
		d.fail("encode derived point", err)
		return
	}
	line := append([]byte(nil), d.enc.Bytes()...)
	msg := nats.NewMsg(bus.DerivedSubject(measurement, station))
	msg.Data = line
	h := fnv.New64a()
	h.Write(line)
	msg.Header.Set(bus.HdrMsgID, fmt.Sprintf("%s|%s|%x", measurement, station, h.Sum64()))
	if _, err := d.js.PublishMsgAsync(msg); err != nil {
		d.fail("publish derived point", err)
	}
}

func (d *DerivedSink) fail(what string, err error) {
	if d.failed.Add(1) == 1 {
		d.log.Warn(what+" failed; derived series have a gap", "err", err)
	}
}
