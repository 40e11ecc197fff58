// Package severity maps each source grading onto the unified warning scale
// (domain.Level, DESIGN §4): a GB 3838 class against a section's target with
// the exceedance multiple and the drinking-water-source escalation, the
// hourly AQI, the heavy-pollution-weather persistence scheme over daily AQI,
// and each city's legacy grading. Every threshold is data
// (configs/standards/severity.yaml), validated to be monotone, without gaps
// and without overlaps; the mappings are pure functions.
package severity

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"

	"github.com/qingliu/qingliu/domain"
	"github.com/qingliu/qingliu/internal/conf"
	"github.com/qingliu/qingliu/standards/meta"
	"github.com/qingliu/qingliu/standards/water"
)

// Kind is the value of the kind: field of the severity mappings file.
const Kind = "severity"

// AQIMax is the top of the HJ 633 index scale; the hourly bands must reach it.
const AQIMax = 500

// Errors returned by Legacy; compare with errors.Is.
var (
	ErrUnknownCity  = errors.New("unknown city")
	ErrUnknownGrade = errors.New("unknown grade")
)

type intBand struct {
	lo, hi int // inclusive
	level  domain.Level
}

type floatBand struct {
	lo, hi float64 // [lo, hi); hi is +Inf for the open last band
	level  domain.Level
}

type rule struct {
	level                       domain.Level
	minDays, minSevere, minPeak int
	at                          int // index in the file, for messages
}

type legacyGrade struct {
	level domain.Level
	at    int // index in the city's grades, for explanations
}

type city struct {
	key, name string
	at        int                    // index in legacy, for explanations
	grades    map[string]legacyGrade // every spelling → grade
	order     []string               // canonical grades, ascending
}

// Mappings is the compiled set of mappings. It is immutable and safe for
// concurrent use.
type Mappings struct {
	info        meta.Info
	gap         []intBand
	multiple    []floatBand
	escalation  int
	hourly      []intBand
	dayAbove    int
	severeAbove int
	rules       []rule
	cities      []*city
	cityIndex   map[string]*city
}

type fileIntBand struct {
	Range []int  `yaml:"range"`
	Level string `yaml:"level"`
	Note  string `yaml:"note"`
}

type fileFloatBand struct {
	From  *float64 `yaml:"from"`
	To    *float64 `yaml:"to"`
	Level string   `yaml:"level"`
}

type fileRule struct {
	Level         string `yaml:"level"`
	MinDays       int    `yaml:"min_days"`
	MinSevereDays int    `yaml:"min_severe_days"`
	MinPeak       int    `yaml:"min_peak"`
}

type fileGrade struct {
	Grade   string   `yaml:"grade"`
	Aliases []string `yaml:"aliases"`
	Level   string   `yaml:"level"`
}

type fileCity struct {
	City   string      `yaml:"city"`
	NameZh string      `yaml:"name_zh"`
	Scheme string      `yaml:"scheme"`
	Grades []fileGrade `yaml:"grades"`
}

type file struct {
	meta.Header `yaml:",inline"`
	Water       struct {
		ClassGap                 []fileIntBand   `yaml:"class_gap"`
		Multiple                 []fileFloatBand `yaml:"multiple"`
		DrinkingSourceEscalation *int            `yaml:"drinking_source_escalation"`
	} `yaml:"water"`
	AQIHourly   []fileIntBand `yaml:"aqi_hourly"`
	Persistence struct {
		DayAbove    *int       `yaml:"day_above"`
		SevereAbove *int       `yaml:"severe_above"`
		Rules       []fileRule `yaml:"rules"`
	} `yaml:"aqi_daily_persistence"`
	Legacy []fileCity `yaml:"legacy"`
}

// Load reads and validates the severity mappings file.
func Load(path string) (*Mappings, error) {
	var f file
	if err := conf.LoadStrict(path, &f); err != nil {
		return nil, err
	}
	return compile(path, &f)
}

