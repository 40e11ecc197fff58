package rules

import (
	"cmp"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/qingliu/qingliu/domain"
	"github.com/qingliu/qingliu/registry"
)

// River warnings (DESIGN §5). A warning at a river section starts an event:
// a pre-warning for each section downstream (within the horizon) with its
// estimated arrival time, and a joint warning owned by every jurisdiction
// when the river crosses the border, or the event reaches a section of the
// other city or a drinking-water intake. A warning of the same parameter at
// a pre-warned section before ETA + tolerance confirms the event: the
// section joins it (no second event), the event's warnings become
// "confirmed", their level rises by confirm.raise, and the arrival times
// further down are re-estimated from the confirming section.
//
// The warnings of an event never go down while it lasts: the pollution
// that caused them is still travelling. When every source of the event has
// resolved, each pre-warning resolves once the tail has passed its section
// (the source's resolution + travel time + tolerance + hold), and the joint
// warning with the last of them.

// propSeries is a pre-warning at a downstream section, or a joint warning.
// Its id is stable per (originating alert, section), so a later event from
// the same source continues its sequence.
type propSeries struct {
	id         string
	kind       string
	station    string
	hop        registry.Hop // from the originating section
	status     domain.Status
	level      domain.Level
	seq        uint64
	eta        int64 // unix nanos; 0 for none
	joint      bool
	jur        []string
	confidence string
	holdUntil  int64
}

// propSource is a section whose warning belongs to an event.
type propSource struct {
	alert, station string
	firing         bool
	level          domain.Level
	resolvedAt     int64
}

// propGroup is one travelling event.
type propGroup struct {
	id, param, window string // id: the originating alert
	start             int64
	confirmed         bool
	confirmedBy       string
	value             float64
	ev                []domain.Evidence
	sources           []*propSource
	members           []*propSeries // pre-warnings in flow order, then the joint warning
}

func (g *propGroup) source(alert string) *propSource {
	for _, s := range g.sources {
		if s.alert == alert {
			return s
		}
	}
	return nil
}

// level is the highest level any source of the event reached while firing.
func (g *propGroup) level() domain.Level {
	l := domain.None
	for _, s := range g.sources {
		l = max(l, s.level)
	}
	return l
}

func (g *propGroup) anyFiring() bool {
	return slices.ContainsFunc(g.sources, func(s *propSource) bool { return s.firing })
}

// propagate feeds the source transition e.out[i] into the river warnings.
func (e *Engine) propagate(p *stationPlan, i int) {
	pr := e.set.prop
	src := e.out[i]
	t := src.At.UnixNano()
	firing := src.Status == domain.Firing && src.Level >= pr.minLevel
	if g := e.bySource[src.AlertID]; g != nil {
		s := g.source(src.AlertID)
		switch {
		case firing:
			if !s.firing {
				s.firing = true
				e.clearHolds(g)
			}
			s.level = max(s.level, src.Level)
			g.value, g.ev = src.Value, src.Readings
			e.updateMembers(g, t, "")
		case s.firing:
			s.firing, s.resolvedAt = false, t
			if !g.anyFiring() {
				e.scheduleHolds(g)
			}
		}
		return
	}
	if !firing {
		return
	}
	if g := e.joinable(p, &src, t); g != nil {
		e.join(g, p, &src, t)
		return
	}
	if len(p.hops) == 0 && !(pr.crossBorder && p.crossBorder) {
		return
	}
	e.newGroup(p, &src, t)
}

func (e *Engine) newGroup(p *stationPlan, src *domain.Transition, t int64) {
	pr := e.set.prop
	g := &propGroup{id: src.AlertID, param: src.Parameter, window: src.Window, start: t, value: src.Value, ev: src.Readings}
	g.sources = []*propSource{{alert: src.AlertID, station: p.st.ID, firing: true, level: src.Level}}
	joint := pr.crossBorder && p.crossBorder
	for _, h := range p.hops {
		hp := e.set.byID[h.Station]
		m := e.member(pr.name+"/"+h.Station+"/"+src.AlertID, KindPropagation, h.Station)
		m.hop, m.eta = h, t+int64(h.ETA)
		m.joint = (pr.cityBorder && hp.city != p.city) || (pr.intake && h.Intake)
		m.jur = []string{hp.city}
		if m.joint {
			m.jur = e.set.jurisdictions
			joint = true
		}
		g.members = append(g.members, m)
	}
	if joint {
		m := e.member(pr.name+"/joint/"+src.AlertID, KindJoint, p.st.ID)
		m.joint, m.jur = true, e.set.jurisdictions
		g.members = append(g.members, m)
	}
	e.groups[g.id] = g
	e.bySource[src.AlertID] = g
	e.updateMembers(g, t, "")
}

