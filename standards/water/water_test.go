package water

import (
	"errors"
	"math"
	"math/rand/v2"
	"strings"
	"testing"
)

const shipped = "../../configs/standards/gb3838-2002.yaml"

func loadTable(tb testing.TB) *Table {
	tb.Helper()
	t, err := Load(shipped)
	if err != nil {
		tb.Fatal(err)
	}
	return t
}

// gb3838 is GB 3838-2002 Table 1 copied independently from DOMAIN.md §1, the
// oracle the shipped YAML is checked against.
type oracleItem struct {
	key    string
	min    bool // dissolved oxygen: higher is better
	limits [5]float64
	lake   [5]float64 // zero when the item has no lake column
	// lakeOnly: the limits apply to lakes and reservoirs only (total
	// nitrogen, "总氮(湖、库)"); a river value has no class.
	lakeOnly bool
}

var gb3838 = []oracleItem{
	{key: "do", min: true, limits: [5]float64{7.5, 6, 5, 3, 2}},
	{key: "codmn", limits: [5]float64{2, 4, 6, 10, 15}},
	{key: "cod", limits: [5]float64{15, 15, 20, 30, 40}},
	{key: "bod5", limits: [5]float64{3, 3, 4, 6, 10}},
	{key: "nh3n", limits: [5]float64{0.15, 0.5, 1.0, 1.5, 2.0}},
	{key: "tp", limits: [5]float64{0.02, 0.1, 0.2, 0.3, 0.4}, lake: [5]float64{0.01, 0.025, 0.05, 0.1, 0.2}},
	{key: "tn", limits: [5]float64{0.2, 0.5, 1.0, 1.5, 2.0}, lakeOnly: true},
	{key: "cu", limits: [5]float64{0.01, 1.0, 1.0, 1.0, 1.0}},
	{key: "zn", limits: [5]float64{0.05, 1.0, 1.0, 2.0, 2.0}},
	{key: "f", limits: [5]float64{1.0, 1.0, 1.0, 1.5, 1.5}},
	{key: "se", limits: [5]float64{0.01, 0.01, 0.01, 0.02, 0.02}},
	{key: "as", limits: [5]float64{0.05, 0.05, 0.05, 0.1, 0.1}},
	{key: "hg", limits: [5]float64{0.00005, 0.00005, 0.0001, 0.001, 0.001}},
	{key: "cd", limits: [5]float64{0.001, 0.005, 0.005, 0.005, 0.01}},
	{key: "cr6", limits: [5]float64{0.01, 0.05, 0.05, 0.05, 0.1}},
	{key: "pb", limits: [5]float64{0.01, 0.01, 0.05, 0.05, 0.1}},
	{key: "cn", limits: [5]float64{0.005, 0.05, 0.2, 0.2, 0.2}},
	{key: "phenol", limits: [5]float64{0.002, 0.002, 0.005, 0.01, 0.1}},
	{key: "oil", limits: [5]float64{0.05, 0.05, 0.05, 0.5, 1.0}},
	{key: "las", limits: [5]float64{0.2, 0.2, 0.2, 0.3, 0.3}},
	{key: "sulfide", limits: [5]float64{0.05, 0.1, 0.2, 0.5, 1.0}},
	{key: "fcoli", limits: [5]float64{200, 2000, 10000, 20000, 40000}},
}

func TestShippedLimitsMatchStandard(t *testing.T) {
	tab := loadTable(t)
	for _, it := range gb3838 {
		for c := I; c <= V; c++ {
			if it.lakeOnly {
				if _, _, ok := tab.Limit(it.key, c, false); ok {
					t.Errorf("%s class %s has a river limit, want lakes and reservoirs only", it.key, c)
				}
				if _, hi, ok := tab.Limit(it.key, c, true); !ok || hi != it.limits[c-1] {
					t.Errorf("%s lake class %s limit = %v (ok %v), want %v", it.key, c, hi, ok, it.limits[c-1])
				}
				continue
			}
			lo, hi, ok := tab.Limit(it.key, c, false)
			got := hi
			if it.min {
				got = lo
			}
			if !ok || got != it.limits[c-1] {
				t.Errorf("%s class %s limit = %v (ok %v), want %v", it.key, c, got, ok, it.limits[c-1])
			}
			if it.lake[0] != 0 {
				if _, hi, _ := tab.Limit(it.key, c, true); hi != it.lake[c-1] {
					t.Errorf("%s lake class %s limit = %v, want %v", it.key, c, hi, it.lake[c-1])
				}
			}
		}
	}
	if lo, hi, ok := tab.Limit("ph", III, false); !ok || lo != 6 || hi != 9 {
		t.Errorf("ph range = %v..%v (ok %v), want 6..9", lo, hi, ok)
	}
	if got := len(tab.Items()); got != 24 {
		t.Errorf("items = %d, want the 24 of Table 1", got)
	}
	if got := tab.DefaultItems().Len(); got != 21 {
		t.Errorf("default evaluated items = %d, want 21", got)
	}
	for _, k := range []string{"temp", "tn", "fcoli"} {
		if info, _ := tab.Item(k); info.Evaluated {
			t.Errorf("%s is evaluated by default, want excluded (环办[2011]22号)", k)
		}
	}
}

