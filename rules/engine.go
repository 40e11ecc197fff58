package rules

import (
	"math"
	"slices"
	"time"

	"github.com/qingliu/qingliu/domain"
	"github.com/qingliu/qingliu/standards/aqi"
	"github.com/qingliu/qingliu/standards/water"
)

// Engine evaluates a Set over a stream of readings. It is the pure core of
// the rules stage: its state is a function of the readings given to Process
// (in that order) and of the times given to Process and Tick; it reads no
// clock, does no I/O and starts no goroutine. It is not safe for concurrent
// use: the stage owns it from one goroutine.
//
// Time is observation time. Each station has a watermark (the latest
// observation evaluated); a reading at or before it is late: it enters the
// means but never resolves or lowers an alert, and never counts as fresh
// data for a silent station. The engine clock for silence and hold timers is
// the latest observation time seen from any station, advanced by the
// processing time that passed since (so that silence is noticed when the
// whole stream stops).
type Engine struct {
	set *Set
	st  []stationState

	watermark  int64 // latest observation time from any station
	advancedAt int64 // processing time when it last advanced
	origin     int64 // first observation time seen: stations never heard from are silent since then

	prop     map[string]*propSeries // pre-warnings and joint warnings by alert id
	groups   map[string]*propGroup  // travelling events by originating alert id
	bySource map[string]*propGroup  // events by the alert id of each of their sources
	nextHold int64

	dyn map[string][]maintWindow // maintenance windows given at run time

	// ignoreUnseen: a station never heard from is not reported silent
	// (offline tests that feed a few stations).
	ignoreUnseen bool

	series SeriesSink

	out        []domain.Transition
	now        time.Time
	vals       map[string]float64 // scratch for water classification and AQI
	wres       water.Result
	whenE      Env
	meanBuf    [24]aqi.Mean
	aqiStd     string
	whenErrors int
}

// NewEngine returns an engine with empty state for set.
func NewEngine(set *Set) *Engine {
	e := &Engine{set: set, prop: map[string]*propSeries{}, groups: map[string]*propGroup{}, bySource: map[string]*propGroup{},
		vals: make(map[string]float64, 32), dyn: map[string][]maintWindow{}}
	e.st = newStates(set)
	return e
}

func newStates(set *Set) []stationState {
	st := make([]stationState, len(set.plans))
	for i, p := range set.plans {
		st[i] = newStationState(p)
	}
	return st
}

func newStationState(p *stationPlan) stationState {
	ss := stationState{params: make([]paramState, len(p.params)), series: make([]series, len(p.bindings))}
	for j := range p.params {
		for _, d := range p.params[j].windows {
			ss.params[j].aggs = append(ss.params[j].aggs, agg{d: int64(d)})
		}
	}
	if len(p.aqi) > 0 {
		ss.aqi = &aqiState{cur: -1, lastClosed: -1, dayClosed: -1}
	}
	return ss
}

// IgnoreUnseen stops the engine reporting as silent the stations and
// parameters it never received a reading from. `qingliu rules test` uses it,
// where a file feeds only the stations of interest; the stage does not.
func (e *Engine) IgnoreUnseen() { e.ignoreUnseen = true }

// Set returns the rules the engine evaluates.
func (e *Engine) Set() *Set { return e.set }

// SetMaintenance replaces the maintenance windows given at run time (those
// of rules.yaml stay). Readings observed inside a window are not evaluated
// and a station in maintenance is not reported silent.
func (e *Engine) SetMaintenance(ws []Maintenance) {
	e.dyn = map[string][]maintWindow{}
	for _, w := range ws {
		e.dyn[w.Station] = append(e.dyn[w.Station], maintWindow{from: w.From, to: w.To, reason: w.Reason})
	}
}

func (e *Engine) inMaint(p *stationPlan, t int64) bool {
	return inMaintenance(p.maint, t) || (len(e.dyn) > 0 && inMaintenance(e.dyn[p.st.ID], t))
}

