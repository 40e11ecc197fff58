package severity

import (
	"errors"
	"math"
	"math/rand/v2"
	"os"
	"slices"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/qingliu/qingliu/domain"
	"github.com/qingliu/qingliu/internal/conf"
	"github.com/qingliu/qingliu/standards/water"
)

func load(tb testing.TB) *Mappings {
	tb.Helper()
	m, err := Load("../../configs/standards/severity.yaml")
	if err != nil {
		tb.Fatal(err)
	}
	return m
}

func TestWater(t *testing.T) {
	m := load(t)
	tests := []struct {
		class, target water.Class
		multiple      float64
		drinking      bool
		want          domain.Level
	}{
		{water.II, water.III, 0, false, domain.None},
		{water.III, water.III, 0, true, domain.None},
		{water.None, water.III, 0, false, domain.None},
		{water.IV, water.None, 0, false, domain.None},
		{water.IV, water.III, 0.2, false, domain.Blue},
		{water.IV, water.III, 0.99, false, domain.Blue},
		{water.IV, water.III, 1, false, domain.Yellow},
		{water.IV, water.III, 0.2, true, domain.Yellow},
		{water.IV, water.II, 0, false, domain.Yellow},
		{water.V, water.II, 0.5, false, domain.Orange},
		{water.V, water.II, 0.5, true, domain.Red},
		{water.WorseV, water.III, 2.9, false, domain.Orange},
		{water.WorseV, water.III, 3, false, domain.Orange},
		{water.WorseV, water.III, 5, false, domain.Red},
		{water.WorseV, water.II, 0, false, domain.Red},
		{water.WorseV, water.I, 0, true, domain.Red},
		{water.II, water.I, 4.99, false, domain.Orange},
	}
	for _, tt := range tests {
		if got := m.Water(tt.class, tt.target, tt.multiple, tt.drinking); got != tt.want {
			t.Errorf("Water(%s, %s, %v, %v) = %s, want %s", tt.class, tt.target, tt.multiple, tt.drinking, got, tt.want)
		}
	}
}

func TestAQIHourly(t *testing.T) {
	m := load(t)
	tests := []struct {
		aqi  int
		want domain.Level
	}{
		{-1, domain.None}, {0, domain.None}, {150, domain.None}, {151, domain.Blue}, {180, domain.Blue},
		{200, domain.Blue}, {201, domain.Yellow}, {300, domain.Yellow}, {301, domain.Orange}, {500, domain.Orange},
		{501, domain.Orange},
	}
	for _, tt := range tests {
		if got := m.AQIHourly(tt.aqi); got != tt.want {
			t.Errorf("AQIHourly(%d) = %s, want %s", tt.aqi, got, tt.want)
		}
	}
}

// TestPersistence follows DESIGN §4: daily AQI > 200 for 1 day → blue, ≥ 2
// days → yellow, 3 days with > 300 on one → orange, ≥ 4 days with > 300 on
// two, or 500 reached → red.
func TestPersistence(t *testing.T) {
	m := load(t)
	tests := []struct {
		days []int
		want domain.Level
	}{
		{nil, domain.None},
		{[]int{100, 150, 200}, domain.None},
		{[]int{201}, domain.Blue},
		{[]int{231, 250}, domain.Yellow},
		{[]int{201, 150, 201}, domain.Blue},
		{[]int{250, 250, 250}, domain.Yellow},
		{[]int{250, 250, 300}, domain.Yellow},
		{[]int{250, 250, 301}, domain.Orange},
		{[]int{301, 350, 250}, domain.Orange},
		{[]int{250, 301, 250, 250}, domain.Orange},
		{[]int{250, 301, 250, 301}, domain.Red},
		{[]int{250, 250, 250, 250, 250, 250}, domain.Yellow},
		{[]int{499}, domain.Blue},
		{[]int{500}, domain.Red},
		{[]int{100, 500, 100}, domain.Red},
		{[]int{301, 301, 120, 301, 301}, domain.Yellow},
		{[]int{250, 301, 250, 301, 100, 210}, domain.Red},
		// Thresholds are strict: 200 is not a polluted day, 300 not a
		// severe one; 500 is reached at 500.
		{[]int{200}, domain.None},
		{[]int{200, 201, 200}, domain.Blue},
		{[]int{301, 301}, domain.Yellow},
		{[]int{250, 300, 300}, domain.Yellow},
		{[]int{250, 300, 300, 250}, domain.Yellow},
		{[]int{301, 301, 301}, domain.Orange},
		{[]int{250, 250, 250, 250, 301}, domain.Orange},
		{[]int{250, 301, 250, 300, 250}, domain.Orange},
		{[]int{301, 301, 300, 300}, domain.Red},
		{[]int{501}, domain.Red},
		{[]int{99999}, domain.Red},
		// A day at or below 200 breaks the run; every run counts, the
		// ongoing one at the end included, and the worst decides.
		{[]int{250, 250, 200, 250}, domain.Yellow},
		{[]int{250, 250, 250, 301, 100, 210}, domain.Orange},
		{[]int{210, 100, 250, 250, 301}, domain.Orange},
		{[]int{210, 100, 250}, domain.Blue},
		// Nonsense values never count as polluted days.
		{[]int{-1, -500, 0}, domain.None},
		{[]int{-300, 250, -300, 250}, domain.Blue},
	}
	for _, tt := range tests {
		if got := m.Persistence(tt.days); got != tt.want {
			t.Errorf("Persistence(%v) = %s, want %s", tt.days, got, tt.want)
		}
	}
}

