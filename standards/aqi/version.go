// Package aqi computes China's air quality index by HJ 633: sub-indices
// (IAQI) by linear interpolation rounded up, the AQI, its level, category and
// colour, primary pollutants, the 2012 超标污染物, each version's special
// rules, and the 2026 rule for missing pollutants. Both HJ 633-2012 and
// HJ 633-2026 are versioned data (configs/standards/hj633-*.yaml); Standards
// picks the version in force at an observation time. The package also holds
// the averaging helpers (1-h, 8-h, 24-h means and the daily maximum 8-h O3)
// with the data-validity rules of GB 3095.
//
// Everything here is a pure function of the compiled tables and its
// arguments: nothing reads the clock, and Compute does not allocate.
package aqi

import (
	"encoding/json"
	"fmt"
	"maps"
	"math"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/qingliu/qingliu/internal/conf"
	"github.com/qingliu/qingliu/standards/meta"
)

// Kind is the value of the kind: field of an AQI version file.
const Kind = "aqi"

// MaxIndicators is the largest number of indicators a report may define.
const MaxIndicators = 12

// Period is the report an AQI belongs to: real-time (hourly) or daily.
type Period uint8

// The two reports of HJ 633.
const (
	Hourly Period = iota // 实时报, "1h"
	Daily                // 日报, "24h"
	numPeriods
)

// String returns "1h" or "24h".
func (p Period) String() string {
	switch p {
	case Hourly:
		return "1h"
	case Daily:
		return "24h"
	}
	return fmt.Sprintf("Period(%d)", uint8(p))
}

// MarshalText encodes the period as "1h" or "24h".
func (p Period) MarshalText() ([]byte, error) {
	if p >= numPeriods {
		return nil, fmt.Errorf("marshal period: invalid value %d", uint8(p))
	}
	return []byte(p.String()), nil
}

// UnmarshalText accepts what ParsePeriod does.
func (p *Period) UnmarshalText(b []byte) error {
	v, err := ParsePeriod(string(b))
	if err != nil {
		return err
	}
	*p = v
	return nil
}

// ParsePeriod parses "1h" (also hourly, realtime, 实时) or "24h" (also daily, 日).
func ParsePeriod(s string) (Period, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "1h", "hourly", "realtime", "real-time", "实时", "实时报":
		return Hourly, nil
	case "24h", "daily", "day", "日", "日报":
		return Daily, nil
	}
	return 0, fmt.Errorf("parse period %q: want 1h or 24h", s)
}

// Level is one AQI level (HJ 633 Table 2 / 2026 Table 1).
type Level struct {
	Number    int    // 1–6
	Name      string // 一级 … 六级
	Category  string // 优, 良, 轻度污染, 中度污染, 重度污染, 严重污染
	ColorName string // 绿色 …
	RGB       [3]uint8
	From, To  int // AQI range; To is 0 for the open top level
}

// Color returns the level's colour as #rrggbb.
func (l Level) Color() string {
	if l.Number == 0 {
		return ""
	}
	return fmt.Sprintf("#%02x%02x%02x", l.RGB[0], l.RGB[1], l.RGB[2])
}

type table struct {
	name, unit string
	bp         []float64
	iaqi       []float64
	clamp      bool    // above the top: IAQI = clampTo
	clampTo    int     //
	fallback   string  // above the top: no sub-index; use this table's indicator
	top        float64 // bp[len-1]
}

type indicator struct {
	key      string
	table    *table
	aux      bool
	scale    float64 // 10^round; 0 means no rounding
	fallback int     // index in the report of the fallback indicator, -1 for none
}

type report struct {
	inds  []indicator
	index map[string]int
}

// Version is one compiled HJ 633 version. It is immutable and safe for
// concurrent use.
type Version struct {
	id           string
	tables       map[string]*table
	info         meta.Info
	reports      [numPeriods]report
	levels       []Level
	colors       []string
	primaryAbove int
	exceedAbove  int
	hasExceed    bool
	publishAbove int
	hasMissing   bool
}

