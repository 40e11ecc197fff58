package aqi

import (
	"maps"
	"math"
	"slices"
)

// SubState says how a sub-index was obtained.
type SubState uint8

// The states of a sub-index.
const (
	// Computed: the IAQI was computed from the indicator's concentration.
	Computed SubState = iota
	// Missing: no valid concentration was given (absent, NaN, infinite or
	// negative).
	Missing
	// Replaced: the concentration is above the table's top and the version
	// says to report the pollutant through another indicator (HJ 633-2012
	// notes 2 and 3); see ReplacedBy.
	Replaced
)

// String returns computed, missing or replaced.
func (s SubState) String() string {
	switch s {
	case Computed:
		return "computed"
	case Missing:
		return "missing"
	case Replaced:
		return "replaced"
	}
	return "unknown"
}

// Sub is the sub-index of one indicator.
type Sub struct {
	Key   string  // indicator key, e.g. pm25, o3_8h
	Conc  float64 // concentration as looked up (after the report's rounding)
	IAQI  int     // valid when State is Computed
	State SubState
	// ReplacedBy is the indicator that reports this pollutant instead (State
	// Replaced).
	ReplacedBy string
	// BeyondTop is true when the concentration is above the table's top
	// breakpoint and the IAQI is the version's fixed value for that case.
	BeyondTop bool
	Primary   bool // 首要污染物
	Exceeding bool // 超标污染物 (HJ 633-2012 only)
}

// Result is one AQI computation. It holds its sub-indices in a fixed array so
// that Compute does not allocate; read them with Subs.
type Result struct {
	Standard string // version identifier, e.g. HJ633-2012
	Period   Period
	// Published is false when the AQI is NA: a pollutant is missing and the
	// version publishes a partial AQI only above a threshold (HJ 633-2026
	// §5.3.1), or no sub-index could be computed. AQI, Level, Category,
	// Color and the primary pollutants are then zero.
	Published bool
	// Complete is true when every indicator of the report had a value.
	Complete bool
	AQI      int
	Level    int    // 1–6
	Category string // 优 … 严重污染
	Color    string // #rrggbb
	subs     [MaxIndicators]Sub
	n        uint8
}

// Subs returns the sub-indices in report order: one per indicator of the
// report (missing ones included), plus an auxiliary indicator when a
// fallback rule brought it in.
func (r *Result) Subs() []Sub { return r.subs[:r.n] }

// Sub returns the sub-index of indicator key.
func (r *Result) Sub(key string) (Sub, bool) {
	for _, s := range r.subs[:r.n] {
		if s.Key == key {
			return s, true
		}
	}
	return Sub{}, false
}

// Primary returns the keys of the primary pollutants (empty when AQI ≤ 50 or
// not published).
func (r *Result) Primary() []string { return r.keys(func(s *Sub) bool { return s.Primary }) }

// Exceeding returns the keys of the 超标污染物 (HJ 633-2012 only).
func (r *Result) Exceeding() []string { return r.keys(func(s *Sub) bool { return s.Exceeding }) }

// Missing returns the keys of the indicators without a valid concentration.
func (r *Result) Missing() []string {
	return r.keys(func(s *Sub) bool { return s.State == Missing })
}

func (r *Result) keys(f func(*Sub) bool) []string {
	out := []string{}
	for i := range r.subs[:r.n] {
		if f(&r.subs[i]) {
			out = append(out, r.subs[i].Key)
		}
	}
	return out
}

// IAQI returns the sub-index of one indicator of report p for concentration
// c, applying the report's rounding and the table's rule above its top
// breakpoint. ok is false for an unknown key, an invalid concentration, or a
// concentration whose sub-index the version reports through another
// indicator (HJ 633-2012 SO2 1-h > 800, O3 8-h > 800).
func (v *Version) IAQI(p Period, key string, c float64) (iaqi int, ok bool) {
	if p >= numPeriods {
		return 0, false
	}
	rep := &v.reports[p]
	i, found := rep.index[key]
	if !found || !validConc(c) {
		return 0, false
	}
	ind := &rep.inds[i]
	iaqi, above := ind.table.sub(ind.round(c))
	if !above {
		return iaqi, true
	}
	if ind.table.clamp {
		return ind.table.clampTo, true
	}
	return 0, false
}

// TableIAQI returns the sub-index of concentration c in breakpoint table name
// (e.g. pm25_24h, so2_1h) without any report rounding, applying the table's
// rule above its top breakpoint. ok is false for an unknown table, an invalid
// concentration, or a concentration above the top of a table whose version
// reports the pollutant through another table (HJ 633-2012 notes 2 and 3).
func (v *Version) TableIAQI(name string, c float64) (iaqi int, ok bool) {
	t, found := v.tables[name]
	if !found || !validConc(c) {
		return 0, false
	}
	iaqi, above := t.sub(c)
	switch {
	case !above:
		return iaqi, true
	case t.clamp:
		return t.clampTo, true
	}
	return 0, false
}

