package ingest

import (
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/valyala/fastjson"

	"github.com/qingliu/qingliu/domain"
	"github.com/qingliu/qingliu/registry"
)

// Formats a payload may come in; the last MQTT topic segment names it.
const (
	FormatJSON  = "json"
	FormatSenML = "senml"
	FormatHJ212 = "hj212"
)

// Limits bound what ingest accepts.
type Limits struct {
	// MaxFutureSkew: a timestamp further ahead of the ingest clock is refused.
	MaxFutureSkew time.Duration
	// MaxAge: a timestamp older than this (the replay window) is refused.
	MaxAge time.Duration
	// MaxPayload in bytes; MaxBatch elements per batch payload.
	MaxPayload int
	MaxBatch   int
}

// DefaultLimits are the shipped limits.
func DefaultLimits() Limits {
	return Limits{MaxFutureSkew: 5 * time.Minute, MaxAge: 7 * 24 * time.Hour, MaxPayload: 256 << 10, MaxBatch: 1000}
}

// Stations is what the pipeline needs of the registry.
type Stations interface {
	Station(id string) (*registry.Station, bool)
}

// Pipeline decodes, normalises units, validates and flags readings. It is
// pure: the caller passes the ingest time and publishes the result.
type Pipeline struct {
	reg Stations
	lim Limits
	pp  fastjson.ParserPool
}

// NewPipeline builds a pipeline over the station registry.
func NewPipeline(reg Stations, lim Limits) *Pipeline {
	d := DefaultLimits()
	if lim.MaxFutureSkew <= 0 {
		lim.MaxFutureSkew = d.MaxFutureSkew
	}
	if lim.MaxAge <= 0 {
		lim.MaxAge = d.MaxAge
	}
	if lim.MaxPayload <= 0 {
		lim.MaxPayload = d.MaxPayload
	}
	if lim.MaxBatch <= 0 {
		lim.MaxBatch = d.MaxBatch
	}
	return &Pipeline{reg: reg, lim: lim}
}

// Result is what one payload became: readings to publish and rejects to
// quarantine. Both may be non-empty (a batch with one bad element).
type Result struct {
	Readings []domain.Reading
	Rejects  []Reject
}

// Process handles one payload that arrived for station in format.
func (p *Pipeline) Process(src domain.Source, station, format string, payload []byte, now time.Time) Result {
	var res Result
	whole := func(r *Reject) Result {
		r.Station, r.Index, r.Raw = station, -1, payload
		res.Rejects = append(res.Rejects, *r)
		return res
	}
	if len(payload) > p.lim.MaxPayload {
		return whole(rejectf(CodeTooLarge, "", "payload is %d bytes, more than the limit of %d", len(payload), p.lim.MaxPayload))
	}
	st, ok := p.reg.Station(station)
	if !ok {
		return whole(rejectf(CodeUnknownStation, "station", "unknown station %q (not in the registry)", clipS(station)))
	}
	var (
		raws []rawReport
		rej  *Reject
	)
	switch format {
	case FormatJSON:
		raws, rej = decodeJSON(&p.pp, payload, p.lim.MaxBatch)
	case FormatSenML:
		raws, rej = decodeSenML(payload, now, p.lim.MaxBatch)
	default:
		return whole(rejectf(CodeUnknownFormat, "format", "unknown payload format %q (want json, senml or hj212)", clipS(format)))
	}
	if rej != nil {
		return whole(rej)
	}
	for i := range raws {
		p.normalise(&res, st, src, &raws[i], now)
	}
	return res
}

// Normalise validates already decoded values (for sources such as HJ 212 that
// decode themselves) and returns the reading or the rejects.
func (p *Pipeline) Normalise(src domain.Source, st *registry.Station, t time.Time, values map[string]float64, units map[string]string, flags map[string]string, raw []byte, now time.Time) Result {
	rr := rawReport{Index: -1, Raw: raw, Time: t}
	for k, v := range values {
		rr.Values = append(rr.Values, rawValue{Param: k, Value: v, Unit: units[k], Flag: flags[k]})
	}
	var res Result
	p.normalise(&res, st, src, &rr, now)
	return res
}

