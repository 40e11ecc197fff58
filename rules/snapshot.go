package rules

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/qingliu/qingliu/domain"
	"github.com/qingliu/qingliu/registry"
)

// SnapshotVersion is the version of the Snapshot encoding.
const SnapshotVersion = 1

// Snapshot is the engine's whole state as plain data (JSON-serialisable):
// per station its watermark, recent valid samples and the state of every
// alert series; the river warnings; the clock. Restore rebuilds an engine
// from it, for the same or a reloaded Set.
type Snapshot struct {
	Version    int               `json:"version"`
	Watermark  int64             `json:"watermark"`
	AdvancedAt int64             `json:"advanced_at"`
	Origin     int64             `json:"origin"`
	Stations   []StationSnapshot `json:"stations"`
	Prop       []PropSnapshot    `json:"prop,omitempty"`
	Groups     []GroupSnapshot   `json:"groups,omitempty"`
}

// StationSnapshot is one station's state.
type StationSnapshot struct {
	ID        string           `json:"id"`
	Watermark int64            `json:"watermark,omitempty"`
	Seen      int64            `json:"seen,omitempty"`
	Params    []ParamSnapshot  `json:"params,omitempty"`
	Series    []SeriesSnapshot `json:"series,omitempty"`
	AQI       *AQISnapshot     `json:"aqi,omitempty"`
}

// ParamSnapshot is one parameter's recent history.
type ParamSnapshot struct {
	Key      string   `json:"key"`
	Seen     int64    `json:"seen,omitempty"`
	Samples  []sample `json:"samples,omitempty"`
	RunV     float64  `json:"run_v,omitempty"`
	RunN     int      `json:"run_n,omitempty"`
	RunStart int64    `json:"run_start,omitempty"`
}

// SeriesSnapshot is one alert series' state machine.
type SeriesSnapshot struct {
	ID          string        `json:"id"`
	Rule        string        `json:"rule"`
	Kind        string        `json:"kind"`
	Param       string        `json:"param,omitempty"`
	Technical   bool          `json:"technical,omitempty"`
	Fingerprint uint64        `json:"fp"`
	Status      domain.Status `json:"status"`
	Level       domain.Level  `json:"level"`
	Seq         uint64        `json:"seq"`
	Since       int64         `json:"since,omitempty"`
	Count       int           `json:"count,omitempty"`
	ClrSince    int64         `json:"clr_since,omitempty"`
	ClrCount    int           `json:"clr_count,omitempty"`
	ClrMax      domain.Level  `json:"clr_max,omitempty"`
	Value       float64       `json:"value,omitempty"`
	At          int64         `json:"at,omitempty"`
}

// AQISnapshot is an air station's hourly and daily accumulation.
type AQISnapshot struct {
	Cur        int64                  `json:"cur"`
	LastClosed int64                  `json:"last_closed"`
	Sum        [numPollutants]float64 `json:"sum"`
	N          [numPollutants]int     `json:"n"`
	Hours      []hourMeans            `json:"hours,omitempty"`
	Days       []dayAQI               `json:"days,omitempty"`
	DayClosed  int64                  `json:"day_closed"`
}

// PropSnapshot is a pre-warning or joint warning series.
type PropSnapshot struct {
	ID         string        `json:"id"`
	Kind       string        `json:"kind"`
	Station    string        `json:"station"`
	Hop        registry.Hop  `json:"hop"`
	Status     domain.Status `json:"status"`
	Level      domain.Level  `json:"level"`
	Seq        uint64        `json:"seq"`
	ETA        int64         `json:"eta,omitempty"`
	Joint      bool          `json:"joint,omitempty"`
	Jur        []string      `json:"jur,omitempty"`
	Confidence string        `json:"confidence,omitempty"`
	HoldUntil  int64         `json:"hold_until,omitempty"`
}

// GroupSnapshot is a travelling event.
type GroupSnapshot struct {
	ID          string            `json:"id"`
	Param       string            `json:"param,omitempty"`
	Window      string            `json:"window,omitempty"`
	Start       int64             `json:"start"`
	Confirmed   bool              `json:"confirmed,omitempty"`
	ConfirmedBy string            `json:"confirmed_by,omitempty"`
	Value       float64           `json:"value"`
	Evidence    []domain.Evidence `json:"ev,omitempty"`
	Sources     []SourceSnapshot  `json:"sources"`
	Members     []string          `json:"members"`
}

