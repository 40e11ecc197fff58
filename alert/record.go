package alert

import (
	"crypto/sha256"
	"encoding/hex"
	"slices"
	"strconv"
	"time"

	"github.com/qingliu/qingliu/alert/notify"
	"github.com/qingliu/qingliu/domain"
	"github.com/qingliu/qingliu/registry"
)

// Bounds on what one record keeps; older entries are dropped and counted
// (InfluxDB's alerts measurement and the log keep everything).
const (
	maxHistory = 200
	maxAudit   = 300
	maxComment = 100
)

// Record is the alert service's state of one alert: its lifecycle, who owns
// it and their acknowledgements, what each receiver has been told, and an
// audit trail. It is stored as JSON in the alerts bucket under its Ref.
type Record struct {
	ID      string `json:"id"`
	Ref     string `json:"ref"`
	Episode int    `json:"episode"`
	// Seq is the last transition applied; a transition at or below it is a
	// redelivery.
	Seq       uint64        `json:"seq"`
	FirstSeq  uint64        `json:"first_seq"` // first transition of the episode
	Status    domain.Status `json:"status"`
	Level     domain.Level  `json:"level"`
	PrevLevel domain.Level  `json:"prev_level"`
	MaxLevel  domain.Level  `json:"max_level"`
	// Last is the latest transition as the rules engine sent it.
	Last domain.Transition `json:"last"`
	// Station facts from the registry at the time of the transition.
	StationName string  `json:"station_name,omitempty"`
	City        string  `json:"city,omitempty"`
	District    string  `json:"district,omitempty"`
	River       string  `json:"river,omitempty"`
	Basin       string  `json:"basin,omitempty"`
	StationKind string  `json:"station_kind,omitempty"`
	Medium      string  `json:"medium,omitempty"`
	Lat         float64 `json:"lat,omitempty"`
	Lon         float64 `json:"lon,omitempty"`

	StartsAt   time.Time `json:"starts_at"`
	UpdatedAt  time.Time `json:"updated_at"`
	ResolvedAt time.Time `json:"resolved_at,omitzero"`

	History   []Change       `json:"history"`
	Agencies  []*AgencyState `json:"agencies"`
	Receivers []*RecvState   `json:"receivers"`
	Comments  []Comment      `json:"comments,omitempty"`
	Audit     []AuditEntry   `json:"audit"`
	// Dropped counts history and audit entries dropped to bound the record.
	Dropped int `json:"dropped,omitempty"`
}

// Change is one transition in the history.
type Change struct {
	Seq     uint64        `json:"seq"`
	Episode int           `json:"episode"`
	Event   string        `json:"event"`
	Status  domain.Status `json:"status"`
	Level   domain.Level  `json:"level"`
	Value   float64       `json:"value"`
	At      time.Time     `json:"at"`
	Emitted time.Time     `json:"emitted"`
	Applied time.Time     `json:"applied"`
	Reason  string        `json:"reason,omitempty"`
}

// AgencyState is one owning agency's view of the alert.
type AgencyState struct {
	Agency string `json:"agency"`
	Ack    *Ack   `json:"ack,omitempty"`
	// FirstNotifiedAt starts the escalation clock; Step is the escalation
	// steps taken.
	FirstNotifiedAt time.Time `json:"first_notified_at,omitzero"`
	Step            int       `json:"escalation_step,omitempty"`
}

// Ack is an acknowledgement: who has the alert in hand.
type Ack struct {
	By      string    `json:"by"`
	At      time.Time `json:"at"`
	Comment string    `json:"comment,omitempty"`
}

// RecvState is what one receiver has been told and what waits for it.
type RecvState struct {
	Receiver string `json:"receiver"`
	Agency   string `json:"agency"`
	Route    string `json:"route"`
	GroupKey string `json:"group_key"`
	// Escalation: added by the agency's escalation chain.
	Escalation     bool          `json:"escalation,omitempty"`
	NotifiedSeq    uint64        `json:"notified_seq,omitempty"`
	NotifiedLevel  domain.Level  `json:"notified_level"`
	NotifiedStatus domain.Status `json:"notified_status"`
	NotifiedAt     time.Time     `json:"notified_at,omitzero"`
	// PendingSince is set while a notification waits (group wait, quiet
	// hours, a silence); Reason is reminder or overdue for those.
	PendingSince time.Time `json:"pending_since,omitzero"`
	Reason       string    `json:"reason,omitempty"`
	Repeats      int       `json:"repeats,omitempty"`
	OverdueStep  int       `json:"overdue_step,omitempty"`
	// Held says why the pending notification waits.
	Held string `json:"held,omitempty"`
}