func (e *Engine) member(id, kind, station string) *propSeries {
	m, ok := e.prop[id]
	if !ok {
		m = &propSeries{id: id, kind: kind, station: station}
		e.prop[id] = m
	}
	m.holdUntil = 0
	return m
}

// tolerance is how long after the ETA an arrival still confirms.
func (e *Engine) tolerance(travel time.Duration) int64 {
	pr := e.set.prop
	return int64(max(time.Duration(pr.tolerance*float64(travel)), pr.minTol))
}

// joinable returns the event whose pre-warning for this section the new
// warning src confirms: same parameter, pre-warning firing, before its
// ETA + tolerance. The oldest such event wins.
func (e *Engine) joinable(p *stationPlan, src *domain.Transition, t int64) *propGroup {
	var best *propGroup
	for _, g := range e.groups {
		if g.param != src.Parameter || t < g.start {
			continue
		}
		ok := slices.ContainsFunc(g.members, func(m *propSeries) bool {
			return m.kind == KindPropagation && m.station == p.st.ID && m.status == domain.Firing &&
				t <= m.eta+e.tolerance(m.hop.ETA)
		})
		if ok && (best == nil || cmp.Or(cmp.Compare(g.start, best.start), strings.Compare(g.id, best.id)) < 0) {
			best = g
		}
	}
	return best
}

// join adds the confirming section's warning to the event.
func (e *Engine) join(g *propGroup, p *stationPlan, src *domain.Transition, t int64) {
	g.sources = append(g.sources, &propSource{alert: src.AlertID, station: p.st.ID, firing: true, level: src.Level})
	e.bySource[src.AlertID] = g
	e.clearHolds(g)
	g.value, g.ev = src.Value, src.Readings
	newly := !g.confirmed
	g.confirmed = true
	if newly {
		g.confirmedBy = src.AlertID
	}
	// Re-estimate the arrival further down from the confirming section.
	for _, m := range g.members {
		if m.kind != KindPropagation || m.status != domain.Firing {
			continue
		}
		if h, ok := hopFrom(p, m.station); ok {
			m.eta = t + int64(h.ETA)
		}
	}
	reason := ""
	if newly {
		reason = "confirmed"
	}
	e.updateMembers(g, t, reason)
}

func hopFrom(p *stationPlan, station string) (registry.Hop, bool) {
	for _, h := range p.hops {
		if h.Station == station {
			return h, true
		}
	}
	return registry.Hop{}, false
}

// levelOf is the level member m should have now.
func (e *Engine) levelOf(g *propGroup, m *propSeries) domain.Level {
	pr := e.set.prop
	l := g.level()
	if m.kind == KindPropagation {
		l = l.Raise(pr.offset)
	}
	if g.confirmed {
		l = l.Raise(pr.raise)
	}
	return l
}

// updateMembers starts the event's warnings or raises them; why is
// "confirmed" when a confirmation causes the update.
func (e *Engine) updateMembers(g *propGroup, t int64, why string) {
	for _, m := range g.members {
		if m.kind == KindJoint {
			m.eta = 0
			for _, o := range g.members {
				if o.kind == KindPropagation && o.joint && o.status == domain.Firing && (m.eta == 0 || o.eta < m.eta) {
					m.eta = o.eta
				}
			}
		}
		l := e.levelOf(g, m)
		conf := domain.ConfidenceExpected
		if g.confirmed {
			conf = domain.ConfidenceConfirmed
		}
		if m.status == domain.Firing {
			if l > m.level || conf != m.confidence || why != "" {
				prev := m.level
				m.level, m.confidence = max(m.level, l), conf
				e.emitProp(g, m, domain.Firing, prev, t)
			}
			continue
		}
		// A resolved pre-warning starts again only when a firing source of
		// the event is upstream of it: the tail has passed the sections
		// above a later confirmation.
		if m.kind == KindPropagation && !e.reaches(g, m.station) {
			continue
		}
		if m.kind == KindJoint && !slices.ContainsFunc(g.members, func(o *propSeries) bool {
			return o.kind == KindPropagation && o.status == domain.Firing
		}) && len(g.members) > 1 {
			continue
		}
		m.status, m.level, m.confidence = domain.Firing, l, conf
		if m.kind == KindPropagation && m.eta < t {
			m.eta = t + int64(m.hop.ETA)
		}
		e.emitProp(g, m, domain.Firing, domain.None, t)
	}
}