// Parse validates severity mappings from YAML data; name is used in errors.
func Parse(name string, data []byte) (*Mappings, error) {
	var f file
	if err := conf.DecodeStrict(name, data, &f); err != nil {
		return nil, err
	}
	return compile(name, &f)
}

func compile(name string, f *file) (*Mappings, error) {
	ps := conf.Problems{File: name}
	m := &Mappings{info: f.Header.Check(&ps, Kind), cityIndex: map[string]*city{}}
	m.gap = intBands(&ps, "water.class_gap", f.Water.ClassGap, 1, int(water.WorseV-water.I))
	m.multiple = floatBands(&ps, "water.multiple", f.Water.Multiple)
	switch e := f.Water.DrinkingSourceEscalation; {
	case e == nil:
		ps.Addf("water.drinking_source_escalation", "missing")
	case *e < 0 || *e > int(domain.Red-domain.Blue):
		ps.Addf("water.drinking_source_escalation", "%d is outside 0..%d", *e, domain.Red-domain.Blue)
	default:
		m.escalation = *e
	}
	m.hourly = intBands(&ps, "aqi_hourly", f.AQIHourly, 0, AQIMax)
	m.compilePersistence(&ps, f)
	m.compileLegacy(&ps, f.Legacy)
	if err := ps.Err(); err != nil {
		return nil, err
	}
	return m, nil
}

func parseLevel(ps *conf.Problems, path, s string) (domain.Level, bool) {
	l, err := domain.ParseLevel(s)
	if err != nil {
		ps.Addf(path, "%v", err)
		return domain.None, false
	}
	return l, true
}

// intBands checks integer bands [lo, hi] that must cover first..last
// contiguously with non-decreasing levels.
func intBands(ps *conf.Problems, path string, list []fileIntBand, first, last int) []intBand {
	if len(list) == 0 {
		ps.Addf(path, "missing")
		return nil
	}
	out := make([]intBand, 0, len(list))
	next := first
	for i, fb := range list {
		p := fmt.Sprintf("%s[%d]", path, i)
		l, ok := parseLevel(ps, p+".level", fb.Level)
		b := intBand{level: l}
		if len(fb.Range) != 2 || fb.Range[0] > fb.Range[1] {
			ps.Addf(p+".range", "want [lo, hi] with lo <= hi, got %v", fb.Range)
			continue
		}
		b.lo, b.hi = fb.Range[0], fb.Range[1]
		switch {
		case b.lo < next:
			ps.Addf(p+".range", "overlap: %d..%d starts inside the previous band (next free value %d)", b.lo, b.hi, next)
		case b.lo > next:
			ps.Addf(p+".range", "gap: %d..%d leaves %d..%d unmapped", b.lo, b.hi, next, b.lo-1)
		}
		if ok && len(out) > 0 && b.level < out[len(out)-1].level {
			ps.Addf(p+".level", "not monotone: %s after %s", b.level, out[len(out)-1].level)
		}
		if !ok && len(out) > 0 {
			b.level = out[len(out)-1].level
		}
		next = b.hi + 1
		out = append(out, b)
	}
	if next <= last {
		ps.Addf(path, "gap: %d..%d unmapped", next, last)
	}
	return out
}

