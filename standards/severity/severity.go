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

type city struct {
	key, name string
	grades    map[string]domain.Level // every spelling → level
	order     []string                // canonical grades, ascending
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
		c := &city{key: fc.City, name: fc.NameZh, grades: map[string]domain.Level{}}
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
				c.grades[k] = l
			}
			c.order = append(c.order, g.Grade)
		}
		m.cities = append(m.cities, c)
	}
}

func norm(s string) string { return strings.ToLower(strings.TrimSpace(s)) }

// Info returns the file's header.
func (m *Mappings) Info() meta.Info { return m.info }

// Water maps a section class against its target class onto the scale: none
// when the class meets the target (or either is None); otherwise the higher of
// the class-gap level and the exceedance-multiple level, raised by the
// configured steps for a drinking-water source (capped at red).
func (m *Mappings) Water(class, target water.Class, multiple float64, drinkingSource bool) domain.Level {
	if class == water.None || target == water.None || class <= target {
		return domain.None
	}
	gap := int(class - target)
	l := domain.None
	for _, b := range m.gap {
		if gap >= b.lo && gap <= b.hi {
			l = b.level
		}
	}
	if gap > m.gap[len(m.gap)-1].hi {
		l = m.gap[len(m.gap)-1].level
	}
	if !math.IsNaN(multiple) {
		for _, b := range m.multiple {
			if multiple >= b.lo && multiple < b.hi && b.level > l {
				l = b.level
			}
		}
	}
	if drinkingSource && l != domain.None {
		l = l.Raise(m.escalation)
	}
	return l
}

// AQIHourly maps an hourly AQI onto the scale.
func (m *Mappings) AQIHourly(aqi int) domain.Level {
	if aqi < m.hourly[0].lo {
		return domain.None
	}
	for _, b := range m.hourly {
		if aqi <= b.hi {
			return b.level
		}
	}
	return m.hourly[len(m.hourly)-1].level
}

// Persistence applies the heavy-pollution-weather scheme (DESIGN §4) to a run
// of daily AQI values, oldest first (observed or forecast). An episode is a
// run of consecutive days above day_above; the result is the highest level any
// rule gives any episode (a rule matches an episode with at least min_days
// days, at least min_severe_days of them above severe_above, and a peak of at
// least min_peak).
func (m *Mappings) Persistence(dailyAQI []int) domain.Level {
	best := domain.None
	days, severe, peak := 0, 0, 0
	for i := 0; i <= len(dailyAQI); i++ {
		if i < len(dailyAQI) && dailyAQI[i] > m.dayAbove {
			days++
			if dailyAQI[i] > m.severeAbove {
				severe++
			}
			peak = max(peak, dailyAQI[i])
			continue
		}
		if days > 0 {
			best = max(best, m.episode(days, severe, peak))
		}
		days, severe, peak = 0, 0, 0
	}
	return best
}

func (m *Mappings) episode(days, severe, peak int) domain.Level {
	l := domain.None
	for _, r := range m.rules {
		if days >= r.minDays && severe >= r.minSevere && peak >= r.minPeak && r.level > l {
			l = r.level
		}
	}
	return l
}

// Legacy maps a city's legacy grade onto the scale. city is the key or the
// Chinese name (guangzhou or 广州); grade is any listed spelling, compared
// case-insensitively.
func (m *Mappings) Legacy(cityName, grade string) (domain.Level, error) {
	c, ok := m.cityIndex[norm(cityName)]
	if !ok {
		return domain.None, fmt.Errorf("legacy grade for %q: %w (known: %s)", cityName, ErrUnknownCity, strings.Join(m.Cities(), ", "))
	}
	l, ok := c.grades[norm(grade)]
	if !ok {
		return domain.None, fmt.Errorf("legacy grade %q of %s: %w (known: %s)", grade, c.key, ErrUnknownGrade, strings.Join(c.order, ", "))
	}
	return l, nil
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