type fileAbove struct {
	IAQI     *int   `yaml:"iaqi"`
	Fallback string `yaml:"fallback"`
}

type fileTable struct {
	Unit     string     `yaml:"unit"`
	BP       []float64  `yaml:"bp"`
	AboveTop *fileAbove `yaml:"above_top"`
}

type fileIndicator struct {
	Key       string `yaml:"key"`
	Table     string `yaml:"table"`
	Auxiliary bool   `yaml:"auxiliary"`
	Round     *int   `yaml:"round"`
}

type fileLevel struct {
	Level    int    `yaml:"level"`
	NameZh   string `yaml:"name_zh"`
	Category string `yaml:"category"`
	ColorZh  string `yaml:"color_zh"`
	RGB      []int  `yaml:"rgb"`
	From     *int   `yaml:"from"`
	To       *int   `yaml:"to"`
}

type fileMissing struct {
	PublishAbove *int `yaml:"publish_above"`
}

type fileVersion struct {
	meta.Header    `yaml:",inline"`
	ID             string                     `yaml:"id"`
	IAQI           []float64                  `yaml:"iaqi"`
	AboveTop       *fileAbove                 `yaml:"above_top"`
	Tables         map[string]fileTable       `yaml:"tables"`
	Reports        map[string][]fileIndicator `yaml:"reports"`
	Levels         []fileLevel                `yaml:"levels"`
	PrimaryAbove   *int                       `yaml:"primary_above"`
	ExceedingAbove *int                       `yaml:"exceeding_above"`
	Missing        *fileMissing               `yaml:"missing"`
}

var (
	reKey   = regexp.MustCompile(`^[a-z][a-z0-9_]{0,31}$`)
	reID    = regexp.MustCompile(`^[A-Za-z0-9._-]{1,32}$`)
	airUnit = map[string]bool{"µg/m³": true, "mg/m³": true}
)

// LoadVersion reads and validates an AQI version file.
func LoadVersion(path string) (*Version, error) {
	var f fileVersion
	if err := conf.LoadStrict(path, &f); err != nil {
		return nil, err
	}
	return compileVersion(path, &f)
}

// ParseVersion validates an AQI version from YAML data; name is used in errors.
func ParseVersion(name string, data []byte) (*Version, error) {
	var f fileVersion
	if err := conf.DecodeStrict(name, data, &f); err != nil {
		return nil, err
	}
	return compileVersion(name, &f)
}

func compileVersion(name string, f *fileVersion) (*Version, error) {
	ps := conf.Problems{File: name}
	v := &Version{id: f.ID, info: f.Header.Check(&ps, Kind)}
	if !reID.MatchString(f.ID) {
		ps.Addf("id", "%q is not a short identifier such as HJ633-2026", f.ID)
	}
	checkIAQI(&ps, f.IAQI)

	var def fileAbove
	switch {
	case f.AboveTop == nil:
		ps.Addf("above_top", "missing: say what a concentration above a table's top breakpoint gives")
	case f.AboveTop.Fallback != "":
		ps.Addf("above_top.fallback", "only allowed on a table")
	default:
		def = *f.AboveTop
		checkAbove(&ps, "above_top", &def, f.IAQI)
	}

	tables := map[string]*table{}
	if len(f.Tables) == 0 {
		ps.Addf("tables", "missing")
	}
	for _, tn := range slices.Sorted(maps.Keys(f.Tables)) {
		tables[tn] = compileTable(&ps, tn, f.Tables[tn], def, f.IAQI)
	}
	for _, tn := range slices.Sorted(maps.Keys(f.Tables)) {
		if fb := tables[tn].fallback; fb != "" {
			if _, ok := tables[fb]; !ok || fb == tn {
				ps.Addf("tables."+tn+".above_top.fallback", "%q is not another table", fb)
			}
		}
	}

	for key := range f.Reports {
		if _, err := ParsePeriod(key); err != nil || (key != "1h" && key != "24h") {
			ps.Addf("reports."+key, "unknown report (want 1h or 24h)")
		}
	}
	for p := Hourly; p < numPeriods; p++ {
		v.reports[p] = compileReport(&ps, "reports."+p.String(), f.Reports[p.String()], tables)
	}

	v.tables = tables
	v.levels, v.colors = compileLevels(&ps, f.Levels)

	if f.PrimaryAbove == nil {
		ps.Addf("primary_above", "missing")
	} else {
		v.primaryAbove = *f.PrimaryAbove
	}
	if f.ExceedingAbove != nil {
		v.hasExceed, v.exceedAbove = true, *f.ExceedingAbove
	}
	if f.Missing != nil {
		if f.Missing.PublishAbove == nil {
			ps.Addf("missing.publish_above", "missing")
		} else {
			v.hasMissing, v.publishAbove = true, *f.Missing.PublishAbove
		}
	}
	if err := ps.Err(); err != nil {
		return nil, err
	}
	return v, nil
}

