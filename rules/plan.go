package rules

import (
	"cmp"
	"maps"
	"slices"
	"time"

	"github.com/qingliu/qingliu/registry"
	"github.com/qingliu/qingliu/standards"
	"github.com/qingliu/qingliu/standards/water"
)

// stationPlan is what the Set does with one station's readings: the
// parameters it tracks (with the mean windows the rules need) and the rule
// bindings, pre-computed so that evaluating a reading allocates nothing.
type stationPlan struct {
	idx         int
	st          *registry.Station
	city        string // attributed jurisdiction
	slot        map[string]int
	params      []paramPlan
	bindings    []binding
	techBySlot  [][]int // range and stuck bindings per parameter slot
	eval        []int   // threshold, rate, water-class bindings
	aqi         []int   // aqi bindings (hourly and daily)
	dead        []int   // deadman bindings
	maint       []maintWindow
	classItems  water.ItemSet // the section's evaluated GB 3838 items (class_items); zero is the default
	hops        []registry.Hop
	crossBorder bool
	maxWindow   time.Duration
}

type paramPlan struct {
	key       string
	interval  time.Duration
	windows   []time.Duration // distinct mean windows: one aggregator each
	maxWindow time.Duration
	// tolerance is the largest change still counted as identical by the
	// stuck rules on this parameter (the smallest of theirs).
	tolerance float64
	hasStuck  bool
}

// binding is one rule applied to one station (and parameter): one alert
// series with a stable id.
type binding struct {
	r     *rule
	id    string
	param string // the transition's parameter
	slot  int    // parameter slot, -1 for a station-wide series
	agg   int    // aggregator of the window, -1 for latest
	// interval is the expected reporting interval (deadman) and the default
	// max age of a latest value (water-class).
	interval time.Duration
	lim      [2]float64
	items    []itemRef // water-class
	pol      [numPollutants]int
	daily    bool // aqi: the persistence series
}

type itemRef struct {
	slot, agg int
	maxAge    time.Duration
}

func (p *stationPlan) ensureSlot(key string) int {
	if i, ok := p.slot[key]; ok {
		return i
	}
	p.params = append(p.params, paramPlan{key: key, interval: p.st.Interval(key)})
	p.slot[key] = len(p.params) - 1
	return len(p.params) - 1
}

func (p *stationPlan) addWindow(slot int, d time.Duration) {
	pp := &p.params[slot]
	if d > 0 && !slices.Contains(pp.windows, d) {
		pp.windows = append(pp.windows, d)
	}
	pp.maxWindow = max(pp.maxWindow, d)
}

// bind adds the series of rule r at this station.
func (p *stationPlan) bind(r *rule, std *standards.Set) {
	st := p.st
	base := r.name + "/" + st.ID
	add := func(b binding) { p.bindings = append(p.bindings, b) }
	switch r.k {
	case kThreshold:
		s := p.ensureSlot(r.param)
		p.addWindow(s, r.window)
		add(binding{r: r, id: base + "/" + r.param, param: r.param, slot: s})
	case kRate:
		s := p.ensureSlot(r.param)
		p.addWindow(s, r.window)
		add(binding{r: r, id: base + "/" + r.param, param: r.param, slot: s})
	case kStuck, kRange:
		params := r.params
		if len(params) == 0 {
			params = slices.Sorted(maps.Keys(st.Params))
		}
		for _, k := range params {
			if !st.Reports(k) {
				continue
			}
			b := binding{r: r, id: base + "/" + k, param: k, slot: p.ensureSlot(k)}
			if r.k == kRange {
				b.lim = r.limits[k]
			} else {
				pp := &p.params[b.slot]
				if !pp.hasStuck || r.tolerance < pp.tolerance {
					pp.tolerance = r.tolerance
				}
				pp.hasStuck = true
			}
			add(b)
		}
	case kDeadman:
		if r.stationScope {
			var iv time.Duration
			for _, d := range st.Params {
				if iv == 0 || d < iv {
					iv = d
				}
			}
			add(binding{r: r, id: base, slot: -1, interval: iv})
			return
		}
		params := r.params
		if len(params) == 0 {
			params = slices.Sorted(maps.Keys(st.Params))
		}
		for _, k := range params {
			if st.Reports(k) {
				add(binding{r: r, id: base + "/" + k, param: k, slot: p.ensureSlot(k), interval: st.Interval(k)})
			}
		}
	case kWaterClass:
		b := binding{r: r, id: base, slot: -1}
		for _, k := range slices.Sorted(maps.Keys(st.Params)) {
			it, ok := std.Water.Item(k)
			if !ok || !it.Classed || (it.LakeOnly && !st.Lake) {
				continue
			}
			s := p.ensureSlot(k)
			p.addWindow(s, r.window)
			age := r.maxAge
			if age == 0 {
				age = 2 * st.Interval(k)
			}
			b.items = append(b.items, itemRef{slot: s, maxAge: age})
		}
		if len(b.items) > 0 {
			add(b)
		}
	case kAQI:
		b := binding{r: r, id: base + "/aqi", param: "aqi", slot: -1}
		for i, k := range pollutants {
			b.pol[i] = -1
			if st.Reports(k) {
				b.pol[i] = p.ensureSlot(k)
			}
		}
		add(b)
		if r.daily {
			d := b
			d.id, d.param, d.daily = base+"/aqi_daily", "aqi_daily", true
			add(d)
		}
	}
}

// finish orders the bindings, assigns aggregators and indexes them by role.
func (p *stationPlan) finish() {
	order := func(b *binding) int {
		switch b.r.k {
		case kRange:
			return 0
		case kStuck:
			return 1
		case kDeadman:
			return 3
		}
		return 2
	}
	slices.SortStableFunc(p.bindings, func(a, b binding) int { return cmp.Compare(order(&a), order(&b)) })
	p.techBySlot = make([][]int, len(p.params))
	aggOf := func(slot int, d time.Duration) int {
		if d == 0 {
			return -1
		}
		return slices.Index(p.params[slot].windows, d)
	}
	for i := range p.bindings {
		b := &p.bindings[i]
		switch b.r.k {
		case kRange, kStuck:
			p.techBySlot[b.slot] = append(p.techBySlot[b.slot], i)
		case kDeadman:
			p.dead = append(p.dead, i)
		case kAQI:
			p.aqi = append(p.aqi, i)
		case kWaterClass:
			for j := range b.items {
				b.items[j].agg = aggOf(b.items[j].slot, b.r.window)
			}
			p.eval = append(p.eval, i)
		default:
			b.agg = aggOf(b.slot, b.r.window)
			p.eval = append(p.eval, i)
		}
	}
	for _, pp := range p.params {
		p.maxWindow = max(p.maxWindow, pp.maxWindow)
	}
}

// inMaintenance reports whether t (unix nanos) is inside a maintenance
// window of the station, from rules.yaml or given at run time.
func inMaintenance(ws []maintWindow, t int64) bool {
	for i := range ws {
		if t >= ws[i].from.UnixNano() && t < ws[i].to.UnixNano() {
			return true
		}
	}
	return false
}
