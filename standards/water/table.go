// Package water classifies surface water by GB 3838-2002: the class of each
// item, the single-factor class of a section, the items that exceed the
// section's target class and by how much (超标倍数), and the qualitative status.
//
// The limits are data (configs/standards/gb3838-2002.yaml) compiled into an
// immutable Table; classification is a pure function of the table, the
// values and the options, and does not allocate on the canonical-unit path
// when the caller reuses a Result.
package water

import (
	"errors"
	"fmt"
	"math"
	"math/bits"
	"regexp"
	"strings"

	"github.com/qingliu/qingliu/internal/conf"
	"github.com/qingliu/qingliu/standards/meta"
)

// Kind is the value of the kind: field of a water-class table file.
const Kind = "water"

// MaxItems is the largest number of items a table may define (ItemSet is a
// bit set of this width).
const MaxItems = 32

// Errors returned by the classifier; compare with errors.Is.
var (
	// ErrUnit means a value arrived in a unit other than its item's
	// canonical unit. The classifier never converts or guesses.
	ErrUnit = errors.New("not the canonical unit")
	// ErrValue means a value is not a finite, non-negative number.
	ErrValue = errors.New("not a finite non-negative number")
	// ErrOptions means the options are invalid (e.g. a target class of 劣V).
	ErrOptions = errors.New("invalid options")
	// ErrUnknownItem means a key names no item of the table.
	ErrUnknownItem = errors.New("unknown item")
)

type direction uint8

const (
	dirMax   direction = iota + 1 // meets the class when value <= limit
	dirMin                        // meets the class when value >= limit (dissolved oxygen)
	dirRange                      // meets every class when lo <= value <= hi (pH)
	dirRule                       // not a concentration limit (water temperature); never classified
)

var directions = map[string]direction{"max": dirMax, "min": dirMin, "range": dirRange, "rule": dirRule}

type item struct {
	key, name, unit string
	no              int
	dir             direction
	limits          [NumClasses]float64
	lake            [NumClasses]float64 // lake/reservoir column; equal to limits when the item has none
	lo, hi          float64             // dirRange
	// lakeOnly marks an item whose limits apply to lakes and reservoirs
	// only (total nitrogen, "总氮(湖、库)"): a river value is not classified.
	lakeOnly bool
}

// Table is a compiled, validated GB 3838 table. It is immutable and safe for
// concurrent use.
type Table struct {
	info      meta.Info
	items     []item
	index     map[string]int
	aliases   map[string]string // unit spelling → canonical unit
	evaluated ItemSet
	lakeOnly  ItemSet
	status    [WorseV + 1]string
	scale     float64 // 10^multiple_decimals
}

// ItemSet is a set of a table's items, used to choose the items a section
// evaluates. The zero value means the table's default set.
type ItemSet uint32

// Has reports whether the item with index i is in the set.
func (s ItemSet) Has(i int) bool { return s&(1<<uint(i)) != 0 }

// Len returns the number of items in the set.
func (s ItemSet) Len() int { return bits.OnesCount32(uint32(s)) }

type fileItem struct {
	Key        string    `yaml:"key"`
	No         int       `yaml:"no"`
	NameZh     string    `yaml:"name_zh"`
	Unit       string    `yaml:"unit"`
	Direction  string    `yaml:"direction"`
	Limits     []float64 `yaml:"limits"`
	LakeLimits []float64 `yaml:"lake_limits"`
	LakeOnly   bool      `yaml:"lake_only"`
	Range      []float64 `yaml:"range"`
	HJ212      string    `yaml:"hj212"`
	Note       string    `yaml:"note"`
}

type fileStatus struct {
	Classes []string `yaml:"classes"`
	Status  string   `yaml:"status"`
}

type file struct {
	meta.Header      `yaml:",inline"`
	UnitAliases      map[string]string `yaml:"unit_aliases"`
	Items            []fileItem        `yaml:"items"`
	Evaluated        []string          `yaml:"evaluated"`
	Status           []fileStatus      `yaml:"status"`
	MultipleDecimals *int              `yaml:"multiple_decimals"`
}

