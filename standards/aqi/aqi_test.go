package aqi

import (
	"bytes"
	"encoding/csv"
	"maps"
	"math"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

const dir = "../../configs/standards/"

type loaded struct {
	s      *Standards
	v2012  *Version
	v2026  *Version
	valid  *Validity
	byName map[string]*Version
}

func load(tb testing.TB) loaded {
	tb.Helper()
	v12, err := LoadVersion(dir + "hj633-2012.yaml")
	if err != nil {
		tb.Fatal(err)
	}
	v26, err := LoadVersion(dir + "hj633-2026.yaml")
	if err != nil {
		tb.Fatal(err)
	}
	val, err := LoadValidity(dir + "gb3095-validity.yaml")
	if err != nil {
		tb.Fatal(err)
	}
	s, err := NewStandards([]*Version{v26, v12}, val)
	if err != nil {
		tb.Fatal(err)
	}
	return loaded{s: s, v2012: v12, v2026: v26, valid: val, byName: map[string]*Version{"HJ633-2012": v12, "HJ633-2026": v26}}
}

var iaqiLevels = []int{0, 50, 100, 150, 200, 300, 400, 500}

// breakpoints is HJ 633 Table 1 (2012) and Table 3 (2026) copied
// independently from DOMAIN.md §2.1, the oracle for the shipped YAML.
var breakpoints = map[string]map[string][]float64{
	"HJ633-2012": {
		"so2_24h": {0, 50, 150, 475, 800, 1600, 2100, 2620}, "so2_1h": {0, 150, 500, 650, 800},
		"no2_24h": {0, 40, 80, 180, 280, 565, 750, 940}, "no2_1h": {0, 100, 200, 700, 1200, 2340, 3090, 3840},
		"pm10_24h": {0, 50, 150, 250, 350, 420, 500, 600}, "co_24h": {0, 2, 4, 14, 24, 36, 48, 60},
		"co_1h": {0, 5, 10, 35, 60, 90, 120, 150}, "o3_1h": {0, 160, 200, 300, 400, 800, 1000, 1200},
		"o3_8h": {0, 100, 160, 215, 265, 800}, "pm25_24h": {0, 35, 75, 115, 150, 250, 350, 500},
	},
	"HJ633-2026": {
		"so2_24h": {0, 50, 150, 475, 800, 1600, 2100, 2620}, "so2_1h": {0, 150, 500, 650, 800},
		"no2_24h": {0, 40, 80, 180, 280, 565, 750, 940}, "no2_1h": {0, 100, 200, 700, 1200, 2340, 3090, 3840},
		"pm10_24h": {0, 50, 120, 250, 350, 420, 500, 600}, "co_24h": {0, 2, 4, 14, 24, 36, 48, 60},
		"co_1h": {0, 5, 10, 35, 60, 90, 120, 150}, "o3_1h": {0, 160, 200, 300, 400, 800, 1000, 1200},
		"o3_8h": {0, 100, 160, 215, 265, 800}, "pm25_24h": {0, 35, 60, 115, 150, 250, 350, 500},
	},
}

// aboveTop is what each version says for a concentration above a table's
// top: an IAQI, or -1 for "not computed, reported through another table".
var aboveTop = map[string]map[string]int{
	"HJ633-2012": {"so2_1h": -1, "o3_8h": -1},
	"HJ633-2026": {"so2_1h": 200, "o3_8h": 300},
}

// TestBreakpoints checks every breakpoint of every table of both versions
// just below, at and just above it. The step is 0.001 of the table's unit,
// far finer than any analyser reports; IAQI is rounded up, so just below a
// breakpoint gives its IAQI and just above gives one more.
func TestBreakpoints(t *testing.T) {
	l := load(t)
	const step = 0.001
	for id, tables := range breakpoints {
		v := l.byName[id]
		if got, want := v.Tables(), slices.Sorted(maps.Keys(tables)); !slices.Equal(got, want) {
			t.Errorf("%s tables = %v, want %v", id, got, want)
		}
		for name, bp := range tables {
			for i, c := range bp {
				cases := []struct {
					what string
					c    float64
					want int
				}{{"at", c, iaqiLevels[i]}}
				if i > 0 {
					cases = append(cases, struct {
						what string
						c    float64
						want int
					}{"below", c - step, iaqiLevels[i]})
				}
				above := iaqiLevels[i] + 1
				if i == len(bp)-1 {
					above = 500
					if r, ok := aboveTop[id][name]; ok {
						above = r
					}
				}
				cases = append(cases, struct {
					what string
					c    float64
					want int
				}{"above", c + step, above})
				for _, tc := range cases {
					got, ok := v.TableIAQI(name, tc.c)
					if tc.want == -1 {
						if ok {
							t.Errorf("%s %s %s top %v: TableIAQI(%v) = %d, want not computed", id, name, tc.what, c, tc.c, got)
						}
						continue
					}
					if !ok || got != tc.want {
						t.Errorf("%s %s %s breakpoint %v: TableIAQI(%v) = %d, %v; want %d", id, name, tc.what, c, tc.c, got, ok, tc.want)
					}
				}
			}
		}
	}
}

// TestWorkedExamples are the vectors of aqi_vectors.csv and DOMAIN.md §2.6.
func TestWorkedExamples(t *testing.T) {
	l := load(t)
	tests := []struct {
		id    string
		table string
		c     float64
		want  int // -1: not computed from this table
		src   string
	}{
		{"HJ633-2012", "pm25_24h", 35, 50, "aqi_vectors.csv"},
		{"HJ633-2012", "pm25_24h", 75, 100, "aqi_vectors.csv"},
		{"HJ633-2012", "pm25_24h", 150, 200, "aqi_vectors.csv"},
		{"HJ633-2012", "pm25_24h", 250, 300, "aqi_vectors.csv"},
		{"HJ633-2012", "pm25_24h", 500, 500, "aqi_vectors.csv"},
		{"HJ633-2012", "pm10_24h", 150, 100, "aqi_vectors.csv"},
		{"HJ633-2012", "so2_1h", 801, -1, "aqi_vectors.csv, note (2)"},
		{"HJ633-2012", "o3_8h", 1000, -1, "aqi_vectors.csv, note (3)"},
		{"HJ633-2012", "pm25_24h", 40, 57, "DOMAIN.md §2.6: 56.25 rounds up"},
		{"HJ633-2026", "pm25_24h", 75, 114, "aqi_vectors.csv note; aqi-hub test"},
		{"HJ633-2026", "pm10_24h", 150, 112, "aqi_vectors.csv note; aqi-hub test"},
		{"HJ633-2026", "pm25_24h", 60, 100, "aqi_vectors.csv"},
		{"HJ633-2026", "pm25_24h", 59, 98, "DOMAIN.md §2.6"},
		{"HJ633-2026", "pm10_24h", 120, 100, "aqi_vectors.csv"},
		{"HJ633-2026", "pm10_24h", 118, 99, "DOMAIN.md §2.6"},
		{"HJ633-2026", "no2_1h", 200, 100, "aqi_vectors.csv"},
		{"HJ633-2026", "co_1h", 10, 100, "aqi_vectors.csv"},
		{"HJ633-2026", "o3_1h", 1200, 500, "aqi_vectors.csv"},
		{"HJ633-2026", "so2_1h", 801, 200, "DOMAIN.md §2.6, note b"},
		{"HJ633-2026", "o3_8h", 1000, 300, "DOMAIN.md §2.6, note c"},
	}
	for _, tt := range tests {
		got, ok := l.byName[tt.id].TableIAQI(tt.table, tt.c)
		if tt.want == -1 {
			if ok {
				t.Errorf("%s %s %v = %d, want not computed (%s)", tt.id, tt.table, tt.c, got, tt.src)
			}
			continue
		}
		if !ok || got != tt.want {
			t.Errorf("%s %s %v = %d, %v; want %d (%s)", tt.id, tt.table, tt.c, got, ok, tt.want, tt.src)
		}
	}

	// The hourly record of aqi-hub test_aqi_class_hourly (DOMAIN.md §2.6).
	r := l.v2026.Compute(Hourly, map[string]float64{"pm25": 75, "pm10": 150, "so2": 500, "no2": 200, "co": 10, "o3_1h": 200})
	if r.AQI != 114 || !slices.Equal(r.Primary(), []string{"pm25"}) || r.Level != 3 || r.Category != "轻度污染" {
		t.Errorf("2026 hourly example: AQI %d primary %v level %d %s; want 114 [pm25] 3 轻度污染", r.AQI, r.Primary(), r.Level, r.Category)
	}
}

// vectorFile is a verbatim copy of the team's shared/reference/aqi_vectors.csv,
// committed so that the vectors run in every checkout and in CI.
const vectorFile = "testdata/aqi_vectors.csv"

// TestVectorFile runs the reference vectors. When the shared folder is next
// to the repository, the committed copy must equal it.
func TestVectorFile(t *testing.T) {
	data, err := os.ReadFile(vectorFile)
	if err != nil {
		t.Fatal(err)
	}
	// Compared without CRs: the reference has CRLF line ends and git am
	// writes the copy with LF.
	crlf := func(b []byte) []byte { return bytes.ReplaceAll(b, []byte("\r\n"), []byte("\n")) }
	if shared, err := os.ReadFile("../../../shared/reference/aqi_vectors.csv"); err == nil && !bytes.Equal(crlf(shared), crlf(data)) {
		t.Errorf("%s differs from shared/reference/aqi_vectors.csv: copy the reference again", vectorFile)
	}
	rows, err := csv.NewReader(bytes.NewReader(data)).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	l := load(t)
	tables := map[string]string{"PM2.5": "pm25", "PM10": "pm10", "SO2": "so2", "NO2": "no2", "CO": "co", "O3": "o3"}
	n := 0
	for _, row := range rows[1:] {
		id, pol, avg, conc, want := row[0], row[1], row[2], row[3], row[5]
		if strings.Contains(avg, "24h") {
			avg = "24h" // "24h or 1h": 2026 uses the daily table for PM 1-h means
		}
		table := tables[pol] + "_" + avg
		c, err := strconv.ParseFloat(conc, 64)
		if err != nil {
			t.Fatalf("row %v: %v", row, err)
		}
		v := l.byName[id]
		got, ok := v.TableIAQI(table, c)
		switch {
		case want == "" && ok:
			t.Errorf("%s %s %v = %d, want not computed (%s)", id, table, c, got, row[7])
		case want != "":
			w, _ := strconv.Atoi(want)
			if !ok || got != w {
				t.Errorf("%s %s %v = %d, %v; want %d", id, table, c, got, ok, w)
			}
		}
		// The same vector through every report indicator that uses the
		// table ("24h or 1h" rows: both 2026 reports); a row without an
		// IAQI must be reported by the fallback indicator's sub-index.
		for p, inds := range reportTables[id] {
			for key, rt := range inds {
				if rt.table != table {
					continue
				}
				if want != "" {
					w, _ := strconv.Atoi(want)
					if got, ok := v.IAQI(Period(p), key, c); !ok || got != w {
						t.Errorf("%s %s IAQI(%s, %v) = %d, %v; want %d", id, Period(p), key, c, got, ok, w)
					}
					continue
				}
				fb := fallbackKey[table]
				r := v.Compute(Period(p), map[string]float64{key: c, fb: 100})
				s, _ := r.Sub(key)
				f, _ := r.Sub(fb)
				fbWant, _ := v.IAQI(Period(p), fb, 100)
				if s.State != Replaced || s.ReplacedBy != fb || f.State != Computed || r.AQI != fbWant {
					t.Errorf("%s %s %s=%v: sub %+v, %s %+v, AQI %d; want replaced by %s, AQI %d (%s)",
						id, Period(p), key, c, s, fb, f, r.AQI, fb, fbWant, row[7])
				}
			}
		}
		n++
	}
	if n < 13 {
		t.Errorf("ran %d vectors, want at least 13", n)
	}
}

func TestIndicatorSets(t *testing.T) {
	l := load(t)
	tests := []struct {
		v    *Version
		p    Period
		want []string
	}{
		{l.v2012, Hourly, []string{"so2", "no2", "co", "o3_1h", "o3_8h", "pm10", "pm25"}},
		{l.v2012, Daily, []string{"so2", "no2", "co", "pm10", "pm25", "o3_1h", "o3_8h"}},
		{l.v2026, Hourly, []string{"so2", "no2", "co", "o3_1h", "pm10", "pm25"}},
		{l.v2026, Daily, []string{"so2", "no2", "co", "pm10", "pm25", "o3_8h"}},
	}
	for _, tt := range tests {
		if got := tt.v.Indicators(tt.p); !slices.Equal(got, tt.want) {
			t.Errorf("%s %s indicators = %v, want %v", tt.v, tt.p, got, tt.want)
		}
	}
	if !l.v2012.Accepts(Hourly, "so2_24h") || l.v2026.Accepts(Hourly, "so2_24h") || l.v2026.Accepts(Daily, "o3_1h") {
		t.Error("Accepts: want so2_24h only in the 2012 real-time report and no o3_1h in the 2026 daily report")
	}
}

// TestReportIAQI checks the report-level sub-index: which table an indicator
// uses in each report and the 2026 daily rounding (GB/T 8170).
func TestReportIAQI(t *testing.T) {
	l := load(t)
	tests := []struct {
		v    *Version
		p    Period
		key  string
		c    float64
		want int
		ok   bool
	}{
		{l.v2012, Hourly, "pm25", 75, 100, true},  // 24-h sliding mean, 2012 table
		{l.v2026, Hourly, "pm25", 75, 114, true},  // 1-h mean, 2026 daily table
		{l.v2012, Hourly, "so2", 500, 100, true},  // 1-h table
		{l.v2012, Daily, "so2", 500, 154, true},   // 24-h table: 150 + 50*25/325 = 153.8
		{l.v2026, Daily, "pm25", 59.5, 100, true}, // rounds half to even: 60
		{l.v2026, Daily, "pm25", 60.5, 100, true}, // 60
		{l.v2026, Daily, "pm25", 61.5, 102, true}, // 62: 100 + 50*2/55 = 101.8
		{l.v2026, Daily, "pm25", 59.4, 98, true},  // 59
		{l.v2026, Hourly, "pm25", 59.5, 99, true}, // no rounding in the real-time report
		{l.v2026, Hourly, "pm25", 60.01, 101, true},
		{l.v2026, Daily, "co", 2.05, 50, true},   // 2.0
		{l.v2026, Daily, "co", 2.15, 55, true},   // 2.2
		{l.v2026, Daily, "co", 2.04, 50, true},   // 2.0
		{l.v2012, Daily, "co", 2.05, 52, true},   // 2012: no rounding, 50 + 0.05*25 = 51.25
		{l.v2012, Hourly, "so2", 801, 0, false},  // note (2)
		{l.v2026, Hourly, "so2", 801, 200, true}, // note b
		{l.v2012, Hourly, "nope", 1, 0, false},
		{l.v2012, Hourly, "pm25", -1, 0, false},
		{l.v2012, Hourly, "pm25", math.NaN(), 0, false},
	}
	for _, tt := range tests {
		got, ok := tt.v.IAQI(tt.p, tt.key, tt.c)
		if got != tt.want || ok != tt.ok {
			t.Errorf("%s %s IAQI(%s, %v) = %d, %v; want %d, %v", tt.v, tt.p, tt.key, tt.c, got, ok, tt.want, tt.ok)
		}
	}
}

func TestCompute(t *testing.T) {
	l := load(t)
	full2012 := map[string]float64{"so2": 10, "no2": 30, "co": 0.8, "pm10": 60, "pm25": 45, "o3_1h": 100, "o3_8h": 90}
	with := func(m map[string]float64, kv ...any) map[string]float64 {
		out := map[string]float64{}
		for k, v := range m {
			out[k] = v
		}
		for i := 0; i < len(kv); i += 2 {
			if v, ok := kv[i+1].(float64); ok {
				out[kv[i].(string)] = v
			} else {
				delete(out, kv[i].(string))
			}
		}
		return out
	}
	tests := []struct {
		name      string
		v         *Version
		p         Period
		conc      map[string]float64
		aqi       int
		published bool
		complete  bool
		level     int
		category  string
		color     string
		primary   []string
		exceeding []string
		missing   []string
	}{
		{"issue example plus o3_1h", l.v2012, Daily, full2012, 63, true, true, 2, "良", "#ffff00", []string{"pm25"}, []string{}, []string{}},
		{"AQI 50 has no primary", l.v2012, Daily, map[string]float64{"pm25": 35, "pm10": 10}, 50, true, false, 1, "优", "#00e400",
			[]string{}, []string{}, []string{"so2", "no2", "co", "o3_1h", "o3_8h"}},
		{"AQI 51 has one", l.v2012, Daily, map[string]float64{"pm25": 35.1, "pm10": 10}, 51, true, false, 2, "良", "#ffff00",
			[]string{"pm25"}, []string{}, []string{"so2", "no2", "co", "o3_1h", "o3_8h"}},
		{"ties are all primary; 超标 only above 100", l.v2012, Daily, with(full2012, "pm25", 75.0, "pm10", 150.0, "o3_8h", 161.0),
			101, true, true, 3, "轻度污染", "#ff7e00", []string{"o3_8h"}, []string{"o3_8h"}, []string{}},
		{"tie at 151", l.v2012, Daily, with(full2012, "pm25", 75.1, "pm10", 150.1), 101, true, true, 3, "轻度污染", "#ff7e00",
			[]string{"pm10", "pm25"}, []string{"pm10", "pm25"}, []string{}},
		{"2012 daily O3 8-h above 800 reports O3 by the 1-h mean", l.v2012, Daily, with(full2012, "o3_8h", 900.0, "o3_1h", 420.0),
			205, true, true, 5, "重度污染", "#99004c", []string{"o3_1h"}, []string{"o3_1h"}, []string{}},
		{"2012 real-time SO2 above 800 without the 24-h mean", l.v2012, Hourly, map[string]float64{"so2": 900, "pm25": 40},
			57, true, false, 2, "良", "#ffff00", []string{"pm25"}, []string{}, []string{"so2_24h", "no2", "co", "o3_1h", "o3_8h", "pm10"}},
		{"2026 complete", l.v2026, Daily, map[string]float64{"so2": 10, "no2": 30, "co": 0.8, "pm10": 60, "pm25": 45, "o3_8h": 90},
			70, true, true, 2, "良", "#ffff00", []string{"pm25"}, []string{}, []string{}},
		{"2026 missing, AQI 100: NA", l.v2026, Daily, map[string]float64{"pm25": 60, "pm10": 60}, 0, false, false, 0, "", "",
			[]string{}, []string{}, []string{"so2", "no2", "co", "o3_8h"}},
		{"2026 missing, AQI 101: published", l.v2026, Daily, map[string]float64{"pm25": 61, "pm10": 60}, 101, true, false, 3, "轻度污染", "#ff7e00",
			[]string{"pm25"}, []string{}, []string{"so2", "no2", "co", "o3_8h"}},
		{"2026 NaN counts as missing", l.v2026, Hourly, map[string]float64{"so2": 10, "no2": 30, "co": math.NaN(), "o3_1h": 90, "pm10": 60, "pm25": 45},
			0, false, false, 0, "", "", []string{}, []string{}, []string{"co"}},
		{"2026 all zero is level 1", l.v2026, Hourly, map[string]float64{"so2": 0, "no2": 0, "co": 0, "o3_1h": 0, "pm10": 0, "pm25": 0},
			0, true, true, 1, "优", "#00e400", []string{}, []string{}, []string{}},
		{"2026 beyond the top of PM2.5 is 500", l.v2026, Hourly, map[string]float64{"so2": 0, "no2": 0, "co": 0, "o3_1h": 0, "pm10": 0, "pm25": 900},
			500, true, true, 6, "严重污染", "#7e0023", []string{"pm25"}, []string{}, []string{}},
		{"nothing given", l.v2026, Hourly, map[string]float64{"xx": 1}, 0, false, false, 0, "", "",
			[]string{}, []string{}, []string{"so2", "no2", "co", "o3_1h", "pm10", "pm25"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := tt.v.Compute(tt.p, tt.conc)
			if r.AQI != tt.aqi || r.Published != tt.published || r.Complete != tt.complete || r.Level != tt.level ||
				r.Category != tt.category || r.Color != tt.color || r.Standard != tt.v.ID() || r.Period != tt.p {
				t.Errorf("got AQI %d published %v complete %v level %d %q %q %s %s; want %d %v %v %d %q %q",
					r.AQI, r.Published, r.Complete, r.Level, r.Category, r.Color, r.Standard, r.Period,
					tt.aqi, tt.published, tt.complete, tt.level, tt.category, tt.color)
			}
			if got := r.Primary(); !slices.Equal(got, tt.primary) {
				t.Errorf("primary = %v, want %v", got, tt.primary)
			}
			if got := r.Exceeding(); !slices.Equal(got, tt.exceeding) {
				t.Errorf("exceeding = %v, want %v", got, tt.exceeding)
			}
			if got := r.Missing(); !slices.Equal(got, tt.missing) {
				t.Errorf("missing = %v, want %v", got, tt.missing)
			}
		})
	}

	r := l.v2012.Compute(Hourly, map[string]float64{"so2": 900, "so2_24h": 120, "pm25": 40})
	so2, _ := r.Sub("so2")
	aux, _ := r.Sub("so2_24h")
	if so2.State != Replaced || so2.ReplacedBy != "so2_24h" || aux.State != Computed || aux.IAQI != 85 || r.AQI != 85 {
		t.Errorf("2012 SO2 fallback: so2 %+v, so2_24h %+v, AQI %d; want replaced by so2_24h with IAQI 85", so2, aux, r.AQI)
	}
	r = l.v2026.Compute(Daily, map[string]float64{"o3_8h": 801})
	if o3, _ := r.Sub("o3_8h"); o3.IAQI != 300 || !o3.BeyondTop || !r.Published || r.AQI != 300 {
		t.Errorf("2026 O3 8-h 801: %+v, AQI %d published %v; want 300 beyond top, published", o3, r.AQI, r.Published)
	}
}

func TestLevels(t *testing.T) {
	l := load(t)
	tests := []struct {
		aqi, level int
		category   string
	}{
		{0, 1, "优"}, {1, 1, "优"}, {50, 1, "优"}, {51, 2, "良"}, {100, 2, "良"}, {101, 3, "轻度污染"},
		{150, 3, "轻度污染"}, {151, 4, "中度污染"}, {200, 4, "中度污染"}, {201, 5, "重度污染"},
		{300, 5, "重度污染"}, {301, 6, "严重污染"}, {500, 6, "严重污染"}, {800, 6, "严重污染"},
	}
	colors := []string{"", "#00e400", "#ffff00", "#ff7e00", "#ff0000", "#99004c", "#7e0023"}
	for _, v := range []*Version{l.v2012, l.v2026} {
		for _, tt := range tests {
			got := v.Level(tt.aqi)
			if got.Number != tt.level || got.Category != tt.category || got.Color() != colors[tt.level] {
				t.Errorf("%s Level(%d) = %d %s %s; want %d %s %s", v, tt.aqi, got.Number, got.Category, got.Color(), tt.level, tt.category, colors[tt.level])
			}
		}
		if n := len(v.Levels()); n != 6 {
			t.Errorf("%s has %d levels, want 6", v, n)
		}
	}
	if l.v2012.Levels()[0].From != 0 || l.v2026.Levels()[0].From != 1 {
		t.Error("level 1 starts at 0 in 2012 and at 1 in 2026")
	}
}

func TestFor(t *testing.T) {
	l := load(t)
	cst := time.FixedZone("CST", 8*3600)
	tests := []struct {
		t    time.Time
		want *Version
	}{
		{time.Date(2015, 12, 31, 23, 59, 59, 0, cst), nil},
		{time.Date(2016, 1, 1, 0, 0, 0, 0, cst), l.v2012},
		{time.Date(2025, 6, 1, 12, 0, 0, 0, cst), l.v2012},
		{time.Date(2026, 2, 28, 23, 59, 59, 999999999, cst), l.v2012},
		{time.Date(2026, 3, 1, 0, 0, 0, 0, cst), l.v2026},
		{time.Date(2026, 2, 28, 16, 0, 0, 0, time.UTC), l.v2026},
		{time.Date(2026, 2, 28, 15, 59, 59, 0, time.UTC), l.v2012},
		{time.Date(2040, 1, 1, 0, 0, 0, 0, cst), l.v2026},
	}
	for _, tt := range tests {
		if got := l.s.For(tt.t); got != tt.want {
			t.Errorf("For(%s) = %v, want %v", tt.t, got, tt.want)
		}
	}
	if _, err := l.s.Lookup(time.Date(2000, 1, 1, 0, 0, 0, 0, cst)); err == nil {
		t.Error("Lookup(2000) succeeded, want ErrNoVersion")
	}
	if l.s.Version("HJ633-2026") != l.v2026 || l.s.Version("x") != nil {
		t.Error("Version by id")
	}
	if _, err := NewStandards([]*Version{l.v2012, l.v2012}, l.valid); err == nil {
		t.Error("NewStandards with two versions on one date succeeded")
	}
}

// TestMonotoneIAQI: a higher concentration never gives a lower IAQI, on every
// table of both versions including above the top (except where HJ 633-2012
// stops computing the table and reports the pollutant through another).
func TestMonotoneIAQI(t *testing.T) {
	l := load(t)
	for _, v := range []*Version{l.v2012, l.v2026} {
		for _, name := range v.Tables() {
			bp := breakpoints[v.ID()][name]
			top := bp[len(bp)-1]
			prev := -1
			for i := 0; i <= 20000; i++ {
				c := top * 1.5 * float64(i) / 20000
				got, ok := v.TableIAQI(name, c)
				if !ok {
					if c <= top || aboveTop[v.ID()][name] != -1 {
						t.Fatalf("%s %s: %v not computed", v, name, c)
					}
					continue
				}
				if got < prev {
					t.Fatalf("%s %s: IAQI(%v) = %d after %d", v, name, c, got, prev)
				}
				prev = got
			}
		}
	}
}

// TestAQIProperties: the AQI is never below any IAQI and equals the largest;
// raising one concentration never lowers it (concentrations kept below the
// tops where HJ 633-2012 switches tables).
func TestAQIProperties(t *testing.T) {
	l := load(t)
	rng := rand.New(rand.NewPCG(633, 2026))
	tops := map[string]float64{"so2": 800, "no2": 3840, "co": 150, "pm10": 600, "pm25": 500, "o3_1h": 1200, "o3_8h": 800, "so2_24h": 2620}
	for n := 0; n < 20000; n++ {
		v := []*Version{l.v2012, l.v2026}[rng.IntN(2)]
		p := Period(rng.IntN(2))
		conc := map[string]float64{}
		for _, k := range v.Indicators(p) {
			if rng.IntN(10) > 0 {
				conc[k] = rng.Float64() * tops[k] * []float64{0.1, 0.5, 1}[rng.IntN(3)]
			}
		}
		r := v.Compute(p, conc)
		maxIAQI := 0
		for _, s := range r.Subs() {
			if s.State == Computed {
				maxIAQI = max(maxIAQI, s.IAQI)
				if r.Published && r.AQI < s.IAQI {
					t.Fatalf("%s %s %v: AQI %d below IAQI %s %d", v, p, conc, r.AQI, s.Key, s.IAQI)
				}
			}
		}
		if r.Published && r.AQI != maxIAQI {
			t.Fatalf("%s %s %v: AQI %d, max IAQI %d", v, p, conc, r.AQI, maxIAQI)
		}
		if !r.Published {
			continue
		}
		keys := v.Indicators(p)
		k := keys[rng.IntN(len(keys))]
		up := map[string]float64{}
		for kk, c := range conc {
			up[kk] = c
		}
		up[k] = math.Min(conc[k]+rng.Float64()*tops[k]*0.3, tops[k])
		if r2 := v.Compute(p, up); r2.Published && r2.AQI < r.AQI {
			t.Fatalf("%s %s: raising %s %v → %v lowered AQI %d → %d", v, p, k, conc[k], up[k], r.AQI, r2.AQI)
		}
	}
}

func TestComputeDoesNotAllocate(t *testing.T) {
	l := load(t)
	conc := map[string]float64{"so2": 8, "no2": 41, "co": 0.7, "o3_1h": 130, "pm10": 66, "pm25": 38}
	at := time.Date(2026, 6, 1, 14, 0, 0, 0, time.UTC)
	allocs := testing.AllocsPerRun(100, func() {
		r := l.s.For(at).Compute(Hourly, conc)
		if r.AQI == 0 {
			t.Fatal("no AQI")
		}
	})
	if allocs != 0 {
		t.Errorf("For+Compute allocates %v times per run, want 0", allocs)
	}
}

func TestRoundGBT8170(t *testing.T) {
	tests := []struct {
		x    float64
		d    int
		want float64
	}{
		{59.5, 0, 60}, {60.5, 0, 60}, {61.5, 0, 62}, {59.49, 0, 59}, {59.51, 0, 60}, {0.5, 0, 0}, {1.5, 0, 2},
		{2.05, 1, 2.0}, {2.15, 1, 2.2}, {2.25, 1, 2.2}, {2.35, 1, 2.4}, {2.051, 1, 2.1}, {12.449, 1, 12.4}, {0, 0, 0},
	}
	for _, tt := range tests {
		if got := RoundGBT8170(tt.x, tt.d); got != tt.want {
			t.Errorf("RoundGBT8170(%v, %d) = %v, want %v", tt.x, tt.d, got, tt.want)
		}
	}
}

func TestPeriodText(t *testing.T) {
	for _, p := range []Period{Hourly, Daily} {
		b, err := p.MarshalText()
		if err != nil {
			t.Fatal(err)
		}
		var back Period
		if err := back.UnmarshalText(b); err != nil || back != p {
			t.Errorf("round trip %s: %q → %s, %v", p, b, back, err)
		}
	}
	for in, want := range map[string]Period{"1h": Hourly, "hourly": Hourly, "实时": Hourly, "24h": Daily, "daily": Daily, " 24H ": Daily} {
		if got, err := ParsePeriod(in); err != nil || got != want {
			t.Errorf("ParsePeriod(%q) = %s, %v; want %s", in, got, err, want)
		}
	}
	if _, err := ParsePeriod("8h"); err == nil {
		t.Error("ParsePeriod(8h) succeeded")
	}
	if _, err := Period(7).MarshalText(); err == nil {
		t.Error("Period(7).MarshalText succeeded")
	}
}

// BenchmarkHourlyAQI is the per-reading work of the rules engine for one
// hourly air record: pick the version by time, then IAQI + AQI.
func BenchmarkHourlyAQI(b *testing.B) {
	l := load(b)
	conc := map[string]float64{"so2": 8, "no2": 41, "co": 0.7, "o3_1h": 130, "pm10": 66, "pm25": 38}
	at := time.Date(2026, 6, 1, 14, 0, 0, 0, time.UTC)
	b.ReportAllocs()
	for b.Loop() {
		r := l.s.For(at).Compute(Hourly, conc)
		if r.AQI == 0 {
			b.Fatal("no AQI")
		}
	}
}
