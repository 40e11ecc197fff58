package main

import (
	"bytes"
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	"github.com/spf13/cobra"
)

const testStandards = "../../configs/standards"

func runStandardsCmd(t *testing.T, newCmd func() *cobra.Command, args ...string) (map[string]any, string, error) {
	t.Helper()
	cmd := newCmd()
	var out, errOut bytes.Buffer
	cmd.SetOut(&out)
	cmd.SetErr(&errOut)
	cmd.SetArgs(append([]string{"--standards", testStandards}, args...))
	err := cmd.Execute()
	if err != nil {
		return nil, out.String(), err
	}
	var got map[string]any
	if jerr := json.Unmarshal(out.Bytes(), &got); jerr != nil {
		t.Fatalf("output is not JSON: %v\n%s", jerr, out.String())
	}
	if n := strings.Count(strings.TrimSpace(out.String()), "\n"); n != 0 {
		t.Errorf("output is %d lines, want one JSON line", n+1)
	}
	return got, out.String(), nil
}

// jsonLiteral decodes a JSON literal for comparison with decoded output.
func jsonLiteral(t *testing.T, s string) any {
	t.Helper()
	var v any
	if err := json.Unmarshal([]byte(s), &v); err != nil {
		t.Fatalf("bad test literal %s: %v", s, err)
	}
	return v
}

func TestStandardsAQICmd(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want map[string]string // key → JSON literal of the expected value
	}{
		{
			name: "issue example, 2012 daily",
			args: []string{"--time", "2025-06-01T12:00:00+08:00", "--period", "24h", "pm25=45", "pm10=60", "so2=10", "no2=30", "co=0.8", "o3_8h=90"},
			want: map[string]string{
				"standard": `"HJ633-2012"`, "aqi": `63`, "level": `2`, "category": `"良"`, "primary": `["pm25"]`,
				"iaqi":      `{"pm25":63,"pm10":55,"so2":10,"no2":38,"co":20,"o3_8h":45}`,
				"exceeding": `[]`, "missing": `["o3_1h"]`, "color": `"#ffff00"`, "period": `"24h"`,
			},
		},
		{
			name: "2026 hourly vector: PM2.5 75 is 114",
			args: []string{"--time", "2026-03-01T00:00:00+08:00", "--period", "1h", "pm25=75", "pm10=150", "so2=500", "no2=200", "co=10", "o3_1h=200"},
			want: map[string]string{
				"standard": `"HJ633-2026"`, "aqi": `114`, "level": `3`, "category": `"轻度污染"`, "primary": `["pm25"]`,
				"iaqi":      `{"so2":100,"no2":100,"co":100,"o3_1h":100,"pm10":112,"pm25":114}`,
				"exceeding": `null`, "missing": `null`, "na": `null`, // 超标污染物 was deleted in 2026
			},
		},
		{
			name: "2026 daily rounds by GB/T 8170 before lookup; missing pollutants, AQI NA",
			args: []string{"--time", "2026-06-01T12:00:00+08:00", "--period", "24h", "co=2.05", "pm25=60.5"},
			want: map[string]string{
				"aqi": `null`, "na": `true`, "iaqi": `{"co":50,"pm25":100}`, "exceeding": `null`,
				"missing": `["so2","no2","pm10","o3_8h"]`,
			},
		},
		{
			name: "2012 real-time O3 8-h above 800 is reported by the 1-h mean",
			args: []string{"--time", "2025-07-01T15:00:00+08:00", "--period", "1h", "o3_8h=900", "o3_1h=420", "pm25=40"},
			want: map[string]string{
				"iaqi": `{"o3_1h":205,"pm25":57}`, "replaced": `{"o3_8h":"o3_1h"}`, "aqi": `205`, "level": `5`,
				"primary": `["o3_1h"]`, "exceeding": `["o3_1h"]`,
			},
		},
		{
			name: "2026 all zero is AQI 0 in level 1",
			args: []string{"--time", "2026-06-01T12:00:00+08:00", "--period", "1h", "so2=0", "no2=0", "co=0", "o3_1h=0", "pm10=0", "pm25=0"},
			want: map[string]string{"aqi": `0`, "level": `1`, "category": `"优"`, "primary": `[]`},
		},
		{
			name: "one second before the switch is 2012",
			args: []string{"--time", "2026-02-28T23:59:59+08:00", "--period", "1h", "pm25=75"},
			want: map[string]string{"standard": `"HJ633-2012"`, "aqi": `100`, "primary": `["pm25"]`},
		},
		{
			name: "the switch instant in UTC is 2026",
			args: []string{"--time", "2026-02-28T16:00:00Z", "--period", "1h", "pm25=75"},
			want: map[string]string{"standard": `"HJ633-2026"`},
		},
		{
			name: "2026 missing pollutant, AQI not above 100: NA",
			args: []string{"--time", "2026-06-01T12:00:00+08:00", "--period", "24h", "pm25=45", "pm10=60"},
			want: map[string]string{
				"aqi": `null`, "level": `null`, "category": `null`, "na": `true`, "primary": `[]`,
				"iaqi": `{"pm25":70,"pm10":58}`, "missing": `["so2","no2","co","o3_8h"]`,
			},
		},
		{
			name: "2026 missing pollutant, AQI above 100: published",
			args: []string{"--time", "2026-06-01T12:00:00+08:00", "--period", "24h", "pm25=80"},
			want: map[string]string{"aqi": `119`, "level": `3`, "primary": `["pm25"]`},
		},
		{
			name: "2012 SO2 1-h above 800 is replaced by the 24-h average",
			args: []string{"--time", "2025-01-01T08:00:00+08:00", "--period", "1h", "so2=801", "so2_24h=120"},
			want: map[string]string{"iaqi": `{"so2_24h":85}`, "replaced": `{"so2":"so2_24h"}`, "aqi": `85`, "primary": `["so2_24h"]`},
		},
		{
			name: "2026 SO2 1-h above 800 is 200",
			args: []string{"--time", "2026-05-01T08:00:00+08:00", "--period", "1h", "so2=801"},
			want: map[string]string{"iaqi": `{"so2":200}`, "beyond_top": `["so2"]`, "aqi": `200`},
		},
		{
			name: "pollutant outside the report is ignored",
			args: []string{"--time", "2026-05-01T08:00:00+08:00", "--period", "24h", "o3_1h=100", "pm25=100"},
			want: map[string]string{"ignored": `["o3_1h"]`},
		},
		{
			name: "time without offset is Beijing time",
			args: []string{"--time", "2026-03-01T00:00:00", "pm25=60"},
			want: map[string]string{"standard": `"HJ633-2026"`, "period": `"1h"`, "iaqi": `{"pm25":100}`},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, raw, err := runStandardsCmd(t, newAQICmd, tt.args...)
			if err != nil {
				t.Fatalf("err = %v", err)
			}
			for k, lit := range tt.want {
				if !reflect.DeepEqual(got[k], jsonLiteral(t, lit)) {
					t.Errorf("%s = %v, want %s\n%s", k, got[k], lit, raw)
				}
			}
		})
	}
}