// maintEnd returns the end of the latest maintenance window of the station
// that ends after since and starts before until, or since.
func (e *Engine) maintEnd(p *stationPlan, since, until int64) int64 {
	end := since
	for _, ws := range [2][]maintWindow{p.maint, e.dyn[p.st.ID]} {
		for _, w := range ws {
			if f, t := w.from.UnixNano(), w.to.UnixNano(); f < until && t > end {
				end = t
			}
		}
	}
	return end
}

// Process evaluates one reading observed at r.Time; now is the processing
// time (recorded in transitions and used to advance the engine clock). It
// returns the transitions the reading caused, in order. The returned slice
// is reused by the next call to Process or Tick.
func (e *Engine) Process(r *domain.Reading, now time.Time) []domain.Transition {
	e.out = e.out[:0]
	e.now = now
	p, ok := e.set.byID[r.Station]
	if !ok {
		return nil
	}
	ss := &e.st[p.idx]
	t := r.Time.UnixNano()
	if e.origin == 0 || t < e.origin {
		e.origin = t
	}
	if t > e.watermark {
		e.watermark, e.advancedAt = t, now.UnixNano()
	}
	if e.inMaint(p, t) {
		ss.seen = max(ss.seen, t)
		return e.out
	}
	late := t <= ss.watermark
	if !late {
		ss.watermark = t
	}
	e.deadmanOnReading(p, ss, r, t)
	ss.seen = max(ss.seen, t)

	for slot := range p.params {
		pp := &p.params[slot]
		ps := &ss.params[slot]
		ps.fresh = false
		v, ok := r.Values[pp.key]
		if !ok {
			continue
		}
		ps.seen = max(ps.seen, t)
		if len(r.Flags) > 0 && !r.Flag(pp.key).Usable() {
			continue
		}
		if !late {
			// The run of identical values, for the stuck rules.
			if ps.runN > 0 && math.Abs(v-ps.runV) <= p.params[slot].tolerance {
				ps.runN++
			} else {
				ps.runV, ps.runN, ps.runStart = v, 1, t
			}
		}
		for _, bi := range p.techBySlot[slot] {
			e.evalTechnical(p, ss, bi, ps, t, v, late)
		}
		if ps.excl > 0 {
			continue
		}
		ps.insert(t, v, int64(pp.maxWindow))
		ps.fresh = true
	}
	for _, bi := range p.eval {
		e.evalValue(p, ss, bi, r, t, late)
	}
	if ss.aqi != nil {
		e.feedAQI(p, ss, r, t)
	}
	if e.nextHold != 0 && e.watermark >= e.nextHold {
		e.expireHolds(e.watermark)
	}
	return e.out
}

// Tick advances the engine clock to now (processing time) and reports what
// only the passing of time can cause: stations and parameters silent for too
// long, and pre-warnings whose hold has run out. The returned slice is
// reused by the next call to Process or Tick.
func (e *Engine) Tick(now time.Time) []domain.Transition {
	e.out = e.out[:0]
	e.now = now
	clock := e.clock(now)
	if clock == 0 {
		return e.out
	}
	for _, p := range e.set.plans {
		ss := &e.st[p.idx]
		for _, bi := range p.dead {
			b := &p.bindings[bi]
			s := &ss.series[bi]
			if s.status == domain.Firing {
				continue
			}
			last := ss.seen
			if b.slot >= 0 {
				last = ss.params[b.slot].seen
			}
			if last == 0 {
				if e.ignoreUnseen {
					continue
				}
				last = e.origin
			}
			allowed := int64(b.r.factor * float64(b.interval))
			from := e.maintEnd(p, last, clock)
			if clock-from > allowed && !e.inMaint(p, clock) {
				e.fireDeadman(p, b, s, from, from+allowed, clock)
			}
		}
	}
	if e.nextHold != 0 && clock >= e.nextHold {
		e.expireHolds(clock)
	}
	return e.out
}