// TestItemBoundaries checks every item and class limit just below, at and
// just above the limit, against the rule: the best class whose limit the
// value meets (≤ for max items, ≥ for dissolved oxygen), else 劣V.
func TestItemBoundaries(t *testing.T) {
	tab := loadTable(t)
	for _, it := range gb3838 {
		for _, lake := range []bool{false, true} {
			limits := it.limits
			switch {
			case it.lakeOnly && !lake:
				for _, lim := range limits {
					if got, err := tab.ItemClass(it.key, lim, false); err != nil || got != None {
						t.Errorf("%s river ItemClass(%v) = %s, %v; want no class (lakes and reservoirs only)", it.key, lim, got, err)
					}
				}
				continue
			case lake && !it.lakeOnly:
				if it.lake[0] == 0 {
					continue
				}
				limits = it.lake
			}
			for c, lim := range limits {
				// The best class meeting lim itself is the first class with
				// this same limit (limits repeat, e.g. cod I = II = 15).
				first := c
				for first > 0 && limits[first-1] == lim {
					first--
				}
				last := c
				for last < 4 && limits[last+1] == lim {
					last++
				}
				atClass := Class(first + 1)
				worse := WorseV // the class of a value just past lim, on the bad side
				if last < 4 {
					worse = Class(last + 2)
				}
				bad, good := math.Nextafter(lim, math.Inf(1)), math.Nextafter(lim, 0)
				if it.min {
					bad, good = good, bad
				}
				for _, tc := range []struct {
					name string
					v    float64
					want Class
				}{
					{"at", lim, atClass},
					{"just better", good, atClass},
					{"just worse", bad, worse},
				} {
					got, err := tab.ItemClass(it.key, tc.v, lake)
					if err != nil || got != tc.want {
						t.Errorf("%s (lake %v) %s class %s limit %v: ItemClass(%v) = %s, %v; want %s",
							it.key, lake, tc.name, Class(c+1), lim, tc.v, got, err, tc.want)
					}
				}
			}
		}
	}
}

func TestItemClassExamples(t *testing.T) {
	tab := loadTable(t)
	tests := []struct {
		key  string
		v    float64
		lake bool
		want Class
	}{
		{"ph", 6, false, I}, {"ph", 9, false, I}, {"ph", 7.2, false, I},
		{"ph", 5.99, false, WorseV}, {"ph", 9.01, false, WorseV}, {"ph", 0, false, WorseV},
		{"do", 8, false, I}, {"do", 7.5, false, I}, {"do", 7.49, false, II}, {"do", 4.5, false, IV},
		{"do", 2, false, V}, {"do", 1.99, false, WorseV}, {"do", 0, false, WorseV},
		{"nh3n", 0, false, I}, {"nh3n", 1.0, false, III}, {"nh3n", 1.01, false, IV}, {"nh3n", 2.01, false, WorseV},
		{"tp", 0.05, false, II}, {"tp", 0.05, true, III}, {"tp", 0.15, false, III}, {"tp", 0.15, true, V},
		{"tp", 0.21, true, WorseV}, {"cod", 15, false, I}, {"cod", 15.1, false, III},
		{"fcoli", 40000, false, V}, {"fcoli", 40001, false, WorseV},
		{"temp", 25, false, None},
		{"tn", 1.2, false, None}, {"tn", 1.2, true, IV}, {"tn", 0.2, true, I}, {"tn", 2.01, true, WorseV},
	}
	for _, tt := range tests {
		got, err := tab.ItemClass(tt.key, tt.v, tt.lake)
		if err != nil || got != tt.want {
			t.Errorf("ItemClass(%s, %v, lake %v) = %s, %v; want %s", tt.key, tt.v, tt.lake, got, err, tt.want)
		}
	}
}

