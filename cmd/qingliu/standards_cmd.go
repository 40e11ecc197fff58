package main

import (
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"math"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/qingliu/qingliu/configs"
	"github.com/qingliu/qingliu/domain"
	"github.com/qingliu/qingliu/standards"
	"github.com/qingliu/qingliu/standards/aqi"
	"github.com/qingliu/qingliu/standards/severity"
	"github.com/qingliu/qingliu/standards/water"
)

// The analyst commands of issue 3: aqi, water-class and level. Each loads the
// standards tables from --standards, prints one JSON object on stdout and
// returns a badInput error (exit status 2) for anything wrong in its input.

// chinaStandardTime is China Standard Time; China has had no daylight saving since 1991,
// so a fixed zone needs no tz database.
var chinaStandardTime = time.FixedZone("CST", 8*60*60)

func addStandardsFlag(cmd *cobra.Command, dir *string) {
	cmd.Flags().StringVar(dir, "standards", "", standardsFlagUsage)
	cmd.SilenceUsage = true
	cmd.SilenceErrors = true
	cmd.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return badInput(err) })
}

const standardsFlagUsage = "directory of the standards tables (default: the tables built into this binary, as in " + standards.DefaultDir + ")"

// loadStandards loads the tables of dir, or the built-in copy of
// configs/standards when dir is empty, so an analyst gets the same answer
// from any working directory.
func loadStandards(dir string) (*standards.Set, error) {
	var set *standards.Set
	var err error
	if dir == "" {
		set, err = standards.LoadFS(configs.Standards(), "built-in "+standards.DefaultDir)
	} else {
		set, err = standards.Load(dir)
	}
	if err != nil {
		return nil, badInput(fmt.Errorf("load standards: %s", oneLineError(err)))
	}
	return set, nil
}

// oneLineError joins a multi-problem error into one line, as the exit-2 contract
// promises a one-line error.
func oneLineError(err error) string { return strings.ReplaceAll(err.Error(), "\n", "; ") }

func writeStandardsJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	return enc.Encode(v)
}

