package registry

import (
	"slices"
	"strings"

	"github.com/qingliu/qingliu/domain"
)

// Param is one canonical parameter (DESIGN §3.2). Keys are a fixed contract:
// they are JSON payload keys, InfluxDB field names and rule operands.
type Param struct {
	Key    string        // short fixed key, e.g. nh3n
	Medium domain.Medium // water or air
	Unit   string        // canonical unit, in NormalizeUnit spelling
	NameZH string        // Chinese name, e.g. 氨氮
	NameEN string        // English name
	// HJ212 lists the HJ 212 pollutant codes that map to this parameter,
	// including de facto codes missing from HJ 212-2017 (w01003, a05024).
	HJ212 []string
	// HJ212Unit is the unit HJ 212 assumes for those codes when the station
	// does not say otherwise; empty when the parameter has no HJ 212 code.
	// It differs from Unit for SO2/NO2 (mg/m³) and the heavy metals (µg/L).
	HJ212Unit string
	// Aliases are non-standard names some devices send in place of the HJ 212
	// code (O3-Rtd, PM25-Rtd …). ParamByHJ212 matches them case-insensitively.
	Aliases []string
	// Min and Max bound the physically plausible values in Unit (inclusive).
	// A value outside them is quarantined as impossible, not graded.
	Min, Max float64
}

// Plausible reports whether v (in the canonical unit) lies within the
// physically plausible range of p.
func (p Param) Plausible(v float64) bool { return v >= p.Min && v <= p.Max }

// ToCanonical converts v from unit to the canonical unit of p.
func (p Param) ToCanonical(v float64, unit string) (float64, error) {
	return Convert(v, unit, p.Unit)
}

func (p Param) clone() Param {
	p.HJ212 = slices.Clone(p.HJ212)
	p.Aliases = slices.Clone(p.Aliases)
	return p
}

