package report

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/qingliu/qingliu/domain"
	"github.com/qingliu/qingliu/registry"
	"github.com/qingliu/qingliu/standards"
	"github.com/qingliu/qingliu/standards/water"
)

var cst = time.FixedZone("CST", 8*3600)

func load(t testing.TB) (*standards.Set, *registry.Registry) {
	t.Helper()
	set, err := standards.Load("../configs/standards")
	if err != nil {
		t.Fatal(err)
	}
	reg, err := registry.Load("testdata/stations.yaml")
	if err != nil {
		t.Fatal(err)
	}
	return set, reg
}

func day(s string) time.Time {
	t, err := time.ParseInLocation(time.DateOnly, s, cst)
	if err != nil {
		panic(err)
	}
	return t
}

// hourly returns one point per hour of [from, from+hours) for station and
// param, with value v(h) (h counted from from).
func hourly(station, param string, from time.Time, hours int, iv domain.Interval, v func(h int) float64) []Point {
	out := make([]Point, 0, hours)
	for h := range hours {
		out = append(out, Point{Station: station, Param: param, Time: from.Add(time.Duration(h) * time.Hour), Value: v(h), Interval: iv})
	}
	return out
}

func constant(v float64) func(int) float64 { return func(int) float64 { return v } }

func alternate(a, b float64) func(int) float64 {
	return func(h int) float64 {
		if h%2 == 0 {
			return a
		}
		return b
	}
}

func selectAll(t *testing.T, reg *registry.Registry, m domain.Medium, ids ...string) []*registry.Station {
	t.Helper()
	sts, err := Select(reg, m, ids)
	if err != nil {
		t.Fatal(err)
	}
	return sts
}

func TestSelect(t *testing.T) {
	_, reg := load(t)
	shipped, err := registry.Load("../configs/stations.yaml")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		reg     *registry.Registry
		medium  domain.Medium
		ids     []string
		want    string // ids in order
		wantErr error
	}{
		{"rivers first, in chain order, then the rest by id", reg, domain.Water, nil, "up down dry lake1", nil},
		{"a subset keeps river order", reg, domain.Water, []string{"down", "up"}, "up down", nil},
		{"air by id", reg, domain.Air, nil, "air1 air2 air3", nil},
		{"shipped 北江 chain upstream to downstream", shipped, domain.Water, []string{"bj-shijiao", "bj-gaoqiao", "bj-qixinggang", "bj-lixi"},
			"bj-gaoqiao bj-lixi bj-qixinggang bj-shijiao", nil},
		{"unknown station", reg, domain.Water, []string{"nowhere"}, "", ErrUnknownStation},
		{"air station in a water report", reg, domain.Water, []string{"air1"}, "", ErrWrongMedium},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			sts, err := Select(tc.reg, tc.medium, tc.ids)
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("error %v, want %v", err, tc.wantErr)
			}
			if got := strings.Join(stationIDs(sts), " "); got != tc.want {
				t.Errorf("stations %q, want %q", got, tc.want)
			}
		})
	}
}

func stationIDs(sts []*registry.Station) []string {
	var out []string
	for _, s := range sts {
		out = append(out, s.ID)
	}
	return out
}