func TestStandardsWaterClassCmd(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want map[string]string
	}{
		{
			name: "issue example",
			args: []string{"--target", "III", "nh3n=1.2", "do=4.5", "tp=0.15", "codmn=5"},
			want: map[string]string{
				"class": `"IV"`, "status": `"轻度污染"`,
				"items":     `{"nh3n":"IV","do":"IV","tp":"III","codmn":"III"}`,
				"exceeding": `{"nh3n":0.2,"do":0.1}`, "meets_target": `false`, "target": `"III"`,
			},
		},
		{
			name: "default target is III",
			args: []string{"nh3n=1.2", "do=4.5", "tp=0.15", "codmn=5"},
			want: map[string]string{"class": `"IV"`, "exceeding": `{"nh3n":0.2,"do":0.1}`, "meets_target": `false`},
		},
		{
			name: "lake phosphorus column",
			args: []string{"--lake", "--target", "II", "tp=0.04"},
			want: map[string]string{"class": `"III"`, "items": `{"tp":"III"}`, "exceeding": `{"tp":0.6}`, "lake": `true`},
		},
		{
			name: "pH out of range has no multiple; a river's tn has no class",
			args: []string{"--target", "II", "ph=9.5", "tn=1.2", "temp=25", "fcoli=3000"},
			want: map[string]string{
				"class": `"劣V"`, "status": `"重度污染"`, "exceeding": `{"ph":null}`,
				"reference": `{"fcoli":"III"}`, "ignored": `["tn","temp"]`,
			},
		},
		{
			name: "lake: tn is reference only",
			args: []string{"--lake", "nh3n=0.4", "tn=1.2"},
			want: map[string]string{"class": `"II"`, "items": `{"nh3n":"II"}`, "reference": `{"tn":"IV"}`},
		},
		{
			name: "canonical unit spelled out is accepted",
			args: []string{"nh3n=0.1mg/L", "hg=0.00004 mg/l"},
			want: map[string]string{"class": `"I"`, "status": `"优"`, "meets_target": `true`, "exceeding": `{}`},
		},
		{
			name: "lake section evaluates tn by configuration",
			args: []string{"--lake", "--items", "tn,tp", "tn=1.2", "tp=0.05"},
			want: map[string]string{"class": `"IV"`, "items": `{"tn":"IV","tp":"III"}`, "exceeding": `{"tn":0.2}`},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, raw, err := runStandardsCmd(t, newWaterClassCmd, tt.args...)
			if err != nil {
				t.Fatalf("err = %v", err)
			}
			for k, lit := range tt.want {
				if !reflect.DeepEqual(got[k], jsonLiteral(t, lit)) {
					t.Errorf("%s = %v, want %s\n%s", k, got[k], lit, raw)
				}
			}
		})
	}
}

