package rules

import (
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/qingliu/qingliu/domain"
	"github.com/qingliu/qingliu/registry"
	"github.com/qingliu/qingliu/standards"
)

var (
	fixturesOnce sync.Once
	fixtureReg   *registry.Registry
	fixtureStd   *standards.Set
	fixtureErr   error
)

// fixtures are the shipped registry and standards: rules are written
// against the real stations and river chains.
func fixtures(t testing.TB) (*registry.Registry, *standards.Set) {
	t.Helper()
	fixturesOnce.Do(func() {
		fixtureReg, fixtureErr = registry.Load("../configs/stations.yaml")
		if fixtureErr == nil {
			fixtureStd, fixtureErr = standards.Load("../configs/standards")
		}
	})
	if fixtureErr != nil {
		t.Fatal(fixtureErr)
	}
	return fixtureReg, fixtureStd
}

func compile(t testing.TB, yaml string) *Set {
	t.Helper()
	reg, std := fixtures(t)
	set, err := Parse("test.yaml", []byte(yaml), reg, std)
	if err != nil {
		t.Fatalf("compile rules:\n%v", err)
	}
	return set
}

var t0 = time.Date(2026, 11, 26, 8, 0, 0, 0, chinaTime)

// step is one reading (or, with no station, only a clock tick at the
// offset) and the transitions it must cause, each written as
// "status level alert_id", in order.
type step struct {
	at      time.Duration
	station string
	values  map[string]float64
	flags   map[string]domain.Flag
	want    []string
}

func v(kv ...any) map[string]float64 {
	m := map[string]float64{}
	for i := 0; i < len(kv); i += 2 {
		m[kv[i].(string)] = toF(kv[i+1])
	}
	return m
}

func toF(x any) float64 {
	switch n := x.(type) {
	case int:
		return float64(n)
	case float64:
		return n
	}
	panic(fmt.Sprintf("not a number: %v", x))
}

func short(tr *domain.Transition) string {
	return tr.Status.String() + " " + tr.Level.String() + " " + tr.AlertID
}

// runSteps feeds the steps to a fresh engine (a tick at the reading's time
// before each reading, as `qingliu rules test` does) and checks each
// step's transitions.
func runSteps(t *testing.T, set *Set, steps []step) *Engine {
	t.Helper()
	e := NewEngine(set)
	e.IgnoreUnseen()
	for i, s := range steps {
		at := t0.Add(s.at)
		var got []string
		for _, tr := range e.Tick(at) {
			got = append(got, short(&tr))
		}
		if s.station != "" {
			r := domain.Reading{Station: s.station, Time: at, Values: s.values, Flags: s.flags}
			for _, tr := range e.Process(&r, at) {
				got = append(got, short(&tr))
			}
		}
		if !reflect.DeepEqual(got, s.want) && !(len(got) == 0 && len(s.want) == 0) {
			t.Fatalf("step %d (%s %s %v): got\n  %s\nwant\n  %s", i, s.at, s.station, s.values,
				strings.Join(got, "\n  "), strings.Join(s.want, "\n  "))
		}
	}
	return e
}

const thresholdRules = `
rules:
  - name: nh3n
    kind: threshold
    select: {stations: [dy-shuichetou, bj-mangzhou]}
    parameter: nh3n
    direction: above
    levels: {blue: 1.0, yellow: 1.5, red: 4}
    clear: {blue: 0.9, yellow: 1.35}
    for: 2
    clear_for: 2
`

