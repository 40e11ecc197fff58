package aqi

import (
	"fmt"
	"math"
	"math/big"
	"math/rand/v2"
	"strconv"
	"testing"
)

// reportTables is which breakpoint table each indicator of each report looks
// up, copied independently from DOMAIN.md §2.1 and §2.3: the oracle for the
// reports: sections of the shipped YAML. HJ 633-2012 real-time publishes nine
// indicators, but the PM10 and PM2.5 1-h means have no breakpoints; their
// sub-indices come from the 24-h sliding means, passed as pm10 and pm25.
// HJ 633-2026 looks the PM 1-h means up in the daily table. round is the
// GB/T 8170 rounding before lookup (HJ 633-2026 §4.2.2), -1 for none.
var reportTables = map[string][2]map[string]struct {
	table string
	round int
}{
	"HJ633-2012": {
		Hourly: {
			"so2": {"so2_1h", -1}, "no2": {"no2_1h", -1}, "co": {"co_1h", -1}, "o3_1h": {"o3_1h", -1},
			"o3_8h": {"o3_8h", -1}, "pm10": {"pm10_24h", -1}, "pm25": {"pm25_24h", -1}, "so2_24h": {"so2_24h", -1},
		},
		Daily: {
			"so2": {"so2_24h", -1}, "no2": {"no2_24h", -1}, "co": {"co_24h", -1}, "pm10": {"pm10_24h", -1},
			"pm25": {"pm25_24h", -1}, "o3_1h": {"o3_1h", -1}, "o3_8h": {"o3_8h", -1},
		},
	},
	"HJ633-2026": {
		Hourly: {
			"so2": {"so2_1h", -1}, "no2": {"no2_1h", -1}, "co": {"co_1h", -1}, "o3_1h": {"o3_1h", -1},
			"pm10": {"pm10_24h", -1}, "pm25": {"pm25_24h", -1},
		},
		Daily: {
			"so2": {"so2_24h", 0}, "no2": {"no2_24h", 0}, "co": {"co_24h", 1}, "pm10": {"pm10_24h", 0},
			"pm25": {"pm25_24h", 0}, "o3_8h": {"o3_8h", 0},
		},
	},
}

// fallbackKey is the indicator that reports a pollutant above its table's top
// under HJ 633-2012 notes (2) and (3).
var fallbackKey = map[string]string{"so2_1h": "so2_24h", "o3_8h": "o3_1h"}

// exactIAQI is formula (1) of HJ 633 rounded up, in exact integer arithmetic,
// for the concentration n/scale: the oracle for floating-point noise. It
// returns the version's rule value (aboveTop, else 500) above the top.
func exactIAQI(id, table string, n, scale int64) int {
	bp := breakpoints[id][table]
	top := int64(bp[len(bp)-1])
	if n > top*scale {
		if r, ok := aboveTop[id][table]; ok {
			return r
		}
		return 500
	}
	i := 0
	for i < len(bp)-2 && n >= int64(bp[i+1])*scale {
		i++
	}
	lo, hi := int64(bp[i]), int64(bp[i+1])
	ilo, ihi := int64(iaqiLevels[i]), int64(iaqiLevels[i+1])
	num := (ihi - ilo) * (n - lo*scale)
	den := (hi - lo) * scale
	return int(ilo + (num+den-1)/den)
}

// TestAQIExactIAQI compares TableIAQI with exact arithmetic on a fine grid of
// every table of both versions: every 0.01 µg/m³ and every 0.001 mg/m³ (CO)
// up to past the top. The grid holds every breakpoint, every midpoint and
// every concentration whose exact sub-index is an integer (e.g. PM2.5 36.6
// under HJ 633-2012 is exactly 52, while the floating-point formula gives
// 52.0000000000000018), which must not be rounded up once more.
func TestAQIExactIAQI(t *testing.T) {
	l := load(t)
	for id, tables := range breakpoints {
		v := l.byName[id]
		for name, bp := range tables {
			scale := int64(100)
			if name == "co_24h" || name == "co_1h" {
				scale = 1000
			}
			last := int64(bp[len(bp)-1])*scale + scale
			bad := 0
			for n := int64(0); n <= last; n++ {
				c := float64(n) / float64(scale) // the double nearest n/scale
				want := exactIAQI(id, name, n, scale)
				got, ok := v.TableIAQI(name, c)
				if want == -1 {
					if ok {
						t.Errorf("%s %s %v: IAQI %d, want not computed", id, name, c, got)
					}
					continue
				}
				if !ok || got != want {
					if bad++; bad <= 5 {
						t.Errorf("%s %s %v: IAQI %d, %v; want %d", id, name, c, got, ok, want)
					}
				}
			}
		}
	}
}