// SourceSnapshot is a section warning that belongs to an event.
type SourceSnapshot struct {
	Alert      string       `json:"alert"`
	Station    string       `json:"station"`
	Firing     bool         `json:"firing,omitempty"`
	Level      domain.Level `json:"level"`
	ResolvedAt int64        `json:"resolved_at,omitempty"`
}

// Snapshot returns a deep copy of the engine's state.
func (e *Engine) Snapshot() *Snapshot {
	s := &Snapshot{Version: SnapshotVersion, Watermark: e.watermark, AdvancedAt: e.advancedAt, Origin: e.origin}
	for _, p := range e.set.plans {
		ss := &e.st[p.idx]
		snap := StationSnapshot{ID: p.st.ID, Watermark: ss.watermark, Seen: ss.seen}
		for j := range p.params {
			ps := &ss.params[j]
			if ps.seen == 0 && len(ps.live()) == 0 {
				continue
			}
			snap.Params = append(snap.Params, ParamSnapshot{Key: p.params[j].key, Seen: ps.seen,
				Samples: append([]sample(nil), ps.live()...), RunV: ps.runV, RunN: ps.runN, RunStart: ps.runStart})
		}
		for j := range p.bindings {
			sr := &ss.series[j]
			if sr.seq == 0 && sr.status == domain.Inactive {
				continue
			}
			b := &p.bindings[j]
			snap.Series = append(snap.Series, SeriesSnapshot{ID: b.id, Rule: b.r.name, Kind: b.r.kindName, Param: b.param,
				Technical: b.r.technical, Fingerprint: b.r.fingerprint, Status: sr.status, Level: sr.level, Seq: sr.seq,
				Since: sr.since, Count: sr.count, ClrSince: sr.clrSince, ClrCount: sr.clrCount, ClrMax: sr.clrMax,
				Value: sr.value, At: sr.at})
		}
		if a := ss.aqi; a != nil {
			as := &AQISnapshot{Cur: a.cur, LastClosed: a.lastClosed, Sum: a.sum, N: a.n, Days: append([]dayAQI(nil), a.days...), DayClosed: a.dayClosed}
			for _, h := range a.hours {
				if h.H != 0 {
					as.Hours = append(as.Hours, h)
				}
			}
			snap.AQI = as
		}
		if snap.Watermark != 0 || snap.Seen != 0 || len(snap.Series) > 0 {
			s.Stations = append(s.Stations, snap)
		}
	}
	for _, id := range slices.Sorted(maps.Keys(e.prop)) {
		m := e.prop[id]
		s.Prop = append(s.Prop, PropSnapshot{ID: m.id, Kind: m.kind, Station: m.station, Hop: m.hop, Status: m.status,
			Level: m.level, Seq: m.seq, ETA: m.eta, Joint: m.joint, Jur: m.jur, Confidence: m.confidence, HoldUntil: m.holdUntil})
	}
	for _, id := range slices.Sorted(maps.Keys(e.groups)) {
		g := e.groups[id]
		gs := GroupSnapshot{ID: g.id, Param: g.param, Window: g.window, Start: g.start, Confirmed: g.confirmed,
			ConfirmedBy: g.confirmedBy, Value: g.value, Evidence: g.ev}
		for _, src := range g.sources {
			gs.Sources = append(gs.Sources, SourceSnapshot{Alert: src.alert, Station: src.station, Firing: src.firing,
				Level: src.level, ResolvedAt: src.resolvedAt})
		}
		for _, m := range g.members {
			gs.Members = append(gs.Members, m.id)
		}
		s.Groups = append(s.Groups, gs)
	}
	return s
}

