package aqi

import (
	"errors"
	"fmt"
	"slices"
	"time"
)

// ErrNoVersion means no HJ 633 version is in force at the time asked for.
var ErrNoVersion = errors.New("no AQI standard in force")

// Standards is the set of HJ 633 versions, ordered by effective date, plus
// the averaging and data-validity rules. It is immutable and safe for
// concurrent use.
type Standards struct {
	versions []*Version // ascending EffectiveFrom
	validity *Validity
}

// NewStandards builds the set from compiled versions and validity rules. Two
// versions may not share an effective date or an identifier.
func NewStandards(versions []*Version, validity *Validity) (*Standards, error) {
	if len(versions) == 0 {
		return nil, fmt.Errorf("aqi standards: %w", ErrNoVersion)
	}
	vs := slices.Clone(versions)
	slices.SortFunc(vs, func(a, b *Version) int { return a.info.EffectiveFrom.Compare(b.info.EffectiveFrom) })
	for i := 1; i < len(vs); i++ {
		if vs[i].info.EffectiveFrom.Equal(vs[i-1].info.EffectiveFrom) {
			return nil, fmt.Errorf("aqi standards: %s and %s take effect at the same instant %s",
				vs[i-1].id, vs[i].id, vs[i].info.EffectiveFrom.Format(time.RFC3339))
		}
	}
	seen := map[string]bool{}
	for _, v := range vs {
		if seen[v.id] {
			return nil, fmt.Errorf("aqi standards: two versions with id %s", v.id)
		}
		seen[v.id] = true
	}
	return &Standards{versions: vs, validity: validity}, nil
}

// For returns the version in force at t (the one with the latest effective
// date not after t), or nil when t is before every version. It is the
// hot-path lookup: no allocation, no clock.
func (s *Standards) For(t time.Time) *Version {
	for i := len(s.versions) - 1; i >= 0; i-- {
		if !t.Before(s.versions[i].info.EffectiveFrom) {
			return s.versions[i]
		}
	}
	return nil
}

// Lookup is For with an error wrapping ErrNoVersion when none is in force.
func (s *Standards) Lookup(t time.Time) (*Version, error) {
	if v := s.For(t); v != nil {
		return v, nil
	}
	return nil, fmt.Errorf("aqi at %s: %w (the earliest, %s, takes effect %s)", t.Format(time.RFC3339),
		ErrNoVersion, s.versions[0].id, s.versions[0].info.EffectiveFrom.Format(time.RFC3339))
}

// Version returns the version with identifier id (e.g. HJ633-2012).
func (s *Standards) Version(id string) *Version {
	for _, v := range s.versions {
		if v.id == id {
			return v
		}
	}
	return nil
}

// Versions returns the versions in order of effective date.
func (s *Standards) Versions() []*Version { return slices.Clone(s.versions) }

// Validity returns the averaging and data-validity rules.
func (s *Standards) Validity() *Validity { return s.validity }
