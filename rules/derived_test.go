package rules

import (
	"bytes"
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
		d.WaterClass(WaterClassPoint{Station: "bj-shijiao", Time: t0.Add(time.Duration(i) * time.Minute), Window: "latest", Rule: "wq",
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
			if err != nil || !ts.Equal(t0.Add(time.Duration(points)*time.Minute)) {
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