// Restore replaces the engine's state with snap. Series are matched by
// alert id: a series of an unchanged rule continues exactly; a series of a
// changed rule keeps its status, level and sequence but restarts its for
// and clear_for counting; an active series whose rule or station is gone
// from the Set is resolved, and those transitions are returned.
func (e *Engine) Restore(snap *Snapshot, now time.Time) ([]domain.Transition, error) {
	if snap.Version != SnapshotVersion {
		return nil, fmt.Errorf("restore rules state: snapshot version %d, want %d", snap.Version, SnapshotVersion)
	}
	e.st = newStates(e.set)
	e.prop, e.groups, e.bySource = map[string]*propSeries{}, map[string]*propGroup{}, map[string]*propGroup{}
	e.watermark, e.advancedAt, e.origin = snap.Watermark, snap.AdvancedAt, snap.Origin
	e.out = e.out[:0]
	e.now = now
	for i := range snap.Stations {
		sn := &snap.Stations[i]
		p, ok := e.set.byID[sn.ID]
		if !ok {
			for _, sr := range sn.Series {
				e.orphan(sn.ID, sr)
			}
			continue
		}
		ss := &e.st[p.idx]
		ss.watermark, ss.seen = sn.Watermark, sn.Seen
		for _, pn := range sn.Params {
			j, ok := p.slot[pn.Key]
			if !ok {
				continue
			}
			ps := &ss.params[j]
			ps.seen, ps.runV, ps.runN, ps.runStart = pn.Seen, pn.RunV, pn.RunN, pn.RunStart
			ps.s = append(ps.s[:0], pn.Samples...)
			ps.off = 0
			if last, ok := ps.last(); ok {
				ps.prune(last.T, int64(p.params[j].maxWindow))
			}
			ps.recompute()
		}
		byID := make(map[string]int, len(p.bindings))
		for j := range p.bindings {
			byID[p.bindings[j].id] = j
		}
		for _, sr := range sn.Series {
			j, ok := byID[sr.ID]
			if !ok || p.bindings[j].r.name != sr.Rule || p.bindings[j].r.kindName != sr.Kind {
				e.orphan(sn.ID, sr)
				continue
			}
			st := &ss.series[j]
			*st = series{status: sr.Status, level: sr.Level, seq: sr.Seq, since: sr.Since, count: sr.Count,
				clrSince: sr.ClrSince, clrCount: sr.ClrCount, clrMax: sr.ClrMax, value: sr.Value, at: sr.At}
			if sr.Fingerprint != p.bindings[j].r.fingerprint {
				st.clrCount, st.clrSince, st.clrMax = 0, 0, domain.None
				if st.status == domain.Pending {
					st.count = 0
				}
			}
			b := &p.bindings[j]
			if (b.r.k == kStuck || b.r.k == kRange) && st.status == domain.Firing {
				ss.params[b.slot].excl++
			}
		}
		if sn.AQI != nil && ss.aqi != nil {
			a := ss.aqi
			a.cur, a.lastClosed, a.sum, a.n, a.dayClosed = sn.AQI.Cur, sn.AQI.LastClosed, sn.AQI.Sum, sn.AQI.N, sn.AQI.DayClosed
			a.days = append([]dayAQI(nil), sn.AQI.Days...)
			for _, h := range sn.AQI.Hours {
				a.hours[((h.H%48)+48)%48] = h
			}
		}
	}
	for _, ps := range snap.Prop {
		m := &propSeries{id: ps.ID, kind: ps.Kind, station: ps.Station, hop: ps.Hop, status: ps.Status, level: ps.Level,
			seq: ps.Seq, eta: ps.ETA, joint: ps.Joint, jur: ps.Jur, confidence: ps.Confidence, holdUntil: ps.HoldUntil}
		e.prop[m.id] = m
	}
	for _, gs := range snap.Groups {
		g := &propGroup{id: gs.ID, param: gs.Param, window: gs.Window, start: gs.Start, confirmed: gs.Confirmed,
			confirmedBy: gs.ConfirmedBy, value: gs.Value, ev: gs.Evidence}
		for _, src := range gs.Sources {
			g.sources = append(g.sources, &propSource{alert: src.Alert, station: src.Station, firing: src.Firing,
				level: src.Level, resolvedAt: src.ResolvedAt})
		}
		for _, id := range gs.Members {
			if m, ok := e.prop[id]; ok {
				g.members = append(g.members, m)
			}
		}
		if len(g.sources) == 0 {
			continue
		}
		e.groups[g.id] = g
		for _, src := range g.sources {
			e.bySource[src.alert] = g
		}
	}
	// River warnings of an event whose origin no longer propagates (its
	// rule or station is gone, or propagation was removed) are resolved.
	for _, id := range slices.Sorted(maps.Keys(e.groups)) {
		g := e.groups[id]
		origin := g.sources[0]
		_, ok := e.set.byID[origin.station]
		rule, _, _ := strings.Cut(origin.alert, "/")
		if ok && e.set.prop != nil && e.set.prop.propagates(rule) {
			continue
		}
		e.resolveOrphanGroup(g)
	}
	e.resetNextHold()
	return e.out, nil
}

