package severity

import (
	"errors"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/qingliu/qingliu/domain"
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
