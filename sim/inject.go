package sim

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"
)

// DefaultAttenuation is the factor by which a pollution event's excess over
// the baseline shrinks at each section downstream.
const DefaultAttenuation = 0.85

// Defaults of an --event spec.
const (
	DefaultEventDuration = 2 * time.Hour
	DefaultEventRise     = 10 * time.Minute
)

// At is an instant of simulated time, either absolute or relative to the
// start of the simulation.
type At struct {
	Abs time.Time     // used when not zero
	Rel time.Duration // offset from the start otherwise
}

// ParseAt parses "+2m" or "2m" (relative to the start) or an RFC 3339 time.
func ParseAt(s string) (At, error) {
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return At{Abs: t}, nil
	}
	d, err := time.ParseDuration(strings.TrimPrefix(s, "+"))
	if err != nil || strings.HasPrefix(s, "-") {
		return At{}, fmt.Errorf("%q is neither +duration (e.g. +2m) nor an RFC 3339 time", s)
	}
	return At{Rel: d}, nil
}

// Resolve returns the instant for a simulation that starts at start.
func (a At) Resolve(start time.Time) time.Time {
	if !a.Abs.IsZero() {
		return a.Abs
	}
	return start.Add(a.Rel)
}

// IsZero reports whether a is unset (which Resolve treats as the start).
func (a At) IsZero() bool { return a.Abs.IsZero() && a.Rel == 0 }

// String returns the form ParseAt accepts.
func (a At) String() string {
	if !a.Abs.IsZero() {
		return a.Abs.Format(time.RFC3339)
	}
	return "+" + a.Rel.String()
}

// EventSpec is a pollution event as given on the command line: at Station,
// from Start, Param rises over Rise to Peak (canonical unit), holds, and falls
// back so that the event lasts Duration. It travels downstream, reaching each
// section after the hop's ETA with its excess scaled by Attenuation per hop.
type EventSpec struct {
	Station     string
	Param       string
	Start       At
	Peak        float64
	Duration    time.Duration
	Rise        time.Duration
	Attenuation float64 // 0 means the simulator's default
}

// Event is an EventSpec resolved to simulated time.
type Event struct {
	Station     string
	Param       string
	Start       time.Time
	Peak        float64
	Duration    time.Duration
	Rise        time.Duration
	Attenuation float64
}

// Resolve returns the event for a simulation that starts at start, with
// attenuation as the default factor per hop.
func (e EventSpec) Resolve(start time.Time, attenuation float64) Event {
	if e.Attenuation != 0 {
		attenuation = e.Attenuation
	}
	return Event{Station: e.Station, Param: e.Param, Start: e.Start.Resolve(start), Peak: e.Peak,
		Duration: e.Duration, Rise: e.Rise, Attenuation: attenuation}
}

// StuckSpec freezes Param of Station from After on: the sensor repeats the
// last value it reported, exactly.
type StuckSpec struct {
	Station string
	Param   string
	After   At
}

// Stuck is a StuckSpec resolved to simulated time.
type Stuck struct {
	Station string
	Param   string
	After   time.Time
}

// Resolve returns the stuck sensor for a simulation that starts at start.
func (s StuckSpec) Resolve(start time.Time) Stuck {
	return Stuck{Station: s.Station, Param: s.Param, After: s.After.Resolve(start)}
}

// SilentSpec stops Station publishing from After for For (0: until the end).
type SilentSpec struct {
	Station string
	After   At
	For     time.Duration
}

// Silent is a SilentSpec resolved to simulated time; Until is zero for ever.
type Silent struct {
	Station string
	From    time.Time
	Until   time.Time
}

// Resolve returns the silence for a simulation that starts at start.
func (s SilentSpec) Resolve(start time.Time) Silent {
	from := s.After.Resolve(start)
	out := Silent{Station: s.Station, From: from}
	if s.For > 0 {
		out.Until = from.Add(s.For)
	}
	return out
}

// covers reports whether t falls in the silence.
func (s Silent) covers(t time.Time) bool {
	return !t.Before(s.From) && (s.Until.IsZero() || t.Before(s.Until))
}

// ParseEvent parses "station=X,param=P,peak=V[,start=+2m][,duration=2h][,rise=10m][,attenuation=0.85]".
func ParseEvent(s string) (EventSpec, error) {
	e := EventSpec{Duration: DefaultEventDuration, Rise: DefaultEventRise}
	err := parseKV("event", s, []string{"station", "param", "peak"},
		[]string{"station", "param", "start", "peak", "duration", "rise", "attenuation"},
		func(k, v string) error {
			var err error
			switch k {
			case "station":
				e.Station, err = stationID(v)
			case "param":
				e.Param, err = nonEmpty(v)
			case "start":
				e.Start, err = ParseAt(v)
			case "peak":
				e.Peak, err = finite(v)
			case "duration":
				e.Duration, err = positiveDuration(v)
			case "rise":
				e.Rise, err = duration(v)
			case "attenuation":
				e.Attenuation, err = finite(v)
				if err == nil && (e.Attenuation <= 0 || e.Attenuation > 1) {
					err = fmt.Errorf("%s is not in (0,1]", v)
				}
			}
			return err
		})
	return e, err
}

