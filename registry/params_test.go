package registry

import (
	"errors"
	"math"
	"slices"
	"testing"

	"github.com/qingliu/qingliu/domain"
)

func TestCatalogue(t *testing.T) {
	want := []string{
		"temp", "ph", "do", "cond", "turb", "codmn", "cod", "bod5", "nh3n", "tp", "tn", "chla",
		"cu", "zn", "f", "se", "as", "hg", "cd", "cr6", "pb", "cn", "phenol", "oil", "las", "sulfide", "fcoli",
		"so2", "no2", "o3", "pm10", "pm25", "co", "air_temp", "rh", "pressure", "wind_speed", "wind_dir",
	}
	var got []string
	codes := map[string]string{}
	for _, p := range Params() {
		got = append(got, p.Key)
		if !p.Medium.Valid() || p.NameZH == "" || p.NameEN == "" {
			t.Errorf("%s: incomplete %+v", p.Key, p)
		}
		if u, err := NormalizeUnit(p.Unit); err != nil || u != p.Unit {
			t.Errorf("%s: unit %q is not in canonical spelling (%q, %v)", p.Key, p.Unit, u, err)
		}
		if len(p.HJ212) > 0 {
			if _, err := Convert(1, p.HJ212Unit, p.Unit); err != nil {
				t.Errorf("%s: HJ 212 unit: %v", p.Key, err)
			}
		}
		if !(p.Min < p.Max) || !p.Plausible(p.Min) || !p.Plausible(p.Max) || p.Plausible(p.Max*1.01+1) {
			t.Errorf("%s: bad range %v..%v", p.Key, p.Min, p.Max)
		}
		for _, c := range append(slices.Clone(p.HJ212), p.Aliases...) {
			if other, dup := codes[c]; dup {
				t.Errorf("code %s maps to %s and %s", c, other, p.Key)
			}
			codes[c] = p.Key
			if q, ok := ParamByHJ212(c); !ok || q.Key != p.Key {
				t.Errorf("ParamByHJ212(%s) = %s, %v; want %s", c, q.Key, ok, p.Key)
			}
		}
		if q, ok := LookupParam(p.Key); !ok || q.Key != p.Key {
			t.Errorf("LookupParam(%s) = %v, %v", p.Key, q, ok)
		}
	}
	if !slices.Equal(got, want) {
		t.Errorf("keys = %v\nwant %v", got, want)
	}
}

func TestCatalogueValues(t *testing.T) {
	tests := []struct {
		key, unit, hj212Unit string
		medium               domain.Medium
		min, max             float64
	}{
		{"ph", "pH", "pH", domain.Water, 0, 14},
		{"do", "mg/L", "mg/L", domain.Water, 0, 25},
		{"temp", "°C", "°C", domain.Water, -2, 45},
		{"cond", "µS/cm", "µS/cm", domain.Water, 0, 80000},
		{"chla", "µg/L", "", domain.Water, 0, 5000},
		{"pb", "mg/L", "µg/L", domain.Water, 0, 50},
		{"hg", "mg/L", "µg/L", domain.Water, 0, 1},
		{"cu", "mg/L", "mg/L", domain.Water, 0, 100},
		{"fcoli", "个/L", "个/L", domain.Water, 0, 1e10},
		{"so2", "µg/m³", "mg/m³", domain.Air, 0, 10000},
		{"no2", "µg/m³", "mg/m³", domain.Air, 0, 5000},
		{"pm25", "µg/m³", "µg/m³", domain.Air, 0, 2000},
		{"co", "mg/m³", "mg/m³", domain.Air, 0, 200},
		{"pressure", "kPa", "kPa", domain.Air, 50, 110},
		{"wind_dir", "°", "°", domain.Air, 0, 360},
	}
	for _, tt := range tests {
		p, ok := LookupParam(tt.key)
		if !ok || p.Unit != tt.unit || p.HJ212Unit != tt.hj212Unit || p.Medium != tt.medium || p.Min != tt.min || p.Max != tt.max {
			t.Errorf("LookupParam(%s) = %+v", tt.key, p)
		}
	}
	if _, ok := LookupParam("PH"); ok {
		t.Error("LookupParam is case-sensitive: keys are a fixed contract")
	}
}