// orphan resolves an active series whose rule or station left the Set.
func (e *Engine) orphan(station string, sr SeriesSnapshot) {
	if sr.Status == domain.Inactive {
		return
	}
	tr := domain.Transition{AlertID: sr.ID, Seq: sr.Seq + 1, At: tm(max(e.watermark, sr.At)), Emitted: e.now,
		Rule: sr.Rule, Kind: sr.Kind, Technical: sr.Technical, Station: station, Parameter: sr.Param,
		Status: domain.Resolved, Level: domain.None, PrevLevel: sr.Level, Value: sr.Value,
		Jurisdictions: []string{}, Reason: "the rule was removed or changed kind, or no longer selects the station",
		SummaryZH: "【解除】" + station + "：规则已删除或不再适用", SummaryEN: "[resolved] " + station + ": the rule was removed or no longer applies"}
	if sr.Technical {
		tr.PrevLevel = domain.None
	}
	if p, ok := e.set.byID[station]; ok {
		tr.Jurisdictions = []string{p.city}
	}
	e.out = append(e.out, tr)
}

// resolveOrphanGroup resolves the warnings of an event that no longer
// propagates.
func (e *Engine) resolveOrphanGroup(g *propGroup) {
	for _, m := range g.members {
		if m.status != domain.Firing {
			continue
		}
		m.seq++
		tr := domain.Transition{AlertID: m.id, Seq: m.seq, At: tm(e.watermark), Emitted: e.now, Kind: m.kind,
			Station: m.station, Parameter: g.param, Status: domain.Resolved, Level: domain.None, PrevLevel: m.level,
			Value: g.value, Jurisdictions: slices.Clone(m.jur), Joint: m.joint, SourceStation: g.sources[0].station,
			SourceAlert: g.sources[0].alert, Reason: "the source no longer propagates (rules changed)",
			SummaryZH: "【解除】" + m.station + "：传播预警已停用", SummaryEN: "[resolved] " + m.station + ": river propagation of this warning was removed from the rules"}
		if i := indexRune(m.id, '/'); i > 0 {
			tr.Rule = m.id[:i]
		}
		m.status, m.level, m.holdUntil = domain.Inactive, domain.None, 0
		e.out = append(e.out, tr)
	}
	e.dropGroup(g)
}

func indexRune(s string, r byte) int {
	for i := 0; i < len(s); i++ {
		if s[i] == r {
			return i
		}
	}
	return -1
}

// Reload swaps in a new Set, keeping the state of every series whose rule
// is unchanged (see Restore), and returns the resolutions of the series
// that are gone. The returned slice is reused by the next call.
func (e *Engine) Reload(set *Set, now time.Time) ([]domain.Transition, error) {
	snap := e.Snapshot()
	dyn := e.dyn
	ne := NewEngine(set)
	ne.series, ne.dyn = e.series, dyn
	out, err := ne.Restore(snap, now)
	if err != nil {
		return nil, err
	}
	*e = *ne
	return out, nil
}

// AdvanceSeqs raises the sequence of each series named in seqs (alert id →
// the highest sequence already published) to at least that, so that the
// next transition does not reuse a published alert_id:seq.
func (e *Engine) AdvanceSeqs(seqs map[string]uint64) {
	if len(seqs) == 0 {
		return
	}
	for _, p := range e.set.plans {
		ss := &e.st[p.idx]
		for j := range p.bindings {
			if n, ok := seqs[p.bindings[j].id]; ok && ss.series[j].seq < n {
				ss.series[j].seq = n
			}
		}
	}
	for id, m := range e.prop {
		if n, ok := seqs[id]; ok && m.seq < n {
			m.seq = n
		}
	}
}