// TestMonotone: worsening any input never lowers the level.
func TestMonotone(t *testing.T) {
	m := load(t)
	rng := rand.New(rand.NewPCG(4, 2026))
	for n := 0; n < 20000; n++ {
		days := make([]int, 1+rng.IntN(7))
		for i := range days {
			days[i] = rng.IntN(520)
		}
		base := m.Persistence(days)
		i := rng.IntN(len(days))
		worse := slices.Clone(days)
		worse[i] += rng.IntN(200)
		if got := m.Persistence(worse); got < base {
			t.Fatalf("Persistence: raising day %d of %v to %d lowered %s to %s", i, days, worse[i], base, got)
		}
		a := rng.IntN(600)
		if m.AQIHourly(a+rng.IntN(50)) < m.AQIHourly(a) {
			t.Fatalf("AQIHourly not monotone at %d", a)
		}
	}
	for target := water.I; target <= water.V; target++ {
		for c := water.I; c < water.WorseV; c++ {
			for _, mul := range []float64{0, 0.5, 1, 2, 3, 4.5, 5, 9} {
				for _, d := range []bool{false, true} {
					l := m.Water(c, target, mul, d)
					if m.Water(c+1, target, mul, d) < l || m.Water(c, target, mul+0.5, d) < l || (!d && m.Water(c, target, mul, true) < l) {
						t.Fatalf("Water not monotone at class %s target %s multiple %v drinking %v", c, target, mul, d)
					}
				}
			}
		}
	}
}

// TestWaterDrinkingSource pins the escalation: one level up, capped at red,
// and never out of none, so a drinking-water source within its target (or
// one the tables map to none) does not alarm.
func TestWaterDrinkingSource(t *testing.T) {
	data, err := os.ReadFile("../../configs/standards/severity.yaml")
	if err != nil {
		t.Fatal(err)
	}
	lenient := strings.Replace(string(data), "{range: [1, 1], level: blue}", "{range: [1, 1], level: none}", 1)
	soft, err := Parse("lenient.yaml", []byte(lenient))
	if err != nil {
		t.Fatal(err)
	}
	m := load(t)
	tests := []struct {
		m             *Mappings
		class, target water.Class
		multiple      float64
		want          domain.Level
	}{
		{m, water.I, water.II, 0, domain.None},
		{m, water.II, water.II, 0, domain.None},
		{m, water.III, water.II, 0, domain.Yellow},
		{m, water.IV, water.II, 0, domain.Orange},
		{m, water.V, water.II, 0, domain.Red},
		{m, water.WorseV, water.I, 9, domain.Red},
		{m, water.III, water.II, math.NaN(), domain.Yellow},
		{soft, water.III, water.II, 0, domain.None},
		{soft, water.III, water.II, 0.5, domain.None},
		{soft, water.III, water.II, 1, domain.Orange},
	}
	for _, tt := range tests {
		if got := tt.m.Water(tt.class, tt.target, tt.multiple, true); got != tt.want {
			t.Errorf("Water(%s, %s, %v, drinking) = %s, want %s", tt.class, tt.target, tt.multiple, got, tt.want)
		}
	}
}