func TestParamByHJ212(t *testing.T) {
	for code, want := range map[string]string{
		"w01010": "temp", "w01001": "ph", "w01009": "do", "w01014": "cond", "w01003": "turb", "W01003": "turb",
		"w01019": "codmn", "w01018": "cod", "w21003": "nh3n", "w21011": "tp", "w21001": "tn",
		"w20111": "hg", "w20117": "cr6", "w02003": "fcoli",
		"a21026": "so2", "a21004": "no2", "a05024": "o3", "A05024": "o3", "a34002": "pm10", "a34004": "pm25",
		"a21005": "co", "a01001": "air_temp", "a01002": "rh", "a01006": "pressure", "a01007": "wind_speed", "a01008": "wind_dir",
		"O3": "o3", "PM25": "pm25", "PM2.5": "pm25", "pm10": "pm10", "SO2": "so2", "NO2": "no2", "CO": "co",
	} {
		if p, ok := ParamByHJ212(code); !ok || p.Key != want {
			t.Errorf("ParamByHJ212(%q) = %q, %v; want %q", code, p.Key, ok, want)
		}
	}
	for _, code := range []string{"", "w99999", "w01003-Rtd", "nh3n", "a0502408"} {
		if p, ok := ParamByHJ212(code); ok {
			t.Errorf("ParamByHJ212(%q) = %s, want not found", code, p.Key)
		}
	}
}

func TestParamsAreCopies(t *testing.T) {
	p, _ := LookupParam("o3")
	p.HJ212[0] = "x"
	p.Aliases[0] = "y"
	Params()[0].HJ212[0] = "z"
	if q, _ := LookupParam("o3"); q.HJ212[0] != "a05024" || q.Aliases[0] != "O3" {
		t.Errorf("catalogue was modified through a returned Param: %+v", q)
	}
	if q, _ := LookupParam("temp"); q.HJ212[0] != "w01010" {
		t.Errorf("catalogue was modified through Params(): %+v", q)
	}
}