func TestThresholdForAndHysteresis(t *testing.T) {
	set := compile(t, thresholdRules)
	const id = "nh3n/dy-shuichetou/nh3n"
	h := time.Hour
	runSteps(t, set, []step{
		{0, "dy-shuichetou", v("nh3n", 0.5), nil, nil},
		{1 * h, "dy-shuichetou", v("nh3n", 1.2), nil, []string{"pending blue " + id}},
		// for: 2 readings — the second one fires.
		{2 * h, "dy-shuichetou", v("nh3n", 1.6), nil, []string{"firing yellow " + id}},
		// Hovering just under the trigger but above the clear threshold:
		// held at yellow, no flapping.
		{3 * h, "dy-shuichetou", v("nh3n", 1.45), nil, nil},
		{4 * h, "dy-shuichetou", v("nh3n", 1.52), nil, nil},
		{5 * h, "dy-shuichetou", v("nh3n", 1.4), nil, nil},
		// Under yellow's clear threshold once: not yet (clear_for 2).
		{6 * h, "dy-shuichetou", v("nh3n", 1.3), nil, nil},
		{7 * h, "dy-shuichetou", v("nh3n", 1.2), nil, []string{"firing blue " + id}},
		// Back above yellow's trigger: escalation is immediate.
		{8 * h, "dy-shuichetou", v("nh3n", 1.7), nil, []string{"firing yellow " + id}},
		{9 * h, "dy-shuichetou", v("nh3n", 0.3), nil, nil},
		{10 * h, "dy-shuichetou", v("nh3n", 0.3), nil, []string{"resolved none " + id}},
		// A single reading above, then below: pending, then resolved.
		{11 * h, "dy-shuichetou", v("nh3n", 1.1), nil, []string{"pending blue " + id}},
		{12 * h, "dy-shuichetou", v("nh3n", 0.2), nil, []string{"resolved none " + id}},
	})
}

func TestThresholdFlagsAndMaintenance(t *testing.T) {
	set := compile(t, thresholdRules+`
maintenance:
  - {station: dy-shuichetou, from: "2026-11-26T12:00:00+08:00", to: "2026-11-26T14:00:00+08:00", reason: calibration}
`)
	const id = "nh3n/dy-shuichetou/nh3n"
	h := time.Hour
	runSteps(t, set, []step{
		// Flagged values (M, C, D, F, S, B) never trigger.
		{0, "dy-shuichetou", v("nh3n", 5), map[string]domain.Flag{"nh3n": domain.FlagMaintenance}, nil},
		{1 * h, "dy-shuichetou", v("nh3n", 5), map[string]domain.Flag{"nh3n": domain.FlagCalibration}, nil},
		// T (over range) is usable.
		{2 * h, "dy-shuichetou", v("nh3n", 1.2), map[string]domain.Flag{"nh3n": domain.FlagOverRange}, []string{"pending blue " + id}},
		{3 * h, "dy-shuichetou", v("nh3n", 1.2), nil, []string{"firing blue " + id}},
		// ... and never clear: a D-flagged low value does not count.
		{3*h + 30*time.Minute, "dy-shuichetou", v("nh3n", 0.1), map[string]domain.Flag{"nh3n": domain.FlagFault}, nil},
		// Inside the maintenance window nothing is evaluated.
		{4 * h, "dy-shuichetou", v("nh3n", 0.1), nil, nil},
		{5 * h, "dy-shuichetou", v("nh3n", 9), nil, nil},
		{6 * h, "dy-shuichetou", v("nh3n", 0.1), nil, nil},
		{7 * h, "dy-shuichetou", v("nh3n", 0.1), nil, []string{"resolved none " + id}},
	})
}

func TestLateReadingsNeverResolve(t *testing.T) {
	set := compile(t, `
rules:
  - name: nh3n
    kind: threshold
    select: {stations: [dy-shuichetou]}
    parameter: nh3n
    direction: above
    levels: {blue: 1.0, yellow: 2.0}
  - name: nh3n-2h
    kind: threshold
    select: {stations: [dy-shuichetou]}
    parameter: nh3n
    window: 2h
    direction: above
    levels: {blue: 1.0, yellow: 2.0}
`)
	const id, mean = "nh3n/dy-shuichetou/nh3n", "nh3n-2h/dy-shuichetou/nh3n"
	h := time.Hour
	runSteps(t, set, []step{
		{1 * h, "dy-shuichetou", v("nh3n", 1.5), nil, []string{"firing blue " + id, "firing blue " + mean}},
		{2 * h, "dy-shuichetou", v("nh3n", 1.5), nil, nil},
		// A late low reading (before the watermark) neither resolves the
		// latest-value alert nor lowers the mean's.
		{90 * time.Minute, "dy-shuichetou", v("nh3n", 0.1), nil, nil},
		// A late high one enters the 2h mean in its place and raises it:
		// (9 + 1.5 + 0.1 + 1.5) / 4 > 2.
		{30 * time.Minute, "dy-shuichetou", v("nh3n", 9), nil, []string{"firing yellow " + mean}},
		// In-order data resolves both.
		{4 * h, "dy-shuichetou", v("nh3n", 0.2), nil, []string{"resolved none " + id, "resolved none " + mean}},
	})
}

