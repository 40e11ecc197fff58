package rules

import (
	"bytes"
	"fmt"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/influxdata/line-protocol/v2/lineprotocol"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/qingliu/qingliu/internal/bus"
	"github.com/qingliu/qingliu/standards/water"
)

// capture records what the sink hands to JetStream.
type capture struct{ msgs []*nats.Msg }

func (c *capture) PublishMsgAsync(m *nats.Msg, _ ...jetstream.PublishOpt) (jetstream.PubAckFuture, error) {
	c.msgs = append(c.msgs, m)
	return nil, nil
}

// Derived points go out in batches: full batches at once, the rest on
// Flush; every point exactly once, each message valid line protocol with
// its own dedupe id.
func TestDerivedSinkBatches(t *testing.T) {
	var c capture
	d := NewDerivedSink(&c, slog.New(slog.NewTextHandler(io.Discard, nil)))
	t0 := time.Date(2026, 11, 26, 8, 0, 0, 0, time.UTC)
	const n = 2*derivedBatchPoints + 7
	for i := range n {
		// One point an hour: each goes out (see TestDerivedSinkWaterClassSteps).
		d.WaterClass(WaterClassPoint{Station: "bj-shijiao", Time: t0.Add(time.Duration(i) * time.Hour), Window: "latest", Rule: "wq",
			Result: water.Result{Class: water.III, Status: "良好", Target: water.II}})
	}
	if len(c.msgs) != 2 {
		t.Fatalf("%d messages before Flush, want the 2 full batches", len(c.msgs))
	}
	d.Flush()
	d.Flush() // nothing waiting: nothing sent
	if len(c.msgs) != 3 {
		t.Fatalf("%d messages after Flush, want 3", len(c.msgs))
	}
	ids := map[string]bool{}
	points := 0
	for _, m := range c.msgs {
		if m.Subject != bus.DerivedSubject("batch", "rules") {
			t.Errorf("subject %s", m.Subject)
		}
		id := m.Header.Get(bus.HdrMsgID)
		if id == "" || ids[id] {
			t.Errorf("dedupe id %q empty or repeated", id)
		}
		ids[id] = true
		dec := lineprotocol.NewDecoderWithBytes(m.Data)
		for dec.Next() {
			if name, err := dec.Measurement(); err != nil || string(name) != "water_class" {
				t.Fatalf("measurement %q %v", name, err)
			}
			for {
				k, _, err := dec.NextField()
				if err != nil {
					t.Fatal(err)
				}
				if k == nil {
					break
				}
			}
			ts, err := dec.Time(lineprotocol.Nanosecond, time.Time{})
			if err != nil || !ts.Equal(t0.Add(time.Duration(points)*time.Hour)) {
				t.Fatalf("point %d at %v (%v): out of order or lost", points, ts, err)
			}
			points++
		}
		if !bytes.HasSuffix(m.Data, []byte("\n")) {
			t.Error("a batch does not end its last line")
		}
	}
	if points != n {
		t.Fatalf("%d points sent, want %d", points, n)
	}
}

// water_class is a step function: a point when the classification changes
// and for the first evaluation of each hour, per rule, station and window.
func TestDerivedSinkWaterClassSteps(t *testing.T) {
	var c capture
	d := NewDerivedSink(&c, slog.New(slog.NewTextHandler(io.Discard, nil)))
	t0 := time.Date(2026, 11, 26, 8, 0, 0, 0, time.UTC)
	res := func(class water.Class, nh3n water.Class, multiple float64) water.Result {
		return water.Result{Class: class, Status: "x", Target: water.III, MeetsTarget: class <= water.III,
			Items: []water.Item{{Key: "nh3n", Class: nh3n, Evaluated: true, Exceeds: nh3n > water.III, Multiple: multiple, HasMultiple: true}}}
	}
	send := func(station string, minute int, r water.Result) {
		d.WaterClass(WaterClassPoint{Station: station, Time: t0.Add(time.Duration(minute) * time.Minute), Window: "latest", Rule: "wq", Result: r})
	}
	send("a", 0, res(water.II, water.II, 0))    // first: out
	send("a", 1, res(water.II, water.II, 0))    // same hour, same: not
	send("a", 2, res(water.IV, water.IV, 0.2))  // class changed: out
	send("a", 3, res(water.IV, water.IV, 0.3))  // multiple changed: out
	send("a", 4, res(water.IV, water.IV, 0.3))  // same: not
	send("b", 4, res(water.IV, water.IV, 0.3))  // another station: out
	send("a", 59, res(water.IV, water.IV, 0.3)) // same hour: not
	send("a", 60, res(water.IV, water.IV, 0.3)) // a new hour: out
	send("a", 61, res(water.II, water.II, 0))   // back: out
	d.Flush()
	var got []string
	for _, m := range c.msgs {
		dec := lineprotocol.NewDecoderWithBytes(m.Data)
		for dec.Next() {
			_, _ = dec.Measurement()
			station := ""
			for {
				k, v, err := dec.NextTag()
				if err != nil || k == nil {
					break
				}
				if string(k) == "station" {
					station = string(v)
				}
			}
			for {
				k, _, err := dec.NextField()
				if err != nil || k == nil {
					break
				}
			}
			ts, _ := dec.Time(lineprotocol.Nanosecond, time.Time{})
			got = append(got, fmt.Sprintf("%s@%d", station, int(ts.Sub(t0).Minutes())))
		}
	}
	want := []string{"a@0", "a@2", "a@3", "b@4", "a@60", "a@61"}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("points %v, want %v", got, want)
	}
}