// Comment is a note by an agency.
type Comment struct {
	At     time.Time `json:"at"`
	Agency string    `json:"agency"`
	Author string    `json:"author,omitempty"`
	Text   string    `json:"text"`
}

// AuditEntry is one change, by whom.
type AuditEntry struct {
	At     time.Time `json:"at"`
	Actor  string    `json:"actor"` // agency id, or "rules" / "alert" for the system
	Author string    `json:"author,omitempty"`
	Action string    `json:"action"`
	Detail string    `json:"detail,omitempty"`
}

// RefOf is the short fingerprint of an alert id used as KV key and in URLs.
func RefOf(alertID string) string {
	h := sha256.Sum256([]byte(alertID))
	return hex.EncodeToString(h[:8])
}

// newRecord starts the record of alert id.
func newRecord(id string) *Record { return &Record{ID: id, Ref: RefOf(id)} }

// clone deep-copies r, so that a failed write leaves the cached one intact.
func (r *Record) clone() *Record {
	c := *r
	c.Last.Readings = slices.Clone(r.Last.Readings)
	c.Last.Jurisdictions = slices.Clone(r.Last.Jurisdictions)
	c.History = slices.Clone(r.History)
	c.Comments = slices.Clone(r.Comments)
	c.Audit = slices.Clone(r.Audit)
	c.Agencies = make([]*AgencyState, len(r.Agencies))
	for i, a := range r.Agencies {
		ac := *a
		if a.Ack != nil {
			ack := *a.Ack
			ac.Ack = &ack
		}
		c.Agencies[i] = &ac
	}
	c.Receivers = make([]*RecvState, len(r.Receivers))
	for i, s := range r.Receivers {
		sc := *s
		c.Receivers[i] = &sc
	}
	return &c
}

// apply records transition tr; it returns the event (pending, firing,
// escalated, deescalated, updated, resolved) and false for a transition
// already applied.
func (r *Record) apply(tr *domain.Transition, st *registry.Station, now time.Time) (string, bool) {
	if tr.Seq <= r.Seq {
		return "", false
	}
	newEpisode := r.Seq == 0 || (r.Status == domain.Resolved && tr.Status != domain.Resolved)
	if newEpisode {
		r.Episode++
		r.FirstSeq = tr.Seq
		r.StartsAt = tr.At
		r.ResolvedAt = time.Time{}
		r.MaxLevel = domain.None
		r.Agencies, r.Receivers = nil, nil
		if r.Episode > 1 {
			r.audit(now, "rules", "", "new_episode", "the alert fired again after it was resolved; acknowledgements reset")
		}
	}
	ev := "updated"
	switch tr.Status {
	case domain.Pending:
		ev = "pending"
	case domain.Resolved:
		ev = "resolved"
		r.ResolvedAt = tr.At
	case domain.Firing:
		switch {
		case r.Status != domain.Firing:
			ev = "firing"
		case tr.Level > r.Level:
			ev = "escalated"
		case tr.Level < r.Level:
			ev = "deescalated"
		}
	}
	r.Seq, r.Status, r.PrevLevel, r.Level = tr.Seq, tr.Status, r.Level, tr.Level
	r.MaxLevel = max(r.MaxLevel, tr.Level)
	r.Last = *tr
	r.UpdatedAt = now
	if st != nil {
		r.StationName, r.City, r.District, r.River, r.Basin = st.Name, st.City, st.District, st.River, st.Basin
		r.StationKind, r.Medium, r.Lat, r.Lon = st.Kind, string(st.Medium), st.Lat, st.Lon
	}
	r.History = append(r.History, Change{Seq: tr.Seq, Episode: r.Episode, Event: ev, Status: tr.Status, Level: tr.Level,
		Value: tr.Value, At: tr.At, Emitted: tr.Emitted, Applied: now, Reason: tr.Reason})
	if n := len(r.History) - maxHistory; n > 0 {
		r.History = slices.Delete(r.History, 0, n)
		r.Dropped += n
	}
	r.audit(now, "rules", "", "transition", ev+" "+tr.Level.String()+" seq "+strconv.FormatUint(tr.Seq, 10))
	return ev, true
}

func (r *Record) audit(now time.Time, actor, author, action, detail string) {
	r.Audit = append(r.Audit, AuditEntry{At: now, Actor: actor, Author: author, Action: action, Detail: detail})
	if n := len(r.Audit) - maxAudit; n > 0 {
		r.Audit = slices.Delete(r.Audit, 0, n)
		r.Dropped += n
	}
}