func TestRateRule(t *testing.T) {
	set := compile(t, `
rules:
  - name: turb-rise
    kind: rate
    select: {stations: [dy-shuichetou]}
    parameter: turb
    direction: rise
    window: 2h
    per: 1h
    levels: {blue: 50, yellow: 150}
    clear: {blue: 30}
`)
	const id = "turb-rise/dy-shuichetou/turb"
	h := time.Hour
	runSteps(t, set, []step{
		{0, "dy-shuichetou", v("turb", 10), nil, nil},
		{1 * h, "dy-shuichetou", v("turb", 40), nil, nil},                              // +30/h
		{2 * h, "dy-shuichetou", v("turb", 150), nil, []string{"firing blue " + id}},   // (150-40)/1h: 10 at 0h left the 2h window
		{3 * h, "dy-shuichetou", v("turb", 450), nil, []string{"firing yellow " + id}}, // (450-150)/1h
		{4 * h, "dy-shuichetou", v("turb", 460), nil, []string{"resolved none " + id}}, // (460-450)/1h
	})
}

func TestStuckExcludesValues(t *testing.T) {
	set := compile(t, `
rules:
  - name: stuck
    kind: stuck
    select: {stations: [dy-shuichetou]}
    parameters: [do]
    count: 3
  - name: do-low
    kind: threshold
    select: {stations: [dy-shuichetou]}
    parameter: do
    direction: below
    levels: {blue: 5}
`)
	h := time.Hour
	runSteps(t, set, []step{
		{0, "dy-shuichetou", v("do", 4.0), nil, []string{"firing blue do-low/dy-shuichetou/do"}},
		{1 * h, "dy-shuichetou", v("do", 6.0), nil, []string{"resolved none do-low/dy-shuichetou/do"}},
		{2 * h, "dy-shuichetou", v("do", 6.0), nil, nil},
		// The third identical value: stuck; the value is excluded.
		{3 * h, "dy-shuichetou", v("do", 6.0), nil, []string{"firing none stuck/dy-shuichetou/do"}},
		// A stuck low value triggers nothing.
		{4 * h, "dy-shuichetou", v("do", 6.0), nil, nil},
		// It moves: the stuck alert clears and the value is evaluated again.
		{5 * h, "dy-shuichetou", v("do", 4.5), nil, []string{"resolved none stuck/dy-shuichetou/do", "firing blue do-low/dy-shuichetou/do"}},
	})
}

func TestRangeExcludesValues(t *testing.T) {
	set := compile(t, `
rules:
  - name: implausible
    kind: range
    select: {stations: [dy-shuichetou]}
    limits: {ph: [4, 10]}
  - name: ph-out
    kind: threshold
    select: {stations: [dy-shuichetou]}
    parameter: ph
    direction: outside
    levels: {blue: [6, 9]}
`)
	h := time.Hour
	runSteps(t, set, []step{
		{0, "dy-shuichetou", v("ph", 11), nil, []string{"firing none implausible/dy-shuichetou/ph"}},
		{1 * h, "dy-shuichetou", v("ph", 9.5), nil, []string{"resolved none implausible/dy-shuichetou/ph", "firing blue ph-out/dy-shuichetou/ph"}},
	})
}

