package domain

import (
	"fmt"
	"time"
)

// Medium is what a station measures: water or air. It is also the InfluxDB
// measurement name and a segment of the READINGS subject.
type Medium string

// The media Qingliu knows.
const (
	Water Medium = "water"
	Air   Medium = "air"
)

// Valid reports whether m is a known medium.
func (m Medium) Valid() bool { return m == Water || m == Air }

// Flag is an HJ 212 data flag (HJ 212-2017 Table 8). The zero value means N.
type Flag string

// The HJ 212 data flags.
const (
	FlagNormal      Flag = "N" // instrument working normally
	FlagStopped     Flag = "F" // instrument stopped (停运)
	FlagMaintenance Flag = "M" // maintenance period
	FlagManual      Flag = "S" // manually set value
	FlagFault       Flag = "D" // instrument fault
	FlagCalibration Flag = "C" // calibration
	FlagOverRange   Flag = "T" // above the measurement upper limit
	FlagCommFault   Flag = "B" // communication fault instrument ↔ datalogger
)

// ParseFlag accepts one of N F M S D C T B; the empty string means N.
func ParseFlag(s string) (Flag, error) {
	switch f := Flag(s); f {
	case "":
		return FlagNormal, nil
	case FlagNormal, FlagStopped, FlagMaintenance, FlagManual, FlagFault, FlagCalibration, FlagOverRange, FlagCommFault:
		return f, nil
	}
	return "", fmt.Errorf("parse flag %q: want one of N F M S D C T B", s)
}

// Usable reports whether a value with this flag may trigger, clear or enter
// the means of a water or air rule. C, M, D, F, S and B may not.
func (f Flag) Usable() bool { return f == "" || f == FlagNormal || f == FlagOverRange }

// Source names the way a reading reached Qingliu.
type Source string

// The ingest sources.
const (
	SourceMQTT  Source = "mqtt"
	SourceHJ212 Source = "hj212"
	SourcePush  Source = "push"
	SourceCoAP  Source = "coap"
)

// Interval is the aggregation period a reading's values summarise. The zero
// value is a sample at the reading's instant (MQTT JSON and SenML, HJ 212
// 2011 real-time data); the others are averages over the period that starts
// at Reading.Time (HJ 212 2051 minute, 2061 hourly, 2031 daily data).
type Interval string

// The intervals.
const (
	IntervalInstant Interval = ""       // a sample at Time
	IntervalMinute  Interval = "minute" // HJ 212 2051: the datalogger's MinInterval (1 to 30 min)
	IntervalHour    Interval = "hour"   // HJ 212 2061
	IntervalDay     Interval = "day"    // HJ 212 2031: a calendar day in UTC+8
)

// Valid reports whether i is one of the intervals.
func (i Interval) Valid() bool {
	return i == IntervalInstant || i == IntervalMinute || i == IntervalHour || i == IntervalDay
}

// Reading is one station report: many parameters measured at one instant, or
// averaged over the Interval that starts there. Values are in the canonical
// unit of each parameter.
type Reading struct {
	Station string             `json:"station"`
	Medium  Medium             `json:"medium"`
	Time    time.Time          `json:"ts"`
	Seq     *int64             `json:"seq,omitempty"`
	Source  Source             `json:"source"`
	Values  map[string]float64 `json:"values"`
	// Flags holds only the parameters whose flag is not N.
	Flags map[string]Flag `json:"flags,omitempty"`
	// Received is when ingest accepted the report, for skew and latency.
	Received time.Time `json:"received"`
	// Interval is empty for a sample at Time, else the period the values
	// average, starting at Time. The writer stores it as the InfluxDB tag
	// "interval", so that an hourly average and a real-time sample of the
	// same station at the same instant are two points, not one point
	// overwritten by the other.
	Interval Interval `json:"interval,omitempty"`
}

// Flag returns the flag of parameter p (N when absent).
func (r *Reading) Flag(p string) Flag {
	if f, ok := r.Flags[p]; ok && f != "" {
		return f
	}
	return FlagNormal
}