// floatBands checks bands [from, to) that must start at 0 and be contiguous,
// the last one open, with non-decreasing levels.
func floatBands(ps *conf.Problems, path string, list []fileFloatBand) []floatBand {
	if len(list) == 0 {
		ps.Addf(path, "missing")
		return nil
	}
	out := make([]floatBand, 0, len(list))
	next := 0.0
	for i, fb := range list {
		p := fmt.Sprintf("%s[%d]", path, i)
		l, ok := parseLevel(ps, p+".level", fb.Level)
		b := floatBand{level: l, hi: math.Inf(1)}
		if fb.From == nil {
			ps.Addf(p+".from", "missing")
			continue
		}
		b.lo = *fb.From
		switch {
		case b.lo < next:
			ps.Addf(p+".from", "overlap: %v is inside the previous band (to %v)", b.lo, next)
		case b.lo > next:
			ps.Addf(p+".from", "gap: [%v, %v) unmapped", next, b.lo)
		}
		switch {
		case fb.To == nil && i != len(list)-1:
			ps.Addf(p+".to", "missing (only the last band is open)")
		case fb.To != nil && i == len(list)-1:
			ps.Addf(p+".to", "gap: the last band must be open (no to:)")
		case fb.To != nil && !(*fb.To > b.lo):
			ps.Addf(p+".to", "not monotone: %v is not above from %v", *fb.To, b.lo)
		case fb.To != nil:
			b.hi = *fb.To
		}
		if ok && len(out) > 0 && b.level < out[len(out)-1].level {
			ps.Addf(p+".level", "not monotone: %s after %s", b.level, out[len(out)-1].level)
		}
		if !ok && len(out) > 0 {
			b.level = out[len(out)-1].level
		}
		next = b.hi
		out = append(out, b)
	}
	return out
}

func (m *Mappings) compilePersistence(ps *conf.Problems, f *file) {
	p := f.Persistence
	const path = "aqi_daily_persistence"
	// Both thresholds are required: a missing day_above would silently count
	// every day with an AQI above 0 as polluted.
	if p.DayAbove == nil {
		ps.Addf(path+".day_above", "missing")
	} else {
		m.dayAbove = *p.DayAbove
	}
	if p.SevereAbove == nil {
		ps.Addf(path+".severe_above", "missing")
	} else {
		m.severeAbove = *p.SevereAbove
	}
	switch {
	case p.DayAbove == nil || p.SevereAbove == nil:
	case m.dayAbove < 0 || m.dayAbove >= AQIMax:
		ps.Addf(path+".day_above", "%d is outside 0..%d", m.dayAbove, AQIMax-1)
	case m.severeAbove <= m.dayAbove || m.severeAbove >= AQIMax:
		ps.Addf(path+".severe_above", "%d must be above day_above (%d) and below %d", m.severeAbove, m.dayAbove, AQIMax)
	}
	if len(p.Rules) == 0 {
		ps.Addf(path+".rules", "missing")
		return
	}
	base := false
	for i, fr := range p.Rules {
		rp := fmt.Sprintf("%s.rules[%d]", path, i)
		l, ok := parseLevel(ps, rp+".level", fr.Level)
		r := rule{level: l, minDays: fr.MinDays, minSevere: fr.MinSevereDays, minPeak: fr.MinPeak, at: i}
		if ok && r.level == domain.None {
			ps.Addf(rp+".level", "a rule must give a warning level, not none")
		}
		if r.minDays < 1 {
			ps.Addf(rp+".min_days", "%d, want at least 1", r.minDays)
		}
		if r.minSevere < 0 || r.minSevere > r.minDays {
			ps.Addf(rp+".min_severe_days", "%d is outside 0..min_days (%d)", r.minSevere, r.minDays)
		}
		if r.minPeak != 0 && (r.minPeak <= m.dayAbove || r.minPeak > AQIMax) {
			ps.Addf(rp+".min_peak", "%d is outside %d..%d", r.minPeak, m.dayAbove+1, AQIMax)
		}
		if r.level == domain.None {
			continue // reported above; comparing it with other rules adds only noise
		}
		if e := m.implied(r); e.minDays == 1 && e.minSevere == 0 && e.minPeak <= m.dayAbove+1 {
			base = true
		}
		if len(m.rules) > 0 {
			prev := m.rules[len(m.rules)-1].level
			switch {
			case r.level < prev:
				ps.Addf(rp+".level", "not monotone: %s listed after %s (list rules by ascending level)", r.level, prev)
			case r.level > prev+1:
				ps.Addf(rp+".level", "gap: %s follows %s", r.level, prev)
			}
		}
		for _, o := range m.rules {
			switch {
			case o.minDays == r.minDays && o.minSevere == r.minSevere && o.minPeak == r.minPeak:
				ps.Addf(rp, "overlap: same conditions as rules[%d]", o.at)
			case r.level > o.level && m.firesWhenever(r, o):
				ps.Addf(rp, "not monotone: this %s rule fires whenever the %s rule rules[%d] does", r.level, o.level, o.at)
			case r.level == o.level && m.firesWhenever(o, r):
				ps.Addf(rp, "shadowed: the %s rule rules[%d] fires whenever this one does, so this rule never decides", o.level, o.at)
			case r.level == o.level && m.firesWhenever(r, o):
				ps.Addf(fmt.Sprintf("%s.rules[%d]", path, o.at), "shadowed: the %s rule rules[%d] fires whenever this one does, so this rule never decides", r.level, r.at)
			}
		}
		m.rules = append(m.rules, r)
	}
	if !base {
		ps.Addf(path+".rules", "gap: no rule with only min_days: 1, so a one-day episode maps to no level")
	}
}