func TestDeadman(t *testing.T) {
	set := compile(t, `
rules:
  - name: silent
    kind: deadman
    select: {stations: [dy-shuichetou, bj-shiwei]}
    factor: 3
`)
	h := time.Hour
	const id = "silent/dy-shuichetou"
	runSteps(t, set, []step{
		{0, "dy-shuichetou", v("ph", 7), nil, nil},
		{0, "bj-shiwei", v("ph", 7), nil, nil},
		{2 * h, "bj-shiwei", v("ph", 7), nil, nil},
		// 3 × 1h after the last reading, judged by the other station's time.
		{3*h + time.Minute, "bj-shiwei", v("ph", 7), nil, []string{"firing none " + id}},
		// Backfilled data of the silent period does not clear it.
		{1 * h, "dy-shuichetou", v("ph", 7), nil, nil},
		{2 * h, "dy-shuichetou", v("ph", 7), nil, nil},
		{5 * h, "bj-shiwei", v("ph", 7), nil, nil},
		// Fresh data does.
		{5*h + time.Minute, "dy-shuichetou", v("ph", 7), nil, []string{"resolved none " + id}},
		// A clock tick alone (no reading) notices silence too.
		{9 * h, "", nil, nil, []string{"firing none silent/bj-shiwei", "firing none " + id}},
	})
}

// TestDeadmanGapClosedByReading: a gap longer than allowed that a reading
// closes before any tick is reported (fired, then resolved), so the result
// does not depend on how often the clock ticks.
func TestDeadmanGapClosedByReading(t *testing.T) {
	set := compile(t, `
rules:
  - name: silent
    kind: deadman
    select: {stations: [dy-shuichetou]}
`)
	e := NewEngine(set)
	r := domain.Reading{Station: "dy-shuichetou", Time: t0, Values: v("ph", 7)}
	e.Process(&r, t0)
	r.Time = t0.Add(5 * time.Hour)
	var got []string
	for _, tr := range e.Process(&r, r.Time) {
		got = append(got, short(&tr)+" "+tr.At.Format("15:04"))
	}
	want := []string{"firing none silent/dy-shuichetou 11:00", "resolved none silent/dy-shuichetou 13:00"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %v, want %v", got, want)
	}
}

func TestWaterClass(t *testing.T) {
	set := compile(t, `
rules:
  - name: wq
    kind: water-class
    select: {stations: [bj-mangzhou]}
`)
	h := time.Hour
	const id = "wq/bj-mangzhou"
	runSteps(t, set, []step{
		// Target II, drinking source (escalates one level): nh3n 0.8 is
		// class III (gap 1 → blue, multiple 0.6 → none) → yellow.
		{0, "bj-mangzhou", v("nh3n", 0.8, "do", 7), nil, []string{"firing yellow " + id}},
		// nh3n 1.8: class V (gap 3 → orange) → red.
		{1 * h, "bj-mangzhou", v("nh3n", 1.8), nil, []string{"firing red " + id}},
		{2 * h, "bj-mangzhou", v("nh3n", 0.3), nil, []string{"resolved none " + id}},
	})
}

func TestWhenExpression(t *testing.T) {
	set := compile(t, `
rules:
  - name: do-night
    kind: threshold
    select: {stations: [dy-shuichetou]}
    parameter: do
    direction: below
    levels: {blue: 5}
    when: 'values.temp > 28 && hour >= 20'
`)
	runSteps(t, set, []step{
		{0, "dy-shuichetou", v("do", 4, "temp", 30), nil, nil}, // 08:00
		{13 * time.Hour, "dy-shuichetou", v("do", 4, "temp", 25), nil, nil},
		{14 * time.Hour, "dy-shuichetou", v("do", 4, "temp", 30), nil, []string{"firing blue do-night/dy-shuichetou/do"}},
	})
}

