package water

import (
	"fmt"
	"math"
)

// Options are the per-section settings of a classification.
type Options struct {
	// Target is the section's target class (水质目标), I–V; None means no
	// target, so no exceedances are computed.
	Target Class
	// Lake selects the lake/reservoir (湖、库) column where an item has one
	// (total phosphorus).
	Lake bool
	// Items overrides the evaluated items; zero means the table's default set.
	// A lake-only item (total nitrogen) in it needs Lake.
	Items ItemSet
}

// Value is a measured value with the unit it arrived in.
type Value struct {
	V    float64
	Unit string
}

// Item is the result for one item present in the input.
type Item struct {
	Key   string
	Value float64
	Class Class
	// Evaluated is true when the item takes part in the section class;
	// other classed items (by default fecal coliform, and total nitrogen at
	// lakes and reservoirs) are reported for reference only.
	Evaluated bool
	// Exceeds is true when the item is worse than the target class.
	Exceeds bool
	// Multiple is the exceedance multiple (超标倍数) against the target
	// class's limit, (C − limit)/limit, or (limit − C)/limit for dissolved
	// oxygen, rounded to the table's multiple_decimals. It is 0 when the item
	// meets the target and when HasMultiple is false.
	Multiple float64
	// HasMultiple is false for an exceeding pH: a range has no multiple.
	HasMultiple bool
}

// Result is a section classification.
type Result struct {
	// Class is the worst class of the evaluated items (single-factor
	// evaluation); None when no evaluated item was present.
	Class Class
	// Status is the qualitative status of Class (优 … 重度污染).
	Status string
	// Target is the target class the exceedances were computed against.
	Target Class
	// MeetsTarget is true when a target was given and Class is at least as
	// good as it.
	MeetsTarget bool
	// Items holds every classed item of the input in table order.
	Items []Item
}

// MaxMultiple returns the largest exceedance multiple among the evaluated
// items, 0 when none exceeds.
func (r *Result) MaxMultiple() float64 {
	m := 0.0
	for i := range r.Items {
		if it := &r.Items[i]; it.Evaluated && it.Exceeds && it.Multiple > m {
			m = it.Multiple
		}
	}
	return m
}

// Classify classifies a section from values in canonical units (the
// rules-engine path: domain.Reading values are canonical). Keys that name no
// item of the table (conductivity, turbidity …), water temperature and, for a
// river (Lake false), total nitrogen are ignored: GB 3838 gives them no
// class limits there.
func (t *Table) Classify(values map[string]float64, o Options) (Result, error) {
	var r Result
	err := t.ClassifyInto(&r, values, o)
	return r, err
}

// ClassifyInto is Classify writing into r and reusing r.Items, so that a
// caller classifying many readings does not allocate.
func (t *Table) ClassifyInto(r *Result, values map[string]float64, o Options) error {
	var vals [MaxItems]float64
	var have ItemSet
	for k, v := range values {
		i, ok := t.index[k]
		if !ok {
			continue
		}
		if err := checkValue(k, v); err != nil {
			return err
		}
		vals[i] = v
		have |= 1 << uint(i)
	}
	return t.classify(r, &vals, have, o)
}

// ClassifyUnits is Classify for values that carry their unit. A value whose
// unit is not its item's canonical unit is refused with an error wrapping
// ErrUnit; nothing is converted.
func (t *Table) ClassifyUnits(values map[string]Value, o Options) (Result, error) {
	var vals [MaxItems]float64
	var have ItemSet
	var r Result
	for k, v := range values {
		i, ok := t.index[k]
		if !ok {
			continue
		}
		if err := t.checkUnit(&t.items[i], v.Unit); err != nil {
			return r, err
		}
		if err := checkValue(k, v.V); err != nil {
			return r, err
		}
		vals[i] = v.V
		have |= 1 << uint(i)
	}
	err := t.classify(&r, &vals, have, o)
	return r, err
}

// ItemClass returns the class of one value of item key in canonical units.
// It returns None for an item without class limits, and for a lake-only item
// (total nitrogen) when lake is false.
func (t *Table) ItemClass(key string, v float64, lake bool) (Class, error) {
	i, ok := t.index[key]
	if !ok {
		return None, fmt.Errorf("water item %q: %w", key, ErrUnknownItem)
	}
	if err := checkValue(key, v); err != nil {
		return None, err
	}
	if t.items[i].lakeOnly && !lake {
		return None, nil
	}
	return t.items[i].class(v, lake), nil
}

// firstKey returns the key of the first item of s in table order.
func (t *Table) firstKey(s ItemSet) string {
	for i := range t.items {
		if s.Has(i) {
			return t.items[i].key
		}
	}
	return ""
}

func checkValue(key string, v float64) error {
	if math.IsNaN(v) || math.IsInf(v, 0) || v < 0 {
		return fmt.Errorf("water item %s: value %v is %w", key, v, ErrValue)
	}
	return nil
}

func (t *Table) classify(r *Result, vals *[MaxItems]float64, have ItemSet, o Options) error {
	if o.Target != None && (o.Target < I || o.Target > V) {
		return fmt.Errorf("water classify: target class %s (want I–V): %w", o.Target, ErrOptions)
	}
	eval := o.Items
	if eval == 0 {
		eval = t.evaluated
	}
	if !o.Lake && eval&t.lakeOnly != 0 {
		return fmt.Errorf("water classify: %s applies to lakes and reservoirs only: %w", t.firstKey(eval&t.lakeOnly), ErrOptions)
	}
	items := r.Items[:0]
	if n := have.Len(); cap(items) < n {
		items = make([]Item, 0, n)
	}
	*r = Result{Target: o.Target, Items: items}
	for i := range t.items {
		it := &t.items[i]
		if !have.Has(i) || it.dir == dirRule || (it.lakeOnly && !o.Lake) {
			continue
		}
		v := vals[i]
		res := Item{Key: it.key, Value: v, Class: it.class(v, o.Lake), Evaluated: eval.Has(i)}
		if o.Target != None && res.Class > o.Target {
			res.Exceeds = true
			res.Multiple, res.HasMultiple = it.multiple(v, o.Target, o.Lake)
			res.Multiple = math.Round(res.Multiple*t.scale) / t.scale
		}
		if res.Evaluated && res.Class > r.Class {
			r.Class = res.Class
		}
		r.Items = append(r.Items, res)
	}
	r.Status = t.Status(r.Class)
	r.MeetsTarget = o.Target != None && r.Class != None && r.Class <= o.Target
	return nil
}

// class returns the best class whose limit v meets, else WorseV.
func (it *item) class(v float64, lake bool) Class {
	switch it.dir {
	case dirMax:
		lim := &it.limits
		if lake {
			lim = &it.lake
		}
		for c, l := range lim {
			if v <= l {
				return Class(c + 1)
			}
		}
	case dirMin:
		for c, l := range it.limits {
			if v >= l {
				return Class(c + 1)
			}
		}
	case dirRange:
		if v >= it.lo && v <= it.hi {
			return I
		}
	case dirRule:
		return None
	}
	return WorseV
}

// multiple returns the exceedance multiple against the target's limit.
func (it *item) multiple(v float64, target Class, lake bool) (float64, bool) {
	switch it.dir {
	case dirMax:
		l := it.limits[target-1]
		if lake {
			l = it.lake[target-1]
		}
		return (v - l) / l, true
	case dirMin:
		l := it.limits[target-1]
		return (l - v) / l, true
	}
	return 0, false
}
