package main

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	influxdb2 "github.com/influxdata/influxdb-client-go/v2"
	"github.com/influxdata/line-protocol/v2/lineprotocol"

	"github.com/qingliu/qingliu/domain"
	"github.com/qingliu/qingliu/internal/testenv"
	"github.com/qingliu/qingliu/registry"
	"github.com/qingliu/qingliu/report"
	"github.com/qingliu/qingliu/writer"
)

// reportConfig writes a qingliu.yaml naming InfluxDB at url and the shipped
// stations.yaml, and returns its path.
func reportConfig(t *testing.T, url string) string {
	t.Helper()
	dir := t.TempDir()
	cfg := fmt.Sprintf("influxdb: {url: %q, database: qingliu, retention_policy: autogen, timeout: 10s}\nfiles: {stations: %s}\n",
		url, filepath.Join(testenv.RepoRoot(t), "configs", "stations.yaml"))
	path := filepath.Join(dir, "qingliu.yaml")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func runReport(t *testing.T, args ...string) (string, error) {
	t.Helper()
	root := newRootCmd()
	var out bytes.Buffer
	root.SetOut(&out)
	root.SetErr(&out)
	root.SetArgs(append([]string{"report"}, args...))
	err := root.ExecuteContext(t.Context())
	return out.String(), err
}

// writeReadings stores readings exactly as the writer stage does: its
// line-protocol encoder with the registry's tags, then a blocking write.
func writeReadings(t *testing.T, url string, reg *registry.Registry, rs []domain.Reading) {
	t.Helper()
	var enc lineprotocol.Encoder
	for i := range rs {
		writer.Encode(&enc, &rs[i], reg)
	}
	if err := enc.Err(); err != nil {
		t.Fatal(err)
	}
	client := influxdb2.NewClientWithOptions(url, "", influxdb2.DefaultOptions().SetLogLevel(0))
	defer client.Close()
	if err := client.WriteAPIBlocking("", "qingliu/autogen").WriteRecord(t.Context(), string(enc.Bytes())); err != nil {
		t.Fatal(err)
	}
}

func reading(station string, m domain.Medium, at time.Time, values map[string]float64, flags map[string]domain.Flag) domain.Reading {
	return domain.Reading{Station: station, Medium: m, Time: at, Source: domain.SourceMQTT, Values: values, Flags: flags}
}

// TestReportAgainstInfluxDB runs `qingliu report water` and `report air`
// against a real InfluxDB 1.8.10 holding the pipeline's points.
func TestReportAgainstInfluxDB(t *testing.T) {
	in := testenv.StartInflux(t)
	in.CreateDB("qingliu")
	reg, err := registry.Load(filepath.Join(testenv.RepoRoot(t), "configs", "stations.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	cfg := reportConfig(t, in.URL())

	// October 2026, hourly, at 高桥 and 李溪 (in that order on the 北江), and
	// four readings at 七星岗, all flagged M.
	from := time.Date(2026, 10, 1, 0, 0, 0, 0, chinaStandardTime)
	var rs []domain.Reading
	for h := range 31 * 24 {
		at := from.Add(time.Duration(h) * time.Hour)
		nh3n := 0.5
		if h%2 == 1 {
			nh3n = 0.7
		}
		g := reading("bj-gaoqiao", domain.Water, at, map[string]float64{"temp": 22, "ph": 7.4, "do": 7, "cond": 300, "codmn": 3, "nh3n": nh3n, "tp": 0.08}, nil)
		if at.Day() == 10 { // calibration: 8 mg/L that must not count
			g.Values["nh3n"], g.Flags = 8, map[string]domain.Flag{"nh3n": domain.FlagCalibration}
		}
		l := reading("bj-lixi", domain.Water, at, map[string]float64{"ph": 7.6, "do": 6.5, "codmn": 3.5, "nh3n": 0.3, "tp": 0.08}, nil)
		if at.Day() == 5 { // maintenance: 1.5 mg/L that must not count
			l.Values["tp"], l.Flags = 1.5, map[string]domain.Flag{"tp": domain.FlagMaintenance}
		}
		rs = append(rs, g, l)
	}
	for h := range 4 {
		rs = append(rs, reading("bj-qixinggang", domain.Water, from.Add(time.Duration(h)*time.Hour),
			map[string]float64{"nh3n": 3}, map[string]domain.Flag{"nh3n": domain.FlagMaintenance}))
	}
	// 2026-11-20 at 花都师范 (24 h) and 花都梯面 (10 h only).
	d := time.Date(2026, 11, 20, 0, 0, 0, 0, chinaStandardTime)
	for h := range 24 {
		at := d.Add(time.Duration(h) * time.Hour)
		pm25, o3 := 50.0, 60.0
		if h%2 == 1 {
			pm25 = 60
		}
		if h >= 12 && h < 20 {
			o3 = 180
		}
		v := map[string]float64{"so2": 10, "no2": 30, "co": 0.8, "pm10": 80, "pm25": pm25, "o3": o3, "air_temp": 15}
		rs = append(rs, reading("aq-huadu-shifan", domain.Air, at, v, nil))
		if h < 10 {
			rs = append(rs, reading("aq-huadu-timian", domain.Air, at, v, nil))
		}
	}
	rs = append(rs,
		reading("aq-huadu-shifan", domain.Air, d.Add(3*time.Hour+30*time.Minute), map[string]float64{"pm25": 500}, map[string]domain.Flag{"pm25": domain.FlagCalibration}),
		reading("aq-huadu-shifan", domain.Air, d.Add(5*time.Hour+30*time.Minute), map[string]float64{"o3": 900}, map[string]domain.Flag{"o3": domain.FlagMaintenance}),
	)
	writeReadings(t, in.URL(), reg, rs)
	testenv.Eventually(t, 10*time.Second, "points queryable", func() bool {
		return in.Count("qingliu", "water", "nh3n") == 2*31*24+4
	})

	t.Run("water json", func(t *testing.T) {
		out, err := runReport(t, "water", "--config", cfg, "--from", "2026-10-01", "--to", "2026-11-01",
			"--station", "bj-qixinggang,bj-lixi", "--station", "bj-gaoqiao")
		if err != nil {
			t.Fatalf("report water: %v\n%s", err, out)
		}
		var rep report.Water
		if err := json.Unmarshal([]byte(out), &rep); err != nil {
			t.Fatalf("not JSON: %v\n%s", err, out)
		}
		if len(rep.Sections) != 3 || rep.Sections[0].Station != "bj-gaoqiao" || rep.Sections[1].Station != "bj-lixi" || rep.Sections[2].Station != "bj-qixinggang" {
			t.Fatalf("rows not in river order: %s", out)
		}
		g, l, q := rep.Sections[0], rep.Sections[1], rep.Sections[2]
		// 高桥: target II. Without day 10's flagged 8.0 the nh3n mean is
		// (0.5+0.7)/2 = 0.6 over 720 readings: class III, 超标倍数
		// (0.6 − 0.5)/0.5 = 0.2 (counted, it would be 0.839 and 0.68).
		if g.Class == nil || g.Class.String() != "III" || g.MeetsTarget == nil || *g.MeetsTarget || g.City != "韶关" || g.River != "北江" || g.Handover != "韶关→清远" {
			t.Errorf("高桥 row: %+v", g)
		}
		if len(g.Exceeding) != 1 || g.Exceeding[0].Item != "nh3n" || g.Exceeding[0].Multiple == nil || *g.Exceeding[0].Multiple != 0.2 {
			t.Errorf("高桥 exceeding %s, want nh3n 0.2", jsonString(t, g.Exceeding))
		}
		nh3n := itemOf(g, "nh3n")
		if nh3n.Mean != 0.6 || nh3n.Readings != 720 || nh3n.Excluded != 24 {
			t.Errorf("高桥 nh3n mean %v from %d readings (%d excluded), want 0.6 from 720 (24)", nh3n.Mean, nh3n.Readings, nh3n.Excluded)
		}
		// Completeness: nh3n's 4-h slots, 186 in the month, 6 of them (day
		// 10) without a valid reading: 180/186.
		if want := 0.9677; nh3n.Completeness != want || g.Completeness != want {
			t.Errorf("高桥 completeness item %v section %v, want %v", nh3n.Completeness, g.Completeness, want)
		}
		if want := 744*4 + 720; g.Readings != want || g.Excluded != 24 {
			t.Errorf("高桥 readings %d excluded %d, want %d 24", g.Readings, g.Excluded, want)
		}
		// 李溪: day 5's tp of 1.5 (flag M) would make the mean 0.126 (III,
		// not meeting II); without it tp is 0.08, class II, attained.
		if l.Class == nil || l.Class.String() != "II" || l.MeetsTarget == nil || !*l.MeetsTarget || len(l.Exceeding) != 0 {
			t.Errorf("李溪 row: %s", jsonString(t, l))
		}
		if tp := itemOf(l, "tp"); tp.Mean != 0.08 || tp.Readings != 720 || tp.Excluded != 24 {
			t.Errorf("李溪 tp %+v", tp)
		}
		// 七星岗: only flagged readings: not evaluated, no number.
		if q.Class != nil || q.MeetsTarget != nil || q.Readings != 0 || q.Excluded != 4 || q.Completeness != 0 {
			t.Errorf("七星岗 row: %s", jsonString(t, q))
		}
		if !strings.Contains(out, `"class":null`) {
			t.Errorf("not-evaluated class is not null in JSON: %s", out)
		}
	})

	t.Run("water csv and table", func(t *testing.T) {
		out, err := runReport(t, "water", "--config", cfg, "--from", "2026-10-01", "--to", "2026-11-01",
			"--station", "bj-gaoqiao,bj-lixi", "--format", "csv")
		if err != nil {
			t.Fatalf("report water --format csv: %v\n%s", err, out)
		}
		rows, err := csv.NewReader(strings.NewReader(out)).ReadAll()
		if err != nil || len(rows) != 3 {
			t.Fatalf("csv (%v):\n%s", err, out)
		}
		if got := strings.Join(rows[1][:11], ","); got != "韶关,高桥,北江,韶关→清远,II,III,否,氨氮(NH3-N) 0.2,bj-gaoqiao,3696,96.8%" {
			t.Errorf("csv row %s", got)
		}
		out, err = runReport(t, "water", "--config", cfg, "--from", "2026-10-01", "--to", "2026-11-01",
			"--station", "bj-gaoqiao", "--format", "table")
		if err != nil || !strings.Contains(out, "责任城市") || !strings.Contains(out, "高桥") {
			t.Errorf("table (%v):\n%s", err, out)
		}
	})

	t.Run("air json", func(t *testing.T) {
		out, err := runReport(t, "air", "--config", cfg, "--date", "2026-11-20", "--station", "aq-huadu-shifan,aq-huadu-timian")
		if err != nil {
			t.Fatalf("report air: %v\n%s", err, out)
		}
		var rep report.Air
		if err := json.Unmarshal([]byte(out), &rep); err != nil {
			t.Fatalf("not JSON: %v\n%s", err, out)
		}
		if rep.Standard != "HJ633-2026" || len(rep.Stations) != 2 {
			t.Fatalf("report: %s", out)
		}
		s, tm := rep.Stations[0], rep.Stations[1]
		// Worked from configs/standards/hj633-2026.yaml, formula 1 rounded
		// up: so2 10 → 10; no2 30 → 37.5 → 38; co 0.8 → 20; pm10 80 →
		// 50+50·30/70 = 71.4 → 72; pm25 (50+60)/2 = 55 (the C-flagged 500
		// left out) → 50+50·20/25 = 90; O3 daily max 8-h: the window
		// 12:00–20:00 at 180 (the M-flagged 900 left out) →
		// 100+50·20/55 = 118.2 → 119. AQI 119, level 3, primary o3_8h.
		want := map[string]string{"so2": "10 10", "no2": "30 38", "co": "0.8 20", "pm10": "80 72", "pm25": "55 90", "o3_8h": "180 119"}
		for _, p := range s.Pollutants {
			if got := jsonString(t, p.Value) + " " + jsonString(t, p.IAQI); got != want[p.Key] {
				t.Errorf("花都师范 %s = %s, want %s", p.Key, got, want[p.Key])
			}
		}
		if s.AQI == nil || *s.AQI != 119 || *s.Level != 3 || *s.Category != "轻度污染" || strings.Join(s.Primary, ",") != "o3_8h" || s.NA {
			t.Errorf("花都师范: %s", jsonString(t, s))
		}
		// 花都梯面: 10 hours, fewer than the 20 a 24-h mean needs, and 5
		// valid 8-h windows of 14: nothing valid, AQI NA.
		if tm.AQI != nil || !tm.NA || len(tm.Missing) != 6 {
			t.Errorf("花都梯面: %s", jsonString(t, tm))
		}
		for _, p := range tm.Pollutants {
			if p.Value != nil || p.IAQI != nil {
				t.Errorf("花都梯面 %s has a number: %s", p.Key, jsonString(t, p))
			}
		}
		if !strings.Contains(out, `"aqi":null`) {
			t.Errorf("NA is not aqi null: %s", out)
		}
	})

	t.Run("air csv", func(t *testing.T) {
		out, err := runReport(t, "air", "--config", cfg, "--date", "2026-11-20", "--station", "aq-huadu-timian,aq-huadu-shifan", "--format", "csv")
		if err != nil {
			t.Fatalf("report air --format csv: %v\n%s", err, out)
		}
		want := "station,name,city,date,standard,aqi,level,category,primary,so2,no2,co,pm10,pm25,o3_8h,o3_1h,missing\n" +
			"aq-huadu-shifan,花都师范,广州,2026-11-20,HJ633-2026,119,3,轻度污染,o3_8h,10,30,0.8,80,55,180,,\n" +
			"aq-huadu-timian,花都梯面,广州,2026-11-20,HJ633-2026,NA,,,,NA,NA,NA,NA,NA,NA,,so2 no2 co pm10 pm25 o3_8h\n"
		if out != want {
			t.Errorf("csv\n%s\nwant\n%s", out, want)
		}
	})
}

func itemOf(s report.Section, key string) report.ItemMean {
	for _, im := range s.Items {
		if im.Item == key {
			return im
		}
	}
	return report.ItemMean{}
}

func jsonString(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestReportBadInput(t *testing.T) {
	cfg := reportConfig(t, "http://127.0.0.1:1") // never contacted: input is checked first
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"water", "--config", cfg, "--from", "2026-10-32", "--to", "2026-11-01"}, `--from "2026-10-32": want a date YYYY-MM-DD`},
		{[]string{"water", "--config", cfg, "--to", "2026-11-01"}, "--from is required"},
		{[]string{"water", "--config", cfg, "--from", "2026-11-01", "--to", "2026-11-01"}, "--from 2026-11-01 is not before --to 2026-11-01"},
		{[]string{"water", "--config", cfg, "--from", "2026-10-01", "--to", "2026-11-01", "--station", "nowhere"}, `--station: station "nowhere": unknown station`},
		{[]string{"water", "--config", cfg, "--from", "2026-10-01", "--to", "2026-11-01", "--station", "aq-huadu-shifan"}, "measures air, not water: wrong medium"},
		{[]string{"air", "--config", cfg, "--date", "2026-11-20", "--station", "bj-gaoqiao"}, "measures water, not air: wrong medium"},
		{[]string{"water", "--config", cfg, "--from", "2026-10-01", "--to", "2026-11-01", "--format", "xml"}, `--format "xml": want json, csv or table`},
		{[]string{"air", "--config", cfg, "--date", "20.11.2026"}, `--date "20.11.2026": want a date YYYY-MM-DD`},
		{[]string{"air", "--config", cfg, "--date", "2026-11-20", "--bogus"}, "unknown flag: --bogus"},
		{[]string{"air", "--config", filepath.Join(t.TempDir(), "none.yaml"), "--date", "2026-11-20"}, "config: "},
		{[]string{"rain"}, `report: unknown report "rain": want water or air`},
		{nil, "report: give water or air"},
	}
	for _, tc := range tests {
		out, err := runReport(t, tc.args...)
		if code := exitCode(err); code != 2 || err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("report %v: exit %d, error %v; want exit 2 with %q", tc.args, code, err, tc.want)
			continue
		}
		if strings.Contains(err.Error(), "\n") || out != "" {
			t.Errorf("report %v: error not one line, or output %q: %v", tc.args, out, err)
		}
	}
}

func TestReportInfluxUnreachable(t *testing.T) {
	url := fmt.Sprintf("http://127.0.0.1:%d", testenv.FreePort(t))
	cfg := reportConfig(t, url)
	for _, args := range [][]string{
		{"water", "--config", cfg, "--from", "2026-10-01", "--to", "2026-11-01"},
		{"air", "--config", cfg, "--date", "2026-11-20"},
	} {
		_, err := runReport(t, args...)
		if code := exitCode(err); code != 1 || err == nil || !strings.Contains(err.Error(), "influxdb at "+url+" not reachable") {
			t.Errorf("report %v: exit %d, error %v; want exit 1 naming %s", args, code, err, url)
		}
	}
}
