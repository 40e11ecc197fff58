package severity

import (
	"math"
	"os"
	"testing"

	"github.com/qingliu/qingliu/standards/water"
)

// FuzzParse feeds arbitrary YAML to the mappings loader: it must return
// mappings or an error, never panic, and mappings it returns must answer.
func FuzzParse(f *testing.F) {
	if data, err := os.ReadFile("../../configs/standards/severity.yaml"); err == nil {
		f.Add(data)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := Parse("fuzz.yaml", data)
		if err != nil {
			return
		}
		days := []int{250, 320, 500, 0, -1, 201}
		for _, a := range []int{-1, 0, 250, 500, 9999} {
			if e := m.ExplainAQIHourly(a); e.Level != m.AQIHourly(a) {
				t.Fatalf("ExplainAQIHourly(%d) = %s, AQIHourly = %s", a, e.Level, m.AQIHourly(a))
			}
		}
		for i := range days {
			if e := m.ExplainPersistence(days[i:]); e.Level != m.Persistence(days[i:]) {
				t.Fatalf("ExplainPersistence(%v) = %s, Persistence = %s", days[i:], e.Level, m.Persistence(days[i:]))
			}
		}
		for c := water.I; c <= water.WorseV; c++ {
			for _, mul := range []float64{0, 1, 10, math.NaN()} {
				if e := m.ExplainWater(c, water.II, mul, true); e.Level != m.Water(c, water.II, mul, true) {
					t.Fatalf("ExplainWater(%s, II, %v) = %s, Water = %s", c, mul, e.Level, m.Water(c, water.II, mul, true))
				}
			}
		}
		for _, city := range m.Cities() {
			_, _ = m.ExplainLegacy(city, "Ⅰ级")
		}
	})
}
