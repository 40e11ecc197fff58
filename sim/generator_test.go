package sim

import (
	"bytes"
	"encoding/json"
	"maps"
	"math"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/qingliu/qingliu/domain"
	"github.com/qingliu/qingliu/registry"
)

// payloadV1 is the JSON payload v1 as a test decodes it.
type payloadV1 struct {
	TS     string         `json:"ts"`
	Seq    int64          `json:"seq"`
	Values map[string]any `json:"values"`
}

func decode(t *testing.T, m Message) payloadV1 {
	t.Helper()
	var p payloadV1
	dec := json.NewDecoder(bytes.NewReader(m.Payload))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&p); err != nil {
		t.Fatalf("message %s seq %d: %v: %s", m.Station, m.Seq, err, m.Payload)
	}
	return p
}

func collect(g *Generator) []Message {
	var out []Message
	for {
		m, ok := g.Next()
		if !ok {
			return out
		}
		out = append(out, m)
	}
}

func TestScheduleFollowsIntervals(t *testing.T) {
	st := &registry.Station{ID: "s1", Medium: domain.Water, Params: map[string]time.Duration{
		"temp": time.Hour, "do": 5 * time.Minute, "nh3n": 4 * time.Hour, "ph": 0}}
	start := at(t, "2026-11-26T00:00:00+08:00")
	for _, c := range []struct {
		span            time.Duration
		temp, do, nh3n  int
		messages        int
		firstTS, lastTS string
		startOffset     time.Duration
	}{
		{span: time.Hour, temp: 1, do: 12, nh3n: 1, messages: 12,
			firstTS: "2026-11-26T00:00:00+08:00", lastTS: "2026-11-26T00:55:00+08:00"},
		{span: 24 * time.Hour, temp: 24, do: 288, nh3n: 6, messages: 288,
			firstTS: "2026-11-26T00:00:00+08:00", lastTS: "2026-11-26T23:55:00+08:00"},
		// A start between instants waits for the next aligned one.
		{span: time.Hour, startOffset: 90 * time.Second, temp: 0, do: 11, nh3n: 0, messages: 11,
			firstTS: "2026-11-26T00:05:00+08:00", lastTS: "2026-11-26T00:55:00+08:00"},
	} {
		g := NewGenerator([]*registry.Station{st}, NewModel(1, nil, nil, nil),
			GeneratorOptions{Start: start.Add(c.startOffset), End: start.Add(c.span)})
		msgs := collect(g)
		if len(msgs) != c.messages {
			t.Fatalf("span %v: %d messages, want %d", c.span, len(msgs), c.messages)
		}
		count := map[string]int{}
		for i, m := range msgs {
			p := decode(t, m)
			if m.Seq != int64(i+1) || p.Seq != m.Seq {
				t.Errorf("message %d: seq %d (payload %d), want %d", i, m.Seq, p.Seq, i+1)
			}
			if m.Topic != "qingliu/v1/s1/json" {
				t.Errorf("topic %q", m.Topic)
			}
			for k := range p.Values {
				count[k]++
			}
		}
		if count["temp"] != c.temp || count["do"] != c.do || count["nh3n"] != c.nh3n || count["ph"] != 0 {
			t.Errorf("span %v: counts %v, want temp %d do %d nh3n %d", c.span, count, c.temp, c.do, c.nh3n)
		}
		if got := decode(t, msgs[0]).TS; got != c.firstTS {
			t.Errorf("first ts %s, want %s", got, c.firstTS)
		}
		if got := decode(t, msgs[len(msgs)-1]).TS; got != c.lastTS {
			t.Errorf("last ts %s, want %s", got, c.lastTS)
		}
	}
}

