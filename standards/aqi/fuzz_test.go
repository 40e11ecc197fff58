package aqi

import (
	"bytes"
	"math"
	"os"
	"testing"
	"time"
)

// FuzzParseVersion feeds arbitrary YAML to the version loader: it must
// return a version or an error, never panic, and a version it returns must
// compute both reports.
func FuzzParseVersion(f *testing.F) {
	for _, name := range []string{"hj633-2012.yaml", "hj633-2026.yaml"} {
		if data, err := os.ReadFile(dir + name); err == nil {
			f.Add(stripComments(data))
		}
	}
	f.Add([]byte(tinyVersion))
	f.Fuzz(func(t *testing.T, data []byte) {
		v, err := ParseVersion("fuzz.yaml", data)
		if err != nil {
			return
		}
		// A table that validates is monotone, above its top too (unless it
		// hands the pollutant to another table).
		for _, name := range v.Tables() {
			prev := -1
			for _, c := range []float64{0, 0.01, 0.5, 1, 2, 3, 5, 10, 35, 50, 100, 500, 1e3, 1e4, 1e6, 1e300} {
				if got, ok := v.TableIAQI(name, c); ok {
					if got < prev {
						t.Fatalf("table %s: IAQI(%v) = %d after %d", name, c, got, prev)
					}
					prev = got
				}
			}
		}
		for p := Hourly; p <= Daily; p++ {
			conc := map[string]float64{}
			for _, k := range v.Indicators(p) {
				conc[k] = 1e6
			}
			_ = v.Compute(p, conc)
		}
	})
}

// FuzzCompute: for any concentrations the AQI, when published, is the
// largest computed sub-index and never below any.
func FuzzCompute(f *testing.F) {
	f.Add(false, true, 45.0, 60.0, 10.0, 30.0, 0.8, 90.0, 120.0)
	f.Add(true, false, 801.0, 0.0, -1.0, math.NaN(), 1e9, 800.5, 0.0)
	l := load(f)
	f.Fuzz(func(t *testing.T, v2026, daily bool, pm25, pm10, so2, no2, co, o3_8h, o3_1h float64) {
		v, p := l.v2012, Hourly
		if v2026 {
			v = l.v2026
		}
		if daily {
			p = Daily
		}
		r := v.Compute(p, map[string]float64{"pm25": pm25, "pm10": pm10, "so2": so2, "no2": no2, "co": co, "o3_8h": o3_8h, "o3_1h": o3_1h, "so2_24h": so2 / 2})
		m := -1
		for _, s := range r.Subs() {
			if s.State == Computed {
				if s.IAQI < 0 || s.IAQI > 500 {
					t.Fatalf("%s IAQI %d out of range", s.Key, s.IAQI)
				}
				m = max(m, s.IAQI)
			}
		}
		if r.Published && r.AQI != m {
			t.Fatalf("AQI %d, largest IAQI %d", r.AQI, m)
		}
	})
}

// FuzzParseValidity feeds arbitrary YAML to the averaging-rules loader: it
// must return rules or an error, never panic, and rules it returns must
// average any day of hourly means without panicking.
func FuzzParseValidity(f *testing.F) {
	if data, err := os.ReadFile(dir + "gb3095-validity.yaml"); err == nil {
		f.Add(stripComments(data))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		v, err := ParseValidity("fuzz.yaml", data)
		if err != nil {
			return
		}
		day := make([]Mean, 24)
		for i := range day {
			day[i] = Mean{V: float64(i * 10), N: 12, Valid: i%5 != 0}
		}
		for n := 0; n <= len(day); n++ {
			for _, m := range []Mean{v.Mean24h(day[:n]), v.O3Mean8h(day[:n]), v.O3DailyMax8h(day[:n])} {
				if m.N < 0 || m.N > len(day) || (m.Valid && m.N == 0) {
					t.Fatalf("day[:%d]: %+v", n, m)
				}
			}
		}
		_ = v.Mean1h([]Sample{{V: 1}, {V: 2, Flag: "C"}, {V: math.NaN()}}, time.Minute)
	})
}

// stripComments drops the comment and blank lines of a shipped table, so that
// the seeds are half their size: the parser's coverage is the same, and the
// fuzzer spends its time mutating instead of minimizing comment bytes (at
// over a millisecond per parse, minimizing a 4 KB input took the whole of a
// 20 s run).
func stripComments(data []byte) []byte {
	var out []byte
	for line := range bytes.Lines(data) {
		if t := bytes.TrimSpace(line); len(t) > 0 && t[0] != '#' {
			out = append(out, line...)
		}
	}
	return out
}

// tinyVersion is the smallest valid version: one table, one indicator per
// report, one level.
const tinyVersion = `kind: aqi
standard: T
id: T
version: "1"
effective_from: "2026-03-01T00:00:00+08:00"
iaqi: [0, 50, 100]
above_top: {iaqi: 100}
tables:
  a: {unit: µg/m³, bp: [0, 1, 2], above_top: {fallback: b}}
  b: {unit: mg/m³, bp: [0, 3]}
reports:
  1h: [{key: a, table: a}, {key: b, table: b, auxiliary: true}]
  24h: [{key: a, table: b, round: 1}]
levels: [{level: 1, name_zh: x, category: x, color_zh: x, rgb: [0, 0, 0], from: 0}]
primary_above: 50
missing: {publish_above: 50}
`