func TestClassifySection(t *testing.T) {
	tab := loadTable(t)
	tnOnly, err := tab.ItemSet("tn", "tp")
	if err != nil {
		t.Fatal(err)
	}
	type item struct {
		class    Class
		exceeds  bool
		multiple float64
	}
	tests := []struct {
		name   string
		values map[string]float64
		opts   Options
		class  Class
		status string
		meets  bool
		items  map[string]item
	}{
		{
			name:   "issue example",
			values: map[string]float64{"nh3n": 1.2, "do": 4.5, "tp": 0.15, "codmn": 5},
			opts:   Options{Target: III}, class: IV, status: "轻度污染",
			items: map[string]item{"nh3n": {IV, true, 0.2}, "do": {IV, true, 0.1}, "tp": {III, false, 0}, "codmn": {III, false, 0}},
		},
		{
			name:   "worst item decides, multiple against the target limit",
			values: map[string]float64{"ph": 7.1, "do": 6.8, "codmn": 3.1, "nh3n": 0.3, "tp": 0.9, "cd": 0.05},
			opts:   Options{Target: II}, class: WorseV, status: "重度污染",
			items: map[string]item{
				"ph": {I, false, 0}, "do": {II, false, 0}, "codmn": {II, false, 0}, "nh3n": {II, false, 0},
				"tp": {WorseV, true, 8}, "cd": {WorseV, true, 9},
			},
		},
		{
			name:   "meets target",
			values: map[string]float64{"do": 7.6, "nh3n": 0.1, "tp": 0.02},
			opts:   Options{Target: II}, class: I, status: "优", meets: true,
			items: map[string]item{"do": {I, false, 0}, "nh3n": {I, false, 0}, "tp": {I, false, 0}},
		},
		{
			name:   "lake: total nitrogen and fecal coliform are reference only",
			values: map[string]float64{"nh3n": 0.4, "tn": 5, "fcoli": 90000, "temp": 30, "cond": 300, "turb": 12},
			opts:   Options{Target: II, Lake: true}, class: II, status: "优", meets: true,
			items: map[string]item{"nh3n": {II, false, 0}, "tn": {WorseV, true, 9}, "fcoli": {WorseV, true, 44}},
		},
		{
			name:   "river: total nitrogen has no class, fecal coliform is reference only",
			values: map[string]float64{"nh3n": 0.4, "tn": 5, "fcoli": 90000, "temp": 30},
			opts:   Options{Target: II}, class: II, status: "优", meets: true,
			items: map[string]item{"nh3n": {II, false, 0}, "fcoli": {WorseV, true, 44}},
		},
		{
			name:   "lake section config evaluates tn",
			values: map[string]float64{"nh3n": 0.4, "tn": 1.2, "tp": 0.02},
			opts:   Options{Target: III, Lake: true, Items: tnOnly}, class: IV, status: "轻度污染",
			items: map[string]item{"nh3n": {II, false, 0}, "tn": {IV, true, 0.2}, "tp": {II, false, 0}},
		},
		{
			name:   "equal limits give the best class",
			values: map[string]float64{"cod": 15, "bod5": 3, "cu": 1.0, "f": 1.0, "cn": 0.2, "las": 0.2},
			opts:   Options{Target: II}, class: III, status: "良好",
			items: map[string]item{"cod": {I, false, 0}, "bod5": {I, false, 0}, "cu": {II, false, 0}, "f": {I, false, 0},
				"cn": {III, true, 3}, "las": {I, false, 0}},
		},
		{
			name:   "dissolved oxygen multiple is (limit − C)/limit",
			values: map[string]float64{"do": 1.5},
			opts:   Options{Target: III}, class: WorseV, status: "重度污染",
			items: map[string]item{"do": {WorseV, true, 0.7}},
		},
		{
			name:   "lake phosphorus",
			values: map[string]float64{"tp": 0.04},
			opts:   Options{Target: II, Lake: true}, class: III, status: "良好",
			items: map[string]item{"tp": {III, true, 0.6}},
		},
		{
			name:   "no target: no exceedances",
			values: map[string]float64{"nh3n": 3},
			class:  WorseV, status: "重度污染",
			items: map[string]item{"nh3n": {WorseV, false, 0}},
		},
		{
			name:   "nothing evaluated",
			values: map[string]float64{"temp": 20, "cond": 100},
			opts:   Options{Target: III},
			items:  map[string]item{},
		},
		{
			name:   "status V",
			values: map[string]float64{"codmn": 15},
			opts:   Options{Target: IV}, class: V, status: "中度污染",
			items: map[string]item{"codmn": {V, true, 0.5}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := tab.Classify(tt.values, tt.opts)
			if err != nil {
				t.Fatal(err)
			}
			if r.Class != tt.class || r.Status != tt.status || r.MeetsTarget != tt.meets || r.Target != tt.opts.Target {
				t.Errorf("got class %s status %q meets %v target %s; want %s %q %v %s",
					r.Class, r.Status, r.MeetsTarget, r.Target, tt.class, tt.status, tt.meets, tt.opts.Target)
			}
			if len(r.Items) != len(tt.items) {
				t.Errorf("items = %+v, want %d items", r.Items, len(tt.items))
			}
			for _, it := range r.Items {
				w, ok := tt.items[it.Key]
				if !ok {
					t.Errorf("unexpected item %s", it.Key)
					continue
				}
				if it.Class != w.class || it.Exceeds != w.exceeds || it.Multiple != w.multiple {
					t.Errorf("%s = class %s exceeds %v multiple %v; want %s %v %v",
						it.Key, it.Class, it.Exceeds, it.Multiple, w.class, w.exceeds, w.multiple)
				}
			}
		})
	}
}