func TestGeneratorOrderAndDeterminism(t *testing.T) {
	reg := newTestRegistry()
	start := at(t, "2026-11-26T10:20:00+08:00")
	opt := GeneratorOptions{Start: start, End: start.Add(12 * time.Hour), Malformed: 0.05, Duplicates: 0.05}
	a := collect(NewGenerator(reg.Stations(), NewModel(3, nil, nil, nil), opt))
	b := collect(NewGenerator(reg.Stations(), NewModel(3, nil, nil, nil), opt))
	originals := 0
	for _, m := range a {
		if m.Kind != KindDuplicate {
			originals++
		}
	}
	if originals != 4*12 { // 11:00 … 22:00 for each of 4 stations
		t.Fatalf("%d messages besides duplicates, want 48", originals)
	}
	for i := range a {
		if a[i].Topic != b[i].Topic || !bytes.Equal(a[i].Payload, b[i].Payload) || a[i].Kind != b[i].Kind {
			t.Fatalf("message %d differs between two runs with one seed", i)
		}
		if i > 0 && a[i].Time.Before(a[i-1].Time) {
			t.Fatalf("message %d at %s before message %d at %s", i, a[i].Time, i-1, a[i-1].Time)
		}
	}
	c := collect(NewGenerator(reg.Stations(), NewModel(4, nil, nil, nil), opt))
	if len(c) == len(a) && bytes.Equal(c[0].Payload, a[0].Payload) {
		t.Error("seeds 3 and 4 gave the same first payload")
	}
}

func TestPayloadFormat(t *testing.T) {
	reg := newTestRegistry()
	ts := at(t, "2026-11-26T06:00:00Z") // 14:00 in +08:00
	b := Payload(reg.station("bj-a"), []string{"ph", "do"}, ts, 1042)
	var p payloadV1
	if err := json.Unmarshal(b, &p); err != nil {
		t.Fatalf("%v: %s", err, b)
	}
	if p.TS != "2026-11-26T14:00:00+08:00" || p.Seq != 1042 || len(p.Values) != 2 {
		t.Errorf("payload %s", b)
	}
	if !bytes.HasPrefix(b, []byte(`{"ts":"2026-11-26T14:00:00+08:00","seq":1042,"values":{"do":`)) {
		t.Errorf("payload %s not in the canonical layout", b)
	}
	// bj-c sends conductivity in mS/cm: the value is converted.
	c := reg.station("bj-c")
	var pc payloadV1
	if err := json.Unmarshal(Payload(c, []string{"cond"}, ts, 1), &pc); err != nil {
		t.Fatal(err)
	}
	canonical := NewModel(0, nil, nil, nil).Value(c, "cond", ts)
	if got := pc.Values["cond"].(float64); math.Abs(got-canonical/1000) > 0.0005 {
		t.Errorf("cond sent as %v mS/cm, want %v", got, canonical/1000)
	}
}

func TestEventInGeneratedPayloads(t *testing.T) {
	reg := newTestRegistry()
	start := at(t, "2026-11-26T08:00:00+08:00")
	ev := EventSpec{Station: "bj-a", Param: "nh3n", Start: At{Rel: 0}, Peak: 3.5, Duration: 12 * time.Hour, Rise: 30 * time.Minute}
	m := NewModel(2, []Event{ev.Resolve(start, 0.85)}, nil, reg.Downstream)
	// nh3n is reported every 4 h: 08:00 (front just starting), 12:00, 16:00 …
	g := NewGenerator(reg.Stations(), m, GeneratorOptions{Start: start, End: start.Add(13 * time.Hour)})
	got := map[string]map[string]float64{} // station → local hh:mm → nh3n
	for _, msg := range collect(g) {
		p := decode(t, msg)
		if v, ok := p.Values["nh3n"]; ok {
			if got[msg.Station] == nil {
				got[msg.Station] = map[string]float64{}
			}
			got[msg.Station][msg.Time.In(cst).Format("15:04")] = v.(float64)
		}
	}
	// a at 12:00: plateau ≈ 3.5. b (ETA 2h) at 12:00: ≈ 0.85 of the excess.
	// c (ETA 5h): 12:00 is before its ETA (13:00), 16:00 after.
	if v := got["bj-a"]["12:00"]; math.Abs(v-3.5) > 0.1 {
		t.Errorf("bj-a 12:00 nh3n %v, want about 3.5", v)
	}
	if v := got["bj-b"]["12:00"]; v < 2.8 || v > 3.2 {
		t.Errorf("bj-b 12:00 nh3n %v, want about 0.85 × 3.5", v)
	}
	if v := got["bj-c"]["12:00"]; v > 0.5 {
		t.Errorf("bj-c 12:00 nh3n %v, want the baseline before the ETA", v)
	}
	if v := got["bj-c"]["16:00"]; v < 2.4 || v > 2.8 {
		t.Errorf("bj-c 16:00 nh3n %v, want about 0.85² × 3.5", v)
	}
}