// catalogue is the fixed parameter table. It is read-only after package
// initialisation; every accessor returns copies.
//
// Plausible ranges are deliberately wide: they catch sensor faults and unit
// mix-ups (a µg/L value read as mg/L), not real pollution events.
var catalogue = []Param{
	// Water: the five parameters (五参数) of an automatic station.
	{Key: "temp", Medium: domain.Water, Unit: "°C", NameZH: "水温", NameEN: "water temperature",
		HJ212: []string{"w01010"}, HJ212Unit: "°C", Min: -2, Max: 45},
	{Key: "ph", Medium: domain.Water, Unit: "pH", NameZH: "pH值", NameEN: "pH",
		HJ212: []string{"w01001"}, HJ212Unit: "pH", Min: 0, Max: 14},
	{Key: "do", Medium: domain.Water, Unit: "mg/L", NameZH: "溶解氧", NameEN: "dissolved oxygen",
		HJ212: []string{"w01009"}, HJ212Unit: "mg/L", Min: 0, Max: 25},
	// Up to sea water (~55 000 µS/cm): the delta sees salt intrusion.
	{Key: "cond", Medium: domain.Water, Unit: "µS/cm", NameZH: "电导率", NameEN: "conductivity",
		HJ212: []string{"w01014"}, HJ212Unit: "µS/cm", Min: 0, Max: 80000},
	// w01003 is not in HJ 212-2017 Table B.1 but is used in the field
	// (DOMAIN §3.4); its default unit is UNCONFIRMED, NTU assumed.
	{Key: "turb", Medium: domain.Water, Unit: "NTU", NameZH: "浊度", NameEN: "turbidity",
		HJ212: []string{"w01003"}, HJ212Unit: "NTU", Min: 0, Max: 10000},
	// Water: organics and nutrients.
	{Key: "codmn", Medium: domain.Water, Unit: "mg/L", NameZH: "高锰酸盐指数", NameEN: "permanganate index (CODMn)",
		HJ212: []string{"w01019"}, HJ212Unit: "mg/L", Min: 0, Max: 500},
	{Key: "cod", Medium: domain.Water, Unit: "mg/L", NameZH: "化学需氧量", NameEN: "chemical oxygen demand (COD)",
		HJ212: []string{"w01018"}, HJ212Unit: "mg/L", Min: 0, Max: 5000},
	{Key: "bod5", Medium: domain.Water, Unit: "mg/L", NameZH: "五日生化需氧量", NameEN: "five-day biochemical oxygen demand (BOD5)",
		HJ212: []string{"w01017"}, HJ212Unit: "mg/L", Min: 0, Max: 2000},
	{Key: "nh3n", Medium: domain.Water, Unit: "mg/L", NameZH: "氨氮", NameEN: "ammonia nitrogen (NH3-N)",
		HJ212: []string{"w21003"}, HJ212Unit: "mg/L", Min: 0, Max: 500},
	{Key: "tp", Medium: domain.Water, Unit: "mg/L", NameZH: "总磷", NameEN: "total phosphorus",
		HJ212: []string{"w21011"}, HJ212Unit: "mg/L", Min: 0, Max: 100},
	{Key: "tn", Medium: domain.Water, Unit: "mg/L", NameZH: "总氮", NameEN: "total nitrogen",
		HJ212: []string{"w21001"}, HJ212Unit: "mg/L", Min: 0, Max: 500},
	// No HJ 212 code for chlorophyll-a was confirmed.
	{Key: "chla", Medium: domain.Water, Unit: "µg/L", NameZH: "叶绿素a", NameEN: "chlorophyll-a",
		Min: 0, Max: 5000},
	// Water: GB 3838 Table 1 items 10–24.
	{Key: "cu", Medium: domain.Water, Unit: "mg/L", NameZH: "铜", NameEN: "copper",
		HJ212: []string{"w20122"}, HJ212Unit: "mg/L", Min: 0, Max: 100},
	{Key: "zn", Medium: domain.Water, Unit: "mg/L", NameZH: "锌", NameEN: "zinc",
		HJ212: []string{"w20123"}, HJ212Unit: "mg/L", Min: 0, Max: 100},
	{Key: "f", Medium: domain.Water, Unit: "mg/L", NameZH: "氟化物", NameEN: "fluoride",
		HJ212: []string{"w21017"}, HJ212Unit: "mg/L", Min: 0, Max: 100},
	{Key: "se", Medium: domain.Water, Unit: "mg/L", NameZH: "硒", NameEN: "selenium",
		HJ212: []string{"w20128"}, HJ212Unit: "µg/L", Min: 0, Max: 10},
	{Key: "as", Medium: domain.Water, Unit: "mg/L", NameZH: "砷", NameEN: "arsenic",
		HJ212: []string{"w20119"}, HJ212Unit: "µg/L", Min: 0, Max: 50},
	{Key: "hg", Medium: domain.Water, Unit: "mg/L", NameZH: "汞", NameEN: "mercury",
		HJ212: []string{"w20111"}, HJ212Unit: "µg/L", Min: 0, Max: 1},
	{Key: "cd", Medium: domain.Water, Unit: "mg/L", NameZH: "镉", NameEN: "cadmium",
		HJ212: []string{"w20115"}, HJ212Unit: "µg/L", Min: 0, Max: 10},
	{Key: "cr6", Medium: domain.Water, Unit: "mg/L", NameZH: "六价铬", NameEN: "hexavalent chromium",
		HJ212: []string{"w20117"}, HJ212Unit: "µg/L", Min: 0, Max: 50},
	{Key: "pb", Medium: domain.Water, Unit: "mg/L", NameZH: "铅", NameEN: "lead",
		HJ212: []string{"w20120"}, HJ212Unit: "µg/L", Min: 0, Max: 50},
	{Key: "cn", Medium: domain.Water, Unit: "mg/L", NameZH: "氰化物", NameEN: "cyanide",
		HJ212: []string{"w21016"}, HJ212Unit: "mg/L", Min: 0, Max: 50},
	{Key: "phenol", Medium: domain.Water, Unit: "mg/L", NameZH: "挥发酚", NameEN: "volatile phenols",
		HJ212: []string{"w23002"}, HJ212Unit: "mg/L", Min: 0, Max: 100},
	{Key: "oil", Medium: domain.Water, Unit: "mg/L", NameZH: "石油类", NameEN: "petroleum",
		HJ212: []string{"w22001"}, HJ212Unit: "mg/L", Min: 0, Max: 1000},
	{Key: "las", Medium: domain.Water, Unit: "mg/L", NameZH: "阴离子表面活性剂", NameEN: "anionic surfactants (LAS)",
		HJ212: []string{"w19002"}, HJ212Unit: "mg/L", Min: 0, Max: 100},
	{Key: "sulfide", Medium: domain.Water, Unit: "mg/L", NameZH: "硫化物", NameEN: "sulfide",
		HJ212: []string{"w21019"}, HJ212Unit: "mg/L", Min: 0, Max: 100},
	{Key: "fcoli", Medium: domain.Water, Unit: "个/L", NameZH: "粪大肠菌群", NameEN: "fecal coliforms",
		HJ212: []string{"w02003"}, HJ212Unit: "个/L", Min: 0, Max: 1e10},

	// Air: the six AQI pollutants. HJ 212-2017 Table B.2 defaults SO2 and NO2
	// to mg/m³, but real air-station packets look like µg/m³ (DOMAIN §3.4):
	// stations say which with a unit override.
	{Key: "so2", Medium: domain.Air, Unit: "µg/m³", NameZH: "二氧化硫", NameEN: "sulphur dioxide",
		HJ212: []string{"a21026"}, HJ212Unit: "mg/m³", Aliases: []string{"SO2"}, Min: 0, Max: 10000},
	{Key: "no2", Medium: domain.Air, Unit: "µg/m³", NameZH: "二氧化氮", NameEN: "nitrogen dioxide",
		HJ212: []string{"a21004"}, HJ212Unit: "mg/m³", Aliases: []string{"NO2"}, Min: 0, Max: 5000},
	// a05024 is de facto (not in HJ 212-2017 Table B.2); unit UNCONFIRMED,
	// µg/m³ assumed as in the packets seen.
	{Key: "o3", Medium: domain.Air, Unit: "µg/m³", NameZH: "臭氧", NameEN: "ozone",
		HJ212: []string{"a05024"}, HJ212Unit: "µg/m³", Aliases: []string{"O3"}, Min: 0, Max: 2000},
	// The HJ 212-2017 text layer prints 纳克/立方米 (ng/m³) for a34002/a34004.
	// No device sending ng/m³ was found and reading µg/m³ values as ng/m³
	// would silently divide PM by 1000, so µg/m³ is assumed (UNCONFIRMED).
	{Key: "pm10", Medium: domain.Air, Unit: "µg/m³", NameZH: "可吸入颗粒物", NameEN: "PM10",
		HJ212: []string{"a34002"}, HJ212Unit: "µg/m³", Aliases: []string{"PM10"}, Min: 0, Max: 5000},
	{Key: "pm25", Medium: domain.Air, Unit: "µg/m³", NameZH: "细颗粒物", NameEN: "PM2.5",
		HJ212: []string{"a34004"}, HJ212Unit: "µg/m³", Aliases: []string{"PM25", "PM2.5", "PM2_5"}, Min: 0, Max: 2000},
	{Key: "co", Medium: domain.Air, Unit: "mg/m³", NameZH: "一氧化碳", NameEN: "carbon monoxide",
		HJ212: []string{"a21005"}, HJ212Unit: "mg/m³", Aliases: []string{"CO"}, Min: 0, Max: 200},
	// Air: meteorology.
	{Key: "air_temp", Medium: domain.Air, Unit: "°C", NameZH: "气温", NameEN: "air temperature",
		HJ212: []string{"a01001"}, HJ212Unit: "°C", Min: -30, Max: 55},
	{Key: "rh", Medium: domain.Air, Unit: "%", NameZH: "相对湿度", NameEN: "relative humidity",
		HJ212: []string{"a01002"}, HJ212Unit: "%", Min: 0, Max: 100},
	{Key: "pressure", Medium: domain.Air, Unit: "kPa", NameZH: "气压", NameEN: "air pressure",
		HJ212: []string{"a01006"}, HJ212Unit: "kPa", Min: 50, Max: 110},
	{Key: "wind_speed", Medium: domain.Air, Unit: "m/s", NameZH: "风速", NameEN: "wind speed",
		HJ212: []string{"a01007"}, HJ212Unit: "m/s", Min: 0, Max: 90},
	{Key: "wind_dir", Medium: domain.Air, Unit: "°", NameZH: "风向", NameEN: "wind direction",
		HJ212: []string{"a01008"}, HJ212Unit: "°", Min: 0, Max: 360},
}

