package aqi

import (
	"fmt"
	"math"
	"time"

	"github.com/qingliu/qingliu/domain"
	"github.com/qingliu/qingliu/internal/conf"
	"github.com/qingliu/qingliu/standards/meta"
)

// ValidityKind is the value of the kind: field of the averaging and
// data-validity file.
const ValidityKind = "aqi-validity"

// Sample is one sub-hourly reading of one pollutant, in canonical units.
type Sample struct {
	V    float64
	Flag domain.Flag
}

// Mean is an average with the number of values that entered it and whether
// that number satisfies the validity rule. An invalid Mean must not be used
// for an AQI; its V is still the mean of what was there (0 when nothing).
type Mean struct {
	V     float64
	N     int
	Valid bool
}

// Validity holds the averaging rules: which flags exclude a reading, and how
// many values each mean needs (GB 3095 Table 4 data-validity rules). It is
// immutable and safe for concurrent use.
type Validity struct {
	info          meta.Info
	excluded      [128]bool // by flag letter
	minCoverage   time.Duration
	dayHours      int
	dayMin        int
	o3Hours       int
	o3Min         int
	firstEnd      int
	lastEnd       int
	minWindows    int
	validAbove    float64
	hasValidAbove bool
}

type fileValidity struct {
	meta.Header `yaml:",inline"`
	Exclude     []string `yaml:"exclude_flags"`
	HourMean    struct {
		MinCoverage string `yaml:"min_coverage"`
	} `yaml:"hour_mean"`
	DayMean struct {
		Hours    int `yaml:"hours"`
		MinHours int `yaml:"min_hours"`
	} `yaml:"day_mean"`
	O3Mean8h struct {
		Hours    int `yaml:"hours"`
		MinHours int `yaml:"min_hours"`
	} `yaml:"o3_8h_mean"`
	O3DailyMax8h struct {
		FirstWindowEnd int      `yaml:"first_window_end"`
		LastWindowEnd  int      `yaml:"last_window_end"`
		MinWindows     int      `yaml:"min_windows"`
		ValidAbove     *float64 `yaml:"valid_above"`
	} `yaml:"o3_daily_max_8h"`
}

// LoadValidity reads and validates the averaging and data-validity file.
func LoadValidity(path string) (*Validity, error) {
	var f fileValidity
	if err := conf.LoadStrict(path, &f); err != nil {
		return nil, err
	}
	return compileValidity(path, &f)
}

// ParseValidity validates averaging rules from YAML data; name is used in errors.
func ParseValidity(name string, data []byte) (*Validity, error) {
	var f fileValidity
	if err := conf.DecodeStrict(name, data, &f); err != nil {
		return nil, err
	}
	return compileValidity(name, &f)
}

func compileValidity(name string, f *fileValidity) (*Validity, error) {
	ps := conf.Problems{File: name}
	v := &Validity{info: f.Header.Check(&ps, ValidityKind)}
	for i, s := range f.Exclude {
		fl, err := domain.ParseFlag(s)
		switch {
		case err != nil || s == "":
			ps.Addf(fmt.Sprintf("exclude_flags[%d]", i), "%q is not an HJ 212 flag (N F M S D C T B)", s)
		case fl == domain.FlagNormal:
			ps.Addf(fmt.Sprintf("exclude_flags[%d]", i), "N (normal) cannot be excluded")
		default:
			v.excluded[fl[0]] = true
		}
	}
	d, err := time.ParseDuration(f.HourMean.MinCoverage)
	switch {
	case err != nil:
		ps.Addf("hour_mean.min_coverage", "%q is not a duration such as 45m", f.HourMean.MinCoverage)
	case d <= 0 || d > time.Hour:
		ps.Addf("hour_mean.min_coverage", "%s is outside (0, 1h]", d)
	default:
		v.minCoverage = d
	}
	v.dayHours, v.dayMin = checkCount(&ps, "day_mean", f.DayMean.Hours, f.DayMean.MinHours)
	v.o3Hours, v.o3Min = checkCount(&ps, "o3_8h_mean", f.O3Mean8h.Hours, f.O3Mean8h.MinHours)
	m := f.O3DailyMax8h
	switch {
	case v.o3Hours == 0 || v.dayHours == 0:
	case m.FirstWindowEnd < v.o3Hours:
		ps.Addf("o3_daily_max_8h.first_window_end", "%d: the window would start before the day (window %d h)", m.FirstWindowEnd, v.o3Hours)
	case m.LastWindowEnd < m.FirstWindowEnd || m.LastWindowEnd > v.dayHours:
		ps.Addf("o3_daily_max_8h.last_window_end", "%d is outside %d..%d", m.LastWindowEnd, m.FirstWindowEnd, v.dayHours)
	case m.MinWindows < 1 || m.MinWindows > m.LastWindowEnd-m.FirstWindowEnd+1:
		ps.Addf("o3_daily_max_8h.min_windows", "%d is outside 1..%d", m.MinWindows, m.LastWindowEnd-m.FirstWindowEnd+1)
	default:
		v.firstEnd, v.lastEnd, v.minWindows = m.FirstWindowEnd, m.LastWindowEnd, m.MinWindows
	}
	if m.ValidAbove != nil {
		v.hasValidAbove, v.validAbove = true, *m.ValidAbove
	}
	if err := ps.Err(); err != nil {
		return nil, err
	}
	return v, nil
}

