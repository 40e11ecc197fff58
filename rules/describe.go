package rules

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/qingliu/qingliu/domain"
	"github.com/qingliu/qingliu/registry"
	"github.com/qingliu/qingliu/standards/water"
)

// chinaTime is China Standard Time, in which transitions are stamped. China
// has had no daylight saving since 1991, so a fixed zone needs no tz data.
var chinaTime = time.FixedZone("CST", 8*3600)

func tm(t int64) time.Time { return time.Unix(0, t).In(chinaTime) }

// emit records a transition of a rule series.
func (e *Engine) emit(p *stationPlan, b *binding, s *series, status domain.Status, level, prev domain.Level, v verdict) {
	s.seq++
	r := b.r
	if r.technical {
		level, prev = domain.None, domain.None
	}
	tr := domain.Transition{
		AlertID: b.id, Seq: s.seq, At: tm(v.t), Emitted: e.now, Rule: r.name, Kind: r.kindName,
		Technical: r.technical, Station: p.st.ID, Parameter: b.param, Status: status, Level: level,
		PrevLevel: prev, Value: v.value, Threshold: v.threshold, Window: r.windowName(),
		Readings: v.ev, Jurisdictions: []string{p.city},
	}
	switch r.k {
	case kDeadman:
		tr.Window = "silence"
	case kStuck:
		tr.Window = "run"
	case kRange:
		tr.Window = "latest"
	case kAQI:
		tr.Window = "1h"
		if b.daily {
			tr.Window = "24h"
		}
	}
	switch {
	case tr.Readings != nil:
	case v.one:
		tr.Readings = evidenceOf(p.st.ID, b.param, v.t, v.value, true)
	default:
		tr.Readings = e.evidence(p, b, v)
	}
	e.describe(&tr, p, b, s, v)
	e.out = append(e.out, tr)
	if e.set.prop != nil && e.set.prop.from[r] {
		e.propagate(p, len(e.out)-1)
	}
}

// evidence lists the values behind a transition: the latest value, the
// values of a mean window (the newest few), or the ends of a rate span.
func (e *Engine) evidence(p *stationPlan, b *binding, v verdict) []domain.Evidence {
	ss := &e.st[p.idx]
	switch {
	case b.r.k == kWaterClass:
		var ev []domain.Evidence
		for _, it := range e.wres.Items {
			if it.Evaluated && it.Exceeds {
				ev = append(ev, domain.Evidence{Station: p.st.ID, Parameter: it.Key, Time: tm(v.t), Value: it.Value})
			}
		}
		return ev
	case b.slot < 0 || b.r.k == kDeadman:
		return nil
	}
	ps := &ss.params[b.slot]
	live := ps.live()
	if len(live) == 0 {
		return nil
	}
	from := len(live) - 1
	switch {
	case b.r.k == kRate && b.agg >= 0:
		a := ps.aggs[b.agg]
		first := live[max(a.start-ps.off, 0)]
		return []domain.Evidence{
			{Station: p.st.ID, Parameter: b.param, Time: tm(first.T), Value: first.V},
			{Station: p.st.ID, Parameter: b.param, Time: tm(live[len(live)-1].T), Value: live[len(live)-1].V},
		}
	case b.agg >= 0:
		from = max(ps.aggs[b.agg].start-ps.off, len(live)-12, 0)
	}
	ev := make([]domain.Evidence, 0, len(live)-from)
	for _, s := range live[from:] {
		ev = append(ev, domain.Evidence{Station: p.st.ID, Parameter: b.param, Time: tm(s.T), Value: s.V})
	}
	return ev
}

func evidenceOf(station, param string, t int64, v float64, withValue bool) []domain.Evidence {
	if !withValue {
		return []domain.Evidence{{Station: station, Parameter: param, Time: tm(t)}}
	}
	return []domain.Evidence{{Station: station, Parameter: param, Time: tm(t), Value: v}}
}

// num prints a value with at most four decimals and no trailing zeros.
func num(v float64) string {
	if math.Abs(v) >= 1e6 || math.IsNaN(v) || math.IsInf(v, 0) {
		return strconv.FormatFloat(v, 'g', 6, 64)
	}
	return strconv.FormatFloat(math.Round(v*1e4)/1e4, 'f', -1, 64)
}

func paramNames(key string) (zh, en, unit string) {
	if p, ok := registry.LookupParam(key); ok {
		u := p.Unit
		if u == "pH" {
			u = ""
		}
		return p.NameZH, p.NameEN, u
	}
	return key, key, ""
}

func withUnit(v, unit string) string {
	if unit == "" {
		return v
	}
	return v + " " + unit
}

func levelEN(l domain.Level) string { return l.String() + " warning" }

func holdText(h Hold) string {
	switch {
	case h.N > 1 && h.D > 0:
		return fmt.Sprintf("%d readings and %s", h.N, fmtDuration(h.D))
	case h.N > 1:
		return fmt.Sprintf("%d readings", h.N)
	case h.D > 0:
		return fmtDuration(h.D)
	}
	return ""
}

