package rules

import (
	"fmt"
	"time"

	"github.com/qingliu/qingliu/domain"
	"github.com/qingliu/qingliu/standards/aqi"
)

const (
	hourNs      = int64(time.Hour)
	dayNs       = 24 * hourNs
	cstOffsetNs = 8 * hourNs
)

func floorDiv(a, b int64) int64 {
	q := a / b
	if (a%b != 0) && ((a < 0) != (b < 0)) {
		q--
	}
	return q
}

// dayOf is the local (China Standard Time) day of hour index h.
func dayOf(h int64) int64 { return floorDiv(h*hourNs+cstOffsetNs, dayNs) }

// firstHourOf is the hour index of 00:00 local of day d.
func firstHourOf(d int64) int64 { return (d*dayNs - cstOffsetNs) / hourNs }

// feedAQI adds the reading's valid pollutant values to the open hour and
// closes it when the hour is covered or a later hour begins. Values of an
// hour already closed are ignored for the AQI.
func (e *Engine) feedAQI(p *stationPlan, ss *stationState, r *domain.Reading, t int64) {
	a := ss.aqi
	h := floorDiv(t, hourNs)
	if h <= a.lastClosed {
		return
	}
	if a.cur >= 0 && h > a.cur {
		e.closeHour(p, ss, r, t)
	}
	if a.cur < 0 {
		a.cur = h
		a.sum, a.n = [numPollutants]float64{}, [numPollutants]int{}
	}
	pol := &p.bindings[p.aqi[0]].pol
	complete, any := true, false
	for i, slot := range pol {
		if slot < 0 {
			continue
		}
		if ss.params[slot].fresh {
			a.sum[i] += r.Values[pollutants[i]]
			a.n[i]++
		}
		any = any || a.n[i] > 0
		if iv := p.params[slot].interval; iv <= 0 || time.Duration(a.n[i])*iv < time.Hour {
			complete = false
		}
	}
	if complete && any {
		e.closeHour(p, ss, r, t)
	}
}

func (e *Engine) closeHour(p *stationPlan, ss *stationState, r *domain.Reading, t int64) {
	a := ss.aqi
	h := a.cur
	v := e.set.std.AQI.Validity()
	var m [numPollutants]aqi.Mean
	pol := &p.bindings[p.aqi[0]].pol
	for i, slot := range pol {
		if slot < 0 || a.n[i] == 0 {
			continue
		}
		one := [1]aqi.Sample{{V: a.sum[i] / float64(a.n[i])}}
		m[i] = v.Mean1h(one[:], time.Duration(a.n[i])*p.params[slot].interval)
	}
	a.hours[h%48] = hourMeans{H: h, M: m}
	a.lastClosed, a.cur = h, -1
	for _, bi := range p.aqi {
		if !p.bindings[bi].daily {
			e.hourlyAQI(p, ss, bi, h, r, t)
		}
	}
	d := dayOf(h)
	switch {
	case a.dayClosed < 0:
		a.dayClosed = d - 1
	case d-1 > a.dayClosed:
		e.closeDay(p, ss, d-1, r, t)
	}
	if h-firstHourOf(d) == 23 {
		e.closeDay(p, ss, d, r, t)
	}
}

// window returns the hourly means of pollutant i for the n hours ending at
// h (oldest first; a missing hour is an invalid mean).
func (e *Engine) window(a *aqiState, h int64, i, n int) []aqi.Mean {
	out := e.meanBuf[:n]
	for k := range n {
		hh := h - int64(n-1-k)
		out[k] = aqi.Mean{}
		if hm := &a.hours[((hh%48)+48)%48]; hm.H == hh {
			out[k] = hm.M[i]
		}
	}
	return out
}