// waterPoints is two days of readings:
//   - up: hourly samples; nh3n alternates 0.5/0.7 (mean 0.6: class III
//     against target II, multiple (0.6−0.5)/0.5 = 0.2) plus two samples of
//     8.0 flagged C, which would make the mean (48·0.6+16)/50 = 0.896;
//   - down: hourly aggregates of tp, 0.08 except the first 12 hours, 1.5
//     flagged D (counted, the mean would be 0.435: 劣V), and samples of tp
//     0.3 that the aggregates take precedence over; no do or nh3n at all;
//   - lake1: tp 0.04 (class III by the lake column, II by the river one) and
//     tn 1.2 (IV: evaluated through class_items, multiple 0.2 against III);
//   - dry: only flagged readings.
func waterPoints(from time.Time) []Point {
	var pts []Point
	pts = append(pts, hourly("up", "ph", from, 48, "", constant(7.5))...)
	pts = append(pts, hourly("up", "do", from, 48, "", constant(7))...)
	pts = append(pts, hourly("up", "nh3n", from, 48, "", alternate(0.5, 0.7))...)
	pts = append(pts, hourly("up", "tp", from, 48, "", constant(0.08))...)
	pts = append(pts, hourly("up", "cond", from, 48, "", constant(300))...) // no class limits: ignored
	for _, h := range []int{10, 30} {
		pts = append(pts, Point{Station: "up", Param: "nh3n", Time: from.Add(time.Duration(h)*time.Hour + 30*time.Minute), Value: 8, Flag: domain.FlagCalibration})
	}
	pts = append(pts, hourly("down", "ph", from, 48, domain.IntervalHour, constant(7))...)
	pts = append(pts, hourly("down", "tp", from, 48, domain.IntervalHour, func(h int) float64 {
		if h < 12 {
			return 1.5
		}
		return 0.08
	})...)
	for i := range pts {
		if p := &pts[i]; p.Station == "down" && p.Param == "tp" && p.Value == 1.5 {
			p.Flag = domain.FlagFault
		}
	}
	pts = append(pts, hourly("down", "tp", from, 48, "", constant(0.3))...)
	pts = append(pts, hourly("lake1", "tp", from, 48, "", constant(0.04))...)
	pts = append(pts, hourly("lake1", "tn", from, 48, "", constant(1.2))...)
	dry := hourly("dry", "nh3n", from, 5, "", constant(3))
	for i := range dry {
		dry[i].Flag = domain.FlagMaintenance
	}
	pts = append(pts, dry...)
	// Outside the period, other stations: ignored.
	pts = append(pts, Point{Station: "up", Param: "nh3n", Time: from.Add(-time.Minute), Value: 50})
	pts = append(pts, Point{Station: "up", Param: "nh3n", Time: from.Add(48 * time.Hour), Value: 50})
	pts = append(pts, Point{Station: "elsewhere", Param: "nh3n", Time: from, Value: 50})
	return pts
}

func ptr[T any](v T) *T { return &v }

func TestBuildWater(t *testing.T) {
	set, reg := load(t)
	from := day("2026-10-01")
	p := Period{From: from, To: from.Add(48 * time.Hour)}
	rep, err := BuildWater(set.Water, reg, selectAll(t, reg, domain.Water), p, waterPoints(from))
	if err != nil {
		t.Fatal(err)
	}
	if rep.Standard != "GB 3838-2002" || rep.From != "2026-10-01T00:00:00+08:00" || rep.To != "2026-10-03T00:00:00+08:00" {
		t.Errorf("header %q %s %s", rep.Standard, rep.From, rep.To)
	}
	type item struct {
		mean         float64
		n, excluded  int
		completeness float64
		class        water.Class
		multiple     *float64
		data         string
	}
	tests := []struct {
		station      string
		class        *water.Class
		meets        *bool
		exceeding    string // item=multiple …
		readings     int
		excluded     int
		completeness float64
		missing      string
		handover     string
		items        map[string]item
	}{
		{
			station: "up", class: ptr(water.III), meets: ptr(false), exceeding: "nh3n=0.2",
			readings: 4 * 48, excluded: 2, completeness: 1, handover: "清远→广州",
			items: map[string]item{
				"nh3n": {mean: 0.6, n: 48, excluded: 2, completeness: 1, class: water.III, multiple: ptr(0.2), data: "samples"},
				"do":   {mean: 7, n: 48, completeness: 1, class: water.II, data: "samples"},
				"ph":   {mean: 7.5, n: 48, completeness: 1, class: water.I, data: "samples"},
			},
		},
		{
			station: "down", class: ptr(water.II), meets: ptr(true), exceeding: "",
			readings: 48 + 36, excluded: 12, completeness: 0, missing: "do nh3n",
			items: map[string]item{
				"tp": {mean: 0.08, n: 36, excluded: 12, completeness: 0.75, class: water.II, data: "hourly"},
			},
		},
		{
			station: "dry", excluded: 5, completeness: 0, missing: "nh3n",
		},
		{
			station: "lake1", class: ptr(water.IV), meets: ptr(false), exceeding: "tn=0.2",
			readings: 96, completeness: 1,
			items: map[string]item{
				"tp": {mean: 0.04, n: 48, completeness: 1, class: water.III, data: "samples"},
				"tn": {mean: 1.2, n: 48, completeness: 1, class: water.IV, multiple: ptr(0.2), data: "samples"},
			},
		},
	}
	if len(rep.Sections) != len(tests) {
		t.Fatalf("%d sections, want %d", len(rep.Sections), len(tests))
	}
	for i, tc := range tests {
		s := rep.Sections[i]
		t.Run(tc.station, func(t *testing.T) {
			if s.Station != tc.station {
				t.Fatalf("row %d is %s, want %s", i, s.Station, tc.station)
			}
			if !eqPtr(s.Class, tc.class) || !eqPtr(s.MeetsTarget, tc.meets) {
				t.Errorf("class %v meets %v, want %v %v", deref(s.Class), deref(s.MeetsTarget), deref(tc.class), deref(tc.meets))
			}
			var ex []string
			for _, e := range s.Exceeding {
				ex = append(ex, e.Item+"="+jsonOf(t, e.Multiple))
			}
			if got := strings.Join(ex, " "); got != tc.exceeding {
				t.Errorf("exceeding %q, want %q", got, tc.exceeding)
			}
			if s.Readings != tc.readings || s.Excluded != tc.excluded || s.Completeness != tc.completeness {
				t.Errorf("readings %d excluded %d completeness %v, want %d %d %v", s.Readings, s.Excluded, s.Completeness, tc.readings, tc.excluded, tc.completeness)
			}
			if got := strings.Join(s.Missing, " "); got != tc.missing {
				t.Errorf("missing %q, want %q", got, tc.missing)
			}
			if s.Handover != tc.handover {
				t.Errorf("handover %q, want %q", s.Handover, tc.handover)
			}
			for _, im := range s.Items {
				want, ok := tc.items[im.Item]
				if !ok {
					continue
				}
				delete(tc.items, im.Item)
				got := item{im.Mean, im.Readings, im.Excluded, im.Completeness, im.Class, im.Multiple, im.Data}
				if jsonOf(t, got.multiple) != jsonOf(t, want.multiple) {
					t.Errorf("%s multiple %s, want %s", im.Item, jsonOf(t, got.multiple), jsonOf(t, want.multiple))
				}
				got.multiple, want.multiple = nil, nil
				if got != want {
					t.Errorf("%s = %+v, want %+v", im.Item, got, want)
				}
			}
			for k := range tc.items {
				t.Errorf("item %s missing from the row", k)
			}
		})
	}
	// JSON: a section without evaluation has null class and meets_target.
	b, err := json.Marshal(rep.Sections[2])
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), `"class":null`) || !strings.Contains(string(b), `"meets_target":null`) {
		t.Errorf("not-evaluated section JSON: %s", b)
	}
}