func TestAQIHourlyAndPersistence(t *testing.T) {
	set := compile(t, `
rules:
  - name: aqi
    kind: aqi
    select: {stations: [aq-huadu-shifan]}
`)
	e := NewEngine(set)
	e.IgnoreUnseen()
	var got []string
	// Three days of hourly means: PM2.5 180 µg/m³ (IAQI 230 by HJ 633-2026),
	// the other pollutants clean; day 3 PM2.5 260 (IAQI 310).
	for h := range 72 {
		at := time.Date(2026, 11, 26, 0, 0, 0, 0, chinaTime).Add(time.Duration(h) * time.Hour)
		pm := 180.0
		if h >= 48 {
			pm = 260
		}
		r := domain.Reading{Station: "aq-huadu-shifan", Time: at, Values: v("so2", 8, "no2", 20, "co", 0.6, "o3", 60, "pm10", 60, "pm25", pm)}
		for _, tr := range e.Process(&r, at) {
			got = append(got, fmt.Sprintf("%s %s %s %v", tr.At.Format("02T15"), tr.Status, tr.Level, tr.AlertID))
		}
	}
	want := []string{
		"26T00 firing yellow aqi/aq-huadu-shifan/aqi",
		"26T23 firing blue aqi/aq-huadu-shifan/aqi_daily",
		"27T23 firing yellow aqi/aq-huadu-shifan/aqi_daily",
		"28T00 firing orange aqi/aq-huadu-shifan/aqi",
		"28T23 firing orange aqi/aq-huadu-shifan/aqi_daily",
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got\n  %s\nwant\n  %s", strings.Join(got, "\n  "), strings.Join(want, "\n  "))
	}
}

// TestSnapshotRestoreContinues: an engine restored from a JSON snapshot
// taken at any point continues exactly as one that never stopped.
func TestSnapshotRestoreContinues(t *testing.T) {
	set := compile(t, thresholdRules+`
  - name: wq
    kind: water-class
    window: 4h
  - name: silent
    kind: deadman
propagation:
  from: [nh3n]
  confirm: {raise: 1}
jurisdictions: [广州, 清远]
`)
	var readings []domain.Reading
	for h := range 60 {
		at := t0.Add(time.Duration(h) * time.Hour)
		nh := 0.3
		if h >= 3 && h < 8 {
			nh = 2.5
		}
		readings = append(readings, domain.Reading{Station: "dy-shuichetou", Time: at, Values: v("nh3n", nh, "do", 7)})
		readings = append(readings, domain.Reading{Station: "bj-mangzhou", Time: at, Values: v("nh3n", nh+float64(h%3)*0.1, "do", 7)})
	}
	run := func(e *Engine, rs []domain.Reading) []string {
		var out []string
		for i := range rs {
			for _, tr := range append(e.Tick(rs[i].Time), e.Process(&rs[i], rs[i].Time)...) {
				tr.Emitted = time.Time{}
				b, _ := json.Marshal(tr)
				out = append(out, string(b))
			}
		}
		return out
	}
	whole := run(NewEngine(set), readings)
	if len(whole) < 5 {
		t.Fatalf("only %d transitions", len(whole))
	}
	for _, cut := range []int{1, 7, 15, 40, 90} {
		e := NewEngine(set)
		first := run(e, readings[:cut])
		data, err := json.Marshal(e.Snapshot())
		if err != nil {
			t.Fatal(err)
		}
		var snap Snapshot
		if err := json.Unmarshal(data, &snap); err != nil {
			t.Fatal(err)
		}
		e2 := NewEngine(set)
		if out, err := e2.Restore(&snap, t0); err != nil || len(out) != 0 {
			t.Fatalf("restore: %v, %d transitions", err, len(out))
		}
		rest := run(e2, readings[cut:])
		if got := append(first, rest...); !reflect.DeepEqual(got, whole) {
			t.Errorf("cut at %d: %d transitions, want %d", cut, len(got), len(whole))
			for i := range min(len(got), len(whole)) {
				if got[i] != whole[i] {
					t.Errorf("first difference at %d:\n got %s\nwant %s", i, got[i], whole[i])
					break
				}
			}
		}
	}
}

