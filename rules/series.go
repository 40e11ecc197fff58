package rules

import (
	"time"

	"github.com/qingliu/qingliu/standards/aqi"
	"github.com/qingliu/qingliu/standards/water"
)

// SeriesSink receives the derived series of DESIGN §3.4 as the engine
// computes them: the AQI of each air station and hour (and day), and the
// water class of each section and evaluation window. It is called from the
// engine's goroutine and must not block; values passed are the sink's.
type SeriesSink interface {
	AQI(AQIPoint)
	WaterClass(WaterClassPoint)
}

// flusher is a SeriesSink that batches: the stage calls Flush at least
// every FlushEvery and before each state save.
type flusher interface{ Flush() }

// AQIPoint is one computed AQI (measurement aqi).
type AQIPoint struct {
	Station  string
	Hour     time.Time // start of the hour (Period 1h) or of the day (24h)
	Period   string    // 1h or 24h
	Standard string    // e.g. HJ633-2026
	Result   aqi.Result
}

// WaterClassPoint is one section classification (measurement water_class).
type WaterClassPoint struct {
	Station string
	Time    time.Time
	Window  string // latest, 4h mean …
	Rule    string
	Result  water.Result
}

// SetSeriesSink sets (or, with nil, removes) the receiver of the derived
// series.
func (e *Engine) SetSeriesSink(s SeriesSink) { e.series = s }

// WhenErrors is how many when: evaluations failed (and counted as false).
func (e *Engine) WhenErrors() int { return e.whenErrors }