func eqPtr[T comparable](a, b *T) bool { return (a == nil) == (b == nil) && (a == nil || *a == *b) }

func deref[T any](p *T) any {
	if p == nil {
		return nil
	}
	return *p
}

func jsonOf(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestBuildWaterEmptyPeriod(t *testing.T) {
	set, reg := load(t)
	from := day("2026-10-01")
	if _, err := BuildWater(set.Water, reg, nil, Period{From: from, To: from}, nil); err == nil {
		t.Error("empty period: no error")
	}
}

// airPoints is one day of hourly samples at station with the values worked
// in TestBuildAir, plus flagged samples that would change them if counted.
func airPoints(station string, d time.Time, hours int, skip string) []Point {
	var pts []Point
	add := func(param string, v func(int) float64) {
		if param != skip {
			pts = append(pts, hourly(station, param, d, hours, "", v)...)
		}
	}
	add("so2", constant(10))
	add("no2", constant(30))
	add("co", constant(0.8))
	add("pm10", constant(80))
	add("pm25", alternate(50, 60))
	add("o3", func(h int) float64 {
		if h >= 12 && h < 20 {
			return 180
		}
		return 60
	})
	pts = append(pts,
		Point{Station: station, Param: "pm25", Time: d.Add(3*time.Hour + 30*time.Minute), Value: 500, Flag: domain.FlagCalibration},
		Point{Station: station, Param: "o3", Time: d.Add(5*time.Hour + 30*time.Minute), Value: 900, Flag: domain.FlagMaintenance},
		Point{Station: station, Param: "pm25", Time: d.Add(-time.Minute), Value: 900}, // the day before
	)
	return pts
}

func TestBuildAir(t *testing.T) {
	set, reg := load(t)
	sts := selectAll(t, reg, domain.Air)
	// Hand-worked from configs/standards (formula 1, rounded up):
	//   so2 10 → 10; no2 30 → 50·30/40 = 37.5 → 38; co 0.8 → 50·0.8/2 = 20;
	//   pm25 mean 55: 2026 50+50·(55−35)/(60−35) = 90, 2012 50+50·20/40 = 75;
	//   pm10 80: 2026 50+50·30/70 = 71.4 → 72, 2012 50+50·30/100 = 65;
	//   o3 daily max 8-h: the window ending at 20:00 (12–19 h) = 180 →
	//   100+50·20/55 = 118.2 → 119; 2012 o3_1h max 180 → 50+50·20/40 = 75.
	// air2 has 10 hours: no 24-h mean (20 h), 5 valid 8-h windows (< 14,
	// max 60 ≤ 160): every pollutant missing, AQI NA. air3 lacks co: AQI
	// 119 > 100 is still published (HJ 633-2026 §5.3.1).
	tests := []struct {
		day      string
		std      string
		station  string
		aqi      *int
		level    int
		category string
		primary  string
		iaqi     string // key=iaqi in report order; null when none
		missing  string
	}{
		{"2026-11-20", "HJ633-2026", "air1", ptr(119), 3, "轻度污染", "o3_8h", "so2=10 no2=38 co=20 pm10=72 pm25=90 o3_8h=119", ""},
		{"2026-11-20", "HJ633-2026", "air2", nil, 0, "", "", "so2=null no2=null co=null pm10=null pm25=null o3_8h=null", "so2 no2 co pm10 pm25 o3_8h"},
		{"2026-11-20", "HJ633-2026", "air3", ptr(119), 3, "轻度污染", "o3_8h", "so2=10 no2=38 co=null pm10=72 pm25=90 o3_8h=119", "co"},
		{"2025-11-20", "HJ633-2012", "air1", ptr(119), 3, "轻度污染", "o3_8h", "so2=10 no2=38 co=20 pm10=65 pm25=75 o3_1h=75 o3_8h=119", ""},
	}
	for _, tc := range tests {
		t.Run(tc.day+" "+tc.station, func(t *testing.T) {
			d := day(tc.day)
			var pts []Point
			pts = append(pts, airPoints("air1", d, 24, "")...)
			pts = append(pts, airPoints("air2", d, 10, "")...)
			pts = append(pts, airPoints("air3", d, 24, "co")...)
			rep, err := BuildAir(set.AQI, sts, d, pts)
			if err != nil {
				t.Fatal(err)
			}
			if rep.Standard != tc.std || rep.Date != tc.day {
				t.Errorf("standard %s date %s, want %s %s", rep.Standard, rep.Date, tc.std, tc.day)
			}
			var s *AirStation
			for i := range rep.Stations {
				if rep.Stations[i].Station == tc.station {
					s = &rep.Stations[i]
				}
			}
			if s == nil {
				t.Fatalf("no row for %s", tc.station)
			}
			if !eqPtr(s.AQI, tc.aqi) || s.NA != (tc.aqi == nil) {
				t.Errorf("aqi %v na %v, want %v", deref(s.AQI), s.NA, deref(tc.aqi))
			}
			if tc.aqi != nil && (*s.Level != tc.level || *s.Category != tc.category) {
				t.Errorf("level %d %s, want %d %s", *s.Level, *s.Category, tc.level, tc.category)
			}
			if tc.aqi == nil && (s.Level != nil || s.Category != nil) {
				t.Errorf("NA with level %v category %v", deref(s.Level), deref(s.Category))
			}
			if got := strings.Join(s.Primary, " "); got != tc.primary {
				t.Errorf("primary %q, want %q", got, tc.primary)
			}
			var iaqi []string
			for _, p := range s.Pollutants {
				iaqi = append(iaqi, p.Key+"="+jsonOf(t, p.IAQI))
				if p.Valid != (p.Value != nil) || (!p.Valid && p.IAQI != nil) {
					t.Errorf("%s: valid %v value %v iaqi %v: an invalid mean must have no number", p.Key, p.Valid, deref(p.Value), deref(p.IAQI))
				}
			}
			if got := strings.Join(iaqi, " "); got != tc.iaqi {
				t.Errorf("iaqi %q, want %q", got, tc.iaqi)
			}
			if got := strings.Join(s.Missing, " "); got != tc.missing {
				t.Errorf("missing %q, want %q", got, tc.missing)
			}
		})
	}
}

func TestAirValuesAndCounts(t *testing.T) {
	set, reg := load(t)
	d := day("2026-11-20")
	rep, err := BuildAir(set.AQI, selectAll(t, reg, domain.Air, "air1"), d, airPoints("air1", d, 24, ""))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{ // key → value n (n: valid hours, o3_8h valid windows)
		"so2": "10 24", "no2": "30 24", "co": "0.8 24", "pm10": "80 24",
		"pm25":  "55 24", // the C-flagged 500 at 03:30 is left out
		"o3_8h": "180 17",
	}
	for _, p := range rep.Stations[0].Pollutants {
		if got := jsonOf(t, p.Value) + " " + jsonOf(t, p.N); got != want[p.Key] {
			t.Errorf("%s = %s, want %s", p.Key, got, want[p.Key])
		}
	}
}

func TestWaterCSVAndTable(t *testing.T) {
	set, reg := load(t)
	from := day("2026-10-01")
	rep, err := BuildWater(set.Water, reg, selectAll(t, reg, domain.Water), Period{From: from, To: from.Add(48 * time.Hour)}, waterPoints(from))
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	if err := rep.WriteCSV(&b); err != nil {
		t.Fatal(err)
	}
	rows, err := csv.NewReader(&b).ReadAll()
	if err != nil {
		t.Fatalf("csv does not parse: %v", err)
	}
	wantHead := "责任城市,交接断面,所处河流,交接关系,水质控制目标,水质类别,达标,主要超标项目/超标倍数,station,readings,completeness,ph,do,nh3n,tp,tn"
	if got := strings.Join(rows[0], ","); got != wantHead {
		t.Errorf("header\n %s\nwant\n %s", got, wantHead)
	}
	wantRows := []string{
		"清远,上游,界河,清远→广州,II,III,否,氨氮(NH3-N) 0.2,up,192,100.0%,7.5,7,0.6,0.08,",
		"广州,下游,界河,,II,II,是,,down,84,0.0%,7,,,0.08,",
		"清远,无数据,小河,,III,未评价,,,dry,0,0.0%,,,,,",
		"清远,湖一,湖,,III,IV,否,总氮(湖、库,以N计) 0.2,lake1,96,100.0%,,,,0.04,1.2",
	}
	for i, want := range wantRows {
		if got := strings.Join(rows[i+1], ","); got != want {
			t.Errorf("row %d\n %s\nwant\n %s", i+1, got, want)
		}
	}

	b.Reset()
	if err := rep.WriteTable(&b); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimRight(b.String(), "\n"), "\n")
	if len(lines) != 2+len(rep.Sections) || !strings.HasPrefix(lines[0], "GB 3838-2002  2026-10-01T00:00:00+08:00") {
		t.Fatalf("table:\n%s", b.String())
	}
	// Every column starts at the same display column on every line: the
	// station id column (after the Chinese ones) lines up.
	col := -1
	for _, l := range lines[1:] {
		for _, s := range []string{"station", "up", "down", "dry", "lake1"} {
			if i := strings.Index(l, "  "+s+" "); i >= 0 {
				c := displayWidth(l[:i+2])
				if col >= 0 && c != col {
					t.Errorf("station column at %d, want %d:\n%s", c, col, b.String())
				}
				col = c
				break
			}
		}
	}
	if col < 0 {
		t.Errorf("no station column found:\n%s", b.String())
	}
}