func TestReloadKeepsUnchangedRules(t *testing.T) {
	set := compile(t, thresholdRules+`
  - name: do-low
    kind: threshold
    select: {stations: [dy-shuichetou]}
    parameter: do
    direction: below
    levels: {blue: 5}
`)
	e := NewEngine(set)
	r := domain.Reading{Station: "dy-shuichetou", Time: t0, Values: v("nh3n", 2, "do", 4)}
	e.Process(&r, t0)
	r.Time = t0.Add(time.Hour)
	if out := e.Process(&r, r.Time); len(out) != 1 || out[0].AlertID != "nh3n/dy-shuichetou/nh3n" {
		t.Fatalf("want nh3n firing, got %v", out)
	}
	// Reload without do-low: nh3n keeps its state (no new transition for
	// the same value), do-low is resolved.
	out, err := e.Reload(compile(t, thresholdRules), t0.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if len(out) != 1 || out[0].AlertID != "do-low/dy-shuichetou/do" || out[0].Status != domain.Resolved || out[0].Seq != 2 {
		t.Fatalf("reload transitions: %+v", out)
	}
	r.Time = t0.Add(2 * time.Hour)
	if out := e.Process(&r, r.Time); len(out) != 0 {
		t.Errorf("after reload: %v", out)
	}
	r.Time, r.Values = t0.Add(3*time.Hour), v("nh3n", 0.1)
	r2 := r
	r2.Time = t0.Add(4 * time.Hour)
	e.Process(&r, r.Time)
	out = e.Process(&r2, r2.Time)
	if len(out) != 1 || out[0].Status != domain.Resolved || out[0].Seq != 3 {
		t.Errorf("resolution after reload: %+v", out)
	}
}

func TestConfigProblems(t *testing.T) {
	reg, std := fixtures(t)
	_, err := Parse("bad.yaml", []byte(`
rules:
  - name: Bad Name
    kind: threshold
    parameter: nope
  - name: t2
    kind: threshold
    parameter: nh3n
    direction: above
    levels: {blue: 2, yellow: 1}
    clear: {blue: 3}
    count: 4
  - name: t2
    kind: deadman
    scope: nowhere
  - name: w
    kind: water-class
    when: 'value >'
    select: {stations: [ghost]}
  - name: x
    kind: martian
propagation:
  from: [silent]
maintenance:
  - {station: bj-lixi, from: "2026-11-20T17:00:00+08:00", to: "2026-11-20T09:00:00+08:00"}
`), reg, std)
	if err == nil {
		t.Fatal("no error")
	}
	for _, want := range []string{
		"rules[0].name: \"Bad Name\" does not match",
		"rules[0].parameter: unknown parameter \"nope\"",
		"rules[0].direction",
		"rules[1].levels.yellow: not monotone",
		"rules[1].clear.blue: 3 is beyond the trigger 2",
		"rules[1].count: not used by kind threshold",
		"rules[2].name: duplicate rule \"t2\"",
		"rules[2].scope: \"nowhere\" is not station or parameter",
		"rules[3].when:",
		"rules[3].select.stations[0]: unknown station \"ghost\"",
		"rules[4].kind: \"martian\" is not one of",
		"propagation.from[0]: unknown rule \"silent\"",
		"maintenance[0].to: must be after from",
		"jurisdictions: propagation needs",
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("missing problem %q in:\n%v", want, err)
		}
	}
	if _, err := Parse("unknown.yaml", []byte("rules:\n  - name: a\n    kind: deadman\n    colour: red\n"), reg, std); err == nil || !strings.Contains(err.Error(), "unknown key colour") {
		t.Errorf("unknown key: %v", err)
	}
}

func TestShippedRulesCompile(t *testing.T) {
	reg, std := fixtures(t)
	set, err := Load("../configs/rules.yaml", reg, std)
	if err != nil {
		t.Fatal(err)
	}
	if len(set.Rules()) < 10 || set.prop == nil {
		t.Errorf("rules %v, propagation %v", set.Rules(), set.prop != nil)
	}
}

