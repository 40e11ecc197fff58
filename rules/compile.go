package rules

import (
	"cmp"
	"fmt"
	"hash/fnv"
	"maps"
	"math"
	"regexp"
	"slices"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/qingliu/qingliu/domain"
	"github.com/qingliu/qingliu/internal/conf"
	"github.com/qingliu/qingliu/registry"
	"github.com/qingliu/qingliu/standards"
	"github.com/qingliu/qingliu/standards/aqi"
	"github.com/qingliu/qingliu/standards/water"
)

// Rule kinds (the kind: field).
const (
	KindWaterClass  = "water-class"
	KindAQI         = "aqi"
	KindThreshold   = "threshold"
	KindRate        = "rate"
	KindDeadman     = "deadman"
	KindStuck       = "stuck"
	KindRange       = "range"
	KindPropagation = "propagation" // pre-warnings downstream
	KindJoint       = "joint"       // joint warnings
)

var ruleKinds = []string{KindWaterClass, KindAQI, KindThreshold, KindRate, KindDeadman, KindStuck, KindRange}

type kind uint8

const (
	kWaterClass kind = iota + 1
	kAQI
	kThreshold
	kRate
	kDeadman
	kStuck
	kRange
)

var kindOf = map[string]kind{
	KindWaterClass: kWaterClass, KindAQI: kAQI, KindThreshold: kThreshold, KindRate: kRate,
	KindDeadman: kDeadman, KindStuck: kStuck, KindRange: kRange,
}

type direction uint8

const (
	dirAbove direction = iota + 1
	dirBelow
	dirOutside
	dirRise
	dirFall
	dirEither
)

// pollutants are the air parameters that enter an AQI.
var pollutants = [...]string{"so2", "no2", "co", "o3", "pm10", "pm25"}

const (
	pSO2 = iota
	pNO2
	pCO
	pO3
	pPM10
	pPM25
	numPollutants
)

// rule is one compiled rule. It is immutable.
type rule struct {
	name, kindName string
	k              kind
	technical      bool
	fingerprint    uint64
	param          string
	params         []string
	window         time.Duration // 0: latest
	minSamples     int
	maxAge         time.Duration
	dir            direction
	levels         []domain.Level // configured levels, ascending
	trig, clr      [domain.Red + 1]Bound
	per            time.Duration
	forH, clearH   Hold
	dsRaise        int
	when           *whenProgram
	factor         float64
	stationScope   bool
	count          int
	duration       time.Duration
	tolerance      float64
	limits         map[string][2]float64
	daily          bool
	pm24h          map[*aqi.Version]bool
}

// windowName is the rule's window as shown in transitions.
func (r *rule) windowName() string {
	switch {
	case r.k == kRate:
		return fmtDuration(r.window)
	case r.window == 0:
		return "latest"
	}
	return fmtDuration(r.window) + " mean"
}

// maintWindow is a maintenance window of one station.
type maintWindow struct {
	from, to time.Time
	reason   string
}

// Maintenance is a maintenance window given at run time (by the alert
// service's API); windows from rules.yaml are part of the Set.
type Maintenance struct {
	Station  string
	From, To time.Time
	Reason   string
}

type propagation struct {
	name        string
	from        map[*rule]bool
	minLevel    domain.Level
	offset      int
	horizon     time.Duration
	hold        time.Duration
	crossBorder bool
	cityBorder  bool
	intake      bool
	tolerance   float64
	minTol      time.Duration
	raise       int
}

// Set is a compiled rules file: every rule bound to the stations it
// selects. It is immutable and safe for concurrent use; an Engine evaluates
// it, and a reload swaps in a new Set.
type Set struct {
	file          string
	reg           *registry.Registry
	std           *standards.Set
	jurisdictions []string
	rules         []*rule
	plans         []*stationPlan // sorted by station id
	byID          map[string]*stationPlan
	prop          *propagation
	maxWindow     time.Duration
}