var reKey = regexp.MustCompile(`^[a-z][a-z0-9_]{0,31}$`)

// Load reads and validates a water-class table file.
func Load(path string) (*Table, error) {
	var f file
	if err := conf.LoadStrict(path, &f); err != nil {
		return nil, err
	}
	return compile(path, &f)
}

// Parse validates a water-class table from YAML data; name is used in errors.
func Parse(name string, data []byte) (*Table, error) {
	var f file
	if err := conf.DecodeStrict(name, data, &f); err != nil {
		return nil, err
	}
	return compile(name, &f)
}

func compile(name string, f *file) (*Table, error) {
	ps := conf.Problems{File: name}
	t := &Table{info: f.Header.Check(&ps, Kind), index: map[string]int{}, aliases: map[string]string{}}

	if len(f.Items) == 0 {
		ps.Addf("items", "missing")
	}
	if len(f.Items) > MaxItems {
		ps.Addf("items", "%d items, at most %d", len(f.Items), MaxItems)
	}
	units := map[string]bool{}
	for i, fi := range f.Items {
		path := fmt.Sprintf("items[%d]", i)
		it := item{key: fi.Key, name: fi.NameZh, unit: fi.Unit, no: fi.No, dir: directions[fi.Direction]}
		switch {
		case !reKey.MatchString(fi.Key):
			ps.Addf(path+".key", "%q is not a short lower-case key", fi.Key)
		default:
			if _, dup := t.index[fi.Key]; dup {
				ps.Addf(path+".key", "duplicate item %q", fi.Key)
			}
			if i < MaxItems {
				t.index[fi.Key] = i
			}
		}
		if fi.Unit == "" {
			ps.Addf(path+".unit", "missing")
		}
		units[fi.Unit] = true
		if it.dir == 0 {
			ps.Addf(path+".direction", "%q is not one of max, min, range, rule", fi.Direction)
		}
		checkLimits(&ps, path, &it, fi)
		if fi.LakeOnly {
			switch {
			case it.dir != dirMax && it.dir != dirMin:
				ps.Addf(path+".lake_only", "only for direction max or min")
			case fi.LakeLimits != nil:
				ps.Addf(path+".lake_only", "a lake-only item has one column: give limits, not lake_limits")
			default:
				it.lakeOnly = true
				if i < MaxItems {
					t.lakeOnly |= 1 << uint(i)
				}
			}
		}
		t.items = append(t.items, it)
	}

	for alias, canon := range f.UnitAliases {
		if !units[canon] {
			ps.Addf("unit_aliases."+alias, "%q is not the unit of any item", canon)
		}
		if units[alias] {
			ps.Addf("unit_aliases."+alias, "is itself a canonical unit")
		}
		t.aliases[alias] = canon
	}

	if len(f.Evaluated) == 0 {
		ps.Addf("evaluated", "missing: list the items of the single-factor evaluation")
	}
	for i, k := range f.Evaluated {
		idx, ok := t.index[k]
		switch {
		case !ok:
			ps.Addf(fmt.Sprintf("evaluated[%d]", i), "unknown item %q", k)
		case t.items[idx].dir == dirRule:
			ps.Addf(fmt.Sprintf("evaluated[%d]", i), "item %q has no class limits", k)
		case t.items[idx].lakeOnly:
			ps.Addf(fmt.Sprintf("evaluated[%d]", i), "item %q applies to lakes and reservoirs only; a section's configuration adds it", k)
		case t.evaluated.Has(idx):
			ps.Addf(fmt.Sprintf("evaluated[%d]", i), "duplicate item %q", k)
		default:
			t.evaluated |= 1 << uint(idx)
		}
	}

	checkStatus(&ps, t, f.Status)

	switch d := f.MultipleDecimals; {
	case d == nil:
		ps.Addf("multiple_decimals", "missing")
	case *d < 0 || *d > 6:
		ps.Addf("multiple_decimals", "%d is outside 0..6", *d)
	default:
		t.scale = math.Pow10(*d)
	}
	if err := ps.Err(); err != nil {
		return nil, err
	}
	return t, nil
}

