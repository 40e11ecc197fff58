package report

import (
	"cmp"
	"errors"
	"fmt"
	"slices"

	"github.com/qingliu/qingliu/domain"
	"github.com/qingliu/qingliu/registry"
)

// Errors of Select; compare with errors.Is.
var (
	// ErrUnknownStation means a station id is not in the registry.
	ErrUnknownStation = errors.New("unknown station")
	// ErrWrongMedium means a station measures the other medium.
	ErrWrongMedium = errors.New("wrong medium")
)

// Select returns the stations of medium m a report covers, in report order:
// for water, along each river chain of the registry from upstream to
// downstream, rivers in file order, then the sections on no chain by id; for
// air, by id. ids narrows the set (empty means every station of the medium);
// an unknown id or a station of the other medium is an error naming it.
func Select(reg *registry.Registry, m domain.Medium, ids []string) ([]*registry.Station, error) {
	want := map[string]bool{}
	for _, id := range ids {
		st, ok := reg.Station(id)
		switch {
		case !ok:
			return nil, fmt.Errorf("station %q: %w", id, ErrUnknownStation)
		case st.Medium != m:
			return nil, fmt.Errorf("station %q measures %s, not %s: %w", id, st.Medium, m, ErrWrongMedium)
		}
		want[id] = true
	}
	var out []*registry.Station
	seen := map[string]bool{}
	add := func(st *registry.Station) {
		if seen[st.ID] || st.Medium != m || (len(want) > 0 && !want[st.ID]) {
			return
		}
		seen[st.ID] = true
		out = append(out, st)
	}
	if m == domain.Water {
		for _, rv := range reg.Rivers() {
			for _, sec := range rv.Sections {
				if st, ok := reg.Station(sec.Station); ok {
					add(st)
				}
			}
		}
	}
	rest := reg.Stations() // sorted by id
	slices.SortStableFunc(rest, func(a, b *registry.Station) int { return cmp.Compare(a.ID, b.ID) })
	for _, st := range rest {
		add(st)
	}
	return out, nil
}

// handover is the 交接关系 of a section: "清远→广州" when the next section
// downstream (following confluences) lies in another city, else "".
func handover(reg *registry.Registry, st *registry.Station) string {
	hops := reg.Downstream(st.ID)
	if len(hops) == 0 {
		return ""
	}
	next, ok := reg.Station(hops[0].Station)
	if !ok || next.City == st.City || next.City == "" || st.City == "" {
		return ""
	}
	return st.City + "→" + next.City
}
