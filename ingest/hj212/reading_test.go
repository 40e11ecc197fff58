package hj212

import (
	"errors"
	"testing"
	"time"

	"github.com/qingliu/qingliu/domain"
)

// testCanonical is a stand-in for the registry's parameter catalogue.
func testCanonical(code string) (string, bool) {
	k, ok := map[string]string{
		"w01001": "ph", "w01009": "do", "w01010": "temp", "w01014": "cond", "w01003": "turb",
		"w21011": "tp", "w21001": "tn", "w21003": "nh3n", "w01019": "codmn",
	}[code]
	return k, ok
}

func TestReading(t *testing.T) {
	tests := []struct {
		name   string
		seg    string
		time   time.Time
		values map[string]float64
		flags  map[string]domain.Flag
		series Series
		err    error
	}{
		{
			name: "2011 uses Rtd at the instant",
			seg:  "QN=20210301111100112;ST=21;CN=2011;PW=1;MN=M;Flag=4;CP=&&DataTime=20210301111100;w01001-Rtd=8.33,w01001-Flag=N;w21003-Rtd=0.09,w21003-Flag=M;w01008-Rtd=0;w01009-Avg=3&&",
			time: bj(2021, 3, 1, 11, 11, 0, 0), series: Realtime,
			values: map[string]float64{"ph": 8.33, "nh3n": 0.09},
			flags:  map[string]domain.Flag{"nh3n": domain.FlagMaintenance},
		},
		{
			name: "2061 uses Avg, DataTime is the start of the hour",
			seg:  "ST=21;CN=2061;PW=1;MN=M;CP=&&DataTime=20210301100000;w01001-Avg=7.5,w01001-Min=7,w01001-Max=8,w01001-Rtd=9;w21011-Min=0.1&&",
			time: bj(2021, 3, 1, 10, 0, 0, 0), series: Hourly,
			values: map[string]float64{"ph": 7.5},
		},
		{
			name: "2031 daily", seg: "ST=21;CN=2031;PW=1;MN=M;CP=&&DataTime=20210301000000;w01010-Avg=18.5,w01010-Flag=D&&",
			time: bj(2021, 3, 1, 0, 0, 0, 0), series: Daily,
			values: map[string]float64{"temp": 18.5}, flags: map[string]domain.Flag{"temp": domain.FlagFault},
		},
		{
			name: "2051 minute", seg: "ST=21;CN=2051;PW=1;MN=M;CP=&&DataTime=20210301101000;w01014-Avg=1425&&",
			time: bj(2021, 3, 1, 10, 10, 0, 0), series: Minute, values: map[string]float64{"cond": 1425},
		},
		{name: "not data", seg: "ST=21;CN=2081;PW=1;MN=M;CP=&&DataTime=20210301101000;RestartTime=20210301100000&&", err: ErrNoReadings},
		{name: "no DataTime", seg: "ST=21;CN=2011;PW=1;MN=M;CP=&&w01001-Rtd=7&&", series: Realtime, err: ErrNoReadings},
		{name: "unknown flag", seg: "ST=21;CN=2011;PW=1;MN=M;CP=&&DataTime=20210301101000;w01001-Rtd=7,w01001-Flag=X&&", series: Realtime, err: ErrSegment},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := mustParse(t, frameOf(tt.seg))
			if got := SeriesOf(p.CN); got != tt.series {
				t.Errorf("SeriesOf = %v, want %v", got, tt.series)
			}
			rd, err := p.Reading(testCanonical)
			if !errors.Is(err, tt.err) || (err == nil) != (tt.err == nil) {
				t.Fatalf("err = %v, want %v", err, tt.err)
			}
			if err != nil {
				return
			}
			if !rd.Time.Equal(tt.time) || rd.Source != domain.SourceHJ212 {
				t.Errorf("Time %v Source %v", rd.Time, rd.Source)
			}
			if len(rd.Values) != len(tt.values) {
				t.Errorf("Values = %v, want %v", rd.Values, tt.values)
			}
			for k, x := range tt.values {
				if rd.Values[k] != x {
					t.Errorf("Values[%s] = %v, want %v", k, rd.Values[k], x)
				}
			}
			if len(rd.Flags) != len(tt.flags) {
				t.Errorf("Flags = %v, want %v", rd.Flags, tt.flags)
			}
			for k, f := range tt.flags {
				if rd.Flags[k] != f {
					t.Errorf("Flags[%s] = %v, want %v", k, rd.Flags[k], f)
				}
			}
		})
	}
	dup := mustParse(t, frameOf("ST=22;CN=2011;PW=1;MN=M;CP=&&DataTime=20210301101000;a34004-Rtd=30;PM25-Rtd=31&&"))
	both := func(code string) (string, bool) { return "pm25", code == "a34004" || code == "PM25" }
	if _, err := dup.Reading(both); !errors.Is(err, ErrSegment) {
		t.Errorf("two codes for pm25: err = %v", err)
	}
}

func TestSeries(t *testing.T) {
	tests := []struct {
		s      Series
		name   string
		stat   Stat
		period time.Duration
	}{
		{Realtime, "realtime", Rtd, 0},
		{Minute, "minute", Avg, 0},
		{Hourly, "hourly", Avg, time.Hour},
		{Daily, "daily", Avg, 24 * time.Hour},
	}
	for _, tt := range tests {
		if tt.s.String() != tt.name || tt.s.Stat() != tt.stat || tt.s.Period() != tt.period {
			t.Errorf("%v: %v %v %v", tt.name, tt.s, tt.s.Stat(), tt.s.Period())
		}
	}
}