// clock is the engine clock: the watermark advanced by the processing time
// since it last moved.
func (e *Engine) clock(now time.Time) int64 {
	if e.watermark == 0 {
		return 0
	}
	if d := now.UnixNano() - e.advancedAt; d > 0 {
		return e.watermark + d
	}
	return e.watermark
}

// deadmanOnReading resolves silence alerts on fresh data, and reports a gap
// longer than allowed that this reading closes (fire, then resolve), so that
// the result does not depend on how often Tick ran.
func (e *Engine) deadmanOnReading(p *stationPlan, ss *stationState, r *domain.Reading, t int64) {
	for _, bi := range p.dead {
		b := &p.bindings[bi]
		s := &ss.series[bi]
		last := ss.seen
		if b.slot >= 0 {
			if _, ok := r.Values[b.param]; !ok {
				continue
			}
			last = ss.params[b.slot].seen
		}
		if t <= last {
			continue // late: backfilled data never clears a silence
		}
		allowed := int64(b.r.factor * float64(b.interval))
		// Fresh data: observed after the silence was declared, and recent.
		// Backfilled readings of the silent period never clear it.
		fresh := t > s.at && e.watermark-t <= allowed
		if s.status != domain.Firing && last != 0 {
			if from := e.maintEnd(p, last, t); t-from > allowed {
				e.fireDeadman(p, b, s, from, from+allowed, t)
			}
		}
		if s.status == domain.Firing && fresh {
			prev := s.level
			s.status, s.value, s.at = domain.Inactive, float64(t-last)/1e9, t
			e.emit(p, b, s, domain.Resolved, domain.None, prev, verdict{t: t, value: s.value, threshold: float64(allowed) / 1e9, ev: evidenceOf(p.st.ID, b.param, t, 0, false)})
		}
	}
}

func (e *Engine) fireDeadman(p *stationPlan, b *binding, s *series, last, at, clock int64) {
	s.status, s.level, s.at = domain.Firing, domain.Blue, at
	s.value = float64(clock-last) / 1e9
	allowed := int64(b.r.factor * float64(b.interval))
	e.emit(p, b, s, domain.Firing, domain.None, domain.None, verdict{t: at, value: s.value, threshold: float64(allowed) / 1e9, since: last})
}

// evalTechnical runs the range and stuck rules on one value before it may
// enter evaluation; while one fires, the parameter's values are excluded.
func (e *Engine) evalTechnical(p *stationPlan, ss *stationState, bi int, ps *paramState, t int64, v float64, late bool) {
	b := &p.bindings[bi]
	s := &ss.series[bi]
	var vd verdict
	vd.t, vd.value, vd.late = t, v, late
	switch b.r.k {
	case kRange:
		if v < b.lim[0] || v > b.lim[1] {
			vd.raw = domain.Blue
			vd.threshold = b.lim[1]
			if v < b.lim[0] {
				vd.threshold = b.lim[0]
			}
		}
		vd.one = true
	case kStuck:
		if late {
			return
		}
		r := b.r
		if (r.count > 0 && ps.runN >= r.count) || (r.duration > 0 && ps.runN >= 2 && t-ps.runStart >= int64(r.duration)) {
			vd.raw = domain.Blue
		}
		vd.threshold = float64(r.count)
		vd.since = ps.runStart
		vd.one = true
	}
	was := s.status == domain.Firing
	e.step(p, b, s, vd)
	if is := s.status == domain.Firing; is != was {
		if is {
			ps.excl++
		} else {
			ps.excl--
		}
	}
}

