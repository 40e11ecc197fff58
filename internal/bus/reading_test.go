package bus

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/qingliu/qingliu/domain"
)

func TestReadingRoundTrip(t *testing.T) {
	seq := int64(1042)
	in := domain.Reading{
		Station: `bj-"odd"\id`, Medium: domain.Water, Source: domain.SourceMQTT, Seq: &seq,
		Time:     time.Date(2026, 11, 26, 14, 0, 0, 123456789, time.FixedZone("", 8*3600)),
		Received: time.Date(2026, 11, 26, 6, 0, 1, 0, time.UTC),
		Values:   map[string]float64{"ph": 7.21, "do": 6.8, "tp": 1e-05, "cond": 250},
		Flags:    map[string]domain.Flag{"tp": domain.FlagMaintenance},
	}
	b, err := EncodeReading(&in)
	if err != nil {
		t.Fatal(err)
	}
	// The wire form is plain JSON that any consumer can read.
	var generic map[string]any
	if err := json.Unmarshal(b, &generic); err != nil {
		t.Fatalf("not valid JSON: %v: %s", err, b)
	}
	out, err := DecodeReading(b)
	if err != nil {
		t.Fatal(err)
	}
	if !out.Time.Equal(in.Time) || !out.Received.Equal(in.Received) {
		t.Errorf("times %v %v, want %v %v", out.Time, out.Received, in.Time, in.Received)
	}
	out.Time, out.Received = in.Time, in.Received
	if !reflect.DeepEqual(out, in) {
		t.Errorf("round trip:\n got %+v\nwant %+v", out, in)
	}
	if MsgID(&out) != MsgID(&in) {
		t.Error("msg id changed in the round trip")
	}
	body, id, err := EncodeWithID(&in)
	if err != nil || string(body) != string(b) || id != MsgID(&in) {
		t.Errorf("EncodeWithID = %s, %q, %v; want the EncodeReading body and MsgID", body, id, err)
	}
}

func TestMsgIDDistinguishesCorrections(t *testing.T) {
	ts := time.Unix(1795672800, 0)
	a := domain.Reading{Station: "s", Time: ts, Values: map[string]float64{"ph": 7, "do": 6}}
	b := domain.Reading{Station: "s", Time: ts, Values: map[string]float64{"do": 6, "ph": 7}}
	c := domain.Reading{Station: "s", Time: ts, Values: map[string]float64{"ph": 7.1, "do": 6}}
	d := domain.Reading{Station: "s", Time: ts, Values: map[string]float64{"ph": 7, "do": 6}, Flags: map[string]domain.Flag{"ph": "C"}}
	if MsgID(&a) != MsgID(&b) {
		t.Error("same content, different key order: ids differ")
	}
	if MsgID(&a) == MsgID(&c) || MsgID(&a) == MsgID(&d) {
		t.Error("a corrected value or flag has the same id")
	}
	h := a
	h.Interval = domain.IntervalHour
	if MsgID(&a) == MsgID(&h) {
		t.Error("an hourly average equal to the sample at the same instant has the same id")
	}
}

func TestReadingIntervalRoundTrip(t *testing.T) {
	in := domain.Reading{Station: "s", Medium: domain.Water, Source: domain.SourceHJ212, Interval: domain.IntervalHour,
		Time: time.Unix(1795672800, 0).UTC(), Values: map[string]float64{"ph": 7}}
	b, err := EncodeReading(&in)
	if err != nil {
		t.Fatal(err)
	}
	out, err := DecodeReading(b)
	if err != nil || out.Interval != domain.IntervalHour {
		t.Fatalf("decoded interval %q, %v from %s", out.Interval, err, b)
	}
	in.Interval = ""
	if b, _ = EncodeReading(&in); strings.Contains(string(b), "interval") {
		t.Errorf("a sample carries an interval: %s", b)
	}
	if _, err := DecodeReading([]byte(`{"station":"s","ts":"2026-11-26T14:00:00Z","values":{"ph":7},"interval":"week"}`)); err == nil {
		t.Error("interval week accepted")
	}
}

func TestDecodeRejects(t *testing.T) {
	for _, in := range []string{`{`, `{"station":"s","ts":"x","values":{}}`, `{"station":"s","ts":"2026-11-26T14:00:00Z"}`, `{"ts":"2026-11-26T14:00:00Z","values":{}}`} {
		if _, err := DecodeReading([]byte(in)); err == nil {
			t.Errorf("%s: no error", in)
		}
	}
}

func BenchmarkEncodeReading(b *testing.B) {
	r := domain.Reading{Station: "load-0001", Medium: domain.Water, Source: domain.SourceMQTT, Time: time.Now(), Received: time.Now(),
		Values: map[string]float64{"temp": 21.3, "ph": 7.2, "do": 7.9, "cond": 250, "turb": 12, "nh3n": 0.3, "tp": 0.08}}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := EncodeReading(&r); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDecodeReading(b *testing.B) {
	r := domain.Reading{Station: "load-0001", Medium: domain.Water, Source: domain.SourceMQTT, Time: time.Now(), Received: time.Now(),
		Values: map[string]float64{"temp": 21.3, "ph": 7.2, "do": 7.9, "cond": 250, "turb": 12, "nh3n": 0.3, "tp": 0.08}}
	data, _ := EncodeReading(&r)
	var d Decoder
	b.ReportAllocs()
	for b.Loop() {
		if _, err := d.Decode(data); err != nil {
			b.Fatal(err)
		}
	}
}