// TestStandardsWaterClassExactOutput checks the issue's example byte for
// byte (items in the order given), with the fields we add after it.
func TestStandardsWaterClassExactOutput(t *testing.T) {
	_, raw, err := runStandardsCmd(t, newWaterClassCmd, "--target", "III", "nh3n=1.2", "do=4.5", "tp=0.15", "codmn=5")
	if err != nil {
		t.Fatal(err)
	}
	const issue = `{"class":"IV","status":"轻度污染","items":{"nh3n":"IV","do":"IV","tp":"III","codmn":"III"},"exceeding":{"nh3n":0.2,"do":0.1},"meets_target":false`
	if want := issue + `,"target":"III"}` + "\n"; raw != want {
		t.Errorf("output\n%s\nwant\n%s", raw, want)
	}
}

// TestStandardsAQIExactOutput: the issue's example begins the output as the
// issue prints it, iaqi in the order of the arguments.
func TestStandardsAQIExactOutput(t *testing.T) {
	_, raw, err := runStandardsCmd(t, newAQICmd, "--time", "2025-06-01T12:00:00+08:00", "--period", "24h", "pm25=45", "pm10=60", "so2=10", "no2=30", "co=0.8", "o3_8h=90")
	if err != nil {
		t.Fatal(err)
	}
	const issue = `{"standard":"HJ633-2012","aqi":63,"level":2,"category":"良","primary":["pm25"],"iaqi":{"pm25":63,"pm10":55,"so2":10,"no2":38,"co":20,"o3_8h":45}`
	if !strings.HasPrefix(raw, issue) {
		t.Errorf("output\n%s\nwant it to begin\n%s", raw, issue)
	}
}

// TestStandardsWaterClassBoundaries: a value exactly at a limit meets that
// class, the next representable value above it does not; multiples print
// as their two-decimal value (0.2, not 0.19999999999999996).
func TestStandardsWaterClassBoundaries(t *testing.T) {
	tests := []struct {
		args      []string
		items     string
		exceeding string
	}{
		{[]string{"nh3n=0.5"}, `{"nh3n":"II"}`, `{}`},
		{[]string{"nh3n=0.50000000001"}, `{"nh3n":"III"}`, `{}`},
		{[]string{"nh3n=1.0"}, `{"nh3n":"III"}`, `{}`},
		{[]string{"nh3n=1.00000000001"}, `{"nh3n":"IV"}`, `{"nh3n":0}`},
		{[]string{"cod=15"}, `{"cod":"I"}`, `{}`},
		{[]string{"--target", "I", "cu=1.0"}, `{"cu":"II"}`, `{"cu":99}`},
		{[]string{"do=7.5", "ph=6"}, `{"do":"I","ph":"I"}`, `{}`},
		{[]string{"do=4.99999999999", "ph=9.00000000001"}, `{"do":"IV","ph":"劣V"}`, `{"do":0,"ph":null}`},
		{[]string{"--target", "II", "tp=0.12", "do=5.4"}, `{"tp":"III","do":"III"}`, `{"tp":0.2,"do":0.1}`},
		{[]string{"--lake", "--target", "IV", "tp=0.3"}, `{"tp":"劣V"}`, `{"tp":2}`},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			got, raw, err := runStandardsCmd(t, newWaterClassCmd, tt.args...)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got["items"], jsonLiteral(t, tt.items)) || !reflect.DeepEqual(got["exceeding"], jsonLiteral(t, tt.exceeding)) {
				t.Errorf("items %v exceeding %v, want %s %s\n%s", got["items"], got["exceeding"], tt.items, tt.exceeding, raw)
			}
		})
	}
}

