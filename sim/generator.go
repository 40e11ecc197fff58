package sim

import (
	"container/heap"
	"iter"
	"maps"
	"math/rand/v2"
	"slices"
	"strconv"
	"time"

	"github.com/qingliu/qingliu/registry"
)

// Message is one MQTT message of the simulation.
type Message struct {
	Station string    // the station whose schedule produced it
	Topic   string    // normally Topic(Station)
	Time    time.Time // the simulated instant it reports
	Seq     int64     // the station's sequence number, from 1
	Payload []byte
	Kind    Kind
	// Malformation is the class of a KindMalformed message.
	Malformation Malformation
}

// GeneratorOptions shape the stream of a Generator.
type GeneratorOptions struct {
	// Start is the first instant reported (inclusive); End, when not zero,
	// the first instant no longer reported.
	Start, End time.Time
	// Silent windows suppress a station's messages (they take no sequence
	// number: the device is off line).
	Silent []Silent
	// Malformed is the fraction of messages replaced by a malformed one, the
	// classes taken in turn; Duplicates the fraction of messages sent twice.
	Malformed, Duplicates float64
}

// Generator yields the messages of a set of stations in simulated-time
// order: at each instant where some of a station's parameters are due (their
// intervals aligned on local midnight), one message with every parameter due.
// Ties are broken by station id. For a given model, stations and options the
// sequence is always the same. A Generator is not safe for concurrent use.
type Generator struct {
	model  *Model
	opt    GeneratorOptions
	q      schedQueue
	silent map[string][]Silent
	rng    *rand.Rand
	dup    *Message
	nBad   uint64 // malformed messages so far, for the class rotation
}

// NewGenerator returns a generator over stations (parameters with a zero
// interval and stations without parameters are skipped).
func NewGenerator(stations []*registry.Station, model *Model, opt GeneratorOptions) *Generator {
	opt.Start = opt.Start.Round(0)
	opt.End = opt.End.Round(0)
	g := &Generator{
		model:  model,
		opt:    opt,
		silent: map[string][]Silent{},
		rng:    rand.New(rand.NewPCG(model.seed, mix(model.seed^0x51a7))),
	}
	for _, s := range opt.Silent {
		g.silent[s.Station] = append(g.silent[s.Station], s)
	}
	sorted := slices.Clone(stations)
	slices.SortFunc(sorted, func(a, b *registry.Station) int {
		switch {
		case a.ID < b.ID:
			return -1
		case a.ID > b.ID:
			return 1
		}
		return 0
	})
	for _, st := range sorted {
		s := &sched{st: st, rank: len(g.q)}
		for _, p := range slices.Sorted(maps.Keys(st.Params)) {
			if d := st.Params[p]; d > 0 {
				s.params = append(s.params, p)
				s.every = append(s.every, d)
			}
		}
		if len(s.params) == 0 {
			continue
		}
		s.next = s.nextFrom(opt.Start)
		g.q = append(g.q, s)
	}
	heap.Init(&g.q)
	return g
}

// Next returns the next message, or false when the stream has ended.
func (g *Generator) Next() (Message, bool) {
	if g.dup != nil {
		m := *g.dup
		g.dup = nil
		return m, true
	}
	for len(g.q) > 0 {
		s := g.q[0]
		t := s.next
		if !g.opt.End.IsZero() && !t.Before(g.opt.End) {
			return Message{}, false
		}
		s.next = s.nextFrom(t.Add(time.Nanosecond))
		heap.Fix(&g.q, 0)
		if g.silenced(s.st.ID, t) {
			continue
		}
		s.seq++
		m := g.message(s, t)
		if g.opt.Duplicates > 0 && g.rng.Float64() < g.opt.Duplicates {
			d := m
			d.Kind = KindDuplicate
			g.dup = &d
		}
		return m, true
	}
	return Message{}, false
}

func (g *Generator) silenced(station string, t time.Time) bool {
	for _, s := range g.silent[station] {
		if s.covers(t) {
			return true
		}
	}
	return false
}