// evalValue runs a threshold, rate or water-class rule after a reading.
func (e *Engine) evalValue(p *stationPlan, ss *stationState, bi int, r *domain.Reading, t int64, late bool) {
	b := &p.bindings[bi]
	s := &ss.series[bi]
	rl := b.r
	vd := verdict{t: t, late: late}
	switch rl.k {
	case kThreshold:
		ps := &ss.params[b.slot]
		if !ps.fresh || (late && rl.window == 0) {
			return
		}
		if b.agg < 0 {
			last, _ := ps.last()
			vd.value = last.V
		} else {
			m, n := ps.mean(b.agg)
			if n < rl.minSamples {
				return
			}
			vd.value = m
		}
		vd.raw, vd.threshold = rl.levelFor(vd.value, s)
		if vd.raw > 0 && rl.dsRaise > 0 && p.st.DrinkingSource {
			vd.raw = vd.raw.Raise(rl.dsRaise)
		}
	case kRate:
		ps := &ss.params[b.slot]
		if !ps.fresh || b.agg < 0 {
			return
		}
		a := &ps.aggs[b.agg]
		last, _ := ps.last()
		if a.n < 2 || a.start >= len(ps.s) {
			return
		}
		first := ps.s[a.start]
		dt := last.T - first.T
		if dt <= 0 {
			return
		}
		vd.value = (last.V - first.V) / float64(dt) * float64(rl.per)
		vd.raw, vd.threshold = rl.levelFor(vd.value, s)
		if vd.raw > 0 && rl.dsRaise > 0 && p.st.DrinkingSource {
			vd.raw = vd.raw.Raise(rl.dsRaise)
		}
		vd.since = first.T
	case kWaterClass:
		if !e.classify(p, ss, b, t, late, &vd) {
			return
		}
	default:
		return
	}
	if vd.raw > domain.None && rl.when != nil && !e.when(rl, p, r, vd.value, t) {
		vd.raw = domain.None
	}
	e.step(p, b, s, vd)
}

// classify computes the GB 3838 class of the section from the rule's window
// and maps it onto a level. It reports false when there is nothing to
// evaluate.
func (e *Engine) classify(p *stationPlan, ss *stationState, b *binding, t int64, late bool, vd *verdict) bool {
	rl := b.r
	fresh := false
	for _, it := range b.items {
		fresh = fresh || ss.params[it.slot].fresh
	}
	if !fresh || (late && rl.window == 0) {
		return false
	}
	clear(e.vals)
	for _, it := range b.items {
		ps := &ss.params[it.slot]
		key := p.params[it.slot].key
		if it.agg < 0 {
			if last, ok := ps.last(); ok && t-last.T <= int64(it.maxAge) {
				e.vals[key] = last.V
			}
			continue
		}
		if m, n := ps.mean(it.agg); n >= rl.minSamples {
			e.vals[key] = m
		}
	}
	target := water.Class(p.st.TargetClass)
	if err := e.set.std.Water.ClassifyInto(&e.wres, e.vals, water.Options{Target: target, Lake: p.st.Lake, Items: p.classItems}); err != nil || e.wres.Class == water.None {
		return false
	}
	if e.series != nil {
		res := e.wres
		res.Items = slices.Clone(res.Items)
		e.series.WaterClass(WaterClassPoint{Station: p.st.ID, Time: tm(t), Window: rl.windowName(), Rule: rl.name, Result: res})
	}
	vd.value = float64(e.wres.Class)
	vd.threshold = float64(target)
	vd.raw = e.set.std.Severity.Water(e.wres.Class, target, e.wres.MaxMultiple(), p.st.DrinkingSource)
	vd.class = true
	return true
}

// levelFor maps a value onto a level with hysteresis: levels above the
// series' current one need their trigger threshold, levels up to it are
// held until the value crosses back over their clear threshold. It returns
// the level and the threshold that decided it.
func (r *rule) levelFor(v float64, s *series) (domain.Level, float64) {
	cur := domain.None
	if s.status != domain.Inactive {
		cur = s.level
	}
	best, thr := domain.None, 0.0
	for _, l := range r.levels {
		b := r.trig[l]
		if l <= cur {
			b = r.clr[l]
		}
		if r.beyond(v, b) {
			best, thr = l, r.trig[l].Lo
			if r.dir == dirOutside && v > b.Hi {
				thr = r.trig[l].Hi
			}
		}
	}
	if best == domain.None && len(r.levels) > 0 {
		l := r.levels[0]
		thr = r.trig[l].Lo
		if r.dir == dirOutside && v > (r.trig[l].Lo+r.trig[l].Hi)/2 {
			thr = r.trig[l].Hi
		}
	}
	return best, thr
}