func checkIAQI(ps *conf.Problems, iaqi []float64) {
	if len(iaqi) < 2 {
		ps.Addf("iaqi", "want at least two sub-index breakpoints")
		return
	}
	if iaqi[0] != 0 {
		ps.Addf("iaqi[0]", "gap: first sub-index breakpoint is %v, want 0", iaqi[0])
	}
	for i := 1; i < len(iaqi); i++ {
		if !(iaqi[i] > iaqi[i-1]) || iaqi[i] != math.Trunc(iaqi[i]) {
			ps.Addf(fmt.Sprintf("iaqi[%d]", i), "not monotone: %v after %v (want increasing integers)", iaqi[i], iaqi[i-1])
		}
	}
}

func checkAbove(ps *conf.Problems, path string, a *fileAbove, iaqi []float64) {
	switch {
	case a.IAQI == nil && a.Fallback == "":
		ps.Addf(path, "want iaqi: N or fallback: TABLE")
	case a.IAQI != nil && a.Fallback != "":
		ps.Addf(path, "iaqi and fallback are exclusive")
	case a.IAQI != nil && (*a.IAQI < 0 || (len(iaqi) > 0 && float64(*a.IAQI) > iaqi[len(iaqi)-1])):
		ps.Addf(path+".iaqi", "%d is outside the sub-index range", *a.IAQI)
	}
}

func compileTable(ps *conf.Problems, name string, ft fileTable, def fileAbove, iaqi []float64) *table {
	path := "tables." + name
	t := &table{name: name, unit: ft.Unit}
	if !reKey.MatchString(name) {
		ps.Addf(path, "%q is not a short lower-case name", name)
	}
	if !airUnit[ft.Unit] {
		ps.Addf(path+".unit", "%q is not µg/m³ or mg/m³", ft.Unit)
	}
	switch {
	case len(ft.BP) < 2:
		ps.Addf(path+".bp", "want at least two breakpoints, got %d", len(ft.BP))
	case len(ft.BP) > len(iaqi):
		ps.Addf(path+".bp", "%d breakpoints but only %d sub-index breakpoints", len(ft.BP), len(iaqi))
	default:
		ok := true
		if ft.BP[0] != 0 {
			ps.Addf(path+".bp[0]", "gap: first breakpoint is %v, want 0", ft.BP[0])
			ok = false
		}
		for i := 1; i < len(ft.BP); i++ {
			if !(ft.BP[i] > ft.BP[i-1]) || math.IsInf(ft.BP[i], 0) {
				ps.Addf(fmt.Sprintf("%s.bp[%d]", path, i), "not monotone: %v after %v (want strictly increasing)", ft.BP[i], ft.BP[i-1])
				ok = false
			}
		}
		if ok {
			t.bp = ft.BP
			t.iaqi = iaqi[:len(ft.BP)]
			t.top = ft.BP[len(ft.BP)-1]
		}
	}
	a := def
	if ft.AboveTop != nil {
		a = *ft.AboveTop
		checkAbove(ps, path+".above_top", &a, iaqi)
	}
	if a.IAQI != nil {
		t.clamp, t.clampTo = true, *a.IAQI
		// A fixed sub-index above the top must not undercut the top
		// breakpoint's own, or a higher concentration would give a lower
		// IAQI (a fallback to another table is the standard's own exception).
		if t.bp != nil && float64(*a.IAQI) < t.iaqi[len(t.iaqi)-1] {
			p, from := path+".above_top.iaqi", ""
			if ft.AboveTop == nil {
				p, from = path, " (the file's above_top)"
			}
			ps.Addf(p, "not monotone: above the top breakpoint %v the sub-index is %d%s, below the top's %v",
				t.top, *a.IAQI, from, t.iaqi[len(t.iaqi)-1])
		}
	}
	t.fallback = a.Fallback
	return t
}

