package registry

import (
	"errors"
	"fmt"
	"strings"
	"unicode"
)

// ErrUnknownUnit is wrapped by NormalizeUnit and Convert for a unit spelling
// the catalogue does not know.
var ErrUnknownUnit = errors.New("unknown unit")

// ErrIncompatibleUnits is wrapped by Convert when the two units measure
// different quantities (mg/L and µg/m³, °C and kPa …).
var ErrIncompatibleUnits = errors.New("incompatible units")

// dimension is the quantity a unit measures. Mass concentration in water
// (per litre) and in air (per cubic metre) are kept apart on purpose: no
// station sends one for the other, so a mix-up is a configuration error.
type dimension uint8

const (
	dimWaterMass dimension = iota + 1
	dimAirMass
	dimTemperature
	dimConductivity
	dimPressure
	dimTurbidity
	dimPH
	dimPercent
	dimSpeed
	dimAngle
	dimCount
)

var dimensionNames = [...]string{
	dimWaterMass:    "a mass concentration in water",
	dimAirMass:      "a mass concentration in air",
	dimTemperature:  "a temperature",
	dimConductivity: "a conductivity",
	dimPressure:     "a pressure",
	dimTurbidity:    "a turbidity",
	dimPH:           "a pH value",
	dimPercent:      "a percentage",
	dimSpeed:        "a speed",
	dimAngle:        "an angle",
	dimCount:        "a count per volume",
}

func (d dimension) String() string { return dimensionNames[d] }

// unitDef defines a unit: value in the dimension's base unit = v*scale + offset.
type unitDef struct {
	name    string // canonical spelling
	dim     dimension
	scale   float64
	offset  float64
	aliases []string // extra spellings besides the generated ones
}

// units is read-only after package initialisation. Base units: mg/L, µg/m³,
// °C, µS/cm, kPa, NTU, pH, %, m/s, °, 个/L.
var units = []unitDef{
	{name: "g/L", dim: dimWaterMass, scale: 1e3},
	{name: "mg/L", dim: dimWaterMass, scale: 1},
	{name: "µg/L", dim: dimWaterMass, scale: 1e-3, aliases: []string{"mcg/L"}},
	{name: "ng/L", dim: dimWaterMass, scale: 1e-6},

	{name: "mg/m³", dim: dimAirMass, scale: 1e3},
	{name: "µg/m³", dim: dimAirMass, scale: 1, aliases: []string{"mcg/m³"}},
	{name: "ng/m³", dim: dimAirMass, scale: 1e-3},

	{name: "°C", dim: dimTemperature, scale: 1, aliases: []string{"℃", "degC", "deg C", "Cel", "celsius"}},
	{name: "K", dim: dimTemperature, scale: 1, offset: -273.15, aliases: []string{"kelvin"}},
	{name: "°F", dim: dimTemperature, scale: 5.0 / 9, offset: -32 * 5.0 / 9, aliases: []string{"℉", "degF", "fahrenheit"}},

	{name: "µS/cm", dim: dimConductivity, scale: 1, aliases: []string{"µmho/cm", "umhos/cm", "µmhos/cm"}},
	{name: "mS/cm", dim: dimConductivity, scale: 1e3, aliases: []string{"mmho/cm"}},
	{name: "mS/m", dim: dimConductivity, scale: 10},
	{name: "S/m", dim: dimConductivity, scale: 1e4},

	{name: "kPa", dim: dimPressure, scale: 1},
	{name: "hPa", dim: dimPressure, scale: 0.1, aliases: []string{"mbar", "millibar"}},
	{name: "Pa", dim: dimPressure, scale: 1e-3},

	{name: "NTU", dim: dimTurbidity, scale: 1},
	{name: "pH", dim: dimPH, scale: 1, aliases: []string{"无量纲", "pH units"}},
	{name: "%", dim: dimPercent, scale: 1, aliases: []string{"%RH", "percent"}},
	{name: "m/s", dim: dimSpeed, scale: 1, aliases: []string{"m·s⁻¹", "m s-1"}},
	{name: "km/h", dim: dimSpeed, scale: 1 / 3.6, aliases: []string{"kph"}},
	{name: "°", dim: dimAngle, scale: 1, aliases: []string{"deg", "degree", "degrees"}},
	{name: "个/L", dim: dimCount, scale: 1, aliases: []string{"MPN/L", "CFU/L", "/L"}},
	{name: "个/100mL", dim: dimCount, scale: 10, aliases: []string{"MPN/100mL", "CFU/100mL"}},
}

