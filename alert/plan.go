package alert

import (
	"crypto/sha256"
	"encoding/hex"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/qingliu/qingliu/alert/notify"
	"github.com/qingliu/qingliu/domain"
)

// This file is the pure core of notification: which receiver is told what
// and when, as a function of the records, the silences and now. The service
// stores what it returns (outbox first, then the records); the same inputs
// give the same notification ids, so a repeat after a crash is dropped by
// the outbox's dedupe.

// route takes a record through the routing tree after a transition (event
// ev): it adds the receivers and owning agencies the tree selects and marks
// the receivers that should hear about it.
func (rt *Routing) route(r *Record, ev string, now time.Time) {
	if ev == "pending" {
		return
	}
	l := rt.labels(r)
	for _, rn := range rt.root.Match(l) {
		for _, name := range rn.Receivers {
			rcv := rt.recvBy[name]
			if rcv == nil {
				continue
			}
			rs, _ := r.ensureReceiver(name, rcv.Agency)
			// A receiver keeps the route (and group) it was first told
			// under: updates and the resolution follow the first message.
			if !rs.Escalation && rs.NotifiedSeq == 0 {
				rs.Route = rn.ID
				rs.GroupKey = groupKey(rn, name, l)
			}
			r.ensureAgency(rcv.Agency)
		}
	}
	for _, rs := range r.Receivers {
		rcv := rt.recvBy[rs.Receiver]
		if rcv == nil {
			continue
		}
		if rs.NotifiedSeq == 0 && (r.Status != domain.Firing || r.Level < rcv.MinLevel) {
			continue
		}
		if rs.PendingSince.IsZero() {
			rs.PendingSince = now
		}
		rs.Reason = ""
	}
}

func groupKey(rn *Route, receiver string, l Labels) string {
	var b strings.Builder
	b.WriteString(rn.ID)
	b.WriteByte('|')
	b.WriteString(receiver)
	for _, g := range rn.GroupBy {
		b.WriteByte('|')
		b.WriteString(strings.Join(l.Get(g), ","))
	}
	return b.String()
}

func (rt *Routing) acked(r *Record, agency string) bool {
	a := r.agency(agency)
	return a != nil && a.Ack != nil
}

// escalationDue returns the escalation step an agency's policy asks for at
// now (0 for none) when it is beyond the step already taken.
func (rt *Routing) escalationDue(r *Record, as *AgencyState, now time.Time) int {
	ag := rt.agencyBy[as.Agency]
	if ag == nil || ag.Escalation == nil || r.Status != domain.Firing || r.Level < ag.Escalation.MinLevel ||
		as.Ack != nil || as.FirstNotifiedAt.IsZero() {
		return 0
	}
	step := min(int(now.Sub(as.FirstNotifiedAt)/ag.Escalation.After), max(len(ag.Escalation.Chain), 1))
	if step > as.Step {
		return step
	}
	return 0
}

func (rt *Routing) reminderDue(r *Record, rs *RecvState, now time.Time) bool {
	if r.Status != domain.Firing || rs.NotifiedSeq == 0 || !rs.PendingSince.IsZero() || rt.acked(r, rs.Agency) {
		return false
	}
	rn := rt.routeBy[rs.Route]
	if rn == nil {
		rn = rt.root
	}
	return rn.RepeatInterval > 0 && !now.Before(rs.NotifiedAt.Add(rn.RepeatInterval))
}

// needsWork reports, without changing r, whether plan has anything to do
// for it at now.
func (rt *Routing) needsWork(r *Record, now time.Time) bool {
	for _, rs := range r.Receivers {
		if !rs.PendingSince.IsZero() || rt.reminderDue(r, rs, now) {
			return true
		}
	}
	for _, as := range r.Agencies {
		if rt.escalationDue(r, as, now) > 0 {
			return true
		}
	}
	return false
}

// timers applies repeat intervals and escalation policies to r at now.
func (rt *Routing) timers(r *Record, now time.Time) {
	for _, as := range r.Agencies {
		step := rt.escalationDue(r, as, now)
		if step == 0 {
			continue
		}
		as.Step = step
		ag := rt.agencyBy[as.Agency]
		l := rt.labels(r)
		for i := 0; i < step && i < len(ag.Escalation.Chain); i++ {
			name := ag.Escalation.Chain[i]
			rs, added := r.ensureReceiver(name, ag.ID)
			if added {
				rs.Escalation, rs.Route = true, rt.root.ID
				rs.GroupKey = groupKey(rt.root, name, l)
			}
		}
		for _, rs := range r.Receivers {
			if rs.Agency == ag.ID {
				if rs.PendingSince.IsZero() {
					rs.PendingSince = now
				}
				rs.Reason, rs.OverdueStep = "overdue", step
			}
		}
		r.audit(now, "alert", "", "escalate", ag.ID+" has not acknowledged after "+
			(time.Duration(step)*ag.Escalation.After).String()+"; step "+strconv.Itoa(step))
	}
	for _, rs := range r.Receivers {
		if rt.reminderDue(r, rs, now) {
			rs.PendingSince, rs.Reason = now, "reminder"
			rs.Repeats++
		}
	}
}