// TestExplain: every Explain* method gives the same level as its plain
// counterpart, names the entries that decided it by their path in the file
// and says why.
func TestExplain(t *testing.T) {
	m := load(t)
	rng := rand.New(rand.NewPCG(7, 3))
	for n := 0; n < 5000; n++ {
		days := make([]int, rng.IntN(8))
		for i := range days {
			days[i] = rng.IntN(560) - 20
		}
		e := m.ExplainPersistence(days)
		if e.Level != m.Persistence(days) || e.Why == "" || (e.Level == domain.None) != (len(e.Matched) == 0) || (e.Level == domain.None) != (e.Episode == nil) {
			t.Fatalf("ExplainPersistence(%v) = %+v, Persistence = %s", days, e, m.Persistence(days))
		}
		if ep := e.Episode; ep != nil {
			if ep.First < 0 || ep.Last >= len(days) || ep.First > ep.Last || m.Persistence(days[ep.First:ep.Last+1]) != e.Level {
				t.Fatalf("ExplainPersistence(%v) episode %+v does not give %s", days, *ep, e.Level)
			}
		}
		a := rng.IntN(700) - 50
		if e := m.ExplainAQIHourly(a); e.Level != m.AQIHourly(a) || e.Why == "" {
			t.Fatalf("ExplainAQIHourly(%d) = %+v", a, e)
		}
		c, tc := water.Class(1+rng.IntN(6)), water.Class(1+rng.IntN(5))
		mul, d := rng.Float64()*7, rng.IntN(2) == 0
		if e := m.ExplainWater(c, tc, mul, d); e.Level != m.Water(c, tc, mul, d) || e.Why == "" {
			t.Fatalf("ExplainWater(%s, %s, %v, %v) = %+v", c, tc, mul, d, e)
		}
	}

	tests := []struct {
		e       Explanation
		level   domain.Level
		matched []string
		why     string
	}{
		{m.ExplainPersistence([]int{150, 231, 320, 250, 199}), domain.Orange, []string{"aqi_daily_persistence.rules[2]"},
			"days 2-4 of 5: 3 consecutive day(s) with daily AQI above 200, 1 above 300, peak 320; aqi_daily_persistence.rules[2] gives orange (at least 3 day(s), at least 1 above 300)"},
		{m.ExplainPersistence([]int{250, 100, 500}), domain.Red, []string{"aqi_daily_persistence.rules[4]"},
			"day 3 of 3: 1 consecutive day(s) with daily AQI above 200, 1 above 300, peak 500; aqi_daily_persistence.rules[4] gives red (at least 1 day(s), peak at least 500); the worst of 2 episodes"},
		{m.ExplainPersistence([]int{100, 200}), domain.None, []string{}, "no day with daily AQI above 200"},
		{m.ExplainAQIHourly(180), domain.Blue, []string{"aqi_hourly[1]"}, "AQI 180 is in aqi_hourly[1] (151-200): blue"},
		{m.ExplainAQIHourly(650), domain.Orange, []string{"aqi_hourly[3]"}, "AQI 650 is above the last band aqi_hourly[3] (301-500), whose level applies: orange"},
		{m.ExplainWater(water.IV, water.II, 0.8, true), domain.Orange, []string{"water.class_gap[1]", "water.drinking_source_escalation"},
			"class IV against target II (gap 2): water.class_gap[1] gives yellow; exceedance multiple 0.8: water.multiple[0] gives none; drinking-water source: raised from yellow to orange"},
		{m.ExplainWater(water.IV, water.III, 3.2, false), domain.Orange, []string{"water.multiple[2]"},
			"class IV against target III (gap 1): water.class_gap[0] gives blue; exceedance multiple 3.2: water.multiple[2] gives orange"},
		{m.ExplainWater(water.II, water.III, 0, true), domain.None, []string{}, "class II meets target III"},
	}
	for _, tt := range tests {
		if tt.e.Level != tt.level || !slices.Equal(tt.e.Matched, tt.matched) || tt.e.Why != tt.why {
			t.Errorf("got %s %q %q\nwant %s %q %q", tt.e.Level, tt.e.Matched, tt.e.Why, tt.level, tt.matched, tt.why)
		}
	}
	e, err := m.ExplainLegacy("广州", "三级")
	if err != nil || e.Level != domain.Yellow || !slices.Equal(e.Matched, []string{"legacy[0].grades[1]"}) || e.Why != "guangzhou grade 三级 (Ⅲ级): legacy[0].grades[1] gives yellow" {
		t.Errorf("ExplainLegacy(广州, 三级) = %+v, %v", e, err)
	}
}