// beyond reports whether v is past bound b: strictly past a trigger,
// and past (not at) a clear threshold to stay held.
func (r *rule) beyond(v float64, b Bound) bool {
	switch r.dir {
	case dirAbove, dirRise:
		return v > b.Lo
	case dirBelow:
		return v < b.Lo
	case dirFall:
		return -v > b.Lo
	case dirEither:
		return math.Abs(v) > b.Lo
	case dirOutside:
		return v < b.Lo || v > b.Hi
	}
	return false
}

// verdict is one evaluation of a series' condition.
type verdict struct {
	raw       domain.Level // level the condition calls for; technical rules use Blue for "true"
	value     float64
	threshold float64
	t         int64
	since     int64 // start of the run, span or silence the value is about
	late      bool
	class     bool // water-class: value is a class
	one       bool // the evidence is this one value (built only on a transition)
	ev        []domain.Evidence
}

// step is the alert state machine: inactive → pending → firing, escalation
// at once, de-escalation and resolution only after the condition has been
// below the current level for clear_for (then to the level the latest
// evaluation calls for), and never on late data.
func (e *Engine) step(p *stationPlan, b *binding, s *series, v verdict) {
	r := b.r
	forH, clearH := r.forH, r.clearH
	if b.daily {
		forH, clearH = Hold{}, Hold{}
	}
	s.value, s.at = v.value, v.t
	switch s.status {
	case domain.Inactive:
		if v.raw == domain.None {
			return
		}
		if forH.D == 0 && forH.N <= 1 {
			s.status, s.level = domain.Firing, v.raw
			s.clrCount = 0
			e.emit(p, b, s, domain.Firing, v.raw, domain.None, v)
			return
		}
		s.status, s.level, s.since, s.count = domain.Pending, v.raw, v.t, 1
		e.emit(p, b, s, domain.Pending, v.raw, domain.None, v)
	case domain.Pending:
		if v.raw == domain.None {
			if v.late {
				return
			}
			prev := s.level
			s.status, s.level = domain.Inactive, domain.None
			e.emit(p, b, s, domain.Resolved, domain.None, prev, v)
			return
		}
		s.count++
		s.level = v.raw
		if v.t-s.since >= int64(forH.D) && s.count >= forH.N {
			s.status, s.clrCount = domain.Firing, 0
			v.since = s.since
			e.emit(p, b, s, domain.Firing, v.raw, domain.None, v)
		}
	case domain.Firing:
		switch {
		case v.raw > s.level:
			prev := s.level
			s.level, s.clrCount = v.raw, 0
			e.emit(p, b, s, domain.Firing, v.raw, prev, v)
		case v.raw == s.level:
			s.clrCount = 0
		case v.late:
			return
		default:
			if s.clrCount == 0 {
				s.clrSince, s.clrMax = v.t, v.raw
			}
			s.clrCount++
			s.clrMax = max(s.clrMax, v.raw)
			if v.t-s.clrSince < int64(clearH.D) || s.clrCount < clearH.N {
				return
			}
			// Lower to what the latest evaluation calls for.
			prev, to := s.level, v.raw
			s.clrCount = 0
			v.since = s.clrSince
			if to == domain.None {
				s.status, s.level = domain.Inactive, domain.None
				e.emit(p, b, s, domain.Resolved, domain.None, prev, v)
				return
			}
			s.level = to
			e.emit(p, b, s, domain.Firing, to, prev, v)
		}
	}
}