func compileReport(ps *conf.Problems, path string, list []fileIndicator, tables map[string]*table) report {
	r := report{index: map[string]int{}}
	if len(list) == 0 {
		ps.Addf(path, "missing: list the report's indicators")
		return r
	}
	if len(list) > MaxIndicators {
		ps.Addf(path, "%d indicators, at most %d", len(list), MaxIndicators)
		return r
	}
	byTable := map[string]int{}
	for i, fi := range list {
		p := fmt.Sprintf("%s[%d]", path, i)
		ind := indicator{key: fi.Key, aux: fi.Auxiliary, fallback: -1}
		if !reKey.MatchString(fi.Key) {
			ps.Addf(p+".key", "%q is not a short lower-case key", fi.Key)
		}
		if _, dup := r.index[fi.Key]; dup {
			ps.Addf(p+".key", "overlap: indicator %q listed twice", fi.Key)
		}
		t, ok := tables[fi.Table]
		if !ok {
			ps.Addf(p+".table", "unknown table %q", fi.Table)
			t = &table{name: fi.Table}
		}
		ind.table = t
		if fi.Round != nil {
			if *fi.Round < 0 || *fi.Round > 3 {
				ps.Addf(p+".round", "%d decimals is outside 0..3", *fi.Round)
			} else {
				ind.scale = math.Pow10(*fi.Round)
			}
		}
		r.index[fi.Key] = i
		if _, seen := byTable[fi.Table]; !seen {
			byTable[fi.Table] = i
		}
		r.inds = append(r.inds, ind)
	}
	used := map[int]bool{}
	for i := range r.inds {
		ind := &r.inds[i]
		if ind.table.fallback == "" {
			continue
		}
		j, ok := byTable[ind.table.fallback]
		if !ok {
			ps.Addf(fmt.Sprintf("%s[%d].table", path, i), "table %s falls back to %s above its top, but no indicator of this report uses %s",
				ind.table.name, ind.table.fallback, ind.table.fallback)
			continue
		}
		if r.inds[j].table.fallback != "" {
			ps.Addf(fmt.Sprintf("%s[%d].table", path, i), "fallback %s itself falls back", ind.table.fallback)
		}
		ind.fallback = j
		used[j] = true
	}
	for i, ind := range r.inds {
		if ind.aux && !used[i] {
			ps.Addf(fmt.Sprintf("%s[%d].auxiliary", path, i), "indicator %q is auxiliary but no rule falls back to it", ind.key)
		}
	}
	return r
}