// parseObservationTime accepts RFC 3339, or a local date-time without offset that is
// taken as Beijing time (2025-06-01T12:00:00, "2025-06-01 12:00", 2025-06-01).
func parseObservationTime(s string) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, nil
	}
	for _, layout := range []string{"2006-01-02T15:04:05", "2006-01-02T15:04", "2006-01-02 15:04:05", "2006-01-02 15:04", "2006-01-02"} {
		if t, err := time.ParseInLocation(layout, s, chinaStandardTime); err == nil {
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("--time %q: want RFC 3339, e.g. 2025-06-01T12:00:00+08:00", s)
}

var reAssignedValue = regexp.MustCompile(`^\s*([-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)\s*(.*?)\s*$`)

// parseAssignments parses KEY=VALUE[UNIT] arguments. Each key may appear once.
func parseAssignments(args []string) (keys []string, vals map[string]float64, units map[string]string, err error) {
	vals, units = map[string]float64{}, map[string]string{}
	for _, a := range args {
		k, v, ok := strings.Cut(a, "=")
		k = strings.ToLower(strings.TrimSpace(k))
		if !ok || k == "" {
			return nil, nil, nil, fmt.Errorf("argument %q: want KEY=VALUE", a)
		}
		if _, dup := vals[k]; dup {
			return nil, nil, nil, fmt.Errorf("argument %q: %s given twice", a, k)
		}
		g := reAssignedValue.FindStringSubmatch(v)
		if g == nil {
			return nil, nil, nil, fmt.Errorf("argument %q: %q is not a number", a, v)
		}
		f, perr := strconv.ParseFloat(g[1], 64)
		if perr != nil || math.IsInf(f, 0) || f < 0 {
			return nil, nil, nil, fmt.Errorf("argument %q: want a finite non-negative number", a)
		}
		keys = append(keys, k)
		vals[k] = f
		if g[2] != "" {
			units[k] = g[2]
		}
	}
	return keys, vals, units, nil
}

type aqiOutput struct {
	Standard  string            `json:"standard"`
	AQI       *int              `json:"aqi"`
	Level     *int              `json:"level"`
	Category  *string           `json:"category"`
	Primary   []string          `json:"primary"`
	IAQI      jsonObject[int]   `json:"iaqi"`
	Color     string            `json:"color,omitempty"`
	Period    aqi.Period        `json:"period"`
	Exceeding *[]string         `json:"exceeding,omitempty"`
	NA        bool              `json:"na,omitempty"`
	Missing   []string          `json:"missing,omitempty"`
	Replaced  map[string]string `json:"replaced,omitempty"`
	BeyondTop []string          `json:"beyond_top,omitempty"`
	Ignored   []string          `json:"ignored,omitempty"`
}

func newAQICmd() *cobra.Command {
	var dir, at, period string
	cmd := &cobra.Command{
		Use:   "aqi --time TIME --period 1h|24h POLLUTANT=VALUE...",
		Short: "Compute the AQI (HJ 633) of one record",
		Long: `Compute the AQI of one record by the HJ 633 version in force at --time
(HJ 633-2026 from 2026-03-01 00:00 Asia/Shanghai, HJ 633-2012 before).

--period 1h is the real-time report, 24h the daily report. Pollutants:
so2 no2 co pm10 pm25 o3_1h o3_8h, each the average the report prescribes, in
µg/m³ (co in mg/m³). Under HJ 633-2012 real-time, pm10 and pm25 are the
24-h sliding means (the 1-h means have no breakpoints), and so2_24h may be
given for the rule that replaces an SO2 1-h value above 800. HJ 633-2026
daily values are rounded by GB/T 8170 before lookup (co to 0.1 mg/m³, the
others to 1 µg/m³).

Besides standard, period, aqi, level, category, color, primary and iaqi:
  exceeding   HJ 633-2012 only: the 超标污染物 (IAQI above 100)
  missing     indicators of the report without a value
  na          true when no AQI is published (HJ 633-2026 §5.3.1: with a
              pollutant missing, the AQI is published only above 100);
              aqi, level and category are then null and iaqi keeps the
              single-pollutant values
  replaced    HJ 633-2012 notes 2 and 3: so2 above 800 reported by so2_24h,
              o3_8h above 800 by o3_1h
  beyond_top  indicators above their table's top breakpoint, with the
              version's fixed IAQI: 2026 so2 1-h 200 and o3_8h 300, any
              other 500 (the standards are silent there)
  ignored     keys that are not indicators of this report
An all-zero record has AQI 0 and level 1 (HJ 633-2026's level 1 reads 1–50).`,
		Example: "  qingliu aqi --time 2025-06-01T12:00:00+08:00 --period 24h pm25=45 pm10=60 so2=10 no2=30 co=0.8 o3_8h=90",
		RunE: func(cmd *cobra.Command, args []string) error {
			if at == "" {
				return badInputf("aqi: --time is required")
			}
			t, err := parseObservationTime(at)
			if err != nil {
				return badInputf("aqi: %w", err)
			}
			p, err := aqi.ParsePeriod(period)
			if err != nil {
				return badInputf("aqi: --period: %w", err)
			}
			if len(args) == 0 {
				return badInputf("aqi: give at least one POLLUTANT=VALUE")
			}
			keys, conc, units, err := parseAssignments(args)
			if err != nil {
				return badInputf("aqi: %w", err)
			}
			set, err := loadStandards(dir)
			if err != nil {
				return err
			}
			known := map[string]bool{}
			for _, v := range set.AQI.Versions() {
				for q := aqi.Hourly; q <= aqi.Daily; q++ {
					for _, k := range v.Indicators(q) {
						known[k] = true
					}
					if v.Accepts(q, "so2_24h") {
						known["so2_24h"] = true
					}
				}
			}
			for _, k := range keys {
				if !known[k] {
					return badInputf("aqi: unknown pollutant %q (want %s)", k, strings.Join(slices.Sorted(maps.Keys(known)), " "))
				}
				if u, ok := units[k]; ok {
					return badInputf("aqi: %s: give the value without a unit (%q); units are µg/m³, co mg/m³", k, u)
				}
			}
			v, err := set.AQI.Lookup(t)
			if err != nil {
				return badInputf("aqi: %w", err)
			}
			r := v.Compute(p, conc)
			out := aqiOutput{Standard: r.Standard, Period: p, Primary: r.Primary()}
			for _, k := range keys {
				if !v.Accepts(p, k) {
					out.Ignored = append(out.Ignored, k)
				}
			}
			iaqi := map[string]int{}
			for _, s := range r.Subs() {
				switch s.State {
				case aqi.Computed:
					iaqi[s.Key] = s.IAQI
					if s.BeyondTop {
						out.BeyondTop = append(out.BeyondTop, s.Key)
					}
				case aqi.Missing:
					out.Missing = append(out.Missing, s.Key)
				case aqi.Replaced:
					if out.Replaced == nil {
						out.Replaced = map[string]string{}
					}
					out.Replaced[s.Key] = s.ReplacedBy
				}
			}
			// iaqi in the order of the arguments, as the issue shows it
			// (pm25, pm10, …), then any the report derived, sorted.
			for _, k := range slices.Concat(keys, slices.Sorted(maps.Keys(iaqi))) {
				if v, ok := iaqi[k]; ok {
					out.IAQI.add(k, v)
					delete(iaqi, k)
				}
			}
			if r.Published {
				out.AQI, out.Level, out.Category, out.Color = &r.AQI, &r.Level, &r.Category, r.Color
			} else {
				out.NA = true
			}
			if v.ReportsExceeding() {
				ex := r.Exceeding()
				out.Exceeding = &ex
			}
			return writeStandardsJSON(cmd.OutOrStdout(), out)
		},
	}
	addStandardsFlag(cmd, &dir)
	cmd.Flags().StringVar(&at, "time", "", "observation time, RFC 3339 (a time without offset is Beijing time)")
	cmd.Flags().StringVar(&period, "period", "1h", "report: 1h (real-time) or 24h (daily)")
	return cmd
}

type waterOutput struct {
	Class       water.Class             `json:"class"`
	Status      string                  `json:"status"`
	Items       jsonObject[water.Class] `json:"items"`
	Exceeding   jsonObject[*float64]    `json:"exceeding"`
	MeetsTarget bool                    `json:"meets_target"`
	Target      water.Class             `json:"target"`
	Lake        bool                    `json:"lake,omitempty"`
	Reference   jsonObject[water.Class] `json:"reference,omitzero"`
	Ignored     []string                `json:"ignored,omitempty"`
}

// jsonObject is a JSON object whose members keep the order they were added
// in: water-class prints items in the order of its arguments, as the
// interface of issue 3 shows, where a Go map would sort them.
type jsonObject[V any] struct {
	keys []string
	vals []V
}

func (o *jsonObject[V]) add(k string, v V) {
	o.keys = append(o.keys, k)
	o.vals = append(o.vals, v)
}

// IsZero makes omitzero drop an empty object.
func (o jsonObject[V]) IsZero() bool { return len(o.keys) == 0 }

// MarshalJSON writes the members in order; an empty object is {}.
func (o jsonObject[V]) MarshalJSON() ([]byte, error) {
	b := []byte{'{'}
	for i, k := range o.keys {
		if i > 0 {
			b = append(b, ',')
		}
		kb, err := json.Marshal(k)
		if err != nil {
			return nil, err
		}
		vb, err := json.Marshal(o.vals[i])
		if err != nil {
			return nil, err
		}
		b = append(append(append(b, kb...), ':'), vb...)
	}
	return append(b, '}'), nil
}

func newWaterClassCmd() *cobra.Command {
	var dir, target, items string
	var lake bool
	cmd := &cobra.Command{
		Use:   "water-class [--target III] [--lake] ITEM=VALUE[UNIT]...",
		Short: "Classify surface water by GB 3838-2002 (single-factor evaluation)",
		Long: `Classify one section's values by GB 3838-2002: the class of each item, the
section class (the worst evaluated item), its qualitative status, and the
items worse than the target class with their exceedance multiple (超标倍数,
(C − limit)/limit, for do (limit − C)/limit, two decimals; null for ph,
whose range has no multiple).

--target is the section's 水质目标, III when not given: III is the last class
fit for drinking-water sources (grade-2 protection zones), fisheries and
swimming (GB 3838-2002 §3), and the line between the good (I–III) and the
polluted classes in national assessments.

Items use Qingliu's keys (ph do codmn cod bod5 nh3n tp tn cu zn f se as hg cd
cr6 pb cn phenol oil las sulfide fcoli) in canonical units: mg/L, fcoli 个/L,
ph dimensionless. A unit may follow the value (nh3n=1.2mg/L); a unit other
than the canonical one is refused, never converted. Values must be finite
and non-negative. fcoli, and tn with --lake, are classified for reference
but are not evaluated unless --items says so; tn has limits for lakes and
reservoirs only, so without --lake it is ignored like temp. Items are
printed in the order given.`,
		Example: "  qingliu water-class --target III nh3n=1.2 do=4.5 tp=0.15 codmn=5",
		RunE: func(cmd *cobra.Command, args []string) error {
			tc, err := water.ParseClass(target)
			if err != nil || tc > water.V {
				return badInputf("water-class: --target %q: want I, II, III, IV or V", target)
			}
			if len(args) == 0 {
				return badInputf("water-class: give at least one ITEM=VALUE")
			}
			keys, vals, units, err := parseAssignments(args)
			if err != nil {
				return badInputf("water-class: %w", err)
			}
			set, err := loadStandards(dir)
			if err != nil {
				return err
			}
			tab := set.Water
			var unknown []string
			for _, k := range keys {
				if _, ok := tab.Item(k); !ok {
					unknown = append(unknown, strconv.Quote(k))
				}
			}
			if len(unknown) > 0 {
				var known []string
				for _, it := range tab.Items() {
					known = append(known, it.Key)
				}
				noun := "item"
				if len(unknown) > 1 {
					noun = "items"
				}
				return badInputf("water-class: unknown %s %s (want %s)", noun, strings.Join(unknown, ", "), strings.Join(known, " "))
			}
			out := waterOutput{Target: tc, Lake: lake}
			in := make(map[string]water.Value, len(keys))
			for _, k := range keys {
				info, _ := tab.Item(k)
				u, given := units[k]
				if !given {
					u = info.Unit
				}
				if err := tab.CheckUnit(k, u); err != nil {
					return badInputf("water-class: %w", err)
				}
				if !info.Classed || (info.LakeOnly && !lake) {
					out.Ignored = append(out.Ignored, k)
					continue
				}
				in[k] = water.Value{V: vals[k], Unit: u}
			}
			opts := water.Options{Target: tc, Lake: lake}
			if items != "" {
				list := strings.Split(items, ",")
				if opts.Items, err = tab.ItemSet(list...); err != nil {
					return badInputf("water-class: --items: %w", err)
				}
				for _, k := range list {
					if info, _ := tab.Item(k); info.LakeOnly && !lake {
						return badInputf("water-class: --items: %s applies to lakes and reservoirs only (give --lake)", k)
					}
				}
			}
			r, err := tab.ClassifyUnits(in, opts)
			if err != nil {
				return badInputf("water-class: %w", err)
			}
			out.Class, out.Status, out.MeetsTarget = r.Class, r.Status, r.MeetsTarget
			byKey := make(map[string]*water.Item, len(r.Items))
			for i := range r.Items {
				byKey[r.Items[i].Key] = &r.Items[i]
			}
			for _, k := range keys {
				it, ok := byKey[k]
				switch {
				case !ok:
				case !it.Evaluated:
					out.Reference.add(k, it.Class)
				default:
					out.Items.add(k, it.Class)
					if it.Exceeds {
						var m *float64
						if it.HasMultiple {
							m = &it.Multiple
						}
						out.Exceeding.add(k, m)
					}
				}
			}
			return writeStandardsJSON(cmd.OutOrStdout(), out)
		},
	}
	addStandardsFlag(cmd, &dir)
	cmd.Flags().StringVar(&target, "target", "III", "the section's target class (水质目标), I–V")
	cmd.Flags().BoolVar(&lake, "lake", false, "lake or reservoir: use the 湖、库 total-phosphorus limits and classify tn")
	cmd.Flags().StringVar(&items, "items", "", "comma-separated items to evaluate instead of the standard's 21")
	return cmd
}

type levelOutput struct {
	Level       domain.Level   `json:"level"`
	Chinese     string         `json:"name_zh"`
	Grade       string         `json:"grade_zh,omitempty"`
	Roman       string         `json:"roman"`
	CAPSeverity string         `json:"cap_severity,omitempty"`
	Color       string         `json:"color"`
	Source      string         `json:"source"`
	Matched     []string       `json:"matched"`
	Why         string         `json:"why"`
	Episode     *episodeOutput `json:"episode,omitempty"`
}

// episodeOutput is the run of days that decided an aqi-daily level; days
// are counted from 1 in the order of --days.
type episodeOutput struct {
	FirstDay   int `json:"first_day"`
	LastDay    int `json:"last_day"`
	Days       int `json:"days"`
	SevereDays int `json:"severe_days"`
	Peak       int `json:"peak"`
}

func newLevelCmd() *cobra.Command {
	var dir, source, days, class, target, city, grade string
	var aqiValue int
	var multiple float64
	var drinking bool
	cmd := &cobra.Command{
		Use:   "level --source aqi-daily|aqi-hourly|water|legacy ...",
		Short: "Map a source grading onto the unified warning scale",
		Long: `Map a source grading onto the unified warning scale (none, blue, yellow,
orange, red) through the severity mappings:

  --source aqi-daily  --days 231,250            daily AQI values, oldest first
  --source aqi-hourly --aqi 180
  --source water      --class IV --target II [--multiple 0.8] [--drinking-source]
  --source legacy     --city guangzhou --grade Ⅲ级

Besides the level and its names, the output says which entries of the
severity mappings decided it ("matched", paths as qingliu check prints them)
and why; for aqi-daily also the episode that decided (days counted from 1).
Over a list of days every episode counts and the worst decides.`,
		Example: "  qingliu level --source aqi-daily --days 231,250",
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) > 0 {
				return badInputf("level: unexpected arguments %q", args)
			}
			used := map[string][]string{
				"aqi-daily":  {"days"},
				"aqi-hourly": {"aqi"},
				"water":      {"class", "target", "multiple", "drinking-source"},
				"legacy":     {"city", "grade"},
			}
			want, ok := used[source]
			if source == "" {
				return badInputf("level: --source is required: aqi-daily, aqi-hourly, water or legacy")
			}
			if !ok {
				return badInputf("level: --source %q: want aqi-daily, aqi-hourly, water or legacy", source)
			}
			for _, name := range []string{"days", "aqi", "class", "target", "multiple", "drinking-source", "city", "grade"} {
				if cmd.Flags().Changed(name) && !slices.Contains(want, name) {
					return badInputf("level: --%s does not apply to --source %s", name, source)
				}
			}
			required := map[string][]string{"aqi-daily": {"days"}, "aqi-hourly": {"aqi"}, "water": {"class", "target"}, "legacy": {"city", "grade"}}
			for _, name := range required[source] {
				if !cmd.Flags().Changed(name) {
					return badInputf("level: --source %s needs --%s", source, name)
				}
			}
			set, err := loadStandards(dir)
			if err != nil {
				return err
			}
			m := set.Severity
			var e severity.Explanation
			switch source {
			case "aqi-daily":
				var vals []int
				for _, s := range strings.Split(days, ",") {
					n, err := strconv.Atoi(strings.TrimSpace(s))
					if err != nil || n < 0 {
						return badInputf("level: --days: %q is not a non-negative integer AQI", s)
					}
					vals = append(vals, n)
				}
				e = m.ExplainPersistence(vals)
			case "aqi-hourly":
				if aqiValue < 0 {
					return badInputf("level: --aqi %d: want a non-negative integer", aqiValue)
				}
				e = m.ExplainAQIHourly(aqiValue)
			case "water":
				c, err := water.ParseClass(class)
				if err != nil {
					return badInputf("level: --class: %w", err)
				}
				tc, err := water.ParseClass(target)
				if err != nil || tc > water.V {
					return badInputf("level: --target %q: want I, II, III, IV or V", target)
				}
				if math.IsNaN(multiple) || math.IsInf(multiple, 0) || multiple < 0 {
					return badInputf("level: --multiple %v: want a finite non-negative number", multiple)
				}
				e = m.ExplainWater(c, tc, multiple, drinking)
			case "legacy":
				if e, err = m.ExplainLegacy(city, grade); err != nil {
					return badInputf("level: %w", err)
				}
			}
			l := e.Level
			out := levelOutput{
				Level: l, Chinese: l.Chinese(), Grade: l.ChineseGrade(), Roman: l.Roman(),
				CAPSeverity: l.CAPSeverity(), Color: l.Color(), Source: source,
				Matched: e.Matched, Why: e.Why,
			}
			if ep := e.Episode; ep != nil {
				out.Episode = &episodeOutput{FirstDay: ep.First + 1, LastDay: ep.Last + 1, Days: ep.Days(), SevereDays: ep.SevereDays, Peak: ep.Peak}
			}
			return writeStandardsJSON(cmd.OutOrStdout(), out)
		},
	}
	addStandardsFlag(cmd, &dir)
	f := cmd.Flags()
	f.StringVar(&source, "source", "", "aqi-daily, aqi-hourly, water or legacy")
	f.StringVar(&days, "days", "", "aqi-daily: daily AQI values, oldest first, comma-separated")
	f.IntVar(&aqiValue, "aqi", 0, "aqi-hourly: the hourly AQI")
	f.StringVar(&class, "class", "", "water: the section's GB 3838 class")
	f.StringVar(&target, "target", "", "water: the section's target class")
	f.Float64Var(&multiple, "multiple", 0, "water: the largest exceedance multiple (超标倍数) against the target")
	f.BoolVar(&drinking, "drinking-source", false, "water: the section is, or feeds, a drinking-water source")
	f.StringVar(&city, "city", "", "legacy: city key or Chinese name (guangzhou, 广州 …)")
	f.StringVar(&grade, "grade", "", "legacy: the city's grade, e.g. Ⅲ级")
	return cmd
}
