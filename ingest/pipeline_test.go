package ingest

import (
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/qingliu/qingliu/domain"
	"github.com/qingliu/qingliu/registry"
)

func testRegistry(t testing.TB) *registry.Registry {
	t.Helper()
	reg, err := registry.Load(filepath.Join("..", "configs", "stations.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	return reg
}

var testNow = time.Date(2026, 11, 26, 14, 0, 0, 0, time.FixedZone("CST", 8*3600))

func TestProcessJSON(t *testing.T) {
	p := NewPipeline(testRegistry(t), Limits{})
	tests := []struct {
		name     string
		station  string
		payload  string
		readings int
		values   map[string]float64 // of the first reading
		flags    map[string]domain.Flag
		codes    []Code
	}{
		{name: "design example", station: "bj-gaoqiao",
			payload:  `{"ts": "2026-11-26T14:00:00+08:00", "seq": 1042, "values": {"ph": 7.21, "do": 6.8, "nh3n": 0.42, "tp": 0.08}, "flags": {"tp": "M"}}`,
			readings: 1, values: map[string]float64{"ph": 7.21, "do": 6.8, "nh3n": 0.42, "tp": 0.08}, flags: map[string]domain.Flag{"tp": "M"}},
		{name: "epoch millis", station: "bj-gaoqiao", payload: `{"ts": 1795672800000, "values": {"ph": 7}}`, readings: 1},
		{name: "flag N is not stored", station: "bj-gaoqiao", payload: `{"ts": 1795672800000, "values": {"ph": 7}, "flags": {"ph": "N"}}`, readings: 1, flags: map[string]domain.Flag{}},
		{name: "lower-case flag", station: "bj-gaoqiao", payload: `{"ts": 1795672800000, "values": {"ph": 7}, "flags": {"ph": "c"}}`, readings: 1, flags: map[string]domain.Flag{"ph": "C"}},
		{name: "batch with a bad element keeps the good ones", station: "bj-gaoqiao",
			payload:  `[{"ts": 1795672800000, "values": {"ph": 7}}, {"ts": "nope", "values": {"ph": 7}}, {"ts": 1795672860000, "values": {"ph": 7.1}}]`,
			readings: 2, codes: []Code{CodeBadTimestamp}},
		{name: "one bad value keeps the others", station: "bj-gaoqiao",
			payload:  `{"ts": 1795672800000, "values": {"ph": 7, "do": -3, "nh3n": "x"}}`,
			readings: 1, values: map[string]float64{"ph": 7}, codes: []Code{CodeNotNumber, CodeOutOfRange}},
		{name: "only bad values", station: "bj-gaoqiao", payload: `{"ts": 1795672800000, "values": {"do": 99}}`, codes: []Code{CodeOutOfRange}},
		{name: "empty values", station: "bj-gaoqiao", payload: `{"ts": 1795672800000, "values": {}}`, codes: []Code{CodeNoValues}},
		{name: "null value", station: "bj-gaoqiao", payload: `{"ts": 1795672800000, "values": {"ph": null}}`, codes: []Code{CodeNotNumber}},
		{name: "flag without value", station: "bj-gaoqiao", payload: `{"ts": 1795672800000, "values": {"ph": 7}, "flags": {"do": "M"}}`, codes: []Code{CodeSchema}},
		{name: "not an object", station: "bj-gaoqiao", payload: `42`, codes: []Code{CodeMalformed}},
		{name: "empty list", station: "bj-gaoqiao", payload: `[]`, codes: []Code{CodeEmpty}},
		{name: "trailing garbage", station: "bj-gaoqiao", payload: `{"ts": 1795672800000, "values": {"ph": 7}} x`, codes: []Code{CodeMalformed}},
		{name: "unknown station", station: "nowhere", payload: `{"ts": 1795672800000, "values": {"ph": 7}}`, codes: []Code{CodeUnknownStation}},
		{name: "air parameter at a water section", station: "bj-gaoqiao", payload: `{"ts": 1795672800000, "values": {"pm25": 7}}`, codes: []Code{CodeWrongMedium}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			res := p.Process(domain.SourceMQTT, tc.station, FormatJSON, []byte(tc.payload), testNow)
			if len(res.Readings) != tc.readings {
				t.Fatalf("readings = %d, want %d (rejects %v)", len(res.Readings), tc.readings, res.Rejects)
			}
			var codes []Code
			for _, r := range res.Rejects {
				codes = append(codes, r.Code)
				if r.Reason == "" || len(r.Raw) == 0 {
					t.Errorf("reject %v has no reason or no bytes", r)
				}
			}
			if strings.Join(codeStrings(codes), ",") != strings.Join(codeStrings(tc.codes), ",") {
				t.Errorf("reject codes = %v, want %v", codes, tc.codes)
			}
			if tc.values != nil {
				got := res.Readings[0].Values
				if len(got) != len(tc.values) {
					t.Errorf("values = %v, want %v", got, tc.values)
				}
				for k, v := range tc.values {
					if got[k] != v {
						t.Errorf("value %s = %v, want %v", k, got[k], v)
					}
				}
			}
			if tc.flags != nil {
				got := res.Readings[0].Flags
				if len(got) != len(tc.flags) {
					t.Errorf("flags = %v, want %v", got, tc.flags)
				}
				for k, v := range tc.flags {
					if got[k] != v {
						t.Errorf("flag %s = %q, want %q", k, got[k], v)
					}
				}
			}
		})
	}
}

func codeStrings(cs []Code) []string {
	out := make([]string, len(cs))
	for i, c := range cs {
		out[i] = string(c)
	}
	return out
}

func TestUnitOverrideConverted(t *testing.T) {
	reg := testRegistry(t)
	var st *registry.Station
	var param, unit string
	for _, s := range reg.Stations() {
		for p, u := range s.Units {
			st, param, unit = s, p, u
			break
		}
		if st != nil {
			break
		}
	}
	if st == nil {
		t.Skip("registry has no unit override")
	}
	par, _ := registry.LookupParam(param)
	canonical := (par.Min + par.Max) / 4
	sent, err := registry.Convert(canonical, par.Unit, unit)
	if err != nil {
		t.Fatal(err)
	}
	p := NewPipeline(reg, Limits{})
	payload := []byte(`{"ts": 1795672800000, "values": {"` + param + `": ` + ftoa(sent) + `}}`)
	res := p.Process(domain.SourceMQTT, st.ID, FormatJSON, payload, testNow)
	if len(res.Readings) != 1 {
		t.Fatalf("rejects: %v", res.Rejects)
	}
	if got := res.Readings[0].Values[param]; !approx(got, canonical) {
		t.Errorf("%s sent as %v %s stored as %v %s, want %v", param, sent, unit, got, par.Unit, canonical)
	}
}

func approx(a, b float64) bool {
	d := a - b
	if d < 0 {
		d = -d
	}
	return d <= 1e-9*max(1, b)
}

func TestTimestampBounds(t *testing.T) {
	p := NewPipeline(testRegistry(t), Limits{MaxFutureSkew: time.Minute, MaxAge: time.Hour})
	for _, tc := range []struct {
		offset time.Duration
		code   Code
	}{
		{59 * time.Second, ""},
		{2 * time.Minute, CodeFutureTimestamp},
		{-59 * time.Minute, ""},
		{-61 * time.Minute, CodeTooOld},
	} {
		ts := testNow.Add(tc.offset).Format(time.RFC3339)
		res := p.Process(domain.SourceMQTT, "bj-gaoqiao", FormatJSON, []byte(`{"ts":"`+ts+`","values":{"ph":7}}`), testNow)
		var got Code
		if len(res.Rejects) > 0 {
			got = res.Rejects[0].Code
		}
		if got != tc.code {
			t.Errorf("offset %s: code %q, want %q", tc.offset, got, tc.code)
		}
	}
}

func TestProcessSenML(t *testing.T) {
	p := NewPipeline(testRegistry(t), Limits{})
	payload := `[{"bn":"urn:dev:bj-gaoqiao:","bt":1795672800,"n":"ph","v":7.2},
	 {"n":"temp","u":"Cel","v":21.5},
	 {"n":"nh3n","u":"ug/L","v":420},
	 {"n":"nh3n_flag","vs":"M"},
	 {"n":"ph","t":60,"v":7.3}]`
	res := p.Process(domain.SourceMQTT, "bj-gaoqiao", FormatSenML, []byte(payload), testNow)
	if len(res.Rejects) != 0 {
		t.Fatalf("rejects: %v", res.Rejects)
	}
	if len(res.Readings) != 2 {
		t.Fatalf("readings = %d, want 2 (two instants)", len(res.Readings))
	}
	r := res.Readings[0]
	if !r.Time.Equal(time.Unix(1795672800, 0)) {
		t.Errorf("time = %v", r.Time)
	}
	if r.Values["ph"] != 7.2 || r.Values["temp"] != 21.5 || !approx(r.Values["nh3n"], 0.42) {
		t.Errorf("values = %v", r.Values)
	}
	if r.Flags["nh3n"] != domain.FlagMaintenance {
		t.Errorf("flags = %v", r.Flags)
	}
	if res.Readings[1].Values["ph"] != 7.3 || !res.Readings[1].Time.Equal(time.Unix(1795672860, 0)) {
		t.Errorf("second reading = %+v", res.Readings[1])
	}

	bad := []struct {
		payload string
		code    Code
	}{
		{`{"n":"ph"}`, CodeMalformed},
		{`[]`, CodeEmpty},
		{`[{"v":7}]`, CodeSchema},
		{`[{"n":"ph","v":7,"x_":1}]`, CodeSchema},
		{`[{"n":"ph","vs":"seven"}]`, CodeNotNumber},
		{`[{"n":"ph","u":"furlong","v":7}]`, CodeBadUnit},
	}
	for _, tc := range bad {
		res := p.Process(domain.SourceMQTT, "bj-gaoqiao", FormatSenML, []byte(tc.payload), testNow)
		if len(res.Rejects) == 0 || res.Rejects[0].Code != tc.code {
			t.Errorf("%s: rejects %v, want code %s", tc.payload, res.Rejects, tc.code)
		}
	}
}

func TestParseTopic(t *testing.T) {
	for _, tc := range []struct {
		topic, station, format string
		ok                     bool
	}{
		{"qingliu/v1/bj-gaoqiao/json", "bj-gaoqiao", "json", true},
		{"qingliu/v1/A_b-9/senml", "A_b-9", "senml", true},
		{"qingliu/v2/x/json", "", "", false},
		{"qingliu/v1/x", "", "", false},
		{"qingliu/v1/bad station/json", "", "", false},
		{"qingliu/v1/" + strings.Repeat("a", 65) + "/json", "", "", false},
	} {
		st, f, err := ParseTopic(tc.topic)
		if (err == nil) != tc.ok || st != tc.station || f != tc.format {
			t.Errorf("ParseTopic(%q) = %q, %q, %v", tc.topic, st, f, err)
		}
	}
}

func TestTooLarge(t *testing.T) {
	p := NewPipeline(testRegistry(t), Limits{MaxPayload: 100})
	res := p.Process(domain.SourceMQTT, "bj-gaoqiao", FormatJSON, []byte(strings.Repeat(" ", 101)), testNow)
	if len(res.Rejects) != 1 || res.Rejects[0].Code != CodeTooLarge {
		t.Errorf("rejects = %v", res.Rejects)
	}
}

func ftoa(f float64) string { return strconv.FormatFloat(f, 'g', -1, 64) }