// implied returns r with the thresholds its other conditions imply made
// explicit: every episode day is above day_above, a day above severe_above
// makes the peak exceed it, and a peak above severe_above is a severe day.
func (m *Mappings) implied(r rule) rule {
	if r.minPeak > m.severeAbove {
		r.minSevere = max(r.minSevere, 1)
	}
	r.minPeak = max(r.minPeak, m.dayAbove+1)
	if r.minSevere > 0 {
		r.minPeak = max(r.minPeak, m.severeAbove+1)
	}
	return r
}

// firesWhenever reports whether rule a matches every episode rule b matches:
// a's implied thresholds are nowhere above b's.
func (m *Mappings) firesWhenever(a, b rule) bool {
	a, b = m.implied(a), m.implied(b)
	return a.minDays <= b.minDays && a.minSevere <= b.minSevere && a.minPeak <= b.minPeak
}

func (m *Mappings) compileLegacy(ps *conf.Problems, list []fileCity) {
	for i, fc := range list {
		p := fmt.Sprintf("legacy[%d]", i)
		c := &city{key: fc.City, name: fc.NameZh, at: i, grades: map[string]legacyGrade{}}
		if fc.City == "" {
			ps.Addf(p+".city", "missing")
		}
		for j, k := range []string{fc.City, fc.NameZh} {
			if k == "" || (j == 1 && norm(k) == norm(fc.City)) {
				continue
			}
			if _, dup := m.cityIndex[norm(k)]; dup {
				ps.Addf(p+".city", "overlap: city %q listed twice", k)
			}
			m.cityIndex[norm(k)] = c
		}
		if len(fc.Grades) == 0 {
			ps.Addf(p+".grades", "missing")
		}
		var prev domain.Level
		for j, g := range fc.Grades {
			gp := fmt.Sprintf("%s.grades[%d]", p, j)
			l, ok := parseLevel(ps, gp+".level", g.Level)
			if strings.TrimSpace(g.Grade) == "" {
				ps.Addf(gp+".grade", "missing")
			}
			if !ok {
				l = prev
			}
			if j > 0 && ok {
				switch {
				case l < prev:
					ps.Addf(gp+".level", "not monotone: %s after %s (list grades by ascending severity)", l, prev)
				case l > prev+1:
					ps.Addf(gp+".level", "gap: %s follows %s", l, prev)
				}
			}
			prev = l
			for _, s := range append([]string{g.Grade}, g.Aliases...) {
				k := norm(s)
				if k == "" {
					continue
				}
				if _, dup := c.grades[k]; dup {
					ps.Addf(gp, "overlap: %q already names another grade of %s", s, fc.City)
				}
				c.grades[k] = legacyGrade{level: l, at: j}
			}
			c.order = append(c.order, g.Grade)
		}
		m.cities = append(m.cities, c)
	}
}

