package report

import (
	"cmp"
	"fmt"
	"math"
	"slices"
	"time"

	"github.com/qingliu/qingliu/domain"
	"github.com/qingliu/qingliu/registry"
	"github.com/qingliu/qingliu/standards/water"
)

// Water is the water-section attainment report of a period.
type Water struct {
	Report   string    `json:"report"`   // "water"
	Standard string    `json:"standard"` // e.g. GB 3838-2002
	From     string    `json:"from"`     // RFC 3339, +08:00
	To       string    `json:"to"`       // exclusive
	Sections []Section `json:"sections"`
	order    []string  // the table's item keys, for the CSV columns
}

// Section is one row of the attainment table: the section's period means,
// its class by single-factor evaluation and its attainment of the target.
type Section struct {
	Station string `json:"station"`
	Name    string `json:"name"`  // 交接断面
	City    string `json:"city"`  // 责任城市
	River   string `json:"river"` // 所处河流
	Kind    string `json:"kind"`  // boundary, national …
	// Handover is the 交接关系 "清远→广州" when the next section downstream is
	// in another city.
	Handover string      `json:"handover,omitempty"`
	Target   water.Class `json:"target"` // 水质控制目标
	Lake     bool        `json:"lake,omitempty"`
	// Class is the section's class (水质类别); nil when no evaluated item
	// had a valid reading in the period: the section is not evaluated.
	Class  *water.Class `json:"class"`
	Status string       `json:"status,omitempty"`
	// MeetsTarget is 达标; nil when the section is not evaluated or has no
	// target.
	MeetsTarget *bool        `json:"meets_target"`
	Exceeding   []Exceedance `json:"exceeding"` // 主要超标项目/超标倍数, largest first
	// Readings is the number of valid readings behind the evaluated items'
	// means; Excluded the number left out for their flags.
	Readings int `json:"readings"`
	Excluded int `json:"excluded"`
	// Completeness is the lowest completeness among the evaluated items the
	// station reports (stations.yaml params); an item without a valid
	// reading counts 0.
	Completeness float64 `json:"completeness"`
	// Missing lists the evaluated items the station reports that have no
	// valid reading in the period.
	Missing []string   `json:"missing"`
	Items   []ItemMean `json:"items"`
}

// Exceedance is one item worse than the section's target.
type Exceedance struct {
	Item string `json:"item"`
	Name string `json:"name"`
	// Multiple is the 超标倍数 against the target's limit; nil for pH, whose
	// range has no multiple.
	Multiple *float64 `json:"multiple"`
}

// ItemMean is the period mean of one GB 3838 item at a section.
type ItemMean struct {
	Item string  `json:"item"`
	Name string  `json:"name"`
	Mean float64 `json:"mean"`
	// Readings is the number of valid readings in the mean, Excluded the
	// number left out for their flags (C, M, D, F, S, B).
	Readings int `json:"readings"`
	Excluded int `json:"excluded"`
	// Completeness is the share of the period's expected reporting slots
	// (the station's interval for the item, 1 h for hourly aggregates)
	// holding at least one valid reading.
	Completeness float64     `json:"completeness"`
	Class        water.Class `json:"class"`
	// Evaluated is false for an item classified for reference only (not in
	// the section's single-factor evaluation).
	Evaluated bool     `json:"evaluated"`
	Exceeds   bool     `json:"exceeds,omitempty"`
	Multiple  *float64 `json:"multiple,omitempty"`
	// Data says which readings made the mean: "samples" or "hourly"
	// (HJ 212 hourly aggregates, preferred when the period has them).
	Data string `json:"data"`
}

// The kinds of stored readings of one parameter, in order of preference: a
// station's HJ 212 hourly aggregates are its official hourly values; its
// samples (and minute aggregates) are used when it sends no hourly data.
// Daily aggregates are never mixed in.
const (
	kindHour = iota
	kindSample
	numKinds
)

func kindOf(iv domain.Interval) (int, bool) {
	switch iv {
	case domain.IntervalHour:
		return kindHour, true
	case domain.IntervalInstant, domain.IntervalMinute:
		return kindSample, true
	}
	return 0, false
}