func TestMaxMultipleAndPH(t *testing.T) {
	tab := loadTable(t)
	r, err := tab.Classify(map[string]float64{"ph": 9.5, "nh3n": 1.5, "fcoli": 1e6}, Options{Target: III})
	if err != nil {
		t.Fatal(err)
	}
	if got := r.MaxMultiple(); got != 0.5 {
		t.Errorf("MaxMultiple = %v, want 0.5 (pH has none, fcoli is not evaluated)", got)
	}
	for _, it := range r.Items {
		if it.Key == "ph" && (!it.Exceeds || it.HasMultiple || it.Class != WorseV) {
			t.Errorf("ph = %+v, want 劣V, exceeding, without a multiple", it)
		}
	}
}

func TestUnits(t *testing.T) {
	tab := loadTable(t)
	tests := []struct {
		name    string
		values  map[string]Value
		wantErr error
		class   Class
	}{
		{"canonical", map[string]Value{"nh3n": {0.4, "mg/L"}, "fcoli": {100, "个/L"}, "ph": {7, "1"}}, nil, II},
		{"accepted spellings", map[string]Value{"nh3n": {0.4, "mg/l"}, "ph": {7, ""}, "fcoli": {100, "个/l"}}, nil, II},
		{"µg/L is refused, not converted", map[string]Value{"hg": {0.05, "µg/L"}}, ErrUnit, None},
		{"no unit for a mg/L item", map[string]Value{"nh3n": {0.4, ""}}, ErrUnit, None},
		{"mg/L for pH", map[string]Value{"ph": {7, "mg/L"}}, ErrUnit, None},
		{"unknown unit", map[string]Value{"do": {7, "ppm"}}, ErrUnit, None},
		{"unknown item ignored", map[string]Value{"cond": {300, "µS/cm"}, "do": {7, "mg/L"}}, nil, II},
		{"negative", map[string]Value{"do": {-1, "mg/L"}}, ErrValue, None},
		{"NaN", map[string]Value{"do": {math.NaN(), "mg/L"}}, ErrValue, None},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := tab.ClassifyUnits(tt.values, Options{Target: III})
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("err = %v, want %v", err, tt.wantErr)
			}
			if r.Class != tt.class {
				t.Errorf("class = %s, want %s", r.Class, tt.class)
			}
		})
	}
	if err := tab.CheckUnit("hg", "ug/L"); !errors.Is(err, ErrUnit) {
		t.Errorf("CheckUnit(hg, ug/L) = %v, want ErrUnit", err)
	}
	// The refusal names the item, the unit it came in and the one it needs.
	_, err := tab.ClassifyUnits(map[string]Value{"nh3n": {0.4, "mg/L"}, "cd": {3, "µg/L"}}, Options{})
	if want := `water item cd: unit "µg/L" is not the canonical unit mg/L`; err == nil || err.Error() != want {
		t.Errorf("ClassifyUnits(cd in µg/L) = %v, want %s", err, want)
	}
	if err := tab.CheckUnit("chla", "µg/L"); err == nil || !strings.Contains(err.Error(), `"chla"`) {
		t.Errorf("CheckUnit(chla) = %v, want the item named", err)
	}
	if err := tab.CheckUnit("chla", "µg/L"); !errors.Is(err, ErrUnknownItem) {
		t.Errorf("CheckUnit(chla) = %v, want ErrUnknownItem", err)
	}
}

