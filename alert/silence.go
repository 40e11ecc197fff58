package alert

import (
	"encoding/json"
	"time"
)

// Silence mutes the notifications of alerts its matchers select between
// StartsAt and EndsAt: a silence, or a maintenance window scheduled ahead.
// Silences from routing.yaml are FromConfig and cannot be expired by the API.
type Silence struct {
	ID       string    `json:"id"`
	Matchers Matchers  `json:"matchers"`
	StartsAt time.Time `json:"starts_at"`
	EndsAt   time.Time `json:"ends_at"`
	// CreatedBy is the agency id (or routing.yaml); Author the person.
	CreatedBy  string    `json:"created_by"`
	Author     string    `json:"author,omitempty"`
	Comment    string    `json:"comment"`
	CreatedAt  time.Time `json:"created_at,omitzero"`
	FromConfig bool      `json:"from_config,omitempty"`
	// Maintenance marks a maintenance window: besides muting notifications,
	// the rules stage does not evaluate readings of Stations observed inside
	// it (it reads this record from the silences bucket, as
	// bus.MaintenanceRecord). Stations are the registry stations the
	// matchers selected when the window was made.
	Maintenance bool         `json:"maintenance,omitempty"`
	Stations    []string     `json:"stations,omitempty"`
	Audit       []AuditEntry `json:"audit,omitempty"`
}

// Active reports whether the silence mutes at now.
func (s *Silence) Active(now time.Time) bool { return !now.Before(s.StartsAt) && now.Before(s.EndsAt) }

// State is pending, active or expired at now.
func (s *Silence) State(now time.Time) string {
	switch {
	case now.Before(s.StartsAt):
		return "pending"
	case now.Before(s.EndsAt):
		return "active"
	}
	return "expired"
}

func (s *Silence) clone() *Silence {
	c := *s
	c.Matchers = append(Matchers(nil), s.Matchers...)
	c.Stations = append([]string(nil), s.Stations...)
	c.Audit = append([]AuditEntry(nil), s.Audit...)
	return &c
}

// MarshalJSON writes the matchers as strings.
func (ms Matchers) MarshalJSON() ([]byte, error) { return json.Marshal(ms.Strings()) }

// UnmarshalJSON parses matcher strings.
func (ms *Matchers) UnmarshalJSON(b []byte) error {
	var ss []string
	if err := json.Unmarshal(b, &ss); err != nil {
		return err
	}
	m, err := ParseMatchers(ss)
	if err != nil {
		return err
	}
	*ms = m
	return nil
}