func TestNormalizeUnit(t *testing.T) {
	for in, want := range map[string]string{
		"mg/L": "mg/L", "mg/l": "mg/L", " mg / L ": "mg/L",
		"µg/L": "µg/L", "μg/L": "µg/L", "ug/L": "µg/L", "UG/L": "µg/L", "ug/l": "µg/L",
		"ng/L":  "ng/L",
		"mg/m³": "mg/m³", "mg/m3": "mg/m³", "MG/M3": "mg/m³", "mg/m^3": "mg/m³",
		"µg/m³": "µg/m³", "μg/m³": "µg/m³", "ug/m3": "µg/m³", "μg/m3": "µg/m³", "ng/m3": "ng/m³",
		"°C": "°C", "℃": "°C", "degC": "°C", "K": "K", "°F": "°F",
		"µS/cm": "µS/cm", "uS/cm": "µS/cm", "μS/cm": "µS/cm", "us/cm": "µS/cm", "mS/cm": "mS/cm", "S/m": "S/m",
		"kPa": "kPa", "hPa": "hPa", "mbar": "hPa", "Pa": "Pa",
		"NTU": "NTU", "pH": "pH", "无量纲": "pH", "%": "%", "%RH": "%", "m/s": "m/s", "km/h": "km/h", "°": "°",
		"个/L": "个/L", "MPN/L": "个/L", "MPN/100mL": "个/100mL",
	} {
		got, err := NormalizeUnit(in)
		if err != nil || got != want {
			t.Errorf("NormalizeUnit(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, in := range []string{"", "furlong", "mg", "mg/", "ppm", "ppb", "mol/L"} {
		if got, err := NormalizeUnit(in); !errors.Is(err, ErrUnknownUnit) {
			t.Errorf("NormalizeUnit(%q) = %q, %v; want ErrUnknownUnit", in, got, err)
		}
	}
}

func TestConvert(t *testing.T) {
	tests := []struct {
		v        float64
		from, to string
		want     float64
	}{
		{1, "mg/L", "µg/L", 1000},
		{2500, "µg/L", "mg/L", 2.5},
		{2500, "ug/L", "mg/L", 2.5},
		{2500, "μg/L", "mg/L", 2.5},
		{50, "ng/L", "mg/L", 5e-5},
		{0.05, "µg/L", "ng/L", 50},
		{0.05, "mg/m3", "ug/m3", 50},
		{35, "μg/m³", "mg/m³", 0.035},
		{1200, "ng/m³", "µg/m³", 1.2},
		{1.2, "mg/m³", "ng/m³", 1.2e6},
		{25, "°C", "°C", 25},
		{25, "℃", "K", 298.15},
		{77, "°F", "°C", 25},
		{0, "K", "°C", -273.15},
		{1.5, "mS/cm", "µS/cm", 1500},
		{350, "uS/cm", "mS/cm", 0.35},
		{1, "S/m", "µS/cm", 10000},
		{101.325, "kPa", "hPa", 1013.25},
		{1013.25, "hPa", "Pa", 101325},
		{101325, "Pa", "kPa", 101.325},
		{10, "m/s", "km/h", 36},
		{200, "MPN/100mL", "个/L", 2000},
		{7.2, "pH", "pH", 7.2},
	}
	for _, tt := range tests {
		got, err := Convert(tt.v, tt.from, tt.to)
		if err != nil || !near(got, tt.want) {
			t.Errorf("Convert(%v, %q, %q) = %v, %v; want %v", tt.v, tt.from, tt.to, got, err, tt.want)
		}
	}
}

func TestConvertErrors(t *testing.T) {
	tests := []struct {
		from, to string
		is       error
		msg      string
	}{
		{"mg/L", "µg/m³", ErrIncompatibleUnits,
			`convert from "mg/L" to "µg/m³": mg/L is a mass concentration in water, µg/m³ is a mass concentration in air: incompatible units`},
		{"ug/m3", "ug/L", ErrIncompatibleUnits,
			`convert from "ug/m3" to "ug/L": µg/m³ is a mass concentration in air, µg/L is a mass concentration in water: incompatible units`},
		{"°C", "kPa", ErrIncompatibleUnits,
			`convert from "°C" to "kPa": °C is a temperature, kPa is a pressure: incompatible units`},
		{"furlong", "mg/L", ErrUnknownUnit, `convert from "furlong" to "mg/L": "furlong" is not known: unknown unit`},
		{"mg/L", "ppm", ErrUnknownUnit, `convert from "mg/L" to "ppm": "ppm" is not known: unknown unit`},
		{"a", "b", ErrUnknownUnit, `convert from "a" to "b": neither unit is known: unknown unit`},
	}
	for _, tt := range tests {
		_, err := Convert(1, tt.from, tt.to)
		if !errors.Is(err, tt.is) || err.Error() != tt.msg {
			t.Errorf("Convert(1, %q, %q) error = %v\nwant %s", tt.from, tt.to, err, tt.msg)
		}
	}
}

func TestToCanonical(t *testing.T) {
	p, _ := LookupParam("so2")
	if v, err := p.ToCanonical(0.012, "mg/m3"); err != nil || !near(v, 12) {
		t.Errorf("so2 0.012 mg/m3 = %v, %v; want 12 µg/m³", v, err)
	}
	if _, err := p.ToCanonical(1, "mg/L"); !errors.Is(err, ErrIncompatibleUnits) {
		t.Errorf("so2 in mg/L: err = %v", err)
	}
}

func near(a, b float64) bool {
	return a == b || math.Abs(a-b) <= 1e-9*math.Max(math.Abs(a), math.Abs(b))
}

// FuzzUnits checks that NormalizeUnit is idempotent and never panics, and that
// a conversion followed by its inverse returns the value.
func FuzzUnits(f *testing.F) {
	for _, s := range [][2]string{
		{"mg/L", "ug/L"}, {"μg/m3", "mg/m³"}, {"℃", "°F"}, {"mS/cm", "uS/cm"}, {"hPa", "kPa"},
		{"", "mg/L"}, {"m g/l", "NTU"}, {"MPN/100mL", "个/L"}, {"^3", "µ"},
	} {
		f.Add(s[0], s[1], 1.5)
	}
	f.Fuzz(func(t *testing.T, a, b string, v float64) {
		for _, s := range []string{a, b} {
			n, err := NormalizeUnit(s)
			if err != nil {
				if !errors.Is(err, ErrUnknownUnit) {
					t.Fatalf("NormalizeUnit(%q): %v does not wrap ErrUnknownUnit", s, err)
				}
				continue
			}
			if n2, err := NormalizeUnit(n); err != nil || n2 != n {
				t.Fatalf("NormalizeUnit(%q) = %q, but NormalizeUnit(%q) = %q, %v", s, n, n, n2, err)
			}
		}
		got, err := Convert(v, a, b)
		if err != nil {
			if !errors.Is(err, ErrUnknownUnit) && !errors.Is(err, ErrIncompatibleUnits) {
				t.Fatalf("Convert(%v, %q, %q): unclassified error %v", v, a, b, err)
			}
			return
		}
		if math.IsNaN(v) || math.IsInf(v, 0) || math.Abs(v) > 1e100 || math.Abs(v) < 1e-100 {
			return
		}
		back, err := Convert(got, b, a)
		if err != nil {
			t.Fatalf("Convert back (%v, %q, %q): %v", got, b, a, err)
		}
		// Affine temperature scales lose absolute precision near zero.
		if math.Abs(back-v) > 1e-9*math.Max(1, math.Abs(v)) {
			t.Fatalf("Convert(%v, %q, %q) = %v, back = %v", v, a, b, got, back)
		}
	})
}
