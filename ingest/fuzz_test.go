package ingest

import (
	"testing"

	"github.com/qingliu/qingliu/domain"
)

// The decoders must never panic, and every payload must come out as readings
// or as rejects with a reason and the bytes — never silently nothing.
func fuzzFormat(f *testing.F, format string, seeds []string) {
	for _, s := range seeds {
		f.Add([]byte(s))
	}
	p := NewPipeline(testRegistry(f), Limits{})
	f.Fuzz(func(t *testing.T, payload []byte) {
		res := p.Process(domain.SourceMQTT, "bj-gaoqiao", format, payload, testNow)
		if len(res.Readings) == 0 && len(res.Rejects) == 0 {
			t.Fatalf("payload %q produced neither readings nor rejects", payload)
		}
		for _, r := range res.Rejects {
			if r.Reason == "" || r.Code == "" {
				t.Fatalf("reject without reason: %+v", r)
			}
		}
		for _, r := range res.Readings {
			if len(r.Values) == 0 || r.Time.IsZero() || r.Station != "bj-gaoqiao" {
				t.Fatalf("bad reading %+v", r)
			}
		}
	})
}

func FuzzJSON(f *testing.F) {
	fuzzFormat(f, FormatJSON, []string{
		`{"ts": "2026-11-26T14:00:00+08:00", "seq": 1042, "values": {"ph": 7.21, "do": 6.8, "nh3n": 0.42, "tp": 0.08}, "flags": {"tp": "M"}}`,
		`[{"ts": 1795672800000, "values": {"ph": 7}}, {"ts": "x"}]`,
		`{"ts": 1795672800000, "values": {"ph": 1e400}}`,
		`{}`, `[]`, `null`,
	})
}

func FuzzSenML(f *testing.F) {
	fuzzFormat(f, FormatSenML, []string{
		`[{"bn":"urn:dev:bj-gaoqiao:","bt":1795672800,"n":"ph","v":7.2},{"n":"temp","u":"Cel","v":21.5},{"n":"nh3n_flag","vs":"M"}]`,
		`[{"n":"ph","v":7,"t":-5}]`,
		`[{"n":"ph","bv":1,"v":6}]`,
		`[{"bt":1e300,"n":"ph","v":7}]`,
	})
}