func TestClassifyErrors(t *testing.T) {
	tab := loadTable(t)
	tn, err := tab.ItemSet("tn", "nh3n")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		values map[string]float64
		opts   Options
		want   error
	}{
		{map[string]float64{"do": math.Inf(1)}, Options{}, ErrValue},
		{map[string]float64{"nh3n": -0.1}, Options{}, ErrValue},
		{map[string]float64{"nh3n": 1}, Options{Target: WorseV}, ErrOptions},
		{map[string]float64{"nh3n": 1}, Options{Target: 9}, ErrOptions},
		{map[string]float64{"tn": 1}, Options{Items: tn}, ErrOptions}, // a river has no tn limits
	}
	for _, tt := range tests {
		if _, err := tab.Classify(tt.values, tt.opts); !errors.Is(err, tt.want) {
			t.Errorf("Classify(%v, %+v) err = %v, want %v", tt.values, tt.opts, err, tt.want)
		}
	}
	if _, err := tab.ItemSet("nh3n", "temp"); !errors.Is(err, ErrOptions) {
		t.Errorf("ItemSet with temp: %v, want ErrOptions", err)
	}
	if _, err := tab.ItemSet("nope"); !errors.Is(err, ErrUnknownItem) {
		t.Errorf("ItemSet(nope): %v, want ErrUnknownItem", err)
	}
	if _, err := tab.ItemClass("nope", 1, false); !errors.Is(err, ErrUnknownItem) {
		t.Errorf("ItemClass(nope): %v, want ErrUnknownItem", err)
	}
}

// TestMonotone: a higher concentration never gives a better item or section
// class (for dissolved oxygen, a lower one never does).
func TestMonotone(t *testing.T) {
	tab := loadTable(t)
	rng := rand.New(rand.NewPCG(3838, 2002))
	for _, it := range append(gb3838, oracleItem{key: "ph"}) {
		top := it.limits[4] * 2
		if it.key == "ph" {
			top = 14
		}
		for _, lake := range []bool{false, true} {
			prev := None
			for i := 0; i <= 2000; i++ {
				v := top * float64(i) / 2000
				c, err := tab.ItemClass(it.key, v, lake)
				if err != nil {
					t.Fatal(err)
				}
				if i > 0 && it.key != "ph" && ((!it.min && c < prev) || (it.min && c > prev)) {
					t.Fatalf("%s lake %v: %v gives %s after %s", it.key, lake, v, c, prev)
				}
				prev = c
			}
		}
	}
	keys := []string{"do", "codmn", "nh3n", "tp", "tn", "cd", "oil"}
	tnToo, err := tab.ItemSet("do", "codmn", "nh3n", "tp", "tn", "cd", "oil")
	if err != nil {
		t.Fatal(err)
	}
	for n := 0; n < 4000; n++ {
		// Half the draws are a lake that also evaluates tn.
		opts := Options{Target: Class(1 + rng.IntN(5))}
		if n%2 == 1 {
			opts.Lake, opts.Items = true, tnToo
		}
		vals := map[string]float64{}
		for _, k := range keys {
			lo, hi, _ := tab.Limit(k, V, true)
			if math.IsInf(hi, 1) {
				hi = lo * 4 // dissolved oxygen
			}
			vals[k] = rng.Float64() * hi * 1.5
		}
		base, err := tab.Classify(vals, opts)
		if err != nil {
			t.Fatal(err)
		}
		k := keys[rng.IntN(len(keys))]
		worse := map[string]float64{}
		for kk, v := range vals {
			worse[kk] = v
		}
		if k == "do" {
			worse[k] = vals[k] * rng.Float64()
		} else {
			worse[k] = vals[k] * (1 + rng.Float64())
		}
		got, err := tab.Classify(worse, opts)
		if err != nil {
			t.Fatal(err)
		}
		if got.Class < base.Class || got.MaxMultiple() < base.MaxMultiple() || (!base.MeetsTarget && got.MeetsTarget) {
			t.Fatalf("worsening %s in %v (%+v): class %s → %s, multiple %v → %v", k, vals, opts, base.Class, got.Class, base.MaxMultiple(), got.MaxMultiple())
		}
	}
}

