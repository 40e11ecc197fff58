package rules

import (
	"fmt"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/qingliu/qingliu/domain"
	"github.com/qingliu/qingliu/registry"
)

var benchParams = []string{"temp", "ph", "do", "cond", "turb", "codmn", "nh3n", "tp", "tn", "chla"}

// benchRegistry is 200 water stations reporting 10 parameters every
// minute, on 20 river chains of 10 sections (half of them crossing from
// 清远 into 广州).
func benchRegistry(b *testing.B) *registry.Registry {
	b.Helper()
	var c registry.Config
	for r := range 20 {
		rc := registry.RiverConfig{Name: fmt.Sprintf("river-%02d", r), Basin: "北江", CrossBorder: r%2 == 0}
		for s := range 10 {
			id := fmt.Sprintf("st-%02d-%02d", r, s)
			city := "清远"
			if r%2 == 0 && s >= 5 {
				city = "广州"
			}
			lat, lon := 23.0+float64(r)*0.01, 113.0+float64(s)*0.01
			params := map[string]string{}
			for _, p := range benchParams {
				params[p] = "1m"
			}
			c.Stations = append(c.Stations, registry.StationConfig{ID: id, Name: id, Medium: "water", Kind: registry.KindMunicipal,
				River: rc.Name, Basin: "北江", City: city, District: "x", Lat: &lat, Lon: &lon, TargetClass: "III", Params: params})
			sec := registry.SectionConfig{Station: id}
			if s < 9 {
				sec.TravelToNext = "2h"
			}
			rc.Sections = append(rc.Sections, sec)
		}
		c.Rivers = append(c.Rivers, rc)
	}
	reg, err := c.Compile("bench", func(string) (string, bool) { return "", false })
	if err != nil {
		b.Fatal(err)
	}
	return reg
}

// benchRules is 40 rules: water class on two windows, a latest-value and a
// 1h-mean threshold with hysteresis on every parameter, five with for,
// five rates, three range, three stuck and two deadman rules, and
// propagation from the nh3n and do thresholds.
func benchRules() string {
	var sb strings.Builder
	sb.WriteString("jurisdictions: [广州, 清远]\nrules:\n")
	sb.WriteString("  - {name: wq-latest, kind: water-class, for: 2, clear_for: 2}\n")
	sb.WriteString("  - {name: wq-1h, kind: water-class, window: 1h}\n")
	lim := map[string][2]float64{"temp": {35, 40}, "ph": {9, 9.5}, "do": {4, 2}, "cond": {1000, 2000}, "turb": {200, 500},
		"codmn": {8, 15}, "nh3n": {1.5, 3}, "tp": {0.3, 0.6}, "tn": {3, 6}, "chla": {50, 100}}
	for _, p := range benchParams {
		l := lim[p]
		dir := "above"
		if p == "do" {
			dir = "below"
		}
		for _, w := range []string{"latest", "1h"} {
			fmt.Fprintf(&sb, "  - {name: %s-%s, kind: threshold, parameter: %s, window: %s, direction: %s, levels: {blue: %v, red: %v}, clear: {blue: %v}, clear_for: 2}\n",
				p, strings.TrimSuffix(w, "atest"), p, w, dir, l[0], l[1], l[0]*map[bool]float64{true: 1.05, false: 0.95}[dir == "below"])
		}
	}
	for _, p := range benchParams[:5] {
		fmt.Fprintf(&sb, "  - {name: %s-for, kind: threshold, parameter: %s, direction: %s, levels: {yellow: %v}, for: 5m}\n",
			p, p, map[bool]string{true: "below", false: "above"}[p == "do"], lim[p][1])
	}
	for _, p := range []string{"turb", "nh3n", "cond", "codmn", "tp"} {
		fmt.Fprintf(&sb, "  - {name: %s-rise, kind: rate, parameter: %s, direction: rise, window: 30m, levels: {blue: %v}}\n", p, p, lim[p][0])
	}
	sb.WriteString("  - {name: range-a, kind: range, limits: {ph: [4, 10.5], do: [0, 20]}}\n")
	sb.WriteString("  - {name: range-b, kind: range, limits: {turb: [0, 4000], temp: [0, 40]}}\n")
	sb.WriteString("  - {name: range-c, kind: range, limits: {nh3n: [0, 100]}}\n")
	sb.WriteString("  - {name: stuck-a, kind: stuck, parameters: [do, ph], count: 6}\n")
	sb.WriteString("  - {name: stuck-b, kind: stuck, parameters: [turb, cond], count: 10}\n")
	sb.WriteString("  - {name: stuck-c, kind: stuck, parameters: [nh3n], duration: 1h}\n")
	sb.WriteString("  - {name: silent, kind: deadman}\n")
	sb.WriteString("  - {name: silent-p, kind: deadman, scope: parameter, parameters: [nh3n, do]}\n")
	sb.WriteString("propagation: {from: [nh3n-l, do-l], confirm: {raise: 1}}\n")
	return sb.String()
}