func norm(s string) string { return strings.ToLower(strings.TrimSpace(s)) }

// Info returns the file's header.
func (m *Mappings) Info() meta.Info { return m.info }

// Explanation says why a mapping gave its level, for analysts: the entries
// of the mappings file that decided it, by the path `qingliu check` uses, and
// one line in words.
type Explanation struct {
	Level   domain.Level
	Matched []string // e.g. aqi_daily_persistence.rules[3]; empty when no entry applies
	Why     string
	Episode *Episode // ExplainPersistence only: the deciding episode, nil when there is none
}

// Episode is a run of consecutive days with a daily AQI above day_above.
type Episode struct {
	First, Last int // indices into the daily values, inclusive
	SevereDays  int // days above severe_above
	Peak        int // the highest daily AQI of the run
}

// Days returns the length of the episode in days.
func (e Episode) Days() int { return e.Last - e.First + 1 }

// Water maps a section class against its target class onto the scale: none
// when the class meets the target (or either is None); otherwise the higher of
// the class-gap level and the exceedance-multiple level, raised by the
// configured steps for a drinking-water source (capped at red). A level of
// none is not escalated: a drinking-water source within its target, or one
// the tables map to none, does not alarm.
func (m *Mappings) Water(class, target water.Class, multiple float64, drinkingSource bool) domain.Level {
	return m.water(class, target, multiple, drinkingSource).level
}

type waterMatch struct {
	level, before domain.Level // with and without the drinking-source escalation
	gap, mul      int          // index of the matching class_gap and multiple band, -1 for none
}

func (m *Mappings) water(class, target water.Class, multiple float64, drinkingSource bool) waterMatch {
	w := waterMatch{gap: -1, mul: -1}
	if class == water.None || target == water.None || class <= target {
		return w
	}
	gap := int(class - target)
	w.gap = len(m.gap) - 1 // a gap beyond the last band takes its level
	for i, b := range m.gap {
		if gap >= b.lo && gap <= b.hi {
			w.gap = i
			break
		}
	}
	w.before = m.gap[w.gap].level
	if !math.IsNaN(multiple) {
		for i, b := range m.multiple {
			if multiple >= b.lo && multiple < b.hi {
				w.mul = i
				w.before = max(w.before, b.level)
				break
			}
		}
	}
	w.level = w.before
	if drinkingSource && w.level != domain.None {
		w.level = w.level.Raise(m.escalation)
	}
	return w
}

// ExplainWater is Water with the bands that decided and why.
func (m *Mappings) ExplainWater(class, target water.Class, multiple float64, drinkingSource bool) Explanation {
	w := m.water(class, target, multiple, drinkingSource)
	e := Explanation{Level: w.level, Matched: []string{}}
	switch {
	case class == water.None || target == water.None:
		e.Why = "no class or no target class to compare"
		return e
	case class <= target:
		e.Why = fmt.Sprintf("class %s meets target %s", class, target)
		return e
	}
	g := m.gap[w.gap]
	why := []string{fmt.Sprintf("class %s against target %s (gap %d): water.class_gap[%d] gives %s", class, target, int(class-target), w.gap, g.level)}
	if g.level == w.before {
		e.Matched = append(e.Matched, fmt.Sprintf("water.class_gap[%d]", w.gap))
	}
	switch {
	case math.IsNaN(multiple):
		why = append(why, "exceedance multiple unknown")
	case w.mul < 0:
		why = append(why, fmt.Sprintf("exceedance multiple %v is in no band", multiple))
	default:
		b := m.multiple[w.mul]
		why = append(why, fmt.Sprintf("exceedance multiple %v: water.multiple[%d] gives %s", multiple, w.mul, b.level))
		if b.level == w.before {
			e.Matched = append(e.Matched, fmt.Sprintf("water.multiple[%d]", w.mul))
		}
	}
	if drinkingSource {
		switch {
		case w.level != w.before:
			why = append(why, fmt.Sprintf("drinking-water source: raised from %s to %s", w.before, w.level))
			e.Matched = append(e.Matched, "water.drinking_source_escalation")
		case w.before == domain.None:
			why = append(why, "drinking-water source: none is not escalated")
		case w.before == domain.Red:
			why = append(why, "drinking-water source: already red")
		default:
			why = append(why, "drinking-water source: escalation is 0")
		}
	}
	e.Why = strings.Join(why, "; ")
	return e
}

