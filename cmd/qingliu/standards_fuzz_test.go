package main

import (
	"math"
	"strings"
	"testing"
)

// FuzzParseAssignments: the KEY=VALUE[UNIT] parser of aqi and water-class
// accepts only finite, non-negative values under distinct lower-case keys.
func FuzzParseAssignments(f *testing.F) {
	for _, s := range []string{"nh3n=1.2", "hg=0.00004 mg/l", "do=NaN", "x=1e400", "ph=-0", "=1", "tp=.5mg/L", "a=1\nb=2"} {
		f.Add(s, "do=4.5")
	}
	f.Fuzz(func(t *testing.T, a, b string) {
		keys, vals, units, err := parseAssignments([]string{a, b})
		if err != nil {
			if keys != nil || vals != nil || units != nil {
				t.Fatalf("error %v with results", err)
			}
			return
		}
		if len(keys) != 2 || len(vals) != 2 || keys[0] == keys[1] {
			t.Fatalf("parse(%q, %q) = keys %q vals %v", a, b, keys, vals)
		}
		for _, k := range keys {
			if k == "" || k != strings.ToLower(k) {
				t.Fatalf("key %q", k)
			}
			if v := vals[k]; math.IsNaN(v) || math.IsInf(v, 0) || v < 0 {
				t.Fatalf("value %v for %q", v, k)
			}
		}
	})
}

// FuzzWaterClassCmd runs `qingliu water-class` on arbitrary arguments: it
// prints one JSON object and succeeds, or prints nothing and fails with
// exit status 2 and a one-line error.
func FuzzWaterClassCmd(f *testing.F) {
	for _, s := range [][3]string{
		{"nh3n=1.2", "do=4.5", "III"}, {"tp=0.15", "codmn=5", "II"}, {"ph=9.5", "tn=1", "V"},
		{"hg=0.05ug/L", "cd=0", "I"}, {"do=NaN", "x=1", "劣V"}, {"nh3n", "nh3n=2", ""},
	} {
		f.Add(s[0], s[1], s[2], false)
	}
	f.Fuzz(func(t *testing.T, a, b, target string, lake bool) {
		args := []string{"--target=" + target}
		if lake {
			args = append(args, "--lake")
		}
		// Flags like --help are cobra's business; the arguments are items.
		args = append(args, "--", a, b)
		// runStandardsCmd fails the test unless a success is one JSON line.
		_, out, err := runStandardsCmd(t, newWaterClassCmd, args...)
		if err != nil && (exitCode(err) != 2 || strings.Contains(err.Error(), "\n") || out != "") {
			t.Fatalf("%q: exit %d, error %q, stdout %q", args, exitCode(err), err, out)
		}
	})
}