// describe writes the Chinese and English summaries and the reason.
func (e *Engine) describe(tr *domain.Transition, p *stationPlan, b *binding, s *series, v verdict) {
	st := p.st
	r := b.r
	placeZH := fmt.Sprintf("%s%s(%s)", p.city, st.Name, st.ID)
	placeEN := fmt.Sprintf("%s (%s, %s)", st.Name, st.ID, p.city)
	var whatZH, whatEN, why string
	pzh, pen, unit := paramNames(b.param)
	switch r.k {
	case kThreshold:
		win, winEN := "", "latest"
		if r.window > 0 {
			win, winEN = fmtDuration(r.window)+"均值", fmtDuration(r.window)+" mean"
		}
		cmpZH, cmpEN := "高于", "above"
		switch r.dir {
		case dirBelow:
			cmpZH, cmpEN = "低于", "below"
		case dirOutside:
			cmpZH, cmpEN = "超出", "outside"
		}
		thrLevel := tr.Level
		if thrLevel == domain.None {
			thrLevel = r.levels[0]
		}
		val := withUnit(num(v.value), unit)
		if tr.Status == domain.Resolved || tr.PrevLevel > tr.Level {
			// Lowered or resolved: the value is no longer past this level's
			// trigger; say where it is, not what it exceeds.
			whatZH = fmt.Sprintf("%s%s %s", pzh, win, val)
			whatEN = fmt.Sprintf("%s (%s) %s", pen, winEN, val)
			why = fmt.Sprintf("%s %s %s", winEN, b.param, num(v.value))
			break
		}
		whatZH = fmt.Sprintf("%s%s %s，%s%s阈值 %s", pzh, win, val, cmpZH, strings.TrimSuffix(thrLevel.Chinese(), "预警"), withUnit(num(v.threshold), unit))
		whatEN = fmt.Sprintf("%s (%s) %s, %s the %s threshold %s", pen, winEN, val, cmpEN, thrLevel, withUnit(num(v.threshold), unit))
		why = fmt.Sprintf("%s %s %s %s the %s threshold %s", winEN, b.param, num(v.value), cmpEN, thrLevel, num(v.threshold))
	case kRate:
		per := fmtDuration(r.per)
		whatZH = fmt.Sprintf("%s变化速率 %s/%s（%s内），阈值 %s", pzh, withUnit(num(v.value), unit), per, fmtDuration(r.window), num(v.threshold))
		whatEN = fmt.Sprintf("%s changing at %s per %s over %s, threshold %s", pen, withUnit(num(v.value), unit), per, fmtDuration(r.window), num(v.threshold))
		why = fmt.Sprintf("%s rate %s per %s since %s; threshold %s", b.param, num(v.value), per, tm(v.since).Format(time.RFC3339), num(v.threshold))
	case kWaterClass:
		cls, target := water.Class(v.value), water.Class(v.threshold)
		var items, itemsZH []string
		for _, it := range e.wres.Items {
			if it.Evaluated && it.Exceeds {
				zh, _, u := paramNames(it.Key)
				en := fmt.Sprintf("%s %s (class %s", it.Key, withUnit(num(it.Value), u), it.Class)
				cn := fmt.Sprintf("%s %s（%s类", zh, withUnit(num(it.Value), u), it.Class)
				if it.HasMultiple {
					en += fmt.Sprintf(", %s× over", num(it.Multiple))
					cn += fmt.Sprintf("，超标%s倍", num(it.Multiple))
				}
				items, itemsZH = append(items, en+")"), append(itemsZH, cn+"）")
			}
		}
		win := "latest values"
		if r.window > 0 {
			win = fmtDuration(r.window) + " means"
		}
		whatZH = fmt.Sprintf("水质%s类（目标%s类）", cls, target)
		whatEN = fmt.Sprintf("water class %s against target %s (%s)", cls, target, win)
		if len(items) > 0 {
			whatZH += "，超标项目 " + strings.Join(itemsZH, "，")
			whatEN += "; exceeding " + strings.Join(items, ", ")
		}
		why = fmt.Sprintf("GB 3838 single-factor class %s of the %s, target %s, max exceedance multiple %s, drinking source %v", cls, win, target, num(e.wres.MaxMultiple()), st.DrinkingSource)
	case kAQI:
		if b.daily {
			whatZH = fmt.Sprintf("日AQI %s（重污染天气持续性预警）", num(v.value))
			whatEN = fmt.Sprintf("daily AQI %s (heavy-pollution persistence scheme)", num(v.value))
			why = fmt.Sprintf("daily AQI run %v", e.lastDays(p))
		} else {
			whatZH = fmt.Sprintf("小时AQI %s", num(v.value))
			whatEN = fmt.Sprintf("hourly AQI %s", num(v.value))
			why = fmt.Sprintf("hourly AQI %s from valid 1h means (%s)", num(v.value), e.aqiStd)
		}
	case kDeadman:
		subj := "站点"
		subjEN := "the station"
		if b.param != "" {
			subj, subjEN = pzh, pen
		}
		silent := time.Duration(v.value * 1e9).Round(time.Minute)
		allowed := time.Duration(v.threshold * 1e9).Round(time.Minute)
		whatZH = fmt.Sprintf("%s已 %s 未上报数据（允许 %s）", subj, fmtDuration(silent), fmtDuration(allowed))
		whatEN = fmt.Sprintf("no data from %s for %s (allowed %s)", subjEN, fmtDuration(silent), fmtDuration(allowed))
		why = fmt.Sprintf("silent for more than %v × the expected interval %s", r.factor, fmtDuration(b.interval))
		if tr.Status == domain.Resolved {
			whatZH = fmt.Sprintf("%s恢复上报", subj)
			whatEN = fmt.Sprintf("fresh data from %s again", subjEN)
			why = "fresh data within the allowed silence"
		}
	case kStuck:
		whatZH = fmt.Sprintf("%s读数 %s 持续不变", pzh, withUnit(num(v.value), unit))
		whatEN = fmt.Sprintf("%s stuck at %s", pen, withUnit(num(v.value), unit))
		why = fmt.Sprintf("identical values since %s", tm(v.since).Format(time.RFC3339))
		if r.count > 0 {
			why += fmt.Sprintf(" (limit %d readings)", r.count)
		}
		if r.duration > 0 {
			why += fmt.Sprintf(" (limit %s)", fmtDuration(r.duration))
		}
		if tr.Status == domain.Resolved {
			why = "the value changed"
		}
	case kRange:
		whatZH = fmt.Sprintf("%s %s，合理范围 [%s, %s]", pzh, withUnit(num(v.value), unit), num(b.lim[0]), num(b.lim[1]))
		whatEN = fmt.Sprintf("%s %s, plausible range [%s, %s]", pen, withUnit(num(v.value), unit), num(b.lim[0]), num(b.lim[1]))
		why = fmt.Sprintf("value %s outside [%s, %s]", num(v.value), num(b.lim[0]), num(b.lim[1]))
		if tr.Status == domain.Resolved {
			why = fmt.Sprintf("value %s back inside [%s, %s]", num(v.value), num(b.lim[0]), num(b.lim[1]))
		}
	}
	prefixZH, prefixEN := statusPrefix(tr)
	tr.SummaryZH = prefixZH + placeZH + "：" + whatZH
	tr.SummaryEN = prefixEN + " " + placeEN + ": " + whatEN
	switch tr.Status {
	case domain.Pending:
		why += "; pending until it holds for " + holdText(r.forH)
	case domain.Firing:
		if tr.PrevLevel > tr.Level {
			why += fmt.Sprintf("; lowered from %s after %s below it", tr.PrevLevel, orOne(holdText(r.clearH)))
			whatZH += "，" + holdZH(r.clearH) + "低于" + tr.PrevLevel.Chinese() + "条件"
			whatEN += fmt.Sprintf(", below %s for %s", tr.PrevLevel, orOne(holdText(r.clearH)))
			tr.SummaryZH = prefixZH + placeZH + "：" + whatZH
			tr.SummaryEN = prefixEN + " " + placeEN + ": " + whatEN
		} else if s.since != 0 && holdText(r.forH) != "" && tr.PrevLevel == domain.None {
			why += fmt.Sprintf("; held since %s (for %s)", tm(s.since).Format(time.RFC3339), holdText(r.forH))
		}
	case domain.Resolved:
		if r.k != kDeadman && r.k != kStuck && r.k != kRange {
			why += "; no level for " + orOne(holdText(r.clearH))
			if r.k == kThreshold || r.k == kRate {
				tr.SummaryZH += "，已恢复正常"
				tr.SummaryEN += ", back to normal"
			}
		}
	}
	tr.Reason = why
}

