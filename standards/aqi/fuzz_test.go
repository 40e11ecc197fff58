package aqi

import (
	"math"
	"os"
	"testing"
)

// FuzzParseVersion feeds arbitrary YAML to the version loader: it must
// return a version or an error, never panic, and a version it returns must
// compute both reports.
func FuzzParseVersion(f *testing.F) {
	for _, name := range []string{"hj633-2012.yaml", "hj633-2026.yaml"} {
		if data, err := os.ReadFile(dir + name); err == nil {
			f.Add(data)
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		v, err := ParseVersion("fuzz.yaml", data)
		if err != nil {
			return
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
