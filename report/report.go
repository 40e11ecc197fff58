// Package report builds the reports analysts run over a period of stored
// readings: the monthly water-section attainment table (GB 3838 single-factor
// evaluation against each section's target, as the 交接断面 tables of
// 粤环〔2014〕61号 publish it) and the daily air-quality report (HJ 633 daily
// AQI from GB 3095 averages).
//
// It is the pure part: readings in, rows out. It never talks to InfluxDB;
// the command fetches the points and hands them over. The classification is
// the standards packages' (water.Table, aqi.Standards and its Validity);
// nothing here restates a table.
package report

import (
	"math"
	"time"

	"github.com/qingliu/qingliu/domain"
)

// Point is one stored value of one parameter: a float field of the water or
// air measurement with its <param>_flag field, when there is one.
type Point struct {
	Station string
	Param   string
	Time    time.Time
	Value   float64
	// Flag is the HJ 212 flag of the value; empty means N.
	Flag domain.Flag
	// Interval is the interval tag: empty for a sample, else the period an
	// aggregate covers (HJ 212 minute, hourly, daily data).
	Interval domain.Interval
}

// Period is the half-open span [From, To) a report covers.
type Period struct {
	From, To time.Time
}

// round6 drops float noise from a mean for printing (1e-6 is far below any
// reported concentration's precision).
func round6(v float64) float64 { return math.Round(v*1e6) / 1e6 }

// usable reports whether a water value may enter a period mean: a finite,
// non-negative value whose flag is N or T (domain.Flag.Usable: C, M, D, F,
// S and B are not, nor an unknown letter).
func usable(p *Point) bool {
	return p.Flag.Usable() && !math.IsNaN(p.Value) && !math.IsInf(p.Value, 0) && p.Value >= 0
}
