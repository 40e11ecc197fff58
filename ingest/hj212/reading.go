package hj212

import (
	"fmt"
	"time"

	"github.com/qingliu/qingliu/domain"
)

// Series is the kind of data a data upload carries.
type Series uint8

// The data series of HJ 212-2017 (Table 9) that become readings.
const (
	NoSeries Series = iota
	Realtime        // 2011 实时数据: Rtd at the sampling instant DataTime
	Minute          // 2051 分钟数据: Avg over MinInterval minutes from DataTime
	Hourly          // 2061 小时数据: Avg over the hour starting at DataTime
	Daily           // 2031 日数据: Avg over the day starting at DataTime
)

// SeriesOf returns the series of command code cn, or NoSeries.
func SeriesOf(cn string) Series {
	switch cn {
	case CNRealtime:
		return Realtime
	case CNMinute:
		return Minute
	case CNHourly:
		return Hourly
	case CNDaily:
		return Daily
	}
	return NoSeries
}

// String returns "realtime", "minute", "hourly", "daily" or "none".
func (s Series) String() string {
	switch s {
	case Realtime:
		return "realtime"
	case Minute:
		return "minute"
	case Hourly:
		return "hourly"
	case Daily:
		return "daily"
	}
	return "none"
}

// Stat returns the statistic that is the series' value: Rtd for Realtime,
// Avg for the aggregates.
func (s Series) Stat() Stat {
	if s == Realtime {
		return Rtd
	}
	return Avg
}

// Period returns the length of the aggregation period that starts at
// DataTime: an hour or a day (a calendar day in UTC+8), 0 for Realtime (an
// instant) and for Minute, whose period is the datalogger's MinInterval
// setting (1 to 30 minutes), which the packet does not carry.
func (s Series) Period() time.Duration {
	switch s {
	case Hourly:
		return time.Hour
	case Daily:
		return 24 * time.Hour
	}
	return 0
}

// Reading turns a data upload (2011, 2051, 2061, 2031) into a domain.Reading:
// Time is DataTime (the sampling instant for 2011, the start of the period for
// the aggregates), Source is hj212, and for every code that canonical maps to
// a parameter key and that carries the series' statistic (Rtd for 2011, Avg
// otherwise), Values[key] is that statistic and Flags[key] its data flag when
// not N. Codes canonical does not know, and codes without the statistic, are
// left out; a caller that must account for them wraps canonical. Station and
// Medium are left for the caller, which knows the MN; values are in the
// device's units.
//
// It fails with ErrNoReadings for other commands or without DataTime, and
// when two codes map to the same key or a flag is not one of N F M S D C T B.
func (p Packet) Reading(canonical func(code string) (key string, ok bool)) (domain.Reading, error) {
	s := SeriesOf(p.CN)
	if s == NoSeries {
		return domain.Reading{}, fmt.Errorf("hj212: reading from CN=%s: not a data upload: %w", p.CN, ErrNoReadings)
	}
	if p.DataTime.IsZero() {
		return domain.Reading{}, fmt.Errorf("hj212: reading from CN=%s: no DataTime: %w", p.CN, ErrNoReadings)
	}
	stat := s.Stat()
	rd := domain.Reading{
		Time:   p.DataTime,
		Source: domain.SourceHJ212,
		Values: make(map[string]float64, len(p.CP.Values)),
	}
	from := make(map[string]string, len(p.CP.Values))
	for _, v := range p.CP.Values {
		x, ok := v.Get(stat)
		if !ok {
			continue
		}
		key, ok := canonical(v.Code)
		if !ok {
			continue
		}
		if other, dup := from[key]; dup {
			return domain.Reading{}, fmt.Errorf("hj212: reading from CN=%s: codes %s and %s both map to %q: %w", p.CN, other, v.Code, key, ErrSegment)
		}
		from[key] = v.Code
		f, err := domain.ParseFlag(v.Flag)
		if err != nil {
			return domain.Reading{}, fmt.Errorf("hj212: reading from CN=%s: %w", p.CN, fieldErr(v.Code+"-Flag", v.Flag, "want one of N F M S D C T B"))
		}
		rd.Values[key] = x
		if f != domain.FlagNormal {
			if rd.Flags == nil {
				rd.Flags = make(map[string]domain.Flag)
			}
			rd.Flags[key] = f
		}
	}
	return rd, nil
}