// acc accumulates one parameter of one station of one kind.
type acc struct {
	sum      float64
	n        int
	excluded int
	slot     time.Duration
	covered  []uint64 // bit per slot with a valid reading
}

func (a *acc) completeness(nslots int) float64 {
	if nslots <= 0 {
		return 0
	}
	c := 0
	for _, w := range a.covered {
		c += popcount(w)
	}
	return math.Round(float64(c)/float64(nslots)*1e4) / 1e4
}

func popcount(w uint64) int {
	n := 0
	for w != 0 {
		w &= w - 1
		n++
	}
	return n
}

type paramKey struct {
	station, param string
}

// accs holds the accumulators of one parameter, one per kind.
type accs [numKinds]*acc

// BuildWater builds the attainment table of period p for stations (in the
// order given, see Select) from the points of the water measurement. Points
// of other stations, parameters without class limits and times outside the
// period are ignored.
func BuildWater(tab *water.Table, reg *registry.Registry, stations []*registry.Station, p Period, points []Point) (*Water, error) {
	if !p.From.Before(p.To) {
		return nil, fmt.Errorf("water report: period %s–%s is empty", p.From, p.To)
	}
	rep := &Water{Report: "water", Standard: tab.Standard(), From: p.From.Format(time.RFC3339), To: p.To.Format(time.RFC3339),
		Sections: make([]Section, 0, len(stations))}
	for _, it := range tab.Items() {
		rep.order = append(rep.order, it.Key)
	}
	byID := make(map[string]*registry.Station, len(stations))
	for _, st := range stations {
		byID[st.ID] = st
	}
	span := p.To.Sub(p.From)
	data := map[paramKey]*accs{}
	for i := range points {
		pt := &points[i]
		k, ok := kindOf(pt.Interval)
		if !ok || pt.Time.Before(p.From) || !pt.Time.Before(p.To) {
			continue
		}
		st, ok := byID[pt.Station]
		if !ok {
			continue
		}
		key := paramKey{pt.Station, pt.Param}
		as := data[key]
		if as == nil {
			if _, classed := tab.Item(pt.Param); !classed {
				continue
			}
			as = &accs{}
			data[key] = as
		}
		a := as[k]
		if a == nil {
			a = &acc{slot: slotOf(st, pt.Param, k)}
			a.covered = make([]uint64, (slots(span, a.slot)+63)/64)
			as[k] = a
		}
		if !usable(pt) {
			a.excluded++
			continue
		}
		a.sum += pt.Value
		a.n++
		s := int(pt.Time.Sub(p.From) / a.slot)
		a.covered[s/64] |= 1 << uint(s%64)
	}

	var res water.Result
	values := map[string]float64{}
	for _, st := range stations {
		sec, err := section(tab, reg, st, span, data, values, &res)
		if err != nil {
			return nil, err
		}
		rep.Sections = append(rep.Sections, sec)
	}
	return rep, nil
}

// slotOf is the reporting slot of a parameter for completeness: an hour for
// hourly aggregates, else the station's expected interval (1 h when
// stations.yaml does not list the parameter).
func slotOf(st *registry.Station, param string, kind int) time.Duration {
	if kind == kindHour {
		return time.Hour
	}
	if iv := st.Interval(param); iv > 0 {
		return iv
	}
	return time.Hour
}

func slots(span, slot time.Duration) int { return int((span + slot - 1) / slot) }

// itemSet is the section's evaluated items: the table's default set changed
// by the station's class_items.
func itemSet(tab *water.Table, st *registry.Station) (water.ItemSet, error) {
	set := tab.DefaultItems()
	if st.ClassItems.IsZero() {
		return 0, nil // Options.Items zero: the default set
	}
	add, err := tab.ItemSet(st.ClassItems.Add...)
	if err != nil {
		return 0, fmt.Errorf("station %s class_items.add: %w", st.ID, err)
	}
	excl, err := tab.ItemSet(st.ClassItems.Exclude...)
	if err != nil {
		return 0, fmt.Errorf("station %s class_items.exclude: %w", st.ID, err)
	}
	return (set | add) &^ excl, nil
}