// message builds the report of s at t, or its malformed replacement.
func (g *Generator) message(s *sched, t time.Time) Message {
	params := s.due(t)
	m := Message{Station: s.st.ID, Topic: Topic(s.st.ID), Time: t, Seq: s.seq, Kind: KindReading}
	fs := g.model.fields(s.st, params, t)
	if g.opt.Malformed <= 0 || g.rng.Float64() >= g.opt.Malformed {
		m.Payload = encode(t, s.seq, fs)
		return m
	}
	m.Kind = KindMalformed
	m.Malformation = Malformation(g.nBad % uint64(numMalformations))
	g.nBad++
	i := g.rng.IntN(len(fs))
	switch m.Malformation {
	case MalformedJSON:
		p := encode(t, s.seq, fs)
		m.Payload = p[:len(p)/2]
	case UnknownParam:
		m.Payload = encode(t, s.seq, append(fs, field{"bogus_param", "1.5"}))
	case NonNumeric:
		fs[i].raw = `"n/a"`
		m.Payload = encode(t, s.seq, fs)
	case FutureTime:
		m.Payload = encode(t.Add(30*24*time.Hour), s.seq, fs)
	case UnknownStation:
		id := "unknown-" + s.st.ID
		m.Topic = Topic(id[:min(len(id), 64)])
		m.Payload = encode(t, s.seq, fs)
	case EmptyBody:
		m.Payload = []byte{}
	case OutOfRange:
		fs[i].raw = impossible(s.st, fs[i].key)
		m.Payload = encode(t, s.seq, fs)
	}
	return m
}

// impossible renders a physically impossible value of param: ten times the
// top of its catalogue range, or a negative sentinel.
func impossible(st *registry.Station, param string) string {
	if p, ok := lookupParam(param); ok && p.Max > 0 {
		v, _, _ := deviceValue(st, param, 10*p.Max)
		return strconv.FormatFloat(v, 'g', 6, 64)
	}
	return "-9999"
}

// Messages yields the first n messages of stations from start with the
// baseline model of seed, no injections: the input of load benchmarks and
// tests. The timestamps advance by the stations' intervals, so a load test
// that must not look like the future to ingest should start at least
// n/len(stations) intervals in the past.
func Messages(stations []*registry.Station, n int, start time.Time, seed uint64) iter.Seq[Message] {
	return func(yield func(Message) bool) {
		g := NewGenerator(stations, NewModel(seed, nil, nil, nil), GeneratorOptions{Start: start})
		for range n {
			m, ok := g.Next()
			if !ok || !yield(m) {
				return
			}
		}
	}
}

// sched is one station's position in the schedule.
type sched struct {
	st     *registry.Station
	params []string
	every  []time.Duration
	next   time.Time
	seq    int64
	rank   int // position by station id, for ties
}

// nextFrom is the first instant at or after t when some parameter is due.
func (s *sched) nextFrom(t time.Time) time.Time {
	var next time.Time
	for _, d := range s.every {
		n := lastDue(t, d)
		if n.Before(t) {
			n = n.Add(d)
		}
		if next.IsZero() || n.Before(next) {
			next = n
		}
	}
	return next
}

// due lists the parameters due at t.
func (s *sched) due(t time.Time) []string {
	out := make([]string, 0, len(s.params))
	for i, p := range s.params {
		if lastDue(t, s.every[i]).Equal(t) {
			out = append(out, p)
		}
	}
	return out
}

// schedQueue is a min-heap of stations by next instant, then rank.
type schedQueue []*sched

func (q schedQueue) Len() int { return len(q) }
func (q schedQueue) Less(i, j int) bool {
	if !q[i].next.Equal(q[j].next) {
		return q[i].next.Before(q[j].next)
	}
	return q[i].rank < q[j].rank
}
func (q schedQueue) Swap(i, j int) { q[i], q[j] = q[j], q[i] }
func (q *schedQueue) Push(x any)   { *q = append(*q, x.(*sched)) }
func (q *schedQueue) Pop() any {
	old := *q
	x := old[len(old)-1]
	*q = old[:len(old)-1]
	return x
}
