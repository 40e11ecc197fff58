package sim

import (
	"math"
	"reflect"
	"testing"
	"time"
)

func TestParseEvent(t *testing.T) {
	abs := time.Date(2026, 11, 26, 14, 0, 0, 0, time.FixedZone("", 8*3600))
	for _, c := range []struct {
		in   string
		want EventSpec
		err  []string // fragments of the error; nil for success
	}{
		{in: "station=bj-gaoqiao,param=nh3n,start=+2m,peak=3.5,duration=2h",
			want: EventSpec{Station: "bj-gaoqiao", Param: "nh3n", Start: At{Rel: 2 * time.Minute}, Peak: 3.5, Duration: 2 * time.Hour, Rise: 10 * time.Minute}},
		{in: "station=bj-gaoqiao, param=nh3n, peak=3.5, rise=30m, attenuation=0.9, start=2026-11-26T14:00:00+08:00",
			want: EventSpec{Station: "bj-gaoqiao", Param: "nh3n", Start: At{Abs: abs}, Peak: 3.5, Duration: 2 * time.Hour, Rise: 30 * time.Minute, Attenuation: 0.9}},
		{in: "station=a,param=nh3n,pek=3", err: []string{`unknown key "pek"`, "peak"}},
		{in: "station=a,param=nh3n", err: []string{`missing key "peak"`}},
		{in: "station=a,param=nh3n,peak=x", err: []string{`key "peak"`, "not a finite number"}},
		{in: "station=a,param=nh3n,peak=NaN", err: []string{`key "peak"`}},
		{in: "station=a,param=nh3n,peak=1,start=soon", err: []string{`key "start"`}},
		{in: "station=a,param=nh3n,peak=1,start=-2m", err: []string{`key "start"`}},
		{in: "station=a,param=nh3n,peak=1,duration=0s", err: []string{`key "duration"`}},
		{in: "station=a,param=nh3n,peak=1,attenuation=1.5", err: []string{`key "attenuation"`}},
		{in: "station=a b,param=nh3n,peak=1", err: []string{`key "station"`}},
		{in: "station=a,station=b,param=nh3n,peak=1", err: []string{`key "station" given twice`}},
		{in: "station=a,param,peak=1", err: []string{`"param" is not key=value`}},
	} {
		got, err := ParseEvent(c.in)
		if c.err != nil {
			wantErrContains(t, err, append(c.err, "event")...)
			continue
		}
		if err != nil {
			t.Errorf("%q: %v", c.in, err)
			continue
		}
		if !reflect.DeepEqual(got, c.want) {
			t.Errorf("%q: got %+v, want %+v", c.in, got, c.want)
		}
	}
}

func TestParseStuckAndSilent(t *testing.T) {
	s, err := ParseStuck("station=bj-lixi,param=do,after=+1m")
	if err != nil || s != (StuckSpec{Station: "bj-lixi", Param: "do", After: At{Rel: time.Minute}}) {
		t.Errorf("stuck: %+v, %v", s, err)
	}
	_, err = ParseStuck("station=bj-lixi")
	wantErrContains(t, err, "stuck", `missing key "param"`)
	_, err = ParseStuck("station=bj-lixi,param=do,for=1h")
	wantErrContains(t, err, "stuck", `unknown key "for"`)

	sl, err := ParseSilent("station=bj-lixi,after=+1m,for=30m")
	if err != nil || sl != (SilentSpec{Station: "bj-lixi", After: At{Rel: time.Minute}, For: 30 * time.Minute}) {
		t.Errorf("silent: %+v, %v", sl, err)
	}
	sl, err = ParseSilent("station=bj-lixi")
	if err != nil || sl != (SilentSpec{Station: "bj-lixi"}) {
		t.Errorf("silent: %+v, %v", sl, err)
	}
	_, err = ParseSilent("station=bj-lixi,for=forever")
	wantErrContains(t, err, "silent", `key "for"`)
	_, err = ParseSilent("after=+1m")
	wantErrContains(t, err, "silent", `missing key "station"`)
}

func TestConfigValidate(t *testing.T) {
	reg := newTestRegistry()
	if err := DefaultConfig().Validate(reg); err != nil {
		t.Fatalf("defaults: %v", err)
	}
	c := DefaultConfig()
	c.Stations = []string{"bj-a", "nope"}
	c.Speedup = 0
	c.Rate = math.Inf(1)
	c.QoS = 2
	c.Publishers = 0
	c.Malformed = 1.5
	c.Duplicates = -0.1
	c.Attenuation = 0
	c.Events = []EventSpec{{Station: "bj-a", Param: "pm25", Peak: 1, Duration: time.Hour}, {Station: "ghost", Param: "nh3n"},
		{Station: "bj-a", Param: "nh3n", Peak: -3, Duration: time.Hour}}
	c.Stuck = []StuckSpec{{Station: "aq-x", Param: "do"}}
	c.Silent = []SilentSpec{{Station: "ghost2"}}
	wantErrContains(t, c.Validate(reg),
		`stations: unknown station "nope"`, "speedup", "rate", "qos", "publishers", "malformed", "duplicates", "attenuation",
		`event: station "bj-a" does not report "pm25"`, `event: unknown station "ghost"`,
		`event: peak -3 mg/L of "nh3n" is outside the plausible`, `stuck: station "aq-x" does not report "do"`, `silent: unknown station "ghost2"`)

	c = DefaultConfig()
	c.Speedup = math.Inf(1)
	if err := c.Validate(reg); err != nil {
		t.Errorf("speedup inf: %v", err)
	}
}

func TestAtResolve(t *testing.T) {
	start := time.Date(2026, 11, 26, 6, 0, 0, 0, time.UTC)
	a, err := ParseAt("+90m")
	if err != nil || !a.Resolve(start).Equal(start.Add(90*time.Minute)) || a.String() != "+1h30m0s" {
		t.Errorf("+90m: %v %v %s", a, err, a.String())
	}
	b, err := ParseAt("2026-11-26T15:00:00+08:00")
	if err != nil || !b.Resolve(start).Equal(start.Add(time.Hour)) {
		t.Errorf("absolute: %v %v", b, err)
	}
}