// AQIHourly maps an hourly AQI onto the scale.
func (m *Mappings) AQIHourly(aqi int) domain.Level {
	if i := m.hourlyBand(aqi); i >= 0 {
		return m.hourly[i].level
	}
	return domain.None
}

// hourlyBand returns the index of the band aqi falls in: the last one above
// the table, -1 below it.
func (m *Mappings) hourlyBand(aqi int) int {
	if aqi < m.hourly[0].lo {
		return -1
	}
	for i, b := range m.hourly {
		if aqi <= b.hi {
			return i
		}
	}
	return len(m.hourly) - 1
}

// ExplainAQIHourly is AQIHourly with the band that decided and why.
func (m *Mappings) ExplainAQIHourly(aqi int) Explanation {
	i := m.hourlyBand(aqi)
	if i < 0 {
		return Explanation{Level: domain.None, Matched: []string{}, Why: fmt.Sprintf("AQI %d is below aqi_hourly[0] (from %d)", aqi, m.hourly[0].lo)}
	}
	b := m.hourly[i]
	e := Explanation{Level: b.level, Matched: []string{fmt.Sprintf("aqi_hourly[%d]", i)}}
	if aqi > b.hi {
		e.Why = fmt.Sprintf("AQI %d is above the last band aqi_hourly[%d] (%d-%d), whose level applies: %s", aqi, i, b.lo, b.hi, b.level)
	} else {
		e.Why = fmt.Sprintf("AQI %d is in aqi_hourly[%d] (%d-%d): %s", aqi, i, b.lo, b.hi, b.level)
	}
	return e
}

// Persistence applies the heavy-pollution-weather scheme (DESIGN §4) to a run
// of daily AQI values, oldest first (observed or forecast). An episode is a
// run of consecutive days above day_above; the result is the highest level any
// rule gives any episode (a rule matches an episode with at least min_days
// days, at least min_severe_days of them above severe_above, and a peak of at
// least min_peak). Every episode counts, not only the latest: over a forecast
// the warning is for the worst episode ahead. A caller that wants the ongoing
// episode of observed days passes only that run (the rules engine does).
func (m *Mappings) Persistence(dailyAQI []int) domain.Level {
	if _, ri, _ := m.worst(dailyAQI); ri >= 0 {
		return m.rules[ri].level
	}
	return domain.None
}

// worst returns the earliest episode with the highest level, the index in
// m.rules of the rule that gave it (-1 when no episode maps to a level) and
// the number of episodes.
func (m *Mappings) worst(daily []int) (ep Episode, ri, n int) {
	ri = -1
	cur := Episode{First: -1}
	for i := 0; i <= len(daily); i++ {
		if i < len(daily) && daily[i] > m.dayAbove {
			if cur.First < 0 {
				cur = Episode{First: i}
			}
			cur.Last = i
			if daily[i] > m.severeAbove {
				cur.SevereDays++
			}
			cur.Peak = max(cur.Peak, daily[i])
			continue
		}
		if cur.First >= 0 {
			n++
			if r := m.episode(cur.Days(), cur.SevereDays, cur.Peak); r >= 0 && (ri < 0 || m.rules[r].level > m.rules[ri].level) {
				ep, ri = cur, r
			}
		}
		cur = Episode{First: -1}
	}
	return ep, ri, n
}