func TestStandardsLevelCmd(t *testing.T) {
	tests := []struct {
		args []string
		want map[string]string
	}{
		{[]string{"--source", "aqi-daily", "--days", "231,250"},
			map[string]string{"level": `"yellow"`, "name_zh": `"黄色预警"`, "cap_severity": `"Moderate"`, "source": `"aqi-daily"`}},
		{[]string{"--source", "aqi-daily", "--days", "150,231,320,250,199"}, map[string]string{"level": `"orange"`}},
		{[]string{"--source", "aqi-daily", "--days", "100,120"}, map[string]string{"level": `"none"`, "name_zh": `"无"`}},
		{[]string{"--source", "aqi-hourly", "--aqi", "180"}, map[string]string{"level": `"blue"`, "cap_severity": `"Minor"`}},
		{[]string{"--source", "water", "--class", "IV", "--target", "II"}, map[string]string{"level": `"yellow"`}},
		{[]string{"--source", "water", "--class", "IV", "--target", "II", "--drinking-source"}, map[string]string{"level": `"orange"`}},
		{[]string{"--source", "water", "--class", "IV", "--target", "III", "--multiple", "3.2"}, map[string]string{"level": `"orange"`}},
		{[]string{"--source", "water", "--class", "II", "--target", "III"}, map[string]string{"level": `"none"`}},
		{[]string{"--source", "legacy", "--city", "广州", "--grade", "Ⅲ级"}, map[string]string{"level": `"yellow"`, "roman": `"III"`}},
		{[]string{"--source", "legacy", "--city", "qingyuan", "--grade", "特别重大"}, map[string]string{"level": `"red"`, "cap_severity": `"Extreme"`}},
		// What decided, for the analyst.
		{[]string{"--source", "aqi-daily", "--days", "150,231,320,250,199"}, map[string]string{
			"matched": `["aqi_daily_persistence.rules[2]"]`,
			"episode": `{"first_day":2,"last_day":4,"days":3,"severe_days":1,"peak":320}`,
			"why":     `"days 2-4 of 5: 3 consecutive day(s) with daily AQI above 200, 1 above 300, peak 320; aqi_daily_persistence.rules[2] gives orange (at least 3 day(s), at least 1 above 300)"`,
		}},
		{[]string{"--source", "aqi-daily", "--days", "250,301,250,301,100,210"}, map[string]string{
			"level": `"red"`, "matched": `["aqi_daily_persistence.rules[3]"]`,
			"episode": `{"first_day":1,"last_day":4,"days":4,"severe_days":2,"peak":301}`,
		}},
		{[]string{"--source", "aqi-daily", "--days", "200, 150 ,100"}, map[string]string{
			"level": `"none"`, "matched": `[]`, "why": `"no day with daily AQI above 200"`, "episode": `null`,
		}},
		{[]string{"--source", "aqi-daily", "--days", "500"}, map[string]string{"level": `"red"`, "matched": `["aqi_daily_persistence.rules[4]"]`}},
		{[]string{"--source", "aqi-hourly", "--aqi", "180"}, map[string]string{"matched": `["aqi_hourly[1]"]`, "why": `"AQI 180 is in aqi_hourly[1] (151-200): blue"`}},
		{[]string{"--source", "aqi-hourly", "--aqi", "0"}, map[string]string{"level": `"none"`, "matched": `["aqi_hourly[0]"]`}},
		{[]string{"--source", "water", "--class", "IV", "--target", "II", "--multiple", "0.8", "--drinking-source"}, map[string]string{
			"level": `"orange"`, "matched": `["water.class_gap[1]","water.drinking_source_escalation"]`,
			"why": `"class IV against target II (gap 2): water.class_gap[1] gives yellow; exceedance multiple 0.8: water.multiple[0] gives none; drinking-water source: raised from yellow to orange"`,
		}},
		{[]string{"--source", "water", "--class", "III", "--target", "III", "--drinking-source"}, map[string]string{
			"level": `"none"`, "matched": `[]`, "why": `"class III meets target III"`,
		}},
		{[]string{"--source", "water", "--class", "劣Ⅴ类", "--target", "Ⅰ", "--multiple", "9", "--drinking-source"}, map[string]string{"level": `"red"`}},
		{[]string{"--source", "legacy", "--city", "广州", "--grade", "三级"}, map[string]string{
			"level": `"yellow"`, "matched": `["legacy[0].grades[1]"]`, "why": `"guangzhou grade 三级 (Ⅲ级): legacy[0].grades[1] gives yellow"`,
		}},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			got, raw, err := runStandardsCmd(t, newLevelCmd, tt.args...)
			if err != nil {
				t.Fatalf("err = %v", err)
			}
			for k, lit := range tt.want {
				if !reflect.DeepEqual(got[k], jsonLiteral(t, lit)) {
					t.Errorf("%s = %v, want %s\n%s", k, got[k], lit, raw)
				}
			}
		})
	}
}