// TestLevelYAMLRoundTrip: levels are written in YAML (alert routing's
// min_level, the mappings themselves) and must survive encoding and the strict
// decoder in every documented spelling.
func TestLevelYAMLRoundTrip(t *testing.T) {
	type doc struct {
		Level domain.Level         `yaml:"level"`
		By    map[domain.Level]int `yaml:"by"`
		List  []domain.Level       `yaml:"list"`
	}
	for _, l := range domain.Levels() {
		in := doc{Level: l, By: map[domain.Level]int{l: 1}, List: []domain.Level{l, domain.Red}}
		data, err := yaml.Marshal(in)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(data), "level: "+l.String()+"\n") {
			t.Errorf("%s encodes as %q, want its English name", l, data)
		}
		var out doc
		if err := conf.DecodeStrict("levels.yaml", data, &out); err != nil {
			t.Fatalf("%s: %v\n%s", l, err, data)
		}
		if out.Level != l || out.By[l] != 1 || !slices.Equal(out.List, in.List) {
			t.Errorf("YAML round trip %s: %s → %+v", l, data, out)
		}
		for _, s := range []string{l.Roman(), l.Chinese(), `"` + l.Roman() + `"`} {
			var out doc
			if err := conf.DecodeStrict("levels.yaml", []byte("level: "+s+"\n"), &out); err != nil || out.Level != l {
				t.Errorf("level: %s decodes as %s, %v; want %s", s, out.Level, err, l)
			}
		}
	}
	var out doc
	err := conf.DecodeStrict("levels.yaml", []byte("level: purple\n"), &out)
	if err == nil || !strings.Contains(err.Error(), `"purple"`) {
		t.Errorf("level: purple decodes with %v, want an error naming the value", err)
	}
}

func TestLegacy(t *testing.T) {
	m := load(t)
	tests := []struct {
		city, grade string
		want        domain.Level
	}{
		{"guangzhou", "Ⅳ级", domain.Blue}, {"广州", "IV级", domain.Blue}, {"Guangzhou", "iv", domain.Blue},
		{"guangzhou", "较大", domain.Yellow}, {"guangzhou", "Ⅱ级", domain.Orange}, {"广州", "特别重大", domain.Red},
		{"qingyuan", "三级", domain.Yellow}, {"清远", " Ⅰ级 ", domain.Red}, {"清远", "橙色预警", domain.Orange},
	}
	for _, tt := range tests {
		if got, err := m.Legacy(tt.city, tt.grade); err != nil || got != tt.want {
			t.Errorf("Legacy(%s, %s) = %s, %v; want %s", tt.city, tt.grade, got, err, tt.want)
		}
	}
	if _, err := m.Legacy("深圳", "Ⅰ级"); !errors.Is(err, ErrUnknownCity) {
		t.Errorf("Legacy(深圳) err = %v, want ErrUnknownCity", err)
	}
	if _, err := m.Legacy("广州", "Ⅴ级"); !errors.Is(err, ErrUnknownGrade) {
		t.Errorf("Legacy(广州, Ⅴ级) err = %v, want ErrUnknownGrade", err)
	}
	if got := m.Cities(); !slices.Equal(got, []string{"guangzhou", "qingyuan"}) {
		t.Errorf("Cities = %v", got)
	}
}

func BenchmarkPersistence(b *testing.B) {
	m := load(b)
	days := []int{180, 231, 250, 320, 260, 150, 90}
	b.ReportAllocs()
	for b.Loop() {
		if m.Persistence(days) != domain.Orange {
			b.Fatal("want orange")
		}
	}
}