// reaches reports whether a firing source of the event is upstream of
// station.
func (e *Engine) reaches(g *propGroup, station string) bool {
	for _, s := range g.sources {
		if !s.firing {
			continue
		}
		if sp := e.set.byID[s.station]; sp != nil {
			if _, ok := hopFrom(sp, station); ok {
				return true
			}
		}
	}
	return false
}

func (e *Engine) clearHolds(g *propGroup) {
	for _, m := range g.members {
		m.holdUntil = 0
	}
	e.resetNextHold()
}

// scheduleHolds sets when each pre-warning resolves now that no source of
// the event fires: when the tail has passed its section.
func (e *Engine) scheduleHolds(g *propGroup) {
	pr := e.set.prop
	var last int64
	for _, m := range g.members {
		if m.kind != KindPropagation || m.status != domain.Firing {
			continue
		}
		var until int64
		for _, s := range g.sources {
			sp := e.set.byID[s.station]
			if sp == nil {
				continue
			}
			if s.station == m.station {
				until = max(until, s.resolvedAt)
				continue
			}
			if h, ok := hopFrom(sp, m.station); ok {
				until = max(until, s.resolvedAt+int64(h.ETA)+e.tolerance(h.ETA))
			}
		}
		m.holdUntil = until + int64(pr.hold)
		last = max(last, m.holdUntil)
	}
	for _, m := range g.members {
		if m.kind == KindJoint && m.status == domain.Firing {
			if last == 0 {
				for _, s := range g.sources {
					last = max(last, s.resolvedAt)
				}
				last += int64(pr.hold)
			}
			m.holdUntil = last
		}
	}
	e.resetNextHold()
}

func (e *Engine) expireHolds(clock int64) {
	for _, id := range slices.Sorted(maps.Keys(e.groups)) {
		g := e.groups[id]
		done := true
		for _, m := range g.members {
			if m.status == domain.Firing && m.holdUntil != 0 && m.holdUntil <= clock {
				prev, at := m.level, m.holdUntil
				m.status, m.level, m.holdUntil = domain.Inactive, domain.None, 0
				e.emitProp(g, m, domain.Resolved, prev, at)
			}
			done = done && m.status != domain.Firing
		}
		if done {
			e.dropGroup(g)
		}
	}
	e.resetNextHold()
}

func (e *Engine) dropGroup(g *propGroup) {
	delete(e.groups, g.id)
	for _, s := range g.sources {
		if e.bySource[s.alert] == g {
			delete(e.bySource, s.alert)
		}
	}
}

func (e *Engine) resetNextHold() {
	e.nextHold = 0
	for _, g := range e.groups {
		for _, m := range g.members {
			if m.holdUntil != 0 && (e.nextHold == 0 || m.holdUntil < e.nextHold) {
				e.nextHold = m.holdUntil
			}
		}
	}
}

func (e *Engine) emitProp(g *propGroup, m *propSeries, status domain.Status, prev domain.Level, t int64) {
	m.seq++
	pr := e.set.prop
	origin := g.sources[0]
	tr := domain.Transition{
		AlertID: m.id, Seq: m.seq, At: tm(t), Emitted: e.now, Rule: pr.name, Kind: m.kind,
		Station: m.station, Parameter: g.param, Status: status, Level: m.level, PrevLevel: prev,
		Value: g.value, Window: g.window, Readings: g.ev, Jurisdictions: slices.Clone(m.jur),
		Joint: m.joint, SourceStation: origin.station, SourceAlert: origin.alert, Confidence: m.confidence,
	}
	if status == domain.Resolved {
		tr.Confidence = ""
	}
	if m.eta != 0 {
		eta := tm(m.eta)
		tr.ETA = &eta
	}
	e.describeProp(&tr, g, m, prev)
	e.out = append(e.out, tr)
}