// BenchmarkEngine measures readings (station reports of 10 values)
// evaluated per second on one core by 40 rules over 200 stations.
func BenchmarkEngine(b *testing.B) {
	reg := benchRegistry(b)
	_, std := fixtures(b)
	src := benchRules()
	set, err := Parse("bench.yaml", []byte(src), reg, std)
	if err != nil {
		b.Fatal(err)
	}
	if n := len(set.Rules()); n != 40 {
		b.Fatalf("%d rules, want 40", n)
	}
	stations := reg.Stations()
	base := map[string]float64{"temp": 22, "ph": 7.3, "do": 7.5, "cond": 220, "turb": 15, "codmn": 3, "nh3n": 0.4, "tp": 0.08, "tn": 1.2, "chla": 6}
	// 64 value sets per station, reused: Process does not keep the map.
	const variants = 64
	vals := make([][]map[string]float64, len(stations))
	for i := range stations {
		vals[i] = make([]map[string]float64, variants)
		for k := range variants {
			m := make(map[string]float64, len(base))
			for p, x := range base {
				m[p] = x * (1 + 0.02*math.Sin(float64(i*7+k*3+len(p))))
			}
			if i%50 == 0 && k%16 == 3 { // an occasional excursion
				m["nh3n"] = 2.5
			}
			vals[i][k] = m
		}
	}
	e := NewEngine(set)
	r := domain.Reading{Medium: domain.Water}
	start := time.Date(2026, 11, 26, 0, 0, 0, 0, chinaTime)
	transitions := 0
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		si := i % len(stations)
		round := i / len(stations)
		r.Station = stations[si].ID
		r.Time = start.Add(time.Duration(round) * time.Minute)
		r.Values = vals[si][round%variants]
		transitions += len(e.Process(&r, r.Time))
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "readings/s")
	b.ReportMetric(float64(transitions)/float64(b.N), "transitions/reading")
}

// BenchmarkSnapshot measures the copy of the engine state the stage takes on
// the engine's goroutine before each save (every 5 s): readings wait meanwhile.
// 200 stations, 40 rules, each series warmed with two hours of minute data.
func BenchmarkSnapshot(b *testing.B) {
	reg := benchRegistry(b)
	_, std := fixtures(b)
	set, err := Parse("bench.yaml", []byte(benchRules()), reg, std)
	if err != nil {
		b.Fatal(err)
	}
	e := NewEngine(set)
	start := time.Date(2026, 11, 26, 0, 0, 0, 0, chinaTime)
	r := domain.Reading{Medium: domain.Water}
	for round := range 120 {
		for i, st := range reg.Stations() {
			r.Station, r.Time = st.ID, start.Add(time.Duration(round)*time.Minute)
			r.Values = map[string]float64{"temp": 22, "ph": 7.3, "do": 7.5 + 0.01*float64(i%7), "cond": 220, "turb": 15,
				"codmn": 3, "nh3n": 0.4 + 0.001*float64(round%13), "tp": 0.08, "tn": 1.2, "chla": 6}
			e.Process(&r, r.Time)
		}
	}
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		_ = e.Snapshot()
	}
}