func holdZH(h Hold) string {
	switch {
	case h.N > 1 && h.D > 0:
		return fmt.Sprintf("连续%d次读数且%s", h.N, fmtDuration(h.D))
	case h.N > 1:
		return fmt.Sprintf("连续%d次读数", h.N)
	case h.D > 0:
		return fmtDuration(h.D)
	}
	return "本次读数"
}

func orOne(s string) string {
	if s == "" {
		return "1 reading"
	}
	return s
}

func statusPrefix(tr *domain.Transition) (string, string) {
	switch {
	case tr.Status == domain.Pending:
		return "【待确认】", "[pending]"
	case tr.Status == domain.Resolved:
		return "【解除】", "[resolved]"
	case tr.Technical:
		return "【技术告警】", "[technical alert]"
	case tr.PrevLevel == domain.None:
		return "【" + tr.Level.Chinese() + "】", "[" + levelEN(tr.Level) + "]"
	case tr.Level > tr.PrevLevel:
		return "【" + tr.Level.Chinese() + "，由" + tr.PrevLevel.Chinese() + "升级】", "[" + levelEN(tr.Level) + ", raised from " + tr.PrevLevel.String() + "]"
	case tr.Level < tr.PrevLevel:
		return "【" + tr.Level.Chinese() + "，由" + tr.PrevLevel.Chinese() + "降级】", "[" + levelEN(tr.Level) + ", lowered from " + tr.PrevLevel.String() + "]"
	}
	return "【" + tr.Level.Chinese() + "】", "[" + levelEN(tr.Level) + "]"
}