// TestAQIReportBreakpoints checks every breakpoint of every indicator of
// both reports of both versions just below, at and just above it, through
// Version.IAQI and through Compute: the right table per report and period,
// the 2026 daily rounding before lookup, and each version's rule above the
// top. TestBreakpoints does the same for the bare tables.
func TestAQIReportBreakpoints(t *testing.T) {
	l := load(t)
	for id, reports := range reportTables {
		v := l.byName[id]
		for p := Hourly; p <= Daily; p++ {
			keys := map[string]bool{}
			for _, k := range v.Indicators(p) {
				keys[k] = true
			}
			if v.Accepts(p, "so2_24h") {
				keys["so2_24h"] = true
			}
			if len(keys) != len(reports[p]) {
				t.Errorf("%s %s: indicators %v, want those of %v", id, p, keys, reports[p])
			}
			for key, rt := range reports[p] {
				if !keys[key] {
					t.Errorf("%s %s: no indicator %s", id, p, key)
					continue
				}
				for _, tc := range reportCases(id, rt.table, rt.round) {
					checkReportIAQI(t, v, p, key, rt.table, tc)
				}
			}
		}
	}
}

type reportCase struct {
	what string
	c    float64
	want int // -1: replaced by another indicator
}

// reportCases lists, for each breakpoint of table, concentrations just below,
// at and just above it. Without rounding the step is 0.001 (the rounded-up
// IAQI is the breakpoint's just below and at it, one more above). With
// rounding to d decimals the steps are 0.4, 0.5 and 0.6 of 10^-d, so that the
// GB/T 8170 rounding lands on the breakpoint, on it or its neighbour by
// round-half-to-even, and on the neighbour; the want is exact arithmetic on
// the rounded value.
func reportCases(id, table string, round int) []reportCase {
	bp := breakpoints[id][table]
	var out []reportCase
	for _, b := range bp {
		if round < 0 {
			const scale = 1000
			n := int64(b) * scale
			for _, d := range []int64{-1, 0, 1} {
				if n+d < 0 {
					continue
				}
				out = append(out, reportCase{fmt.Sprintf("%+d/1000 of %v", d, b), float64(n+d) / scale, exactIAQI(id, table, n+d, scale)})
			}
			continue
		}
		// Tenths of the rounding unit: u = 10^-round, the concentration is
		// (b/u*10 + k)/10 units.
		unit := int64(1)
		for range round {
			unit *= 10
		}
		m := int64(b) * unit * 10
		for _, k := range []int64{-6, -5, -4, 0, 4, 5, 6} {
			if m+k < 0 {
				continue
			}
			q, r := (m+k)/10, (m+k)%10
			if r > 5 || (r == 5 && q%2 == 1) {
				q++
			}
			c, _ := strconv.ParseFloat(strconv.FormatInt(m+k, 10)+"e-"+strconv.Itoa(round+1), 64)
			out = append(out, reportCase{fmt.Sprintf("%+d/10 unit of %v", k, b), c, exactIAQI(id, table, q, unit)})
		}
	}
	return out
}

func checkReportIAQI(t *testing.T, v *Version, p Period, key, table string, tc reportCase) {
	t.Helper()
	got, ok := v.IAQI(p, key, tc.c)
	conc := map[string]float64{key: tc.c}
	if key == "so2_24h" {
		conc["so2"] = 801 // the auxiliary 24-h mean enters only through note (2)
	}
	r := v.Compute(p, conc)
	s, found := r.Sub(key)
	if !found {
		t.Errorf("%s %s Compute(%s=%v): no sub-index", v, p, key, tc.c)
		return
	}
	if tc.want == -1 {
		if ok || s.State != Replaced || s.ReplacedBy != fallbackKey[table] {
			t.Errorf("%s %s %s %s: IAQI = %d, %v; Compute sub %+v; want replaced by %s",
				v, p, key, tc.what, got, ok, s, fallbackKey[table])
		}
		return
	}
	if !ok || got != tc.want || s.State != Computed || s.IAQI != tc.want {
		t.Errorf("%s %s %s %s (%v): IAQI = %d, %v; Compute sub %+v; want %d", v, p, key, tc.what, tc.c, got, ok, s, tc.want)
	}
	if r.Published && r.AQI != tc.want {
		t.Errorf("%s %s %s=%v alone: AQI %d, want %d", v, p, key, tc.c, r.AQI, tc.want)
	}
}

