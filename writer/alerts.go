package writer

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"time"

	"errors"
	"fmt"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"strconv"
	"strings"

	"github.com/influxdata/line-protocol/v2/lineprotocol"

	"github.com/qingliu/qingliu/domain"
)

// encodeAlert appends the alerts point of one transition (DESIGN §3.4): tags
// that are all bounded (rule, kind, station, parameter, status, level, joint,
// technical, jurisdictions as a sorted list of city names), the alert id,
// sequence, value, threshold, ETA and summaries as fields, and the
// observation time the transition belongs to as timestamp.
func encodeAlert(enc *lineprotocol.Encoder, data []byte) error {
	var t domain.Transition
	if err := json.Unmarshal(data, &t); err != nil {
		return fmt.Errorf("decode transition: %w", err)
	}
	if t.AlertID == "" || t.At.IsZero() {
		return errors.New("transition without alert_id or at")
	}
	enc.StartLine("alerts")
	tag := func(k, v string) {
		if v != "" {
			enc.AddTag(k, v)
		}
	}
	// Lexical order, as line protocol encoding wants.
	tag("joint", strconv.FormatBool(t.Joint))
	tag("jurisdictions", strings.Join(t.Jurisdictions, ","))
	tag("kind", t.Kind)
	tag("level", t.Level.String())
	tag("parameter", t.Parameter)
	tag("rule", t.Rule)
	tag("station", t.Station)
	tag("status", t.Status.String())
	tag("technical", strconv.FormatBool(t.Technical))
	enc.AddField("alert_id", lineprotocol.MustNewValue(t.AlertID))
	enc.AddField("seq", lineprotocol.MustNewValue(int64(t.Seq)))
	if v, ok := lineprotocol.FloatValue(t.Value); ok {
		enc.AddField("value", v)
	}
	if t.Threshold != 0 {
		if v, ok := lineprotocol.FloatValue(t.Threshold); ok {
			enc.AddField("threshold", v)
		}
	}
	if t.ETA != nil {
		enc.AddField("eta", lineprotocol.MustNewValue(t.ETA.UTC().Format("2006-01-02T15:04:05Z07:00")))
	}
	if t.SourceStation != "" {
		enc.AddField("source_station", lineprotocol.MustNewValue(t.SourceStation))
	}
	if t.Window != "" {
		enc.AddField("window", lineprotocol.MustNewValue(t.Window))
	}
	enc.AddField("summary_zh", lineprotocol.MustNewValue(t.SummaryZH))
	enc.AddField("summary_en", lineprotocol.MustNewValue(t.SummaryEN))
	enc.EndLine(t.At)
	return nil
}

// NewDerived builds a writer of the DERIVED stream (aqi, water_class), whose
// messages are line protocol already (rules.DerivedSink), over its own
// durable consumer (bus.DerivedWriterConsumer).
func NewDerived(cfg Config, cons jetstream.Consumer, pub Publisher, out RecordWriter, createDB CreateDB, promReg prometheus.Registerer, log *slog.Logger) *Writer {
	return &Writer{cfg: cfg.withDefaults(), cons: cons, pub: pub, out: out, createDB: createDB, log: log,
		m: newMetrics(prometheus.WrapRegistererWith(prometheus.Labels{"stream": "derived"}, promReg)), encodeFn: appendLine}
}

// appendLine appends the lines of line protocol of one DERIVED message (a
// batch of points) after checking that they parse.
func appendLine(enc *lineprotocol.Encoder, data []byte) error {
	line := bytes.TrimRight(data, "\n")
	if len(line) == 0 {
		return errors.New("derived message holds no line protocol")
	}
	dec := lineprotocol.NewDecoderWithBytes(line)
	for dec.Next() {
		if _, err := dec.Measurement(); err != nil {
			return fmt.Errorf("derived point: %w", err)
		}
		for {
			k, _, err := dec.NextTag()
			if err != nil {
				return fmt.Errorf("derived point: %w", err)
			}
			if k == nil {
				break
			}
		}
		for {
			k, _, err := dec.NextField()
			if err != nil {
				return fmt.Errorf("derived point: %w", err)
			}
			if k == nil {
				break
			}
		}
		if _, err := dec.Time(lineprotocol.Nanosecond, time.Time{}); err != nil {
			return fmt.Errorf("derived point: %w", err)
		}
	}
	b := append(enc.Bytes(), line...)
	enc.SetBuffer(append(b, '\n'))
	return nil
}
