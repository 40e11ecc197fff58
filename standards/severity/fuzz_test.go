package severity

import (
	"os"
	"testing"
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
		_ = m.AQIHourly(250)
		_ = m.Persistence([]int{250, 320, 500, 0})
		_ = m.Water(6, 1, 10, true)
	})
}