func section(tab *water.Table, reg *registry.Registry, st *registry.Station, span time.Duration,
	data map[paramKey]*accs, values map[string]float64, res *water.Result) (Section, error) {
	sec := Section{Station: st.ID, Name: st.Name, City: st.City, River: st.River, Kind: st.Kind,
		Handover: handover(reg, st), Target: water.Class(st.TargetClass), Lake: st.Lake,
		Exceeding: []Exceedance{}, Missing: []string{}, Items: []ItemMean{}}
	opts := water.Options{Target: sec.Target, Lake: st.Lake}
	var err error
	if opts.Items, err = itemSet(tab, st); err != nil {
		return sec, err
	}
	evaluated := opts.Items
	if evaluated == 0 {
		evaluated = tab.DefaultItems()
	}
	chosen := map[string]*acc{}
	kinds := map[string]string{}
	excluded := map[string]int{} // what the flags took out of an item, of any kind
	clear(values)
	for i, it := range tab.Items() {
		as := data[paramKey{st.ID, it.Key}]
		if as == nil {
			continue
		}
		for k, a := range as {
			if a == nil {
				continue
			}
			excluded[it.Key] += a.excluded
			if a.n > 0 && chosen[it.Key] == nil {
				chosen[it.Key] = a
				kinds[it.Key] = [...]string{kindHour: "hourly", kindSample: "samples"}[k]
			}
		}
		switch a := chosen[it.Key]; {
		case a != nil:
			values[it.Key] = a.sum / float64(a.n)
		case evaluated.Has(i):
			sec.Excluded += excluded[it.Key]
		}
	}
	if err := tab.ClassifyInto(res, values, opts); err != nil {
		return sec, fmt.Errorf("station %s: %w", st.ID, err)
	}
	for i := range res.Items {
		it := &res.Items[i]
		a := chosen[it.Key]
		info, _ := tab.Item(it.Key)
		im := ItemMean{Item: it.Key, Name: info.Name, Mean: round6(it.Value), Readings: a.n, Excluded: excluded[it.Key],
			Completeness: a.completeness(slots(span, a.slot)), Class: it.Class, Evaluated: it.Evaluated,
			Exceeds: it.Exceeds, Data: kinds[it.Key]}
		if it.Exceeds && it.HasMultiple {
			m := it.Multiple
			im.Multiple = &m
		}
		sec.Items = append(sec.Items, im)
		if !it.Evaluated {
			continue
		}
		sec.Readings += a.n
		sec.Excluded += im.Excluded
		if it.Exceeds {
			sec.Exceeding = append(sec.Exceeding, Exceedance{Item: it.Key, Name: info.Name, Multiple: im.Multiple})
		}
	}
	slices.SortStableFunc(sec.Exceeding, func(a, b Exceedance) int {
		return cmp.Compare(multipleOr(b.Multiple), multipleOr(a.Multiple))
	})
	if res.Class != water.None {
		c := res.Class
		sec.Class, sec.Status = &c, res.Status
		if sec.Target != water.None {
			meets := res.MeetsTarget
			sec.MeetsTarget = &meets
		}
	}
	// Completeness over the evaluated items the station is configured to
	// report; with none configured, over those it sent.
	sec.Completeness = 1
	expected := 0
	for i, it := range tab.Items() {
		ev := evaluated.Has(i) && it.Classed && (!it.LakeOnly || st.Lake)
		if !ev || !st.Reports(it.Key) {
			continue
		}
		expected++
		a := chosen[it.Key]
		if a == nil {
			sec.Missing = append(sec.Missing, it.Key)
			sec.Completeness = 0
			continue
		}
		sec.Completeness = min(sec.Completeness, a.completeness(slots(span, a.slot)))
	}
	if expected == 0 {
		sec.Completeness = 0
		first := true
		for _, im := range sec.Items {
			if im.Evaluated && (first || im.Completeness < sec.Completeness) {
				sec.Completeness, first = im.Completeness, false
			}
		}
	}
	return sec, nil
}

// multipleOr orders exceedances: pH (no multiple) after every multiple.
func multipleOr(m *float64) float64 {
	if m == nil {
		return -1
	}
	return *m
}