// classItemsRegistry is a lake section that also evaluates total nitrogen
// and a river section that leaves total phosphorus out, by their
// class_items in the registry, plus one with the given class_items.
func classItemsRegistry(t *testing.T, extra *registry.ClassItemsConfig, extraLake bool) *registry.Registry {
	t.Helper()
	lat, lon := 23.7, 113.0
	st := func(id string, lake bool, ci *registry.ClassItemsConfig) registry.StationConfig {
		return registry.StationConfig{ID: id, Name: id, Medium: "water", Kind: registry.KindMunicipal, River: "北江",
			City: "清远", District: "清城区", Lat: &lat, Lon: &lon, TargetClass: "III", Lake: lake, ClassItems: ci,
			Params: map[string]string{"ph": "1h", "nh3n": "1h", "tp": "1h", "tn": "1h"}}
	}
	c := registry.Config{Stations: []registry.StationConfig{
		st("lk", true, &registry.ClassItemsConfig{Add: []string{"tn"}}),
		st("rv", false, &registry.ClassItemsConfig{Exclude: []string{"tp"}}),
		st("plain", false, nil),
	}}
	if extra != nil {
		c.Stations = append(c.Stations, st("x", extraLake, extra))
	}
	reg, err := c.Compile("stations.yaml", func(string) (string, bool) { return "", false })
	if err != nil {
		t.Fatal(err)
	}
	return reg
}

func TestWaterClassSectionItems(t *testing.T) {
	_, std := fixtures(t)
	set, err := Parse("test.yaml", []byte("rules:\n  - {name: wq, kind: water-class}\n"), classItemsRegistry(t, nil, false), std)
	if err != nil {
		t.Fatal(err)
	}
	runSteps(t, set, []step{
		// tn 1.2 is class IV at a lake: evaluated there by class_items, so
		// the section is IV against its target III.
		{0, "lk", v("nh3n", 0.4, "tp", 0.02, "tn", 1.2), nil, []string{"firing blue wq/lk"}},
		// tp 0.5 is 劣V, but the section excludes tp; a river's tn has no class.
		{0, "rv", v("nh3n", 0.4, "tp", 0.5, "tn", 5), nil, nil},
		// The same values at a section with the default items.
		{0, "plain", v("nh3n", 0.4, "tp", 0.5, "tn", 5), nil, []string{"firing orange wq/plain"}},
	})
}

func TestWaterClassSectionItemsProblems(t *testing.T) {
	_, std := fixtures(t)
	tests := []struct {
		ci   registry.ClassItemsConfig
		lake bool
		want string
	}{
		{registry.ClassItemsConfig{Add: []string{"tn"}}, false,
			"test.yaml: station x class_items.add[0]: tn has limits for lakes and reservoirs only, but the station is not lake: true"},
		{registry.ClassItemsConfig{Add: []string{"nh3n", "cond"}, Exclude: []string{"temp", "fcoli"}}, true, strings.Join([]string{
			"test.yaml: station x class_items.add[0]: nh3n is evaluated by default",
			"test.yaml: station x class_items.add[1]: cond is not a GB 3838-2002 item with class limits",
			"test.yaml: station x class_items.exclude[0]: temp is not a GB 3838-2002 item with class limits",
			"test.yaml: station x class_items.exclude[1]: fcoli is not evaluated by default",
		}, "\n")},
		{registry.ClassItemsConfig{Exclude: []string{"ph", "do", "codmn", "cod", "bod5", "nh3n", "tp", "cu", "zn", "f", "se",
			"as", "hg", "cd", "cr6", "pb", "cn", "phenol", "oil", "las", "sulfide"}}, false,
			"test.yaml: station x class_items: excludes every item"},
	}
	for _, tt := range tests {
		_, err := Parse("test.yaml", []byte("rules:\n  - {name: wq, kind: water-class}\n"), classItemsRegistry(t, &tt.ci, tt.lake), std)
		if err == nil || err.Error() != tt.want {
			t.Errorf("class_items %+v (lake %v): err =\n%v\nwant\n%s", tt.ci, tt.lake, err, tt.want)
		}
	}
}