func checkLimits(ps *conf.Problems, path string, it *item, fi fileItem) {
	switch it.dir {
	case dirMax, dirMin:
		if len(fi.Range) != 0 {
			ps.Addf(path+".range", "only for direction range")
		}
		if ok := checkColumn(ps, path+".limits", it.dir, fi.Limits); ok {
			copy(it.limits[:], fi.Limits)
			copy(it.lake[:], fi.Limits)
		}
		if fi.LakeLimits != nil {
			if it.dir != dirMax {
				ps.Addf(path+".lake_limits", "only for direction max")
			} else if checkColumn(ps, path+".lake_limits", it.dir, fi.LakeLimits) {
				copy(it.lake[:], fi.LakeLimits)
			}
		}
	case dirRange:
		if fi.Limits != nil || fi.LakeLimits != nil {
			ps.Addf(path+".limits", "not allowed for direction range (use range: [lo, hi])")
		}
		if len(fi.Range) != 2 || !finite(fi.Range...) || fi.Range[0] >= fi.Range[1] {
			ps.Addf(path+".range", "want [lo, hi] with lo < hi, got %v", fi.Range)
			return
		}
		it.lo, it.hi = fi.Range[0], fi.Range[1]
	case dirRule:
		if fi.Limits != nil || fi.LakeLimits != nil || fi.Range != nil {
			ps.Addf(path, "direction rule takes no limits or range")
		}
	}
}

// checkColumn checks one column of class limits: five finite positive values,
// monotone in the direction (never stricter for a worse class).
func checkColumn(ps *conf.Problems, path string, d direction, lim []float64) bool {
	if len(lim) != NumClasses {
		ps.Addf(path, "want %d limits (classes I–V), got %d", NumClasses, len(lim))
		return false
	}
	ok := true
	for c, v := range lim {
		if !finite(v) || v <= 0 {
			ps.Addf(fmt.Sprintf("%s[%d]", path, c), "limit %v must be a positive number", v)
			ok = false
		}
	}
	for c := 1; ok && c < len(lim); c++ {
		if (d == dirMax && lim[c] < lim[c-1]) || (d == dirMin && lim[c] > lim[c-1]) {
			ps.Addf(fmt.Sprintf("%s[%d]", path, c), "not monotone: class %s limit %v is stricter than class %s limit %v",
				Class(c+1), lim[c], Class(c), lim[c-1])
			ok = false
		}
	}
	return ok
}

func checkStatus(ps *conf.Problems, t *Table, list []fileStatus) {
	if len(list) == 0 {
		ps.Addf("status", "missing")
		return
	}
	next := I
	var listed [WorseV + 1]bool
	for i, s := range list {
		path := fmt.Sprintf("status[%d]", i)
		if strings.TrimSpace(s.Status) == "" {
			ps.Addf(path+".status", "missing")
		}
		if len(s.Classes) == 0 {
			ps.Addf(path+".classes", "missing")
		}
		for j, cs := range s.Classes {
			c, err := ParseClass(cs)
			if err != nil {
				ps.Addf(fmt.Sprintf("%s.classes[%d]", path, j), "%v", err)
				continue
			}
			switch {
			case listed[c]:
				ps.Addf(fmt.Sprintf("%s.classes[%d]", path, j), "overlap: class %s already has status %s", c, t.status[c])
			case c != next:
				ps.Addf(fmt.Sprintf("%s.classes[%d]", path, j), "gap or out of order: got class %s, want %s", c, next)
			}
			listed[c] = true
			t.status[c] = s.Status
			if c >= next {
				next = c + 1
			}
		}
	}
	for c := I; c <= WorseV; c++ {
		if !listed[c] {
			ps.Addf("status", "gap: class %s has no status", c)
		}
	}
}

func finite(vs ...float64) bool {
	for _, v := range vs {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return false
		}
	}
	return true
}

// Standard returns the standard's name, e.g. "GB 3838-2002".
func (t *Table) Standard() string { return t.info.Standard }