// paramIndex maps keys, and lower-cased HJ 212 codes and aliases, to
// positions in catalogue. Built once, never written afterwards.
var paramIndex, hj212Index = buildParamIndex()

func buildParamIndex() (byKey, byCode map[string]int) {
	byKey = make(map[string]int, len(catalogue))
	byCode = make(map[string]int, 2*len(catalogue))
	for i, p := range catalogue {
		byKey[p.Key] = i
		for _, c := range p.HJ212 {
			byCode[strings.ToLower(c)] = i
		}
		for _, a := range p.Aliases {
			byCode[strings.ToLower(a)] = i
		}
	}
	return byKey, byCode
}

// paramRef returns the catalogue entry itself, for read-only use inside the
// package on hot paths (no copy, no allocation).
func paramRef(key string) (*Param, bool) {
	i, ok := paramIndex[key]
	if !ok {
		return nil, false
	}
	return &catalogue[i], true
}

// LookupParam returns the parameter with canonical key key.
func LookupParam(key string) (Param, bool) {
	i, ok := paramIndex[key]
	if !ok {
		return Param{}, false
	}
	return catalogue[i].clone(), true
}

// ParamByHJ212 returns the parameter an HJ 212 pollutant code maps to. code is
// the bare code (w21003, not w21003-Rtd), matched case-insensitively; the de
// facto codes w01003 and a05024 and the plain names some devices send (O3,
// PM25, PM10, SO2, NO2, CO) are accepted too.
func ParamByHJ212(code string) (Param, bool) {
	i, ok := hj212Index[strings.ToLower(strings.TrimSpace(code))]
	if !ok {
		return Param{}, false
	}
	return catalogue[i].clone(), true
}

// Params returns the whole catalogue, water parameters first, in a fixed
// order.
func Params() []Param {
	out := make([]Param, len(catalogue))
	for i, p := range catalogue {
		out[i] = p.clone()
	}
	return out
}

// Limits is what a hot path needs of a parameter: its medium, canonical unit
// and plausible range. ParamLimits returns it without copying slices.
type Limits struct {
	Medium   domain.Medium
	Unit     string
	Min, Max float64
}

// ParamLimits returns the limits of the parameter with canonical key key.
func ParamLimits(key string) (Limits, bool) {
	p, ok := paramRef(key)
	if !ok {
		return Limits{}, false
	}
	return Limits{Medium: p.Medium, Unit: p.Unit, Min: p.Min, Max: p.Max}, true
}
