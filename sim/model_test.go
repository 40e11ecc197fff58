package sim

import (
	"math"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/qingliu/qingliu/domain"
	"github.com/qingliu/qingliu/registry"
)

func TestBaselineIsDeterministicForASeed(t *testing.T) {
	reg := newTestRegistry()
	st := reg.station("bj-a")
	t0 := at(t, "2026-11-26T14:00:00+08:00")
	for _, p := range []string{"temp", "ph", "do", "nh3n"} {
		a, b := Baseline(st, p, t0, 7), Baseline(st, p, t0, 7)
		if a != b {
			t.Errorf("%s: two calls with seed 7 gave %v and %v", p, a, b)
		}
		if c := Baseline(st, p, t0, 8); c == a {
			t.Errorf("%s: seeds 7 and 8 both gave %v", p, a)
		}
		if d := Baseline(st, p, t0.Add(time.Hour), 7); d == a {
			t.Errorf("%s: an hour later still %v", p, a)
		}
	}
	if Baseline(st, "nh3n", t0, 7) == Baseline(reg.station("bj-b"), "nh3n", t0, 7) {
		t.Error("two stations read the same nh3n")
	}
}

// plausible is the range every sample must fall in, and the range the
// middle 90 % of samples must cover part of (the brief's typical range).
var plausible = map[string][2]float64{
	"temp": {18, 30}, "ph": {6.8, 7.8}, "do": {6, 9}, "cond": {150, 300}, "turb": {5, 40},
	"codmn": {1.5, 4}, "nh3n": {0.1, 0.5}, "tp": {0.03, 0.15}, "tn": {0.8, 1.8},
	"pm25": {15, 60}, "pm10": {24, 100}, "o3": {40, 160}, "no2": {15, 60}, "so2": {5, 15}, "co": {0.5, 1.2},
	"air_temp": {2, 39}, "rh": {30, 100}, "pressure": {98.5, 103.5}, "wind_speed": {0.1, 10}, "wind_dir": {0, 360},
}

func TestBaselineStaysPlausible(t *testing.T) {
	reg := newTestRegistry()
	r := rand.New(rand.NewPCG(1, 2))
	y0 := at(t, "2026-01-01T00:00:00+08:00")
	for _, st := range reg.stations {
		for p := range st.Params {
			lim, ok := plausible[p]
			if !ok {
				t.Fatalf("no plausible range for %s", p)
			}
			var sum float64
			lo, hi := math.Inf(1), math.Inf(-1)
			const n = 10000
			for range n {
				tt := y0.Add(time.Duration(r.Int64N(int64(365 * 24 * time.Hour))))
				v := Baseline(st, p, tt, r.Uint64()%4)
				if math.IsNaN(v) || v < lim[0] || v > lim[1] {
					t.Fatalf("%s at %s: %v outside [%v, %v]", p, tt, v, lim[0], lim[1])
				}
				sum += v
				lo, hi = min(lo, v), max(hi, v)
			}
			// The spread must be real, not a constant squeezed into the range.
			if hi-lo < 0.2*(lim[1]-lim[0]) {
				t.Errorf("%s: samples span only [%v, %v] of [%v, %v]", p, lo, hi, lim[0], lim[1])
			}
			if p != "wind_dir" {
				if c := catalogueRange(t, p); sum/n < c[0] || sum/n > c[1] {
					t.Errorf("%s: mean %v outside the catalogue range %v", p, sum/n, c)
				}
			}
		}
	}
}

func catalogueRange(t *testing.T, p string) [2]float64 {
	t.Helper()
	cp, ok := registry.LookupParam(p)
	if !ok {
		t.Fatalf("catalogue has no %s", p)
	}
	return [2]float64{cp.Min, cp.Max}
}

// meanByHour averages param over days at each local hour.
func meanByHour(st *registry.Station, param string, from time.Time, days int) [24]float64 {
	var out [24]float64
	for d := range days {
		for h := range 24 {
			out[h] += Baseline(st, param, from.Add(time.Duration(d*24+h)*time.Hour), 3) / float64(days)
		}
	}
	return out
}

func argmax(xs [24]float64) int {
	best := 0
	for i, x := range xs {
		if x > xs[best] {
			best = i
		}
	}
	return best
}

func TestDiurnalCycles(t *testing.T) {
	reg := newTestRegistry()
	water, air := reg.station("bj-a"), reg.station("aq-x")
	for _, season := range []string{"2026-01-10T00:00:00+08:00", "2026-07-10T00:00:00+08:00"} {
		from := at(t, season)
		do := meanByHour(water, "do", from, 30)
		if h := argmax(do); h < 12 || h > 18 {
			t.Errorf("%s: DO peaks at %02d:00, want the afternoon", season, h)
		}
		if do[15] <= do[5] {
			t.Errorf("%s: DO at 15:00 %.2f not above 05:00 %.2f", season, do[15], do[5])
		}
		if h := argmax(meanByHour(air, "o3", from, 30)); h < 13 || h > 17 {
			t.Errorf("%s: O3 peaks at %02d:00, want mid-afternoon", season, h)
		}
		no2 := meanByHour(air, "no2", from, 30)
		if no2[8] <= no2[3] || no2[19] <= no2[13] {
			t.Errorf("%s: NO2 has no rush-hour peaks: %v", season, no2)
		}
		pm := meanByHour(air, "pm25", from, 30)
		if pm[8] <= pm[14] || pm[20] <= pm[14] {
			t.Errorf("%s: PM2.5 has no morning/evening peaks: %v", season, pm)
		}
	}
	// DO falls as water warms: summer below winter.
	winter := meanByHour(water, "do", at(t, "2026-01-10T00:00:00+08:00"), 30)
	summer := meanByHour(water, "do", at(t, "2026-07-10T00:00:00+08:00"), 30)
	if summer[12] >= winter[12] {
		t.Errorf("DO in summer %.2f not below winter %.2f", summer[12], winter[12])
	}
	// PM10 is about 1.6 × PM2.5.
	var r float64
	from := at(t, "2026-03-01T00:00:00+08:00")
	for i := range 500 {
		tt := from.Add(time.Duration(i) * 37 * time.Minute)
		r += Baseline(air, "pm10", tt, 1) / Baseline(air, "pm25", tt, 1) / 500
	}
	if r < 1.4 || r > 1.8 {
		t.Errorf("PM10/PM2.5 = %.2f, want about 1.6", r)
	}
}