// Tables lists the names of the version's breakpoint tables, sorted.
func (v *Version) Tables() []string { return slices.Sorted(maps.Keys(v.tables)) }

// Compute computes the AQI of report p from concentrations keyed by
// indicator key, each the average the report prescribes (e.g. for HJ 633-2012
// hourly, pm25 is the 24-h sliding mean). Units: µg/m³, CO mg/m³. Keys that
// are not indicators of the report are ignored; a NaN, infinite or negative
// value counts as missing.
func (v *Version) Compute(p Period, conc map[string]float64) Result {
	r := Result{Standard: v.id, Period: p}
	if p >= numPeriods {
		return r
	}
	rep := &v.reports[p]
	var cs [MaxIndicators]float64
	var have uint32
	for i := range rep.inds {
		if c, ok := conc[rep.inds[i].key]; ok && validConc(c) {
			cs[i] = rep.inds[i].round(c)
			have |= 1 << uint(i)
		}
	}

	r.Complete = true
	maxIAQI, computed := 0, 0
	var auxAdded uint32
	for i := range rep.inds {
		ind := &rep.inds[i]
		if ind.aux {
			continue
		}
		s := v.sub(rep, i, cs[i], have&(1<<uint(i)) != 0)
		if s.State == Missing {
			r.Complete = false
		}
		r.subs[r.n] = s
		r.n++
		if j := ind.fallback; s.State == Replaced && rep.inds[j].aux && auxAdded&(1<<uint(j)) == 0 {
			auxAdded |= 1 << uint(j)
			aux := v.sub(rep, j, cs[j], have&(1<<uint(j)) != 0)
			if aux.State == Missing {
				r.Complete = false
			}
			r.subs[r.n] = aux
			r.n++
		}
	}
	for i := range r.subs[:r.n] {
		s := &r.subs[i]
		if s.State != Computed {
			continue
		}
		computed++
		if s.IAQI > maxIAQI {
			maxIAQI = s.IAQI
		}
		if v.hasExceed && s.IAQI > v.exceedAbove {
			s.Exceeding = true
		}
	}
	switch {
	case computed == 0:
		return r
	case !r.Complete && v.hasMissing && maxIAQI <= v.publishAbove:
		return r
	}
	r.Published = true
	r.AQI = maxIAQI
	li := v.levelIndex(maxIAQI)
	r.Level, r.Category, r.Color = v.levels[li].Number, v.levels[li].Category, v.colors[li]
	if maxIAQI > v.primaryAbove {
		for i := range r.subs[:r.n] {
			if s := &r.subs[i]; s.State == Computed && s.IAQI == maxIAQI {
				s.Primary = true
			}
		}
	}
	return r
}

func (v *Version) sub(rep *report, i int, c float64, have bool) Sub {
	ind := &rep.inds[i]
	s := Sub{Key: ind.key}
	if !have {
		s.State = Missing
		return s
	}
	s.Conc = c
	iaqi, above := ind.table.sub(c)
	switch {
	case !above:
		s.IAQI = iaqi
	case ind.table.clamp:
		s.IAQI, s.BeyondTop = ind.table.clampTo, true
	default:
		s.State, s.ReplacedBy = Replaced, rep.inds[ind.fallback].key
	}
	return s
}

func validConc(c float64) bool { return c >= 0 && !math.IsInf(c, 1) } // NaN fails c >= 0

func (ind *indicator) round(c float64) float64 {
	if ind.scale == 0 {
		return c
	}
	return roundHalfEven(c, ind.scale)
}

// sub interpolates the sub-index of c (formula 1 of HJ 633) and rounds it up.
// above is true when c is above the top breakpoint.
func (t *table) sub(c float64) (iaqi int, above bool) {
	n := len(t.bp)
	if c > t.top {
		return 0, true
	}
	i := 0
	for i < n-2 && c >= t.bp[i+1] {
		i++
	}
	lo, hi := t.bp[i], t.bp[i+1]
	ilo, ihi := t.iaqi[i], t.iaqi[i+1]
	if c == hi {
		return int(ihi), false
	}
	x := ilo + (ihi-ilo)*(c-lo)/(hi-lo)
	// Round up (全部进位取整数), ignoring float noise far below the precision
	// of any measured concentration.
	return int(math.Ceil(x - 1e-9)), false
}

// RoundGBT8170 rounds x to the given number of decimals by GB/T 8170-2008
// (四舍六入五成双: a trailing 5 with nothing after it rounds to even), as
// HJ 633-2026 §4.2.2 prescribes for daily concentrations.
func RoundGBT8170(x float64, decimals int) float64 {
	return roundHalfEven(x, math.Pow10(decimals))
}

func roundHalfEven(x, scale float64) float64 {
	s := x * scale
	f := math.Floor(s)
	d := s - f
	switch {
	case math.Abs(d-0.5) < 1e-9:
		if math.Mod(f, 2) != 0 {
			f++
		}
	case d > 0.5:
		f++
	}
	return f / scale
}