func TestAirCSVAndTable(t *testing.T) {
	set, reg := load(t)
	d := day("2026-11-20")
	pts := append(airPoints("air1", d, 24, ""), airPoints("air2", d, 10, "")...)
	rep, err := BuildAir(set.AQI, selectAll(t, reg, domain.Air, "air1", "air2"), d, pts)
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	if err := rep.WriteCSV(&b); err != nil {
		t.Fatal(err)
	}
	want := "station,name,city,date,standard,aqi,level,category,primary,so2,no2,co,pm10,pm25,o3_8h,o3_1h,missing\n" +
		"air1,空一,广州,2026-11-20,HJ633-2026,119,3,轻度污染,o3_8h,10,30,0.8,80,55,180,,\n" +
		"air2,空二,广州,2026-11-20,HJ633-2026,NA,,,,NA,NA,NA,NA,NA,NA,,so2 no2 co pm10 pm25 o3_8h\n"
	if b.String() != want {
		t.Errorf("csv\n%s\nwant\n%s", b.String(), want)
	}
	b.Reset()
	if err := rep.WriteTable(&b); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimRight(b.String(), "\n"), "\n")
	if len(lines) != 3 {
		t.Fatalf("table:\n%s", b.String())
	}
	// The date column starts at the same display column on every line.
	at := func(l, s string) int { return displayWidth(l[:strings.Index(l, s)]) }
	if a, b1, c := at(lines[0], "date"), at(lines[1], "2026-11-20"), at(lines[2], "2026-11-20"); a != b1 || b1 != c {
		t.Errorf("date column at %d %d %d:\n%s", a, b1, c, b.String())
	}
}
