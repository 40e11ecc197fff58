package domain

import (
	"fmt"
	"strconv"
	"time"
)

// Status is where an alert is in its life: pending (the condition holds but
// not yet for long enough), firing, or resolved. Inactive is the state between
// alerts; it never appears in a transition.
type Status uint8

// The alert statuses.
const (
	Inactive Status = iota
	Pending
	Firing
	Resolved
)

var statusNames = [...]string{Inactive: "inactive", Pending: "pending", Firing: "firing", Resolved: "resolved"}

// String returns inactive, pending, firing or resolved.
func (s Status) String() string {
	if int(s) < len(statusNames) {
		return statusNames[s]
	}
	return fmt.Sprintf("Status(%d)", uint8(s))
}

// MarshalText encodes the status name.
func (s Status) MarshalText() ([]byte, error) {
	if int(s) >= len(statusNames) {
		return nil, fmt.Errorf("marshal alert status: invalid value %d", uint8(s))
	}
	return []byte(statusNames[s]), nil
}

// UnmarshalText accepts the status names.
func (s *Status) UnmarshalText(b []byte) error {
	for i, n := range statusNames {
		if string(b) == n {
			*s = Status(i)
			return nil
		}
	}
	return fmt.Errorf("parse alert status %q: want pending, firing or resolved", b)
}

// Confidence values of a propagated warning.
const (
	// ConfidenceExpected: a pre-warning computed from travel times.
	ConfidenceExpected = "expected"
	// ConfidenceConfirmed: a downstream section confirmed the event within
	// the expected window.
	ConfidenceConfirmed = "confirmed"
)

// Evidence is one value that caused a transition.
type Evidence struct {
	Station   string    `json:"station"`
	Parameter string    `json:"parameter,omitempty"`
	Time      time.Time `json:"ts"`
	Value     float64   `json:"value"`
}

// Transition is one change of an alert: pending, firing (new, escalated,
// de-escalated or confirmed) or resolved. It is the body of an ALERTS message
// (JSON); its Nats-Msg-Id is MsgID(). AlertID is stable for the life of the
// alert and across restarts; Seq counts the alert's transitions from 1, so
// (AlertID, Seq) names a transition exactly once.
type Transition struct {
	AlertID string `json:"alert_id"`
	Seq     uint64 `json:"seq"`
	// At is the observation time the transition belongs to; Emitted is when
	// the engine produced it (processing time).
	At      time.Time `json:"at"`
	Emitted time.Time `json:"emitted"`
	Rule    string    `json:"rule"`
	// Kind is the rule kind (water-class, aqi, threshold, rate, deadman,
	// stuck, range) or, for river warnings, propagation (a pre-warning) or
	// joint.
	Kind string `json:"kind"`
	// Technical alerts (station silent, sensor stuck, value out of range)
	// are for operators and carry no colour: their Level is None.
	Technical bool    `json:"technical"`
	Station   string  `json:"station"`
	Parameter string  `json:"parameter,omitempty"`
	Status    Status  `json:"status"`
	Level     Level   `json:"level"`
	PrevLevel Level   `json:"prev_level"`
	Value     float64 `json:"value"`
	Threshold float64 `json:"threshold,omitempty"`
	// Window says what the value is: latest, a mean such as 4h, a rate per
	// unit time, a silence …
	Window   string     `json:"window,omitempty"`
	Readings []Evidence `json:"readings,omitempty"`
	// Jurisdictions are the cities (广州, 清远) whose agencies own the alert;
	// a joint alert names both.
	Jurisdictions []string `json:"jurisdictions"`
	Joint         bool     `json:"joint"`
	// ETA is when a pre-warned event is expected at Station.
	ETA *time.Time `json:"eta,omitempty"`
	// SourceStation and SourceAlert name the upstream alert that caused a
	// pre-warning or a joint warning.
	SourceStation string `json:"source_station,omitempty"`
	SourceAlert   string `json:"source_alert,omitempty"`
	Confidence    string `json:"confidence,omitempty"`
	SummaryZH     string `json:"summary_zh"`
	SummaryEN     string `json:"summary_en"`
	// Reason explains, for rule authors, why the transition happened.
	Reason string `json:"reason"`
}

// MsgID is the JetStream dedupe key of the transition: alert id and sequence.
func (t *Transition) MsgID() string {
	return t.AlertID + ":" + strconv.FormatUint(t.Seq, 10)
}