// Rules returns the rule names in file order.
func (s *Set) Rules() []string {
	out := make([]string, len(s.rules))
	for i, r := range s.rules {
		out[i] = r.name
	}
	return out
}

// Registry returns the registry the set was compiled against.
func (s *Set) Registry() *registry.Registry { return s.reg }

var (
	reRuleName = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,62}$`)
	levelKeys  = []string{"blue", "yellow", "orange", "red"}
)

type compiler struct {
	ps    conf.Problems
	reg   *registry.Registry
	std   *standards.Set
	set   *Set
	names map[string]int
}

// Compile validates c against the registry and standards and builds the Set.
// file names the source in problems.
func (c *Config) Compile(file string, reg *registry.Registry, std *standards.Set) (*Set, error) {
	cc := compiler{ps: conf.Problems{File: file}, reg: reg, std: std, names: map[string]int{},
		set: &Set{file: file, reg: reg, std: std, byID: map[string]*stationPlan{}}}
	set := cc.set
	for i, j := range c.Jurisdictions {
		if strings.TrimSpace(j) == "" {
			cc.ps.Addf(fmt.Sprintf("jurisdictions[%d]", i), "empty")
			continue
		}
		if slices.Contains(set.jurisdictions, j) {
			cc.ps.Addf(fmt.Sprintf("jurisdictions[%d]", i), "duplicate %q", j)
			continue
		}
		set.jurisdictions = append(set.jurisdictions, j)
	}
	if len(c.Rules) == 0 {
		cc.ps.Addf("rules", "at least one rule is required")
	}
	type selected struct {
		r        *rule
		stations []*registry.Station
	}
	var sels []selected
	for i := range c.Rules {
		r, sts := cc.rule(i, &c.Rules[i])
		if r != nil {
			set.rules = append(set.rules, r)
			sels = append(sels, selected{r, sts})
		}
	}
	maint := cc.maintenance(c.Maintenance)
	classItems := cc.classItems()
	if c.Propagation != nil {
		set.prop = cc.propagation(c.Propagation)
	}
	if err := cc.ps.Err(); err != nil {
		return nil, err
	}

	for _, st := range reg.Stations() {
		p := &stationPlan{st: st, city: attributedCity(reg, st, set.jurisdictions), slot: map[string]int{}, maint: maint[st.ID],
			classItems: classItems[st.ID]}
		set.byID[st.ID] = p
		set.plans = append(set.plans, p)
	}
	slices.SortFunc(set.plans, func(a, b *stationPlan) int { return cmp.Compare(a.st.ID, b.st.ID) })
	for i, p := range set.plans {
		p.idx = i
		if rv, _, ok := reg.RiverOf(p.st.ID); ok {
			p.crossBorder = rv.CrossBorder
			for _, h := range reg.Downstream(p.st.ID) {
				if set.prop == nil || h.ETA <= set.prop.horizon {
					p.hops = append(p.hops, h)
				}
			}
		}
	}
	for _, s := range sels {
		for _, st := range s.stations {
			set.byID[st.ID].bind(s.r, std)
		}
	}
	for _, p := range set.plans {
		p.finish()
		set.maxWindow = max(set.maxWindow, p.maxWindow)
	}
	return set, nil
}

// classItems compiles each water section's class_items (stations.yaml)
// against the GB 3838 table into the set of items its water class is
// evaluated over. A section without class_items is absent: the table's
// default set (the 21 items of 环办[2011]22号).
func (cc *compiler) classItems() map[string]water.ItemSet {
	tab := cc.std.Water
	if tab == nil {
		return nil
	}
	out := map[string]water.ItemSet{}
	for _, st := range cc.reg.Stations() {
		ci := st.ClassItems
		if ci.IsZero() {
			continue
		}
		at := func(list string, j int) string { return fmt.Sprintf("station %s class_items.%s[%d]", st.ID, list, j) }
		def := tab.DefaultItems()
		set := def
		for j, k := range ci.Add {
			one, err := tab.ItemSet(k)
			info, _ := tab.Item(k)
			switch {
			case err != nil:
				cc.ps.Addf(at("add", j), "%s is not a %s item with class limits", k, tab.Standard())
			case info.LakeOnly && !st.Lake:
				cc.ps.Addf(at("add", j), "%s has limits for lakes and reservoirs only, but the station is not lake: true", k)
			case def&one != 0:
				cc.ps.Addf(at("add", j), "%s is evaluated by default", k)
			default:
				set |= one
			}
		}
		for j, k := range ci.Exclude {
			one, err := tab.ItemSet(k)
			switch {
			case err != nil:
				cc.ps.Addf(at("exclude", j), "%s is not a %s item with class limits", k, tab.Standard())
			case def&one == 0:
				cc.ps.Addf(at("exclude", j), "%s is not evaluated by default", k)
			default:
				set &^= one
			}
		}
		if set == 0 {
			cc.ps.Addf("station "+st.ID+" class_items", "excludes every item")
		}
		out[st.ID] = set
	}
	return out
}

// attributedCity is the jurisdiction of a station: its city when that is
// one of the jurisdictions, else the first jurisdiction downstream of it,
// else its own city.
func attributedCity(reg *registry.Registry, st *registry.Station, js []string) string {
	if len(js) == 0 || slices.Contains(js, st.City) {
		return st.City
	}
	for _, h := range reg.Downstream(st.ID) {
		if hs, ok := reg.Station(h.Station); ok && slices.Contains(js, hs.City) {
			return hs.City
		}
	}
	return st.City
}

func (cc *compiler) rule(i int, rc *RuleConfig) (*rule, []*registry.Station) {
	at := func(f string) string { return fmt.Sprintf("rules[%d].%s", i, f) }
	ps := &cc.ps
	r := &rule{name: rc.Name, kindName: rc.Kind, minSamples: 1}
	switch first, dup := cc.names[rc.Name]; {
	case rc.Name == "":
		ps.Addf(at("name"), "missing")
	case !reRuleName.MatchString(rc.Name):
		ps.Addf(at("name"), "%q does not match [a-z0-9][a-z0-9_-]* (it is a NATS subject token)", rc.Name)
	case dup:
		ps.Addf(at("name"), "duplicate rule %q (first at rules[%d])", rc.Name, first)
	default:
		cc.names[rc.Name] = i
	}
	k, ok := kindOf[rc.Kind]
	if !ok {
		ps.Addf(at("kind"), "%q is not one of %s", rc.Kind, strings.Join(ruleKinds, ", "))
		return nil, nil
	}
	r.k = k
	r.technical = k == kDeadman || k == kStuck || k == kRange
	if y, err := yaml.Marshal(rc); err == nil {
		h := fnv.New64a()
		h.Write(y)
		r.fingerprint = h.Sum64()
	}

	// Fields each kind may use.
	uses := map[string][]kind{
		"parameter":             {kThreshold, kRate},
		"parameters":            {kDeadman, kStuck},
		"window":                {kThreshold, kWaterClass, kRate},
		"min_samples":           {kThreshold, kWaterClass},
		"max_age":               {kWaterClass},
		"direction":             {kThreshold, kRate},
		"levels":                {kThreshold, kRate},
		"clear":                 {kThreshold, kRate},
		"per":                   {kRate},
		"for":                   {kThreshold, kRate, kWaterClass, kAQI, kRange},
		"clear_for":             {kThreshold, kRate, kWaterClass, kAQI, kRange, kStuck},
		"drinking_source_raise": {kThreshold, kRate},
		"when":                  {kThreshold, kRate, kWaterClass, kAQI},
		"factor":                {kDeadman},
		"scope":                 {kDeadman},
		"count":                 {kStuck},
		"duration":              {kStuck},
		"tolerance":             {kStuck},
		"limits":                {kRange},
		"daily":                 {kAQI},
		"pm_hourly_mean":        {kAQI},
	}
	set := map[string]bool{
		"parameter": rc.Parameter != "", "parameters": len(rc.Parameters) > 0, "window": rc.Window != "",
		"min_samples": rc.MinSamples != 0, "max_age": rc.MaxAge != "", "direction": rc.Direction != "",
		"levels": len(rc.Levels) > 0, "clear": len(rc.Clear) > 0, "per": rc.Per != "", "for": rc.For.Set,
		"clear_for": rc.ClearFor.Set, "drinking_source_raise": rc.DrinkingSourceRaise != 0, "when": rc.When != "",
		"factor": rc.Factor != 0, "scope": rc.Scope != "", "count": rc.Count != 0, "duration": rc.Duration != "",
		"tolerance": rc.Tolerance != 0, "limits": len(rc.Limits) > 0, "daily": rc.Daily != nil,
		"pm_hourly_mean": len(rc.PMHourlyMean) > 0,
	}
	for _, f := range slices.Sorted(maps.Keys(uses)) {
		if set[f] && !slices.Contains(uses[f], k) {
			ps.Addf(at(f), "not used by kind %s", rc.Kind)
		}
	}

	medium := domain.Medium("")
	switch k {
	case kWaterClass:
		medium = domain.Water
	case kAQI:
		medium = domain.Air
	}
	r.forH, r.clearH = rc.For, rc.ClearFor
	if rc.MinSamples < 0 {
		ps.Addf(at("min_samples"), "must not be negative")
	} else if rc.MinSamples > 0 {
		r.minSamples = rc.MinSamples
	}
	if rc.DrinkingSourceRaise < 0 || rc.DrinkingSourceRaise > 3 {
		ps.Addf(at("drinking_source_raise"), "%d is outside 0..3", rc.DrinkingSourceRaise)
	}
	r.dsRaise = rc.DrinkingSourceRaise

	switch k {
	case kThreshold, kRate:
		p, ok := registry.LookupParam(rc.Parameter)
		switch {
		case rc.Parameter == "":
			ps.Addf(at("parameter"), "missing")
		case !ok:
			ps.Addf(at("parameter"), "unknown parameter %q", rc.Parameter)
		default:
			medium = p.Medium
		}
		r.param = rc.Parameter
		cc.levels(r, rc, at)
	case kWaterClass:
		if cc.std.Water == nil {
			ps.Addf(at("kind"), "no water-class table in the standards")
		}
	case kAQI:
		r.daily = rc.Daily == nil || *rc.Daily
		r.pm24h = map[*aqi.Version]bool{}
		if cc.std.AQI != nil {
			for _, v := range cc.std.AQI.Versions() {
				r.pm24h[v] = v.ID() == "HJ633-2012"
			}
			for _, id := range slices.Sorted(maps.Keys(rc.PMHourlyMean)) {
				v := cc.std.AQI.Version(id)
				switch m := rc.PMHourlyMean[id]; {
				case v == nil:
					ps.Addf(at("pm_hourly_mean."+id), "unknown AQI version %q", id)
				case m == "1h" || m == "24h":
					r.pm24h[v] = m == "24h"
				default:
					ps.Addf(at("pm_hourly_mean."+id), "%q is not 1h or 24h", m)
				}
			}
		}
	case kDeadman:
		r.factor = 3
		if rc.Factor != 0 {
			if !(rc.Factor >= 1) || math.IsInf(rc.Factor, 0) {
				ps.Addf(at("factor"), "%v must be at least 1", rc.Factor)
			}
			r.factor = rc.Factor
		}
		switch rc.Scope {
		case "", "station":
			r.stationScope = true
			if len(rc.Parameters) > 0 {
				ps.Addf(at("parameters"), "only with scope: parameter")
			}
		case "parameter":
		default:
			ps.Addf(at("scope"), "%q is not station or parameter", rc.Scope)
		}
		cc.paramList(r, rc, at)
	case kStuck:
		cc.paramList(r, rc, at)
		if rc.Count < 0 || rc.Count == 1 {
			ps.Addf(at("count"), "%d: want at least 2 identical readings", rc.Count)
		}
		r.count = rc.Count
		if rc.Duration != "" {
			d, err := time.ParseDuration(rc.Duration)
			if err != nil || d <= 0 {
				ps.Addf(at("duration"), "%q is not a positive duration", rc.Duration)
			}
			r.duration = d
		}
		if r.count == 0 && r.duration == 0 {
			ps.Addf(at("count"), "give count, duration or both")
		}
		if rc.Tolerance < 0 || math.IsNaN(rc.Tolerance) {
			ps.Addf(at("tolerance"), "must not be negative")
		}
		r.tolerance = rc.Tolerance
	case kRange:
		if len(rc.Limits) == 0 {
			ps.Addf(at("limits"), "missing: parameter → [min, max]")
		}
		r.limits = map[string][2]float64{}
		for _, p := range slices.Sorted(maps.Keys(rc.Limits)) {
			lim := rc.Limits[p]
			par, ok := registry.LookupParam(p)
			switch {
			case !ok:
				ps.Addf(at("limits."+p), "unknown parameter %q", p)
				continue
			case len(lim) != 2 || !(lim[0] < lim[1]):
				ps.Addf(at("limits."+p), "want [min, max] with min < max")
				continue
			case medium != "" && par.Medium != medium:
				ps.Addf(at("limits."+p), "%s is %s, other limits are %s", p, par.Medium, medium)
				continue
			}
			medium = par.Medium
			r.limits[p] = [2]float64{lim[0], lim[1]}
			r.params = append(r.params, p)
		}
	}

	if rc.Window != "" && rc.Window != "latest" {
		d, err := time.ParseDuration(rc.Window)
		if err != nil || d <= 0 {
			ps.Addf(at("window"), "%q is not latest or a positive duration", rc.Window)
		}
		if d > 7*24*time.Hour {
			ps.Addf(at("window"), "%s is longer than 7 days", d)
		}
		r.window = d
	}
	if k == kRate {
		if r.window == 0 {
			ps.Addf(at("window"), "missing: the span over which the change is measured, e.g. 2h")
		}
		r.per = time.Hour
		if rc.Per != "" {
			d, err := time.ParseDuration(rc.Per)
			if err != nil || d <= 0 {
				ps.Addf(at("per"), "%q is not a positive duration", rc.Per)
			}
			r.per = d
		}
	}
	if rc.MaxAge != "" {
		d, err := time.ParseDuration(rc.MaxAge)
		if err != nil || d <= 0 {
			ps.Addf(at("max_age"), "%q is not a positive duration", rc.MaxAge)
		}
		if r.window != 0 {
			ps.Addf(at("max_age"), "only for window latest")
		}
		r.maxAge = d
	}
	if rc.When != "" {
		w, err := compileWhen(rc.When)
		if err != nil {
			ps.Addf(at("when"), "%s", oneLine(err.Error()))
		}
		r.when = w
	}

	sts := cc.selectStations(rc, at, medium, r)
	return r, sts
}

func (cc *compiler) paramList(r *rule, rc *RuleConfig, at func(string) string) {
	for j, p := range rc.Parameters {
		if _, ok := registry.LookupParam(p); !ok {
			cc.ps.Addf(at(fmt.Sprintf("parameters[%d]", j)), "unknown parameter %q", p)
			continue
		}
		r.params = append(r.params, p)
	}
}

// levels compiles the per-level thresholds of threshold and rate rules.
func (cc *compiler) levels(r *rule, rc *RuleConfig, at func(string) string) {
	ps := &cc.ps
	switch rc.Direction {
	case "above":
		r.dir = dirAbove
	case "below":
		r.dir = dirBelow
	case "outside":
		r.dir = dirOutside
	case "rise":
		r.dir = dirRise
	case "fall":
		r.dir = dirFall
	case "either":
		r.dir = dirEither
	}
	want := "above, below or outside"
	if r.k == kRate {
		want = "rise, fall or either"
	}
	if r.dir == 0 || (r.k == kRate) != (r.dir >= dirRise) {
		ps.Addf(at("direction"), "%q is not %s", rc.Direction, want)
		return
	}
	if len(rc.Levels) == 0 {
		ps.Addf(at("levels"), "missing: at least one of blue, yellow, orange, red")
		return
	}
	for _, key := range slices.Sorted(maps.Keys(rc.Levels)) {
		if !slices.Contains(levelKeys, key) {
			ps.Addf(at("levels."+key), "%q is not blue, yellow, orange or red", key)
		}
	}
	for _, key := range slices.Sorted(maps.Keys(rc.Clear)) {
		if _, ok := rc.Levels[key]; !ok {
			ps.Addf(at("clear."+key), "no trigger threshold for %s in levels", key)
		}
	}
	var prev *Bound
	for _, key := range levelKeys {
		b, ok := rc.Levels[key]
		if !ok {
			continue
		}
		l, _ := domain.ParseLevel(key)
		path := at("levels." + key)
		if b.Band != (r.dir == dirOutside) {
			if b.Band {
				ps.Addf(path, "a band [lo, hi] is only for direction outside")
			} else {
				ps.Addf(path, "direction outside needs a band [lo, hi]")
			}
			continue
		}
		if !finite(b.Lo, b.Hi) || (b.Band && !(b.Lo < b.Hi)) {
			ps.Addf(path, "want finite numbers (lo < hi)")
			continue
		}
		if r.k == kRate && !(b.Lo > 0) {
			ps.Addf(path, "a rate threshold must be positive (direction gives the sign)")
		}
		if prev != nil {
			bad := false
			switch r.dir {
			case dirAbove, dirRise, dirFall, dirEither:
				bad = !(b.Lo > prev.Lo)
			case dirBelow:
				bad = !(b.Lo < prev.Lo)
			case dirOutside:
				bad = !(b.Lo <= prev.Lo && b.Hi >= prev.Hi) || (b.Lo == prev.Lo && b.Hi == prev.Hi)
			}
			if bad {
				ps.Addf(path, "not monotone: a higher level must need a more extreme value")
			}
		}
		bb := b
		prev = &bb
		r.levels = append(r.levels, l)
		r.trig[l] = b
		r.clr[l] = b
		if c, ok := rc.Clear[key]; ok {
			cp := at("clear." + key)
			switch {
			case c.Band != b.Band:
				ps.Addf(cp, "must have the same shape as levels.%s", key)
			case !finite(c.Lo, c.Hi):
				ps.Addf(cp, "want finite numbers")
			case (r.dir == dirBelow && c.Lo < b.Lo) || (r.dir != dirBelow && r.dir != dirOutside && c.Lo > b.Lo):
				ps.Addf(cp, "%v is beyond the trigger %v: the clear threshold must be on the safe side", c.Lo, b.Lo)
			case r.dir == dirOutside && (c.Lo < b.Lo || c.Hi > b.Hi || !(c.Lo < c.Hi)):
				ps.Addf(cp, "[%v, %v] must lie inside the trigger band [%v, %v]", c.Lo, c.Hi, b.Lo, b.Hi)
			default:
				r.clr[l] = c
			}
		}
	}
}

func (cc *compiler) selectStations(rc *RuleConfig, at func(string) string, medium domain.Medium, r *rule) []*registry.Station {
	ps := &cc.ps
	sel := rc.Select
	for j, id := range append(slices.Clone(sel.Stations), sel.Exclude...) {
		if _, ok := cc.reg.Station(id); !ok {
			f := fmt.Sprintf("select.stations[%d]", j)
			if j >= len(sel.Stations) {
				f = fmt.Sprintf("select.exclude[%d]", j-len(sel.Stations))
			}
			ps.Addf(at(f), "unknown station %q", id)
		}
	}
	rivers := map[string]bool{}
	for _, rv := range cc.reg.Rivers() {
		rivers[rv.Name] = true
	}
	for _, st := range cc.reg.Stations() {
		if st.River != "" {
			rivers[st.River] = true
		}
	}
	for j, rv := range sel.Rivers {
		if !rivers[rv] {
			ps.Addf(at(fmt.Sprintf("select.rivers[%d]", j)), "unknown river %q", rv)
		}
	}
	kinds := []string{registry.KindNational, registry.KindProvincial, registry.KindBoundary, registry.KindDrinkingSource, registry.KindMunicipal, registry.KindAirStation}
	for j, k := range sel.Kinds {
		if !slices.Contains(kinds, k) {
			ps.Addf(at(fmt.Sprintf("select.kinds[%d]", j)), "unknown station kind %q", k)
		}
	}
	if sel.Medium != "" {
		m := domain.Medium(sel.Medium)
		switch {
		case !m.Valid():
			ps.Addf(at("select.medium"), "%q is not water or air", sel.Medium)
		case medium != "" && m != medium:
			ps.Addf(at("select.medium"), "%s, but the rule applies to %s stations", m, medium)
		default:
			medium = m
		}
	}
	var out []*registry.Station
	for _, st := range cc.reg.Stations() {
		switch {
		case medium != "" && st.Medium != medium,
			len(sel.Stations) > 0 && !slices.Contains(sel.Stations, st.ID),
			slices.Contains(sel.Exclude, st.ID),
			len(sel.Rivers) > 0 && !slices.Contains(sel.Rivers, st.River),
			len(sel.Kinds) > 0 && !slices.Contains(sel.Kinds, st.Kind),
			len(sel.Cities) > 0 && !slices.Contains(sel.Cities, st.City),
			!labelsMatch(st.Labels, sel.Labels):
			continue
		}
		if !ruleApplies(r, st) {
			continue
		}
		out = append(out, st)
	}
	if len(out) == 0 && cc.ps.Err() == nil {
		ps.Addf(at("select"), "selects no station that reports what the rule needs")
	}
	return out
}

func labelsMatch(have, want map[string]string) bool {
	for k, v := range want {
		if have[k] != v {
			return false
		}
	}
	return true
}

// ruleApplies reports whether station st reports what rule r needs.
func ruleApplies(r *rule, st *registry.Station) bool {
	switch r.k {
	case kThreshold, kRate:
		return st.Reports(r.param)
	case kWaterClass:
		return st.Medium == domain.Water
	case kAQI:
		return st.Medium == domain.Air
	case kStuck, kRange:
		for _, p := range r.params {
			if st.Reports(p) {
				return true
			}
		}
		return len(r.params) == 0 && len(st.Params) > 0
	case kDeadman:
		if len(r.params) == 0 {
			return len(st.Params) > 0
		}
		for _, p := range r.params {
			if st.Reports(p) {
				return true
			}
		}
	}
	return false
}

func (cc *compiler) maintenance(list []MaintenanceConfig) map[string][]maintWindow {
	out := map[string][]maintWindow{}
	for i, m := range list {
		at := func(f string) string { return fmt.Sprintf("maintenance[%d].%s", i, f) }
		if _, ok := cc.reg.Station(m.Station); !ok {
			cc.ps.Addf(at("station"), "unknown station %q", m.Station)
		}
		from, err1 := time.Parse(time.RFC3339, m.From)
		if err1 != nil {
			cc.ps.Addf(at("from"), "%q is not an RFC 3339 time", m.From)
		}
		to, err2 := time.Parse(time.RFC3339, m.To)
		if err2 != nil {
			cc.ps.Addf(at("to"), "%q is not an RFC 3339 time", m.To)
		}
		if err1 == nil && err2 == nil && !to.After(from) {
			cc.ps.Addf(at("to"), "must be after from")
		}
		out[m.Station] = append(out[m.Station], maintWindow{from: from, to: to, reason: m.Reason})
	}
	return out
}

func (cc *compiler) propagation(pc *PropagationConfig) *propagation {
	ps := &cc.ps
	p := &propagation{name: pc.Name, from: map[*rule]bool{}, minLevel: domain.Blue, offset: pc.LevelOffset,
		horizon: 72 * time.Hour, crossBorder: true, cityBorder: true, intake: true, tolerance: 0.5,
		minTol: 2 * time.Hour, raise: pc.Confirm.Raise}
	if p.name == "" {
		p.name = "river"
	}
	if !reRuleName.MatchString(p.name) {
		ps.Addf("propagation.name", "%q does not match [a-z0-9][a-z0-9_-]*", p.name)
	}
	if _, dup := cc.names[p.name]; dup {
		ps.Addf("propagation.name", "%q is also the name of a rule", p.name)
	}
	if len(pc.From) == 0 {
		ps.Addf("propagation.from", "missing: the rules whose warnings propagate")
	}
	for i, name := range pc.From {
		var found *rule
		for _, r := range cc.set.rules {
			if r.name == name {
				found = r
			}
		}
		switch {
		case found == nil:
			ps.Addf(fmt.Sprintf("propagation.from[%d]", i), "unknown rule %q", name)
		case found.k != kThreshold && found.k != kRate && found.k != kWaterClass:
			ps.Addf(fmt.Sprintf("propagation.from[%d]", i), "rule %q is %s: only threshold, rate and water-class warnings propagate", name, found.kindName)
		default:
			p.from[found] = true
		}
	}
	if pc.MinLevel != "" {
		l, err := domain.ParseLevel(pc.MinLevel)
		if err != nil || l == domain.None {
			ps.Addf("propagation.min_level", "%q is not blue, yellow, orange or red", pc.MinLevel)
		}
		p.minLevel = l
	}
	if p.offset < -3 || p.offset > 3 {
		ps.Addf("propagation.level_offset", "%d is outside -3..3", p.offset)
	}
	dur := func(path, s string, dst *time.Duration, zeroOK bool) {
		if s == "" {
			return
		}
		d, err := time.ParseDuration(s)
		if err != nil || d < 0 || (d == 0 && !zeroOK) {
			ps.Addf(path, "%q is not a positive duration", s)
			return
		}
		*dst = d
	}
	dur("propagation.horizon", pc.Horizon, &p.horizon, false)
	dur("propagation.hold", pc.Hold, &p.hold, true)
	dur("propagation.confirm.min_tolerance", pc.Confirm.MinTolerance, &p.minTol, true)
	if t := pc.Confirm.Tolerance; t != nil {
		if !(*t >= 0 && *t <= 10) {
			ps.Addf("propagation.confirm.tolerance", "%v is outside 0..10 (a fraction of the travel time)", *t)
		}
		p.tolerance = *t
	}
	if p.raise < 0 || p.raise > 3 {
		ps.Addf("propagation.confirm.raise", "%d is outside 0..3", p.raise)
	}
	if b := pc.Joint.CrossBorderRivers; b != nil {
		p.crossBorder = *b
	}
	if b := pc.Joint.CityBorder; b != nil {
		p.cityBorder = *b
	}
	if b := pc.Joint.Intake; b != nil {
		p.intake = *b
	}
	if len(cc.set.jurisdictions) < 2 {
		ps.Addf("jurisdictions", "propagation needs the jurisdictions of a joint warning (e.g. [广州, 清远])")
	}
	return p
}

// propagates reports whether warnings of the named rule propagate.
func (p *propagation) propagates(rule string) bool {
	for r := range p.from {
		if r.name == rule {
			return true
		}
	}
	return false
}

func finite(vs ...float64) bool {
	for _, v := range vs {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return false
		}
	}
	return true
}

func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }

// fmtDuration prints 4h, 30m, 1h30m instead of 4h0m0s.
func fmtDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = s[:len(s)-2]
	}
	if strings.HasSuffix(s, "h0m") {
		s = s[:len(s)-2]
	}
	return s
}
