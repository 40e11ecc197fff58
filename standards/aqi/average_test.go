package aqi

import (
	"math"
	"testing"
	"time"

	"github.com/qingliu/qingliu/domain"
)

func samples(n int, v float64, flag domain.Flag) []Sample {
	out := make([]Sample, n)
	for i := range out {
		out[i] = Sample{V: v, Flag: flag}
	}
	return out
}

func TestMean1h(t *testing.T) {
	val := load(t).valid
	mixed := append(samples(9, 10, ""), Sample{V: 1000, Flag: domain.FlagCalibration}, Sample{V: 1000, Flag: domain.FlagMaintenance},
		Sample{V: 1000, Flag: domain.FlagFault}, Sample{V: 1000, Flag: domain.FlagStopped}, Sample{V: 1000, Flag: domain.FlagCommFault},
		Sample{V: 1000, Flag: domain.FlagManual}, Sample{V: math.NaN()}, Sample{V: -3})
	tests := []struct {
		name     string
		samples  []Sample
		interval time.Duration
		want     Mean
	}{
		{"12 five-minute readings", samples(12, 20, ""), 5 * time.Minute, Mean{20, 12, true}},
		{"9 of 12 cover 45 minutes", samples(9, 20, domain.FlagNormal), 5 * time.Minute, Mean{20, 9, true}},
		{"8 of 12 cover 40 minutes", samples(8, 20, ""), 5 * time.Minute, Mean{20, 8, false}},
		{"C M D F B S, NaN and negative never count", mixed, 5 * time.Minute, Mean{10, 9, true}},
		{"T (over range) counts", samples(9, 20, domain.FlagOverRange), 5 * time.Minute, Mean{20, 9, true}},
		{"45 one-minute readings", samples(45, 3, ""), time.Minute, Mean{3, 45, true}},
		{"44 one-minute readings", samples(44, 3, ""), time.Minute, Mean{3, 44, false}},
		{"one hourly reading", samples(1, 7, ""), time.Hour, Mean{7, 1, true}},
		{"nothing", nil, time.Minute, Mean{0, 0, false}},
		{"no interval", samples(12, 1, ""), 0, Mean{1, 12, false}},
	}
	for _, tt := range tests {
		if got := val.Mean1h(tt.samples, tt.interval); got != tt.want {
			t.Errorf("%s: Mean1h = %+v, want %+v", tt.name, got, tt.want)
		}
	}
}

func hours(n int, v float64, valid bool) []Mean {
	out := make([]Mean, n)
	for i := range out {
		out[i] = Mean{V: v, N: 12, Valid: valid}
	}
	return out
}

func TestMean24hAnd8h(t *testing.T) {
	val := load(t).valid
	twenty := append(hours(20, 30, true), hours(4, 999, false)...)
	nineteen := append(hours(19, 30, true), hours(5, 999, false)...)
	sliding := append(hours(10, 1000, true), hours(24, 30, true)...) // the last 24 only
	tests := []struct {
		name string
		got  Mean
		want Mean
	}{
		{"24 valid hours", val.Mean24h(hours(24, 30, true)), Mean{30, 24, true}},
		{"20 valid hours", val.Mean24h(twenty), Mean{30, 20, true}},
		{"19 valid hours", val.Mean24h(nineteen), Mean{30, 19, false}},
		{"sliding 24-h uses the last 24", val.Mean24h(sliding), Mean{30, 24, true}},
		{"8 valid hours", val.O3Mean8h(hours(8, 100, true)), Mean{100, 8, true}},
		{"6 of 8", val.O3Mean8h(append(hours(2, 5, false), hours(6, 100, true)...)), Mean{100, 6, true}},
		{"5 of 8", val.O3Mean8h(append(hours(3, 5, false), hours(5, 100, true)...)), Mean{100, 5, false}},
		{"8-h sliding uses the last 8", val.O3Mean8h(append(hours(3, 900, true), hours(8, 100, true)...)), Mean{100, 8, true}},
	}
	for _, tt := range tests {
		if tt.got != tt.want {
			t.Errorf("%s: %+v, want %+v", tt.name, tt.got, tt.want)
		}
	}
}

func TestO3DailyMax8h(t *testing.T) {
	val := load(t).valid
	// A day rising to a 200 µg/m³ plateau at 14:00–17:00 (hours 14..16).
	day := hours(24, 40, true)
	for h := 14; h < 17; h++ {
		day[h].V = 200
	}
	// Window ending 17时 covers hours 9..16: five 40s and three 200s.
	want := (5*40.0 + 3*200) / 8

	early := hours(24, 40, true)
	early[0].V = 1000 // 00:00–01:00 is only in the window ending 8时
	lateOnly := hours(24, 40, false)
	for h := 18; h < 24; h++ {
		lateOnly[h] = Mean{V: 170, N: 12, Valid: true} // only the window ending 24时 is valid
	}
	lateLow := hours(24, 40, false)
	for h := 18; h < 24; h++ {
		lateLow[h] = Mean{V: 150, N: 12, Valid: true}
	}
	fourteen := hours(24, 40, true)
	for h := 0; h < 3; h++ {
		fourteen[h].Valid = false // windows ending 8 and 9 have 5 and 6 valid hours: 16 valid windows
	}
	gappy := hours(24, 40, true)
	for _, h := range []int{2, 5, 11, 17, 21} {
		gappy[h].Valid = false
	}
	tests := []struct {
		name string
		day  []Mean
		want Mean
	}{
		{"plateau", day, Mean{want, 17, true}},
		{"hour 0 enters the window ending 8时", early, Mean{(1000 + 7*40.0) / 8, 17, true}},
		{"one valid window above 160 is valid", lateOnly, Mean{170, 1, true}},
		{"one valid window not above 160 is not", lateLow, Mean{150, 1, false}},
		{"16 valid windows", fourteen, Mean{40, 16, true}},
		{"not a whole day", hours(23, 40, true), Mean{}},
	}
	for _, tt := range tests {
		if got := val.O3DailyMax8h(tt.day); math.Abs(got.V-tt.want.V) > 1e-9 || got.N != tt.want.N || got.Valid != tt.want.Valid {
			t.Errorf("%s: %+v, want %+v", tt.name, got, tt.want)
		}
	}
	// Count the valid windows of the gappy day by hand: a window is valid
	// with at most two invalid hours.
	wantN := 0
	for end := 8; end <= 24; end++ {
		bad := 0
		for h := end - 8; h < end; h++ {
			if !gappy[h].Valid {
				bad++
			}
		}
		if bad <= 2 {
			wantN++
		}
	}
	if got := val.O3DailyMax8h(gappy); got.N != wantN || got.Valid != (wantN >= 14) {
		t.Errorf("gappy day: %+v, want N %d valid %v", got, wantN, wantN >= 14)
	}
}

func TestUsable(t *testing.T) {
	val := load(t).valid
	for _, f := range []domain.Flag{"", "N", "T"} {
		if !val.Usable(Sample{V: 1, Flag: f}) {
			t.Errorf("flag %q not usable", f)
		}
	}
	for _, f := range []domain.Flag{"C", "M", "D", "F", "B", "S"} {
		if val.Usable(Sample{V: 1, Flag: f}) {
			t.Errorf("flag %q usable, want excluded", f)
		}
		// The averaging rules agree with the domain's own rule.
		if f.Usable() {
			t.Errorf("domain.Flag(%q).Usable() = true", f)
		}
	}
}