func (e *Engine) hourlyAQI(p *stationPlan, ss *stationState, bi int, h int64, r *domain.Reading, t int64) {
	b := &p.bindings[bi]
	ver := e.set.std.AQI.For(time.Unix(0, h*hourNs))
	if ver == nil {
		return
	}
	a := ss.aqi
	v := e.set.std.AQI.Validity()
	cur := &a.hours[h%48].M
	clear(e.vals)
	put := func(key string, m aqi.Mean) {
		if m.Valid {
			e.vals[key] = m.V
		}
	}
	put("so2", cur[pSO2])
	put("no2", cur[pNO2])
	put("co", cur[pCO])
	put("o3_1h", cur[pO3])
	if ver.Accepts(aqi.Hourly, "o3_8h") {
		put("o3_8h", v.O3Mean8h(e.window(a, h, pO3, 8)))
	}
	if ver.Accepts(aqi.Hourly, "so2_24h") {
		put("so2_24h", v.Mean24h(e.window(a, h, pSO2, 24)))
	}
	if b.r.pm24h[ver] {
		put("pm10", v.Mean24h(e.window(a, h, pPM10, 24)))
		put("pm25", v.Mean24h(e.window(a, h, pPM25, 24)))
	} else {
		put("pm10", cur[pPM10])
		put("pm25", cur[pPM25])
	}
	res := ver.Compute(aqi.Hourly, e.vals)
	if !res.Published {
		return
	}
	e.aqiStd = ver.ID()
	vd := verdict{t: t, value: float64(res.AQI), raw: e.set.std.Severity.AQIHourly(res.AQI)}
	if e.series != nil {
		e.series.AQI(AQIPoint{Station: p.st.ID, Hour: tm(h * hourNs), Period: "1h", Standard: ver.ID(), Result: res})
	}
	if vd.raw > domain.None && b.r.when != nil && !e.when(b.r, p, r, vd.value, t) {
		vd.raw = domain.None
	}
	e.step(p, b, &ss.series[bi], vd)
}

func (e *Engine) closeDay(p *stationPlan, ss *stationState, d int64, r *domain.Reading, t int64) {
	a := ss.aqi
	a.dayClosed = d
	h0 := firstHourOf(d)
	ver := e.set.std.AQI.For(time.Unix(0, h0*hourNs))
	if ver == nil {
		return
	}
	v := e.set.std.AQI.Validity()
	clear(e.vals)
	put := func(key string, m aqi.Mean) {
		if m.Valid {
			e.vals[key] = m.V
		}
	}
	last := h0 + 23
	put("so2", v.Mean24h(e.window(a, last, pSO2, 24)))
	put("no2", v.Mean24h(e.window(a, last, pNO2, 24)))
	put("co", v.Mean24h(e.window(a, last, pCO, 24)))
	put("pm10", v.Mean24h(e.window(a, last, pPM10, 24)))
	put("pm25", v.Mean24h(e.window(a, last, pPM25, 24)))
	o3 := e.window(a, last, pO3, 24)
	put("o3_8h", v.O3DailyMax8h(o3))
	if ver.Accepts(aqi.Daily, "o3_1h") {
		var mx aqi.Mean
		for _, m := range o3 {
			if m.Valid && (!mx.Valid || m.V > mx.V) {
				mx = m
			}
		}
		put("o3_1h", mx)
	}
	res := ver.Compute(aqi.Daily, e.vals)
	if res.Published {
		a.days = append(a.days, dayAQI{D: d, AQI: res.AQI})
		if len(a.days) > 8 {
			a.days = append(a.days[:0], a.days[len(a.days)-8:]...)
		}
		if e.series != nil {
			e.series.AQI(AQIPoint{Station: p.st.ID, Hour: tm(h0 * hourNs), Period: "24h", Standard: ver.ID(), Result: res})
		}
	}
	for _, bi := range p.aqi {
		if !p.bindings[bi].daily {
			continue
		}
		run := e.episode(a, d)
		vd := verdict{t: t}
		if len(run) > 0 {
			vd.value = float64(run[len(run)-1])
			vd.raw = e.set.std.Severity.Persistence(run)
		}
		e.step(p, &p.bindings[bi], &ss.series[bi], vd)
	}
}

// episode returns the daily AQI values of the current heavy-pollution
// episode ending on day d: the trailing run of consecutive days each of
// which alone maps to a level. It is empty when day d has no AQI or is not
// polluted, so that the persistence warning clears day by day.
func (e *Engine) episode(a *aqiState, d int64) []int {
	n := len(a.days)
	if n == 0 || a.days[n-1].D != d {
		return nil
	}
	sev := e.set.std.Severity
	i := n
	for i > 0 && a.days[i-1].D == d-int64(n-i) && sev.Persistence([]int{a.days[i-1].AQI}) != domain.None {
		i--
	}
	out := make([]int, 0, n-i)
	for _, x := range a.days[i:] {
		out = append(out, x.AQI)
	}
	return out
}

func (e *Engine) lastDays(p *stationPlan) string {
	a := e.st[p.idx].aqi
	if a == nil {
		return "[]"
	}
	return fmt.Sprint(e.episode(a, a.dayClosed))
}