func TestShippedStationsAreModelled(t *testing.T) {
	reg, err := registry.Load("../configs/stations.yaml")
	if err != nil {
		t.Fatal(err)
	}
	t0 := at(t, "2026-11-26T14:00:00+08:00")
	for _, st := range reg.Stations() {
		for p := range st.Params {
			var c clock = clockAt(t0)
			if _, ok := shape(st, p, c, traitsOf(1, st.ID, p), 1); !ok {
				t.Errorf("%s: parameter %s has no model", st.ID, p)
			}
			cp, _ := registry.LookupParam(p)
			if v := Baseline(st, p, t0, 1); !cp.Plausible(v) {
				t.Errorf("%s %s = %v, not plausible", st.ID, p, v)
			}
		}
	}
}

func TestEventFollowsTheRiver(t *testing.T) {
	reg := newTestRegistry()
	start := at(t, "2026-11-26T08:00:00+08:00")
	ev := EventSpec{Station: "bj-a", Param: "nh3n", Start: At{Rel: 10 * time.Minute}, Peak: 3.5,
		Duration: 2 * time.Hour, Rise: 10 * time.Minute}
	m := NewModel(5, []Event{ev.Resolve(start, 0.85)}, nil, reg.Downstream)
	t0 := start.Add(10 * time.Minute)
	cases := []struct {
		station string
		t       time.Time
		factor  float64 // expected fraction of the source excess; 0 = baseline
	}{
		{"bj-a", t0.Add(-time.Minute), 0},
		{"bj-a", t0.Add(5 * time.Minute), 0.5},
		{"bj-a", t0.Add(time.Hour), 1},
		{"bj-a", t0.Add(2 * time.Hour), 0},
		{"bj-b", t0.Add(time.Hour), 0},                 // not arrived yet
		{"bj-b", t0.Add(2*time.Hour - time.Minute), 0}, // a minute before the ETA
		{"bj-b", t0.Add(3 * time.Hour), 0.85},          // an hour after the ETA
		{"bj-c", t0.Add(5*time.Hour + 30*time.Minute), 0.85 * 0.85},
		{"bj-c", t0.Add(7*time.Hour + time.Minute), 0}, // passed
	}
	for _, c := range cases {
		st := reg.station(c.station)
		base := Baseline(st, "nh3n", c.t, 5)
		mean := sampleAt(st, "nh3n", c.t, 5).mean
		want := base + c.factor*(3.5-mean)
		if got := m.Value(st, "nh3n", c.t); math.Abs(got-want) > 1e-9 {
			t.Errorf("%s at %s: nh3n %v, want %v (baseline %v)", c.station, c.t.Format("15:04"), got, want, base)
		}
	}
	// Other parameters are untouched.
	st := reg.station("bj-b")
	if got, want := m.Value(st, "do", t0.Add(3*time.Hour)), Baseline(st, "do", t0.Add(3*time.Hour), 5); got != want {
		t.Errorf("do changed by an nh3n event: %v, want %v", got, want)
	}
}

func TestStuckRepeatsTheLastValue(t *testing.T) {
	reg := newTestRegistry()
	st := reg.station("bj-a")
	start := at(t, "2026-11-26T08:00:00+08:00")
	m := NewModel(9, nil, []Stuck{StuckSpec{Station: "bj-a", Param: "do", After: At{Rel: 90 * time.Minute}}.Resolve(start)}, nil)
	last := m.Value(st, "do", start.Add(time.Hour)) // the 09:00 report, the last before 09:30
	for h := 2; h < 8; h++ {
		if v := m.Value(st, "do", start.Add(time.Duration(h)*time.Hour)); v != last {
			t.Errorf("+%dh: do %v, want the stuck %v", h, v, last)
		}
	}
	if m.Value(st, "do", start) == last {
		t.Error("before the fault do already equals the stuck value")
	}
	if m.Value(st, "ph", start.Add(3*time.Hour)) == m.Value(st, "ph", start.Add(4*time.Hour)) {
		t.Error("ph is stuck too")
	}
}

func TestSoftLimit(t *testing.T) {
	for _, v := range []float64{-100, 0, 5, 9.5, 10, 20, 1e9} {
		got := softLimit(v, 0, 10)
		if got < 0 || got > 10 {
			t.Errorf("softLimit(%v) = %v outside [0,10]", v, got)
		}
	}
	if softLimit(5, 0, 10) != 5 {
		t.Error("softLimit changes values in the middle")
	}
	if !(softLimit(9.5, 0, 10) < softLimit(9.7, 0, 10)) {
		t.Error("softLimit is not increasing near the bound")
	}
}

func TestUnknownParamGetsAPlausibleValue(t *testing.T) {
	st := &registry.Station{ID: "x", Medium: domain.Water, Params: map[string]time.Duration{"bogus": time.Hour}}
	if v := Baseline(st, "bogus", time.Now(), 1); math.IsNaN(v) || v < 0 {
		t.Errorf("bogus = %v", v)
	}
}
