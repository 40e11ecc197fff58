package domain

import "testing"

// FuzzParseLevel: ParseLevel never panics, and whatever it accepts is a valid
// level whose text form parses back to it.
func FuzzParseLevel(f *testing.F) {
	for _, ss := range spellings {
		for _, s := range ss {
			f.Add(s)
		}
	}
	f.Add("purple")
	f.Fuzz(func(t *testing.T, s string) {
		l, err := ParseLevel(s)
		if err != nil {
			return
		}
		if !l.Valid() {
			t.Fatalf("ParseLevel(%q) = invalid %d", s, uint8(l))
		}
		b, err := l.MarshalText()
		if err != nil {
			t.Fatal(err)
		}
		if back, err := ParseLevel(string(b)); err != nil || back != l {
			t.Fatalf("ParseLevel(%q) = %s, but %q parses as %s, %v", s, l, b, back, err)
		}
	})
}