// inhibitor answers whether a firing source alert mutes a target.
type inhibitor struct {
	rules []*inhibitRule
	src   []map[string]string // per rule: equal-label key → source alert id
}

func equalKey(l Labels, equal []string) string {
	var b strings.Builder
	for _, e := range equal {
		b.WriteString(strings.Join(l.Get(e), ","))
		b.WriteByte(0)
	}
	return b.String()
}

func (rt *Routing) newInhibitor(all map[string]*Record) *inhibitor {
	in := &inhibitor{rules: rt.inhibit, src: make([]map[string]string, len(rt.inhibit))}
	if len(rt.inhibit) == 0 {
		return in
	}
	for i := range in.src {
		in.src[i] = map[string]string{}
	}
	for _, r := range all {
		if r.Status != domain.Firing {
			continue
		}
		l := rt.labels(r)
		for i, ir := range rt.inhibit {
			if ir.source.Matches(l) {
				in.src[i][equalKey(l, ir.equal)] = r.ID
			}
		}
	}
	return in
}

// inhibited returns the rule that mutes the alert with labels l, or "".
func (in *inhibitor) inhibited(id string, l Labels) string {
	for i, ir := range in.rules {
		if !ir.target.Matches(l) {
			continue
		}
		if src, ok := in.src[i][equalKey(l, ir.equal)]; ok && src != id {
			return ir.name
		}
	}
	return ""
}

// silencedBy returns the id of an active silence matching l, or "".
func silencedBy(sils []*Silence, l Labels, now time.Time) string {
	for _, s := range sils {
		if s.Active(now) && s.Matchers.Matches(l) {
			return s.ID
		}
	}
	return ""
}

type candidate struct {
	r     *Record
	rs    *RecvState
	event notify.Event
}

// plan decides, at now, which notifications go out. It works on clones of
// the records that need work and returns the messages and the changed
// records (by ref); all is never modified.
func (rt *Routing) plan(all map[string]*Record, sils []*Silence, now time.Time) ([]*notify.Message, map[string]*Record) {
	changed := map[string]*Record{}
	var work []*Record
	for _, r := range all {
		if rt.needsWork(r, now) {
			c := r.clone()
			work = append(work, c)
			if slices.ContainsFunc(c.Agencies, func(as *AgencyState) bool { return rt.escalationDue(c, as, now) > 0 }) ||
				slices.ContainsFunc(c.Receivers, func(rs *RecvState) bool { return rt.reminderDue(c, rs, now) }) {
				rt.timers(c, now)
				changed[c.Ref] = c
			}
		}
	}
	if len(work) == 0 {
		return nil, changed
	}
	slices.SortFunc(work, func(a, b *Record) int { return cmpStr(a.ID, b.ID) })
	in := rt.newInhibitor(all)
	groups := map[string][]candidate{}
	var order []string
	hold := func(r *Record, rs *RecvState, why string) {
		if rs.Held != why {
			rs.Held = why
			changed[r.Ref] = r
		}
	}
	for _, r := range work {
		l := rt.labels(r)
		silenced := silencedBy(sils, l, now)
		inhibitedBy := ""
		if silenced == "" {
			inhibitedBy = in.inhibited(r.ID, l)
		}
		for _, rs := range r.Receivers {
			if rs.PendingSince.IsZero() {
				continue
			}
			rcv := rt.recvBy[rs.Receiver]
			ev, ok := rt.decide(r, rs, rcv)
			if !ok {
				rs.PendingSince, rs.Reason, rs.Held = time.Time{}, "", ""
				changed[r.Ref] = r
				continue
			}
			switch {
			case ev != notify.EventResolved && silenced != "":
				hold(r, rs, "silenced:"+silenced)
				continue
			case ev != notify.EventResolved && inhibitedBy != "":
				hold(r, rs, "inhibited:"+inhibitedBy)
				continue
			case rcv.Quiet.in(now) && max(r.Level, rs.NotifiedLevel) < domain.Orange:
				hold(r, rs, "quiet_hours")
				continue
			}
			if _, seen := groups[rs.GroupKey]; !seen {
				order = append(order, rs.GroupKey)
			}
			groups[rs.GroupKey] = append(groups[rs.GroupKey], candidate{r, rs, ev})
		}
	}
	var msgs []*notify.Message
	for _, gk := range order {
		cs := groups[gk]
		oldest := cs[0].rs.PendingSince
		for _, c := range cs {
			if c.rs.PendingSince.Before(oldest) {
				oldest = c.rs.PendingSince
			}
		}
		rn := rt.routeBy[cs[0].rs.Route]
		if rn == nil {
			rn = rt.root
		}
		timer := slices.ContainsFunc(cs, func(c candidate) bool {
			return c.event == notify.EventOverdue || c.event == notify.EventReminder
		})
		if !timer && now.Before(oldest.Add(rn.GroupWait)) {
			for _, c := range cs {
				hold(c.r, c.rs, "group_wait")
			}
			continue
		}
		msgs = append(msgs, rt.message(cs, now))
		for _, c := range cs {
			changed[c.r.Ref] = c.r
		}
	}
	return msgs, changed
}