func (p *Pipeline) normalise(res *Result, st *registry.Station, src domain.Source, rr *rawReport, now time.Time) {
	reject := func(r *Reject) {
		r.Station, r.Index, r.Raw = st.ID, rr.Index, rr.Raw
		res.Rejects = append(res.Rejects, *r)
	}
	if rr.Err != nil {
		reject(rr.Err)
		return
	}
	if d := rr.Time.Sub(now); d > p.lim.MaxFutureSkew {
		reject(rejectf(CodeFutureTimestamp, "ts", "timestamp %s is %s ahead of the ingest clock (limit %s)",
			rr.Time.Format(time.RFC3339), d.Round(time.Second), p.lim.MaxFutureSkew))
		return
	}
	if d := now.Sub(rr.Time); d > p.lim.MaxAge {
		reject(rejectf(CodeTooOld, "ts", "timestamp %s is %s old, beyond the replay window of %s",
			rr.Time.Format(time.RFC3339), d.Round(time.Second), p.lim.MaxAge))
		return
	}
	for _, e := range rr.ValueErrs {
		reject(e)
	}
	r := domain.Reading{
		Station:  st.ID,
		Medium:   st.Medium,
		Time:     rr.Time,
		Seq:      rr.Seq,
		Source:   src,
		Values:   make(map[string]float64, len(rr.Values)),
		Received: now,
	}
	for _, v := range rr.Values {
		val, flag, rej := p.value(st, v)
		if rej != nil {
			reject(rej)
			continue
		}
		r.Values[v.Param] = val
		if flag != domain.FlagNormal {
			if r.Flags == nil {
				r.Flags = map[string]domain.Flag{}
			}
			r.Flags[v.Param] = flag
		}
	}
	if len(r.Values) == 0 {
		if len(rr.Values) == 0 && len(rr.ValueErrs) == 0 {
			reject(rejectf(CodeNoValues, "values", "report has no values"))
		}
		return
	}
	res.Readings = append(res.Readings, r)
}

// value checks one value: known parameter of the station's medium, unit
// converted to canonical, finite, physically plausible, valid flag.
func (p *Pipeline) value(st *registry.Station, v rawValue) (float64, domain.Flag, *Reject) {
	par, ok := registry.ParamLimits(v.Param)
	if !ok {
		return 0, "", rejectf(CodeUnknownParam, v.Param, "unknown parameter %q", clipS(v.Param))
	}
	if par.Medium != st.Medium {
		return 0, "", rejectf(CodeWrongMedium, v.Param, "parameter %q is measured in %s, but station %s is a %s station", v.Param, par.Medium, st.ID, st.Medium)
	}
	flag, err := domain.ParseFlag(strings.ToUpper(v.Flag))
	if err != nil {
		return 0, "", rejectf(CodeBadFlag, v.Param, "flag of %q is %q; want one of N F M S D C T B", v.Param, clipS(v.Flag))
	}
	val := v.Value
	if math.IsNaN(val) || math.IsInf(val, 0) {
		return 0, "", rejectf(CodeNonFinite, v.Param, "value of %q is not finite", v.Param)
	}
	unit := v.Unit
	if unit == "" {
		unit = st.Units[v.Param]
	}
	if unit != "" && unit != par.Unit {
		c, err := registry.Convert(val, unit, par.Unit)
		if err != nil {
			return 0, "", rejectf(CodeBadUnit, v.Param, "value of %q: %v", v.Param, err)
		}
		val = c
	}
	if val < par.Min || val > par.Max {
		return 0, "", rejectf(CodeOutOfRange, v.Param, "value of %q is %s %s, outside the physical range %s..%s",
			v.Param, fmtF(val), par.Unit, fmtF(par.Min), fmtF(par.Max))
	}
	return val, flag, nil
}

func fmtF(v float64) string { return fmt.Sprintf("%g", v) }