// gbt8170 rounds the exact rational x to d decimals by GB/T 8170-2008: the
// discarded part above half rounds up, below half down, exactly half to the
// even neighbour.
func gbt8170(x *big.Rat, d int) *big.Rat {
	scale := new(big.Rat).SetInt(new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(d)), nil))
	s := new(big.Rat).Mul(x, scale)
	q := new(big.Int).Quo(s.Num(), s.Denom())
	frac := new(big.Rat).Sub(s, new(big.Rat).SetInt(q))
	switch frac.Cmp(big.NewRat(1, 2)) {
	case 1:
		q.Add(q, big.NewInt(1))
	case 0:
		if q.Bit(0) == 1 {
			q.Add(q, big.NewInt(1))
		}
	}
	return new(big.Rat).Quo(new(big.Rat).SetInt(q), scale)
}

// TestAQIRoundGBT8170Exact checks RoundGBT8170 against exact decimal
// arithmetic: named cases whose binary value sits on either side of the
// decimal tie (0.35 is stored as 0.34999…, 0.45 as 0.45000…1), every
// concentration with three decimals up to 100, every tie up to the tops of
// the tables, and daily means of hourly values whose floating-point sum
// misses an exact tie.
func TestAQIRoundGBT8170Exact(t *testing.T) {
	named := []struct {
		x    float64
		d    int
		want float64
	}{
		{2.5, 0, 2}, {3.5, 0, 4}, {0.45, 1, 0.4}, {0.35, 1, 0.4}, {0.25, 1, 0.2}, {0.15, 1, 0.2}, {0.05, 1, 0},
		{1.45, 1, 1.4}, {1.55, 1, 1.6}, {0.451, 1, 0.5}, {0.449, 1, 0.4}, {34.5, 0, 34}, {35.5, 0, 36},
		{0.1 + 0.2 + 0.15, 1, 0.4}, // 0.45000000000000007: a tie after float addition
		{800.5, 0, 800}, {801.5, 0, 802}, {2620.5, 0, 2620},
	}
	for _, tt := range named {
		if got := RoundGBT8170(tt.x, tt.d); got != tt.want {
			t.Errorf("RoundGBT8170(%v, %d) = %v, want %v", tt.x, tt.d, got, tt.want)
		}
	}
	check := func(x float64, exact *big.Rat, d int) {
		t.Helper()
		want, _ := gbt8170(exact, d).Float64()
		if got := RoundGBT8170(x, d); got != want {
			t.Fatalf("RoundGBT8170(%v, %d) = %v, want %v (exact %s)", x, d, got, want, exact.FloatString(20))
		}
	}
	// n/1000 to d decimals in integers: q = n/div, remainder against half.
	halfEven := func(n, div int64) int64 {
		q, r := n/div, n%div
		if 2*r > div || (2*r == div && q%2 == 1) {
			q++
		}
		return q
	}
	for n := int64(0); n <= 100000; n++ {
		x, _ := strconv.ParseFloat(strconv.FormatInt(n, 10)+"e-3", 64)
		if got, want := RoundGBT8170(x, 0), float64(halfEven(n, 1000)); got != want {
			t.Fatalf("RoundGBT8170(%v, 0) = %v, want %v", x, got, want)
		}
		if got, want := RoundGBT8170(x, 1), float64(halfEven(n, 100))/10; got != want {
			t.Fatalf("RoundGBT8170(%v, 1) = %v, want %v", x, got, want)
		}
	}
	for n := int64(1); n <= 2*2620; n += 2 { // k + 0.5
		check(float64(n)/2, big.NewRat(n, 2), 0)
	}
	for n := int64(1); n <= 2*600; n += 2 { // k/10 + 0.05
		x, _ := strconv.ParseFloat(strconv.FormatInt(n*5, 10)+"e-2", 64)
		check(x, big.NewRat(n*5, 100), 1)
	}
	// Daily means of 24 hourly values with one decimal (CO: three), summed
	// in floating point as Mean24h does; half of the days are shifted so that
	// their exact mean is a tie, which the float mean may miss by an ulp.
	rng := rand.New(rand.NewPCG(8170, 633))
	for range 20000 {
		unit, d, hi := int64(10), 0, int64(3000)
		if rng.IntN(2) == 0 { // CO
			unit, d, hi = 1000, 1, 60
		}
		var ns [24]int64
		var total int64
		for h := range ns {
			ns[h] = rng.Int64N(hi * unit)
			total += ns[h]
		}
		if rng.IntN(2) == 0 {
			// The tie just above the exact mean: 24·unit·tie is an integer.
			half := big.NewRat(1, 2*int64(math.Pow10(d)))
			tie := new(big.Rat).Add(gbt8170(big.NewRat(total, 24*unit), d), half)
			want := new(big.Rat).Mul(tie, big.NewRat(24*unit, 1))
			ns[23] += want.Num().Int64() - total
			total = want.Num().Int64()
			if ns[23] < 0 {
				continue
			}
		}
		sum := 0.0
		for _, n := range ns {
			sum += float64(n) / float64(unit)
		}
		check(sum/24, big.NewRat(total, 24*unit), d)
	}
}