// Info returns the table's versioning header.
func (t *Table) Info() meta.Info { return t.info }

// Status returns the qualitative status (优, 良好, 轻度污染, 中度污染, 重度污染) of a
// section class, or "" for None.
func (t *Table) Status(c Class) string {
	if !c.Valid() {
		return ""
	}
	return t.status[c]
}

// ItemInfo describes one item of the table.
type ItemInfo struct {
	Key       string // canonical parameter key, e.g. nh3n
	No        int    // row number in GB 3838-2002 Table 1
	Name      string // Chinese name
	Unit      string // canonical unit
	Classed   bool   // false for items without class limits (water temperature)
	Evaluated bool   // in the table's default single-factor evaluation
	// LakeOnly is true for an item whose limits apply to lakes and
	// reservoirs only (total nitrogen): it is not classified for a river.
	LakeOnly bool
}

// Items lists the table's items in table order.
func (t *Table) Items() []ItemInfo {
	out := make([]ItemInfo, len(t.items))
	for i := range t.items {
		out[i] = t.itemInfo(i)
	}
	return out
}

// Item returns the item with the given key.
func (t *Table) Item(key string) (ItemInfo, bool) {
	i, ok := t.index[key]
	if !ok {
		return ItemInfo{}, false
	}
	return t.itemInfo(i), true
}

func (t *Table) itemInfo(i int) ItemInfo {
	it := &t.items[i]
	return ItemInfo{Key: it.key, No: it.no, Name: it.name, Unit: it.unit, Classed: it.dir != dirRule,
		Evaluated: t.evaluated.Has(i), LakeOnly: it.lakeOnly}
}

// Limit returns the limit of item key for class c (I–V); for pH it returns
// the range. ok is false for an unknown item, a class outside I–V, an item
// without limits and a lake-only item when lake is false.
func (t *Table) Limit(key string, c Class, lake bool) (lo, hi float64, ok bool) {
	i, found := t.index[key]
	if !found || c < I || c > V {
		return 0, 0, false
	}
	it := &t.items[i]
	if it.lakeOnly && !lake {
		return 0, 0, false
	}
	switch it.dir {
	case dirMax:
		if lake {
			return 0, it.lake[c-1], true
		}
		return 0, it.limits[c-1], true
	case dirMin:
		return it.limits[c-1], math.Inf(1), true
	case dirRange:
		return it.lo, it.hi, true
	}
	return 0, 0, false
}

// ItemSet returns the set of the named items, for Options.Items. It is meant
// to be built once per section when the configuration loads. A set with a
// lake-only item (total nitrogen) is refused by Classify for a river section.
func (t *Table) ItemSet(keys ...string) (ItemSet, error) {
	var s ItemSet
	for _, k := range keys {
		i, ok := t.index[k]
		if !ok {
			return 0, fmt.Errorf("water item set: %q: %w", k, ErrUnknownItem)
		}
		if t.items[i].dir == dirRule {
			return 0, fmt.Errorf("water item set: %q has no class limits: %w", k, ErrOptions)
		}
		s |= 1 << uint(i)
	}
	return s, nil
}

// DefaultItems returns the table's default evaluated set (the 21 items of
// 环办[2011]22号 in the shipped table).
func (t *Table) DefaultItems() ItemSet { return t.evaluated }

// CheckUnit reports whether unit is the canonical unit of item key (or one of
// its accepted spellings). It returns an error wrapping ErrUnknownItem or
// ErrUnit otherwise.
func (t *Table) CheckUnit(key, unit string) error {
	i, ok := t.index[key]
	if !ok {
		return fmt.Errorf("water item %q: %w", key, ErrUnknownItem)
	}
	return t.checkUnit(&t.items[i], unit)
}

func (t *Table) checkUnit(it *item, unit string) error {
	if unit == it.unit {
		return nil
	}
	if canon, ok := t.aliases[unit]; ok && canon == it.unit {
		return nil
	}
	return fmt.Errorf("water item %s: unit %q is %w %s", it.key, unit, ErrUnit, it.unit)
}