func TestStandardsBadInputExit2(t *testing.T) {
	tests := []struct {
		name    string
		newCmd  func() *cobra.Command
		args    []string
		wantErr string
	}{
		{"aqi without time", newAQICmd, []string{"pm25=10"}, "--time is required"},
		{"aqi bad time", newAQICmd, []string{"--time", "yesterday", "pm25=10"}, "--time"},
		{"aqi bad period", newAQICmd, []string{"--time", "2025-06-01T12:00:00+08:00", "--period", "8h", "pm25=10"}, "--period"},
		{"aqi unknown pollutant", newAQICmd, []string{"--time", "2025-06-01T12:00:00+08:00", "pm2.5=10"}, "unknown pollutant"},
		{"aqi negative", newAQICmd, []string{"--time", "2025-06-01T12:00:00+08:00", "pm25=-1"}, "non-negative"},
		{"aqi not a number", newAQICmd, []string{"--time", "2025-06-01T12:00:00+08:00", "pm25=abc"}, "not a number"},
		{"aqi duplicate", newAQICmd, []string{"--time", "2025-06-01T12:00:00+08:00", "pm25=1", "pm25=2"}, "twice"},
		{"aqi no pollutants", newAQICmd, []string{"--time", "2025-06-01T12:00:00+08:00"}, "at least one"},
		{"aqi before any version", newAQICmd, []string{"--time", "2010-01-01T00:00:00+08:00", "pm25=10"}, "no AQI standard in force"},
		{"aqi unknown flag", newAQICmd, []string{"--colour"}, "unknown flag"},
		{"aqi bad standards dir", newAQICmd, []string{"--standards", "testdata/nowhere", "--time", "2025-06-01T12:00:00+08:00", "pm25=1"}, "load standards"},
		{"water unknown item", newWaterClassCmd, []string{"cond=300"}, `unknown item "cond" (want temp ph do`},
		{"water unknown items named together", newWaterClassCmd, []string{"cond=300", "nh3n=1", "NH4=1"}, `unknown items "cond", "nh4"`},
		{"water no items", newWaterClassCmd, []string{"--target", "II"}, "at least one ITEM=VALUE"},
		{"water missing =", newWaterClassCmd, []string{"nh3n"}, `argument "nh3n": want KEY=VALUE`},
		{"water empty key", newWaterClassCmd, []string{"=1"}, "want KEY=VALUE"},
		{"water not a number", newWaterClassCmd, []string{"nh3n=abc"}, "not a number"},
		{"water empty value", newWaterClassCmd, []string{"nh3n="}, "not a number"},
		{"water NaN", newWaterClassCmd, []string{"nh3n=NaN"}, "not a number"},
		{"water Inf", newWaterClassCmd, []string{"do=+Inf"}, "not a number"},
		{"water overflow", newWaterClassCmd, []string{"do=1e400"}, "finite non-negative"},
		{"water negative", newWaterClassCmd, []string{"nh3n=-0.1"}, "finite non-negative"},
		{"water duplicate", newWaterClassCmd, []string{"nh3n=1", "NH3N=2"}, "nh3n given twice"},
		{"water trailing junk is a unit", newWaterClassCmd, []string{"nh3n=1.2.3"}, `water item nh3n: unit ".3" is not the canonical unit mg/L`},
		{"water empty target", newWaterClassCmd, []string{"--target", "", "nh3n=1"}, "--target"},
		{"water target VI", newWaterClassCmd, []string{"--target", "VI", "nh3n=1"}, "--target"},
		{"water foreign unit", newWaterClassCmd, []string{"hg=0.05ug/L"}, `water item hg: unit "ug/L" is not the canonical unit mg/L`},
		{"water unit on ph", newWaterClassCmd, []string{"ph=7mg/L"}, `water item ph: unit "mg/L" is not the canonical unit 1`},
		{"water bad target", newWaterClassCmd, []string{"--target", "劣V", "nh3n=1"}, "--target"},
		{"water bad items", newWaterClassCmd, []string{"--items", "nh3n,temp", "nh3n=1"}, "--items"},
		{"water tn evaluated at a river", newWaterClassCmd, []string{"--items", "nh3n,tn", "tn=1"}, "tn applies to lakes and reservoirs only"},
		{"level unknown source", newLevelCmd, []string{"--source", "noise"}, `--source "noise"`},
		{"level no source", newLevelCmd, []string{"--days", "300"}, "--source is required"},
		{"level missing aqi", newLevelCmd, []string{"--source", "aqi-hourly"}, "needs --aqi"},
		{"level missing target", newLevelCmd, []string{"--source", "water", "--class", "IV"}, "needs --target"},
		{"level missing grade", newLevelCmd, []string{"--source", "legacy", "--city", "广州"}, "needs --grade"},
		{"level water flag for aqi-hourly", newLevelCmd, []string{"--source", "aqi-hourly", "--aqi", "180", "--drinking-source"}, "--drinking-source does not apply to --source aqi-hourly"},
		{"level legacy flag for water", newLevelCmd, []string{"--source", "water", "--class", "IV", "--target", "II", "--city", "广州"}, "--city does not apply"},
		{"level empty days", newLevelCmd, []string{"--source", "aqi-daily", "--days", ""}, `--days: ""`},
		{"level negative day", newLevelCmd, []string{"--source", "aqi-daily", "--days", "250,-1"}, `"-1"`},
		{"level fractional day", newLevelCmd, []string{"--source", "aqi-daily", "--days", "250.5"}, `"250.5"`},
		{"level bad aqi", newLevelCmd, []string{"--source", "aqi-hourly", "--aqi", "high"}, `"high"`},
		{"level negative aqi", newLevelCmd, []string{"--source", "aqi-hourly", "--aqi", "-5"}, "--aqi -5"},
		{"level bad multiple", newLevelCmd, []string{"--source", "water", "--class", "IV", "--target", "II", "--multiple", "x"}, `"x"`},
		{"level NaN multiple", newLevelCmd, []string{"--source", "water", "--class", "IV", "--target", "II", "--multiple", "NaN"}, "--multiple NaN"},
		{"level negative multiple", newLevelCmd, []string{"--source", "water", "--class", "IV", "--target", "II", "--multiple", "-0.5"}, "--multiple -0.5"},
		{"level bad target", newLevelCmd, []string{"--source", "water", "--class", "IV", "--target", "劣V"}, `--target "劣V"`},
		{"level positional argument", newLevelCmd, []string{"--source", "aqi-daily", "--days", "231", "250"}, "unexpected arguments"},
		{"level missing days", newLevelCmd, []string{"--source", "aqi-daily"}, "needs --days"},
		{"level flag for another source", newLevelCmd, []string{"--source", "aqi-daily", "--days", "300", "--aqi", "5"}, "does not apply"},
		{"level bad days", newLevelCmd, []string{"--source", "aqi-daily", "--days", "300,x"}, "--days"},
		{"level bad class", newLevelCmd, []string{"--source", "water", "--class", "VI", "--target", "II"}, `--class: parse water class "VI"`},
		{"level unknown city", newLevelCmd, []string{"--source", "legacy", "--city", "深圳", "--grade", "Ⅲ级"}, "unknown city"},
		{"level unknown grade", newLevelCmd, []string{"--source", "legacy", "--city", "广州", "--grade", "Ⅴ级"}, "unknown grade"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, out, err := runStandardsCmd(t, tt.newCmd, tt.args...)
			if exitCode(err) != 2 {
				t.Fatalf("exitCode(%v) = %d, want 2", err, exitCode(err))
			}
			if !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("error %q does not contain %q", err, tt.wantErr)
			}
			if strings.Contains(err.Error(), "\n") {
				t.Errorf("error is not one line: %q", err)
			}
			if out != "" {
				t.Errorf("stdout = %q, want nothing on error", out)
			}
		})
	}
}