// unitIndex maps folded spellings to positions in units. Built once.
var unitIndex = buildUnitIndex()

func buildUnitIndex() map[string]int {
	idx := make(map[string]int)
	add := func(s string, i int) {
		k := foldUnit(s)
		if j, dup := idx[k]; dup && j != i {
			// A programming error in the tables above, caught by the tests.
			panic(fmt.Sprintf("registry: unit spelling %q is ambiguous (%s, %s)", s, units[j].name, units[i].name))
		}
		idx[k] = i
	}
	for i, u := range units {
		add(u.name, i)
		for _, a := range u.aliases {
			add(a, i)
		}
		// ASCII spellings of µ and ³: ug/L, mg/m3, mg/m^3, uS/cm.
		ascii := strings.NewReplacer("µ", "u", "³", "3").Replace(u.name)
		add(ascii, i)
		add(strings.ReplaceAll(u.name, "³", "^3"), i)
		add(strings.ReplaceAll(strings.ReplaceAll(u.name, "µ", "u"), "³", "^3"), i)
	}
	return idx
}

// foldUnit maps the spelling variants of one unit to one key: whitespace
// removed, Greek mu (U+03BC) to the micro sign (U+00B5), superscript three to
// 3, lower case. No two units in the table differ only in case.
func foldUnit(s string) string {
	var b strings.Builder
	for _, r := range s {
		switch {
		case unicode.IsSpace(r):
			continue
		case r == 'μ': // Greek small mu
			r = 'µ' // micro sign
		case r == '³':
			r = '3'
		}
		b.WriteRune(unicode.ToLower(r))
	}
	return strings.ReplaceAll(b.String(), "^3", "3")
}

func lookupUnit(s string) (unitDef, bool) {
	i, ok := unitIndex[foldUnit(s)]
	if !ok {
		return unitDef{}, false
	}
	return units[i], true
}

// NormalizeUnit returns the canonical spelling of unit s: ug/L, μg/L (Greek
// mu) and µg/L (micro sign) all give µg/L; mg/m3 gives mg/m³; ℃ gives °C.
// An unknown spelling gives an error wrapping ErrUnknownUnit.
func NormalizeUnit(s string) (string, error) {
	u, ok := lookupUnit(s)
	if !ok {
		return "", fmt.Errorf("normalize unit %q: %w", s, ErrUnknownUnit)
	}
	return u.name, nil
}

// Convert converts v from unit from to unit to. Both may be any spelling
// NormalizeUnit accepts. Converting between units of different quantities
// gives an error naming both units and wrapping ErrIncompatibleUnits.
func Convert(v float64, from, to string) (float64, error) {
	f, fok := lookupUnit(from)
	t, tok := lookupUnit(to)
	switch {
	case !fok && !tok:
		return 0, fmt.Errorf("convert from %q to %q: neither unit is known: %w", from, to, ErrUnknownUnit)
	case !fok:
		return 0, fmt.Errorf("convert from %q to %q: %q is not known: %w", from, to, from, ErrUnknownUnit)
	case !tok:
		return 0, fmt.Errorf("convert from %q to %q: %q is not known: %w", from, to, to, ErrUnknownUnit)
	case f.dim != t.dim:
		return 0, fmt.Errorf("convert from %q to %q: %s is %s, %s is %s: %w",
			from, to, f.name, f.dim, t.name, t.dim, ErrIncompatibleUnits)
	case f.name == t.name:
		return v, nil
	}
	return (v*f.scale + f.offset - t.offset) / t.scale, nil
}

// dim returns the quantity p's canonical unit measures.
func (p *Param) dim() dimension {
	u, _ := lookupUnit(p.Unit)
	return u.dim
}