func TestSilentStationStopsPublishing(t *testing.T) {
	reg := newTestRegistry()
	start := at(t, "2026-11-26T00:00:00+08:00")
	sl := SilentSpec{Station: "bj-b", After: At{Rel: 3 * time.Hour}, For: 5 * time.Hour}.Resolve(start)
	g := NewGenerator(reg.Stations(), NewModel(1, nil, nil, nil),
		GeneratorOptions{Start: start, End: start.Add(24 * time.Hour), Silent: []Silent{sl}})
	var hours []int
	var seqs []int64
	for _, m := range collect(g) {
		if m.Station == "bj-b" {
			hours = append(hours, int(m.Time.Sub(start).Hours()))
			seqs = append(seqs, m.Seq)
		}
	}
	if len(hours) != 19 || slices.ContainsFunc(hours, func(h int) bool { return h >= 3 && h < 8 }) {
		t.Errorf("bj-b reported at hours %v, want all but 3..7", hours)
	}
	if seqs[len(seqs)-1] != 19 {
		t.Errorf("seq ends at %d, want 19 (silence takes no sequence numbers)", seqs[len(seqs)-1])
	}
	// Silent for ever.
	g = NewGenerator(reg.Stations(), NewModel(1, nil, nil, nil), GeneratorOptions{Start: start, End: start.Add(24 * time.Hour),
		Silent: []Silent{SilentSpec{Station: "aq-x", After: At{Rel: time.Minute}}.Resolve(start)}})
	n := 0
	for _, m := range collect(g) {
		if m.Station == "aq-x" {
			n++
		}
	}
	if n != 1 {
		t.Errorf("aq-x sent %d messages, want only the one at the start", n)
	}
}

func TestStuckInGeneratedPayloads(t *testing.T) {
	reg := newTestRegistry()
	start := at(t, "2026-11-26T00:00:00+08:00")
	st := StuckSpec{Station: "bj-a", Param: "do", After: At{Rel: 150 * time.Minute}}.Resolve(start)
	g := NewGenerator(reg.Stations(), NewModel(1, nil, []Stuck{st}, reg.Downstream), GeneratorOptions{Start: start, End: start.Add(10 * time.Hour)})
	var do []string
	for _, m := range collect(g) {
		if m.Station == "bj-a" {
			var p struct{ Values map[string]json.RawMessage }
			if err := json.Unmarshal(m.Payload, &p); err != nil {
				t.Fatal(err)
			}
			do = append(do, string(p.Values["do"]))
		}
	}
	// Hours 0, 1, 2 vary; 02:00 is the last report before 02:30, repeated after.
	if do[0] == do[1] && do[1] == do[2] {
		t.Errorf("do constant before the fault: %v", do[:3])
	}
	for i := 3; i < len(do); i++ {
		if do[i] != do[2] {
			t.Errorf("hour %d: do %s, want the stuck %s", i, do[i], do[2])
		}
	}
}

func TestMalformedAndDuplicates(t *testing.T) {
	reg := newTestRegistry()
	start := at(t, "2026-11-26T00:00:00+08:00")
	const frac = 0.05
	g := NewGenerator(reg.Stations(), NewModel(11, nil, nil, nil),
		GeneratorOptions{Start: start, End: start.Add(200 * 24 * time.Hour), Malformed: frac, Duplicates: frac})
	msgs := collect(g)
	originals, bad, dups := 0, 0, 0
	classes := map[Malformation]int{}
	var order []Malformation
	for i, m := range msgs {
		switch m.Kind {
		case KindDuplicate:
			dups++
			prev := msgs[i-1]
			if prev.Kind == KindDuplicate || prev.Topic != m.Topic || !bytes.Equal(prev.Payload, m.Payload) {
				t.Fatalf("duplicate %d is not an identical resend of the message before it", i)
			}
			continue
		case KindMalformed:
			bad++
			classes[m.Malformation]++
			order = append(order, m.Malformation)
			checkMalformed(t, m)
		case KindReading:
			decode(t, m)
		}
		originals++
	}
	// 19 200 originals: binomial sd ≈ 30, so ±5 sd is ±150.
	for what, n := range map[string]int{"malformed": bad, "duplicates": dups} {
		if want := frac * float64(originals); math.Abs(float64(n)-want) > 150 {
			t.Errorf("%s: %d of %d, want about %.0f", what, n, originals, want)
		}
	}
	for i, c := range order {
		if c != Malformation(i%int(numMalformations)) {
			t.Fatalf("malformed message %d is %s, want the classes in turn", i, c)
		}
	}
	if len(classes) != int(numMalformations) {
		t.Errorf("classes seen: %v", classes)
	}
}