// decide returns the event a pending receiver state stands for, or false
// when there is nothing to say.
func (rt *Routing) decide(r *Record, rs *RecvState, rcv *Receiver) (notify.Event, bool) {
	if rcv == nil {
		return "", false
	}
	switch {
	case r.Status == domain.Resolved:
		if rs.NotifiedSeq == 0 || !rcv.SendResolved || rs.NotifiedStatus == domain.Resolved {
			return "", false
		}
		return notify.EventResolved, true
	case r.Status != domain.Firing:
		return "", false
	case rs.Reason == "overdue":
		return notify.EventOverdue, true
	case rs.Reason == "reminder":
		return notify.EventReminder, true
	case rs.NotifiedSeq == 0:
		return notify.EventFiring, r.Level >= rcv.MinLevel
	case rs.NotifiedSeq == r.Seq && rs.NotifiedStatus == r.Status:
		return "", false
	case r.Level > rs.NotifiedLevel:
		return notify.EventEscalated, true
	case r.Level < rs.NotifiedLevel:
		return notify.EventDeescalated, true
	}
	return notify.EventUpdated, true
}

// notificationID is alert_id:seq:receiver, with :r<n> for the n-th reminder
// and :o<step> for an overdue escalation step.
func notificationID(r *Record, rs *RecvState, ev notify.Event) string {
	id := r.ID + ":" + strconv.FormatUint(r.Seq, 10) + ":" + rs.Receiver
	switch ev {
	case notify.EventReminder:
		id += ":r" + strconv.Itoa(rs.Repeats)
	case notify.EventOverdue:
		id += ":o" + strconv.Itoa(rs.OverdueStep)
	}
	return id
}

// message builds one delivery for a ready group and records it in the
// receiver states.
func (rt *Routing) message(cs []candidate, now time.Time) *notify.Message {
	slices.SortFunc(cs, func(a, b candidate) int { return cmpStr(a.r.ID, b.r.ID) })
	rs0 := cs[0].rs
	m := &notify.Message{Receiver: rs0.Receiver, Agency: rs0.Agency, Created: now}
	ids := make([]string, len(cs))
	for i, c := range cs {
		ids[i] = notificationID(c.r, c.rs, c.event)
	}
	for i, c := range cs {
		rs := c.rs
		rs.NotifiedSeq, rs.NotifiedLevel, rs.NotifiedStatus, rs.NotifiedAt = c.r.Seq, c.r.Level, c.r.Status, now
		rs.PendingSince, rs.Reason, rs.Held = time.Time{}, "", ""
		if as := c.r.ensureAgency(rs.Agency); as.FirstNotifiedAt.IsZero() && c.r.Status == domain.Firing {
			as.FirstNotifiedAt = now
		}
		c.r.audit(now, "alert", "", "notify", string(c.event)+" to "+rs.Receiver+" as "+ids[i])
		m.Items = append(m.Items, notify.Item{ID: ids[i], Event: c.event, Alert: rt.view(c.r)})
	}
	if len(ids) == 1 {
		m.ID = ids[0]
	} else {
		h := sha256.Sum256([]byte(strings.Join(ids, "\n")))
		m.ID = rs0.Receiver + ":g:" + hex.EncodeToString(h[:8])
	}
	return m
}