func checkCount(ps *conf.Problems, path string, hours, min int) (int, int) {
	switch {
	case hours < 1 || hours > 24:
		ps.Addf(path+".hours", "%d is outside 1..24", hours)
	case min < 1 || min > hours:
		ps.Addf(path+".min_hours", "%d is outside 1..%d", min, hours)
	default:
		return hours, min
	}
	return 0, 0
}

// Info returns the file's header.
func (v *Validity) Info() meta.Info { return v.info }

// Usable reports whether a reading may enter a mean: a finite, non-negative
// value whose flag is not excluded.
func (v *Validity) Usable(s Sample) bool {
	if math.IsNaN(s.V) || math.IsInf(s.V, 0) || s.V < 0 {
		return false
	}
	return s.Flag == "" || s.Flag[0] >= 128 || !v.excluded[s.Flag[0]]
}

// Mean1h averages the sub-hourly readings of one hour, taken every interval.
// It is valid when the usable readings cover at least the minimum sampling
// time (GB 3095: 45 minutes of the hour).
func (v *Validity) Mean1h(samples []Sample, interval time.Duration) Mean {
	var m Mean
	sum := 0.0
	for _, s := range samples {
		if v.Usable(s) {
			sum += s.V
			m.N++
		}
	}
	if m.N > 0 {
		m.V = sum / float64(m.N)
	}
	m.Valid = m.N > 0 && interval > 0 && time.Duration(m.N)*interval >= v.minCoverage
	return m
}

// Mean24h averages hourly means over a day, or over the last 24 hours for a
// sliding 24-h mean; it uses the last 24 values when given more. It is valid
// with at least the minimum number of valid hours (GB 3095: 20).
func (v *Validity) Mean24h(hours []Mean) Mean { return meanOf(hours, v.dayHours, v.dayMin) }

// O3Mean8h is the 8-h sliding O3 mean over the last 8 hourly means (it uses
// the last 8 when given more). It is valid with at least the minimum number
// of valid hours (GB 3095: 6).
func (v *Validity) O3Mean8h(hours []Mean) Mean { return meanOf(hours, v.o3Hours, v.o3Min) }

// O3DailyMax8h is the daily maximum 8-h O3 mean of one natural day. day holds
// the day's 24 hourly means in order, day[0] being the hour 00:00–01:00. The
// windows are those ending at hours first_window_end … last_window_end
// (HJ 663: 8时 to 24时); each window is an O3Mean8h. The result is valid with
// at least min_windows valid windows, or with fewer when its maximum is
// above valid_above. N is the number of valid windows.
func (v *Validity) O3DailyMax8h(day []Mean) Mean {
	var m Mean
	if len(day) != v.dayHours || v.o3Hours == 0 {
		return m
	}
	for end := v.firstEnd; end <= v.lastEnd; end++ {
		w := v.O3Mean8h(day[end-v.o3Hours : end])
		if !w.Valid {
			continue
		}
		if m.N == 0 || w.V > m.V {
			m.V = w.V
		}
		m.N++
	}
	m.Valid = m.N >= v.minWindows || (m.N > 0 && v.hasValidAbove && m.V > v.validAbove)
	return m
}

func meanOf(hours []Mean, window, min int) Mean {
	var m Mean
	if window == 0 {
		return m
	}
	if len(hours) > window {
		hours = hours[len(hours)-window:]
	}
	sum := 0.0
	for _, h := range hours {
		if h.Valid {
			sum += h.V
			m.N++
		}
	}
	if m.N > 0 {
		m.V = sum / float64(m.N)
	}
	m.Valid = m.N >= min
	return m
}