func (e *Engine) describeProp(tr *domain.Transition, g *propGroup, m *propSeries, prev domain.Level) {
	origin := g.sources[0]
	src := e.set.byID[origin.station]
	at := e.set.byID[m.station]
	if src == nil || at == nil {
		return
	}
	pzh, pen, _ := paramNames(g.param)
	if g.param == "" {
		pzh, pen = "水质", "water quality"
	}
	lvl := g.level()
	srcZH := fmt.Sprintf("%s%s(%s)", src.city, src.st.Name, src.st.ID)
	srcEN := fmt.Sprintf("%s (%s, %s)", src.st.Name, src.st.ID, src.city)
	etaZH, etaEN := "", ""
	if tr.ETA != nil {
		etaZH = tr.ETA.Format("01-02 15:04")
		etaEN = tr.ETA.Format("2006-01-02 15:04 MST")
	}
	var reason []string
	switch {
	case tr.Status == domain.Resolved:
		reason = append(reason, "every source of the event resolved and the tail has passed")
	case tr.Confidence == domain.ConfidenceConfirmed && g.confirmedBy != "":
		reason = append(reason, fmt.Sprintf("source %s reached %s; confirmed downstream by %s", origin.alert, lvl, g.confirmedBy))
	default:
		reason = append(reason, fmt.Sprintf("source %s is %s", origin.alert, lvl))
	}
	if m.kind == KindPropagation {
		prefixZH := "【" + tr.Level.Chinese() + "·预警】"
		prefixEN := "[pre-warning, " + tr.Level.String() + "]"
		if tr.Status == domain.Resolved {
			prefixZH, prefixEN = "【解除·预警】", "[pre-warning resolved]"
		}
		tr.SummaryZH = fmt.Sprintf("%s%s%s(%s)：上游%s%s%s预警，预计 %s 到达（行程约 %s）", prefixZH, at.city, at.st.Name, at.st.ID,
			srcZH, pzh, strings.TrimSuffix(lvl.Chinese(), "预警"), etaZH, fmtDuration(m.hop.ETA))
		tr.SummaryEN = fmt.Sprintf("%s %s (%s, %s): %s %s warning upstream at %s, expected about %s (travel %s)", prefixEN, at.st.Name, at.st.ID, at.city,
			pen, lvl, srcEN, etaEN, fmtDuration(m.hop.ETA))
		reason = append(reason, fmt.Sprintf("travel time %s from %s", fmtDuration(m.hop.ETA), origin.station))
		if m.hop.Intake {
			reason = append(reason, "the section feeds a drinking-water intake")
		}
		if at.city != src.city {
			reason = append(reason, fmt.Sprintf("crosses from %s to %s", src.city, at.city))
		}
	} else {
		prefixZH := "【联合预警·" + tr.Level.Chinese() + "】"
		prefixEN := "[joint " + tr.Level.String() + " warning]"
		if tr.Status == domain.Resolved {
			prefixZH, prefixEN = "【解除·联合预警】", "[joint warning resolved]"
		}
		tr.SummaryZH = fmt.Sprintf("%s%s%s%s预警，%s联合处置", prefixZH, srcZH, pzh, strings.TrimSuffix(lvl.Chinese(), "预警"), strings.Join(tr.Jurisdictions, "、"))
		tr.SummaryEN = fmt.Sprintf("%s %s: %s %s warning, owned jointly by %s", prefixEN, srcEN, pen, lvl, strings.Join(tr.Jurisdictions, " and "))
		if etaZH != "" {
			tr.SummaryZH += "，预计 " + etaZH + " 到达跨界/取水断面"
			tr.SummaryEN += ", expected at the border or intake section about " + etaEN
		}
		if src.crossBorder {
			reason = append(reason, "on a cross-border river")
		}
		for _, o := range g.members {
			if o.kind == KindPropagation && o.joint {
				reason = append(reason, fmt.Sprintf("reaches %s in %s", o.station, fmtDuration(o.hop.ETA)))
				break
			}
		}
	}
	if tr.Confidence == domain.ConfidenceConfirmed {
		tr.SummaryZH += "（已由下游确认）"
		tr.SummaryEN += " (confirmed downstream)"
	}
	tr.Reason = strings.Join(reason, "; ")
}