func (r *Record) agency(id string) *AgencyState {
	for _, a := range r.Agencies {
		if a.Agency == id {
			return a
		}
	}
	return nil
}

func (r *Record) ensureAgency(id string) *AgencyState {
	if a := r.agency(id); a != nil {
		return a
	}
	a := &AgencyState{Agency: id}
	r.Agencies = append(r.Agencies, a)
	slices.SortFunc(r.Agencies, func(x, y *AgencyState) int { return cmpStr(x.Agency, y.Agency) })
	return a
}

func (r *Record) receiver(name string) *RecvState {
	for _, s := range r.Receivers {
		if s.Receiver == name {
			return s
		}
	}
	return nil
}

func (r *Record) ensureReceiver(name, agency string) (*RecvState, bool) {
	if s := r.receiver(name); s != nil {
		return s, false
	}
	s := &RecvState{Receiver: name, Agency: agency}
	r.Receivers = append(r.Receivers, s)
	slices.SortFunc(r.Receivers, func(x, y *RecvState) int { return cmpStr(x.Receiver, y.Receiver) })
	return s, true
}

func cmpStr(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// event is the grouping label: the upstream alert for propagated and joint
// warnings, so that one river event goes out together.
func (r *Record) event() string {
	if r.Last.SourceAlert != "" {
		return r.Last.SourceAlert
	}
	return r.ID
}

// labels computes the matching labels of r under rt.
func (rt *Routing) labels(r *Record) Labels {
	tr := &r.Last
	l := Labels{
		"alert_id": {r.ID}, "rule": {tr.Rule}, "kind": {tr.Kind}, "station": {tr.Station}, "parameter": {tr.Parameter},
		"level": {r.Level.String()}, "status": {r.Status.String()}, "technical": {strconv.FormatBool(tr.Technical)},
		"joint": {strconv.FormatBool(tr.Joint)}, "city": {r.City}, "district": {r.District}, "river": {r.River},
		"basin": {r.Basin}, "station_kind": {r.StationKind}, "medium": {r.Medium}, "event": {r.event()},
		"jurisdiction": slices.Clone(tr.Jurisdictions),
	}
	var ag []string
	for _, a := range rt.agencies {
		if a.covers(l) {
			ag = append(ag, a.ID)
		}
	}
	l["agency"] = ag
	return l
}

// view is the notification and API view of r.
func (rt *Routing) view(r *Record) notify.Alert {
	tr := &r.Last
	a := notify.Alert{ID: r.ID, Ref: r.Ref, Episode: r.Episode, Seq: r.Seq, Status: r.Status, Level: r.Level,
		LevelZH: r.Level.Chinese(), PrevLevel: r.PrevLevel, Technical: tr.Technical, Joint: tr.Joint, Rule: tr.Rule,
		Kind: tr.Kind, Station: tr.Station, StationName: r.StationName, StationKind: r.StationKind, Parameter: tr.Parameter,
		River: r.River, City: r.City, District: r.District, Lat: r.Lat, Lon: r.Lon,
		Jurisdictions: slices.Clone(tr.Jurisdictions), Value: tr.Value, Threshold: tr.Threshold, Window: tr.Window,
		ETA: tr.ETA, Confidence: tr.Confidence, SourceAlert: tr.SourceAlert, SourceStation: tr.SourceStation,
		SummaryZH: tr.SummaryZH, SummaryEN: tr.SummaryEN, Reason: tr.Reason, At: tr.At, StartsAt: r.StartsAt,
		UpdatedAt: r.UpdatedAt, URL: rt.svc.publicURL + "/api/v1/alerts/" + r.Ref, CAPURL: rt.svc.publicURL + "/cap/" + r.Ref + ".xml"}
	if a.Jurisdictions == nil {
		a.Jurisdictions = []string{}
	}
	if tr.Technical {
		a.LevelZH = ""
	}
	if !r.ResolvedAt.IsZero() {
		t := r.ResolvedAt
		a.ResolvedAt = &t
	}
	a.Agencies = []notify.AgencyAck{}
	for _, as := range r.Agencies {
		aa := notify.AgencyAck{Agency: as.Agency}
		if ag := rt.agencyBy[as.Agency]; ag != nil {
			aa.Name = ag.Name
		}
		if as.Ack != nil {
			t := as.Ack.At
			aa.Acked, aa.By, aa.At, aa.Comment = true, as.Ack.By, &t, as.Ack.Comment
		}
		a.Agencies = append(a.Agencies, aa)
	}
	return a
}