// checkMalformed asserts that m is bad in the way its class says.
func checkMalformed(t *testing.T, m Message) {
	t.Helper()
	var p struct {
		TS     string
		Values map[string]any
	}
	err := json.Unmarshal(m.Payload, &p)
	if m.Malformation != MalformedJSON && m.Malformation != EmptyBody && err != nil {
		t.Fatalf("%s: %v: %s", m.Malformation, err, m.Payload)
	}
	switch m.Malformation {
	case MalformedJSON:
		if json.Valid(m.Payload) || len(m.Payload) == 0 {
			t.Errorf("invalid_json payload %q is valid or empty", m.Payload)
		}
	case UnknownParam:
		if _, ok := p.Values["bogus_param"]; !ok {
			t.Errorf("unknown_param payload %s", m.Payload)
		}
	case NonNumeric:
		if !slices.ContainsFunc(slices.Collect(maps.Values(p.Values)), func(v any) bool { _, ok := v.(string); return ok }) {
			t.Errorf("non_numeric payload %s", m.Payload)
		}
	case FutureTime:
		ts, err := time.Parse(time.RFC3339, p.TS)
		if err != nil || ts.Sub(m.Time) < 24*time.Hour {
			t.Errorf("future_ts payload %s for %s", m.Payload, m.Time)
		}
	case UnknownStation:
		if m.Topic == Topic(m.Station) || !strings.HasPrefix(m.Topic, "qingliu/v1/unknown-") {
			t.Errorf("unknown_station topic %s", m.Topic)
		}
	case EmptyBody:
		if len(m.Payload) != 0 {
			t.Errorf("empty_body payload %q", m.Payload)
		}
	case OutOfRange:
		reg := newTestRegistry()
		found := false
		for k, v := range p.Values {
			cp, _ := registry.LookupParam(k)
			f, ok := v.(float64)
			if u := reg.station(m.Station).Units[k]; ok && u != "" {
				f, _ = registry.Convert(f, u, cp.Unit)
			}
			if ok && !cp.Plausible(f) {
				found = true
			}
		}
		if !found {
			t.Errorf("out_of_range payload %s has no impossible value", m.Payload)
		}
	}
}

func TestSyntheticLoad(t *testing.T) {
	sts := SyntheticStations(200, domain.Water)
	if sts[0].ID != "load-0001" || sts[199].ID != "load-0200" {
		t.Fatalf("ids %s … %s", sts[0].ID, sts[199].ID)
	}
	start := at(t, "2026-11-20T00:00:00+08:00")
	const n = 200_000
	perStation := map[string]int{}
	var first []byte
	i := 0
	for m := range Messages(sts, n, start, 42) {
		if i == 0 {
			first = m.Payload
		}
		if i%997 == 0 {
			if p := decode(t, m); len(p.Values) != 7 {
				t.Fatalf("message %d has %d values, want 7", i, len(p.Values))
			}
		}
		perStation[m.Station]++
		i++
	}
	if i != n || len(perStation) != 200 {
		t.Fatalf("%d messages over %d stations", i, len(perStation))
	}
	for id, c := range perStation {
		if c != 1000 {
			t.Fatalf("%s: %d messages, want 1000", id, c)
		}
	}
	for m := range Messages(sts, 1, start, 42) {
		if !bytes.Equal(m.Payload, first) {
			t.Error("Messages is not deterministic")
		}
	}
	air := SyntheticStations(3, domain.Air)
	for m := range Messages(air, 3, start, 1) {
		if p := decode(t, m); len(p.Values) != 6 {
			t.Errorf("air message has %d values", len(p.Values))
		}
	}
}

func BenchmarkGenerate(b *testing.B) {
	sts := SyntheticStations(200, domain.Water)
	g := NewGenerator(sts, NewModel(1, nil, nil, nil), GeneratorOptions{Start: time.Unix(0, 0)})
	for b.Loop() {
		g.Next()
	}
}
