package water

import (
	"os"
	"testing"
)

func FuzzParseClass(f *testing.F) {
	for _, s := range []string{"III", "Ⅲ类", "3", "劣V", "劣Ⅴ类", "class ii", "VI", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		c, err := ParseClass(s)
		if err != nil {
			return
		}
		if !c.Valid() {
			t.Fatalf("ParseClass(%q) = invalid %d without error", s, c)
		}
		if back, err := ParseClass(c.String()); err != nil || back != c {
			t.Fatalf("ParseClass(%q) = %s, which does not round-trip: %s, %v", s, c, back, err)
		}
	})
}

// FuzzParse feeds arbitrary YAML to the table loader: it must return a table
// or an error, never panic, and a table it returns must classify.
func FuzzParse(f *testing.F) {
	if data, err := os.ReadFile(shipped); err == nil {
		f.Add(data)
	}
	f.Add([]byte("kind: water\nitems: [{key: x, unit: mg/L, direction: max, limits: [1, 2, 3, 4, 5]}]\n"))
	f.Add([]byte("kind: water\nitems: [{key: x, unit: mg/L, direction: max, limits: [1, 2, 3, 4, 5], lake_only: true}]\nevaluated: [x]\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		tab, err := Parse("fuzz.yaml", data)
		if err != nil {
			return
		}
		for _, it := range tab.Items() {
			for _, lake := range []bool{false, true} {
				r, err := tab.Classify(map[string]float64{it.Key: 1}, Options{Target: III, Lake: lake})
				if err != nil {
					t.Fatalf("classify %s (lake %v): %v", it.Key, lake, err)
				}
				if r.Class != None && !r.Class.Valid() {
					t.Fatalf("classify %s (lake %v): invalid class %d", it.Key, lake, r.Class)
				}
				if c, err := tab.ItemClass(it.Key, 1, lake); err != nil || (c != None && !c.Valid()) {
					t.Fatalf("ItemClass(%s, 1, lake %v) = %d, %v", it.Key, lake, c, err)
				}
			}
		}
	})
}