// episode returns the index of the first-listed rule with the highest level
// that matches an episode, or -1.
func (m *Mappings) episode(days, severe, peak int) int {
	ri := -1
	for i, r := range m.rules {
		if days >= r.minDays && severe >= r.minSevere && peak >= r.minPeak && (ri < 0 || r.level > m.rules[ri].level) {
			ri = i
		}
	}
	return ri
}

// ExplainPersistence is Persistence with the episode and the rule that
// decided and why.
func (m *Mappings) ExplainPersistence(dailyAQI []int) Explanation {
	ep, ri, n := m.worst(dailyAQI)
	if ri < 0 {
		why := fmt.Sprintf("no day with daily AQI above %d", m.dayAbove)
		if n > 0 {
			why = fmt.Sprintf("no rule matches any of %d episode(s)", n)
		}
		return Explanation{Level: domain.None, Matched: []string{}, Why: why}
	}
	r := m.rules[ri]
	days := fmt.Sprintf("days %d-%d", ep.First+1, ep.Last+1)
	if ep.First == ep.Last {
		days = fmt.Sprintf("day %d", ep.First+1)
	}
	why := fmt.Sprintf("%s of %d: %d consecutive day(s) with daily AQI above %d, %d above %d, peak %d; aqi_daily_persistence.rules[%d] gives %s (%s)",
		days, len(dailyAQI), ep.Days(), m.dayAbove, ep.SevereDays, m.severeAbove, ep.Peak, r.at, r.level, m.describe(r))
	if n > 1 {
		why += fmt.Sprintf("; the worst of %d episodes", n)
	}
	return Explanation{Level: r.level, Matched: []string{fmt.Sprintf("aqi_daily_persistence.rules[%d]", r.at)}, Why: why, Episode: &ep}
}

func (m *Mappings) describe(r rule) string {
	out := fmt.Sprintf("at least %d day(s)", r.minDays)
	if r.minSevere > 0 {
		out += fmt.Sprintf(", at least %d above %d", r.minSevere, m.severeAbove)
	}
	if r.minPeak > 0 {
		out += fmt.Sprintf(", peak at least %d", r.minPeak)
	}
	return out
}

// Legacy maps a city's legacy grade onto the scale. city is the key or the
// Chinese name (guangzhou or 广州); grade is any listed spelling, compared
// case-insensitively.
func (m *Mappings) Legacy(cityName, grade string) (domain.Level, error) {
	e, err := m.ExplainLegacy(cityName, grade)
	return e.Level, err
}

// ExplainLegacy is Legacy with the grade entry that decided and why.
func (m *Mappings) ExplainLegacy(cityName, grade string) (Explanation, error) {
	c, ok := m.cityIndex[norm(cityName)]
	if !ok {
		return Explanation{}, fmt.Errorf("legacy grade for %q: %w (known: %s)", cityName, ErrUnknownCity, strings.Join(m.Cities(), ", "))
	}
	g, ok := c.grades[norm(grade)]
	if !ok {
		return Explanation{}, fmt.Errorf("legacy grade %q of %s: %w (known: %s)", grade, c.key, ErrUnknownGrade, strings.Join(c.order, ", "))
	}
	path := fmt.Sprintf("legacy[%d].grades[%d]", c.at, g.at)
	name := c.order[g.at]
	if norm(grade) != norm(name) {
		name = fmt.Sprintf("%s (%s)", strings.TrimSpace(grade), name)
	}
	return Explanation{
		Level:   g.level,
		Matched: []string{path},
		Why:     fmt.Sprintf("%s grade %s: %s gives %s", c.key, name, path, g.level),
	}, nil
}

// Cities lists the keys of the cities with a legacy grading, sorted.
func (m *Mappings) Cities() []string {
	out := make([]string, 0, len(m.cities))
	for _, c := range m.cities {
		out = append(out, c.key)
	}
	slices.Sort(out)
	return out
}