func TestClassifyIntoDoesNotAllocate(t *testing.T) {
	tab := loadTable(t)
	vals := map[string]float64{"temp": 24.1, "ph": 7.3, "do": 6.2, "cond": 310, "turb": 15, "codmn": 4.4, "nh3n": 0.62, "tp": 0.12, "tn": 1.8}
	var r Result
	if err := tab.ClassifyInto(&r, vals, Options{Target: III}); err != nil {
		t.Fatal(err)
	}
	allocs := testing.AllocsPerRun(100, func() {
		if err := tab.ClassifyInto(&r, vals, Options{Target: III}); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Errorf("ClassifyInto allocates %v times per run, want 0", allocs)
	}
}

func TestClassText(t *testing.T) {
	for c := I; c <= WorseV; c++ {
		b, err := c.MarshalText()
		if err != nil {
			t.Fatal(err)
		}
		var back Class
		if err := back.UnmarshalText(b); err != nil || back != c {
			t.Errorf("round trip %s: %q → %s, %v", c, b, back, err)
		}
		if p, err := ParseClass(c.String()); err != nil || p != c {
			t.Errorf("ParseClass(%q) = %s, %v", c.String(), p, err)
		}
	}
	tests := []struct {
		in   string
		want Class
	}{
		{"III", III}, {"iii", III}, {"3", III}, {"Ⅲ", III}, {"Ⅲ类", III}, {"III类", III}, {" IV ", IV},
		{"class II", II}, {"Ⅰ", I}, {"5", V}, {"Ⅴ", V}, {"劣V", WorseV}, {"劣Ⅴ", WorseV}, {"劣Ⅴ类", WorseV},
		{"劣5", WorseV}, {"worse_than_v", WorseV},
	}
	for _, tt := range tests {
		if got, err := ParseClass(tt.in); err != nil || got != tt.want {
			t.Errorf("ParseClass(%q) = %s, %v; want %s", tt.in, got, err, tt.want)
		}
	}
	for _, bad := range []string{"", "VI", "0", "6", "劣IV", "劣", "IIII", "x"} {
		if got, err := ParseClass(bad); err == nil {
			t.Errorf("ParseClass(%q) = %s, want an error", bad, got)
		}
	}
	if _, err := Class(9).MarshalText(); err == nil {
		t.Error("MarshalText(9) succeeded, want an error")
	}
	if b, err := None.MarshalText(); err != nil || len(b) != 0 {
		t.Errorf("None.MarshalText = %q, %v; want empty", b, err)
	}
}

// BenchmarkWaterClass is one evaluation of a typical automatic-station
// reading (the nine parameters of a national water station) against a
// section target, reusing the Result as the rules engine does.
func BenchmarkWaterClass(b *testing.B) {
	tab := loadTable(b)
	vals := map[string]float64{"temp": 24.1, "ph": 7.3, "do": 6.2, "cond": 310, "turb": 15, "codmn": 4.4, "nh3n": 0.62, "tp": 0.12, "tn": 1.8}
	var r Result
	b.ReportAllocs()
	for b.Loop() {
		if err := tab.ClassifyInto(&r, vals, Options{Target: III}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkWaterClassUnits is the same evaluation through the unit-checking
// path with a fresh Result each time.
func BenchmarkWaterClassUnits(b *testing.B) {
	tab := loadTable(b)
	vals := map[string]Value{"temp": {24.1, "°C"}, "ph": {7.3, "1"}, "do": {6.2, "mg/L"}, "cond": {310, "µS/cm"},
		"turb": {15, "NTU"}, "codmn": {4.4, "mg/L"}, "nh3n": {0.62, "mg/L"}, "tp": {0.12, "mg/L"}, "tn": {1.8, "mg/L"}}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := tab.ClassifyUnits(vals, Options{Target: III}); err != nil {
			b.Fatal(err)
		}
	}
}