// ParseStuck parses "station=X,param=P[,after=+1m]".
func ParseStuck(s string) (StuckSpec, error) {
	var st StuckSpec
	err := parseKV("stuck", s, []string{"station", "param"}, []string{"station", "param", "after"},
		func(k, v string) error {
			var err error
			switch k {
			case "station":
				st.Station, err = stationID(v)
			case "param":
				st.Param, err = nonEmpty(v)
			case "after":
				st.After, err = ParseAt(v)
			}
			return err
		})
	return st, err
}

// ParseSilent parses "station=X[,after=+1m][,for=30m]".
func ParseSilent(s string) (SilentSpec, error) {
	var sl SilentSpec
	err := parseKV("silent", s, []string{"station"}, []string{"station", "after", "for"},
		func(k, v string) error {
			var err error
			switch k {
			case "station":
				sl.Station, err = stationID(v)
			case "after":
				sl.After, err = ParseAt(v)
			case "for":
				sl.For, err = positiveDuration(v)
			}
			return err
		})
	return sl, err
}

// parseKV splits a comma-separated key=value list, rejecting unknown,
// repeated and missing keys, and hands each pair to set. Every error names
// the switch and the key.
func parseKV(what, s string, required, known []string, set func(k, v string) error) error {
	seen := map[string]bool{}
	for item := range strings.SplitSeq(s, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		k, v, ok := strings.Cut(item, "=")
		k, v = strings.TrimSpace(k), strings.TrimSpace(v)
		switch {
		case !ok:
			return fmt.Errorf("%s %q: %q is not key=value", what, s, item)
		case !slices.Contains(known, k):
			return fmt.Errorf("%s %q: unknown key %q (want %s)", what, s, k, strings.Join(known, ", "))
		case seen[k]:
			return fmt.Errorf("%s %q: key %q given twice", what, s, k)
		}
		seen[k] = true
		if err := set(k, v); err != nil {
			return fmt.Errorf("%s %q: key %q: %w", what, s, k, err)
		}
	}
	for _, k := range required {
		if !seen[k] {
			return fmt.Errorf("%s %q: missing key %q", what, s, k)
		}
	}
	return nil
}

func stationID(v string) (string, error) {
	if !validStationID(v) {
		return "", fmt.Errorf("%q is not a station id ([A-Za-z0-9_-]{1,64})", v)
	}
	return v, nil
}

func validStationID(v string) bool {
	if len(v) == 0 || len(v) > 64 {
		return false
	}
	for _, c := range v {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

func nonEmpty(v string) (string, error) {
	if v == "" {
		return "", errors.New("empty value")
	}
	return v, nil
}

func finite(v string) (float64, error) {
	f, err := strconv.ParseFloat(v, 64)
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
		return 0, fmt.Errorf("%q is not a finite number", v)
	}
	return f, nil
}

func duration(v string) (time.Duration, error) {
	d, err := time.ParseDuration(v)
	if err != nil || d < 0 {
		return 0, fmt.Errorf("%q is not a duration such as 10m", v)
	}
	return d, nil
}

func positiveDuration(v string) (time.Duration, error) {
	d, err := duration(v)
	if err == nil && d == 0 {
		err = fmt.Errorf("%q must be longer than zero", v)
	}
	return d, err
}

// Kind says what a Message is.
type Kind uint8

// The kinds of message a Generator yields.
const (
	KindReading   Kind = iota // a well-formed report
	KindMalformed             // a report replaced by one of the Malformation classes
	KindDuplicate             // an identical resend of the previous message
)

// String returns reading, malformed or duplicate.
func (k Kind) String() string {
	switch k {
	case KindReading:
		return "reading"
	case KindMalformed:
		return "malformed"
	case KindDuplicate:
		return "duplicate"
	}
	return fmt.Sprintf("Kind(%d)", uint8(k))
}

// Malformation is a class of bad message the simulator injects; the
// generator rotates through them in this order.
type Malformation uint8

// The malformation classes.
const (
	MalformedJSON  Malformation = iota // truncated, invalid JSON
	UnknownParam                       // an extra parameter key no catalogue has
	NonNumeric                         // a value that is a string
	FutureTime                         // ts 30 days ahead
	UnknownStation                     // published under a station id not in the registry
	EmptyBody                          // a zero-length payload
	OutOfRange                         // a physically impossible value
	numMalformations
)

// String returns the class name.
func (m Malformation) String() string {
	switch m {
	case MalformedJSON:
		return "invalid_json"
	case UnknownParam:
		return "unknown_param"
	case NonNumeric:
		return "non_numeric"
	case FutureTime:
		return "future_ts"
	case UnknownStation:
		return "unknown_station"
	case EmptyBody:
		return "empty_body"
	case OutOfRange:
		return "out_of_range"
	}
	return fmt.Sprintf("Malformation(%d)", uint8(m))
}
