package rules

import (
	"github.com/qingliu/qingliu/domain"
	"github.com/qingliu/qingliu/standards/aqi"
)

// Times inside the engine are unix nanoseconds: compact, comparable, and
// free of time zones.

// sample is one valid value of one parameter.
type sample struct {
	T int64   `json:"t"`
	V float64 `json:"v"`
}

// agg tracks the samples of the last d nanoseconds. The mean is summed
// afresh, oldest first, when asked for: a running sum would drift in the
// last bits, and a restored engine must compute exactly what an
// uninterrupted one does.
type agg struct {
	d     int64
	start int // index into paramState.s of the oldest sample in the window
	n     int
}

// paramState is the recent history of one parameter of one station.
type paramState struct {
	s    []sample // valid samples in time order, pruned to the longest window
	off  int      // s[off:] are live
	aggs []agg
	// seen is the latest observation time of any value, whatever its flag.
	seen int64
	// excl counts the technical alerts (stuck, range) that are firing for
	// this parameter: while > 0 its values are kept out of evaluation.
	excl int
	// fresh is true while evaluating a reading that brought a new value.
	fresh bool
	// Stuck detection over in-order valid values.
	runV     float64
	runN     int
	runStart int64
}

func (ps *paramState) live() []sample { return ps.s[ps.off:] }

func (ps *paramState) last() (sample, bool) {
	if len(ps.s) == ps.off {
		return sample{}, false
	}
	return ps.s[len(ps.s)-1], true
}

// insert adds a valid sample. In-order samples update the running means in
// O(1); a late or corrected one is put in its place and the means are
// recomputed. Samples older than the longest window are dropped.
func (ps *paramState) insert(t int64, v float64, maxWindow int64) {
	last, ok := ps.last()
	if !ok || t > last.T {
		ps.s = append(ps.s, sample{t, v})
		for i := range ps.aggs {
			a := &ps.aggs[i]
			a.n++
			for a.start < len(ps.s) && ps.s[a.start].T <= t-a.d {
				a.n--
				a.start++
			}
		}
		ps.prune(t, maxWindow)
		return
	}
	if t <= last.T-maxWindow && maxWindow > 0 {
		return // older than every window
	}
	live := ps.live()
	i := len(live)
	for i > 0 && live[i-1].T > t {
		i--
	}
	if i > 0 && live[i-1].T == t {
		live[i-1].V = v // a correction at the same instant
	} else {
		ps.s = append(ps.s, sample{})
		live = ps.s[ps.off:]
		copy(live[i+1:], live[i:])
		live[i] = sample{t, v}
	}
	ps.recompute()
}

func (ps *paramState) prune(now, maxWindow int64) {
	for len(ps.s)-ps.off > 1 && ps.s[ps.off].T <= now-maxWindow {
		ps.off++
	}
	// Compact once the dead prefix is half the slice, so the slice does not
	// grow without bound and appends stay amortised O(1).
	if ps.off > 16 && ps.off*2 >= len(ps.s) {
		n := copy(ps.s, ps.s[ps.off:])
		ps.s = ps.s[:n]
		for i := range ps.aggs {
			ps.aggs[i].start -= ps.off
		}
		ps.off = 0
	}
}

// recompute rebuilds every window from the samples.
func (ps *paramState) recompute() {
	last, ok := ps.last()
	for i := range ps.aggs {
		a := &ps.aggs[i]
		a.n, a.start = 0, len(ps.s)
		if !ok {
			continue
		}
		for j := len(ps.s) - 1; j >= ps.off && ps.s[j].T > last.T-a.d; j-- {
			a.n++
			a.start = j
		}
	}
}

// mean returns the mean of window i and its sample count.
func (ps *paramState) mean(i int) (float64, int) {
	a := &ps.aggs[i]
	if a.n == 0 {
		return 0, 0
	}
	sum := 0.0
	for _, s := range ps.s[a.start:] {
		sum += s.V
	}
	return sum / float64(a.n), a.n
}

// series is the state of one alert: the pure state machine's state.
type series struct {
	status domain.Status // Inactive, Pending or Firing
	level  domain.Level
	seq    uint64
	// since and count: when the condition started to hold and for how many
	// evaluations (pending).
	since int64
	count int
	// clrSince, clrCount, clrMax: the same for the way down (firing → lower).
	clrSince int64
	clrCount int
	clrMax   domain.Level
	value    float64
	at       int64
}

// aqiState accumulates one air station's hourly means and daily AQI.
type aqiState struct {
	cur        int64 // hour index of the open bucket, -1 none
	lastClosed int64 // hour index of the last closed bucket
	sum        [numPollutants]float64
	n          [numPollutants]int
	hours      [48]hourMeans // by hour index mod 48
	days       []dayAQI      // the last days, oldest first
	dayClosed  int64         // local day index of the last closed day
}

type hourMeans struct {
	H int64                   `json:"h"`
	M [numPollutants]aqi.Mean `json:"m"`
}

type dayAQI struct {
	D   int64 `json:"d"`
	AQI int   `json:"aqi"`
}

// stationState is the engine's state of one station.
type stationState struct {
	watermark int64 // latest observation time evaluated
	seen      int64 // latest observation time of any reading
	params    []paramState
	series    []series // parallel to the plan's bindings
	aqi       *aqiState
}