func compileLevels(ps *conf.Problems, list []fileLevel) ([]Level, []string) {
	if len(list) == 0 {
		ps.Addf("levels", "missing")
		return nil, nil
	}
	levels := make([]Level, 0, len(list))
	colors := make([]string, 0, len(list))
	for i, fl := range list {
		p := fmt.Sprintf("levels[%d]", i)
		l := Level{Number: fl.Level, Name: fl.NameZh, Category: fl.Category, ColorName: fl.ColorZh}
		if fl.Level != i+1 {
			ps.Addf(p+".level", "is %d, want %d (levels in order, no gaps)", fl.Level, i+1)
		}
		if fl.Category == "" || fl.NameZh == "" || fl.ColorZh == "" {
			ps.Addf(p, "name_zh, category and color_zh are required")
		}
		if len(fl.RGB) != 3 {
			ps.Addf(p+".rgb", "want [r, g, b]")
		} else {
			for j, c := range fl.RGB {
				if c < 0 || c > 255 {
					ps.Addf(fmt.Sprintf("%s.rgb[%d]", p, j), "%d is outside 0..255", c)
				}
				l.RGB[j] = uint8(c)
			}
		}
		switch {
		case fl.From == nil:
			ps.Addf(p+".from", "missing")
		case i == 0 && *fl.From != 0 && *fl.From != 1:
			ps.Addf(p+".from", "gap: the first level starts at %d, want 0 or 1", *fl.From)
		case i > 0 && levels[i-1].To != 0 && *fl.From != levels[i-1].To+1:
			if *fl.From <= levels[i-1].To {
				ps.Addf(p+".from", "overlap: %d is inside the previous level (to %d)", *fl.From, levels[i-1].To)
			} else {
				ps.Addf(p+".from", "gap: %d does not follow the previous level (to %d)", *fl.From, levels[i-1].To)
			}
		default:
			l.From = *fl.From
		}
		switch {
		case fl.To == nil && i != len(list)-1:
			ps.Addf(p+".to", "missing (only the last level is open)")
		case fl.To != nil && fl.From != nil && *fl.To < *fl.From:
			ps.Addf(p+".to", "not monotone: %d is below from %d", *fl.To, *fl.From)
		case fl.To != nil:
			l.To = *fl.To
		}
		levels = append(levels, l)
		colors = append(colors, l.Color())
	}
	return levels, colors
}

// ID returns the version's identifier, e.g. "HJ633-2026".
func (v *Version) ID() string { return v.id }

// Info returns the version's header (standard, version, effective date).
func (v *Version) Info() meta.Info { return v.info }

// EffectiveFrom returns the instant from which the version is in force.
func (v *Version) EffectiveFrom() time.Time { return v.info.EffectiveFrom }

// Indicators lists the keys of a report's indicators in order, without the
// auxiliary ones (which enter only through a fallback rule).
func (v *Version) Indicators(p Period) []string {
	if p >= numPeriods {
		return nil
	}
	var out []string
	for _, ind := range v.reports[p].inds {
		if !ind.aux {
			out = append(out, ind.key)
		}
	}
	return out
}

// Accepts reports whether key is an indicator (or auxiliary input) of report p.
func (v *Version) Accepts(p Period, key string) bool {
	if p >= numPeriods {
		return false
	}
	_, ok := v.reports[p].index[key]
	return ok
}

// ReportsExceeding reports whether the version defines 超标污染物 (HJ 633-2012
// does; HJ 633-2026 deleted it).
func (v *Version) ReportsExceeding() bool { return v.hasExceed }

// Levels returns the version's AQI levels in order.
func (v *Version) Levels() []Level { return append([]Level(nil), v.levels...) }

// Level returns the level of an AQI value. An AQI below the first level's
// lower bound (0 under HJ 633-2026, whose level 1 starts at 1) belongs to the
// first level.
func (v *Version) Level(aqi int) Level {
	for i := range v.levels {
		if l := &v.levels[i]; l.To == 0 || aqi <= l.To {
			return *l
		}
	}
	return v.levels[len(v.levels)-1]
}

func (v *Version) levelIndex(aqi int) int {
	for i := range v.levels {
		if l := &v.levels[i]; l.To == 0 || aqi <= l.To {
			return i
		}
	}
	return len(v.levels) - 1
}

// String returns the version's identifier.
func (v *Version) String() string { return v.id }

// MarshalJSON encodes the version as its identifier.
func (v *Version) MarshalJSON() ([]byte, error) { return json.Marshal(v.id) }
