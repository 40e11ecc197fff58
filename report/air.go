package report

import (
	"fmt"
	"time"

	"github.com/qingliu/qingliu/registry"
	"github.com/qingliu/qingliu/standards/aqi"
)

// Air is the daily air-quality report of one day.
type Air struct {
	Report   string       `json:"report"` // "air"
	Date     string       `json:"date"`   // 2026-11-20 (Asia/Shanghai)
	Standard string       `json:"standard"`
	Stations []AirStation `json:"stations"`
}

// AirStation is one station's daily report (日报).
type AirStation struct {
	Station  string `json:"station"`
	Name     string `json:"name"`
	City     string `json:"city"`
	District string `json:"district,omitempty"`
	// AQI, Level and Category are nil when the AQI is NA: pollutants are
	// missing and the standard publishes no AQI (HJ 633-2026 §5.3.1), or
	// none could be computed.
	AQI      *int    `json:"aqi"`
	Level    *int    `json:"level"`
	Category *string `json:"category"`
	Color    string  `json:"color,omitempty"`
	NA       bool    `json:"na"`
	// Primary lists the primary pollutants (首要污染物; none when AQI ≤ 50).
	Primary    []string    `json:"primary"`
	Pollutants []Pollutant `json:"pollutants"`
	// Missing lists the indicators without a valid daily value.
	Missing []string `json:"missing"`
}

// Pollutant is one indicator of the daily report.
type Pollutant struct {
	Key  string `json:"key"`  // so2 no2 co pm10 pm25 o3_8h (and o3_1h, HJ 633-2012)
	Unit string `json:"unit"` // µg/m³, co mg/m³
	// Value is the daily value (24-h mean, O3 daily maximum 8-h mean, or
	// for o3_1h the daily maximum 1-h mean); nil when the validity rules
	// are not met.
	Value *float64 `json:"value"`
	// N is the number of valid hourly means (o3_8h: valid 8-h windows).
	N     int  `json:"n"`
	Valid bool `json:"valid"`
	// IAQI is nil when the value is invalid, or when the standard reports
	// the pollutant through another indicator (ReplacedBy).
	IAQI       *int   `json:"iaqi"`
	ReplacedBy string `json:"replaced_by,omitempty"`
}

// pollutants are the canonical air parameters of the daily report, in the
// order of their hourly-mean arrays.
var pollutants = [...]string{"so2", "no2", "co", "pm10", "pm25", "o3"}

const hoursPerDay = 24

// hourSamples collects one station's readings of one pollutant per hour of
// the day.
type hourSamples struct {
	samples [hoursPerDay][]aqi.Sample
	hourly  [hoursPerDay]*aqi.Sample // HJ 212 hourly aggregate, preferred
}

// BuildAir builds the daily report of the day starting at day (00:00 in
// China Standard Time) for stations from the points of the air measurement.
// The hourly means follow the validity rules (flags C, M, D, F, S, B
// excluded; 45 min of the hour), the daily values GB 3095's (20 hours for a
// 24-h mean, the O3 daily maximum 8-h rule) and the AQI is computed by the
// HJ 633 version in force at the start of the day.
func BuildAir(std *aqi.Standards, stations []*registry.Station, day time.Time, points []Point) (*Air, error) {
	ver, err := std.Lookup(day)
	if err != nil {
		return nil, fmt.Errorf("air report: %w", err)
	}
	val := std.Validity()
	rep := &Air{Report: "air", Date: day.Format(time.DateOnly), Standard: ver.ID(), Stations: make([]AirStation, 0, len(stations))}
	index := map[string]int{}
	for i, st := range stations {
		index[st.ID] = i
	}
	data := make([][len(pollutants)]*hourSamples, len(stations))
	end := day.Add(hoursPerDay * time.Hour)
	for i := range points {
		pt := &points[i]
		si, ok := index[pt.Station]
		if !ok || pt.Time.Before(day) || !pt.Time.Before(end) {
			continue
		}
		pi := pollutantIndex(pt.Param)
		k, ok := kindOf(pt.Interval)
		if pi < 0 || !ok {
			continue
		}
		hs := data[si][pi]
		if hs == nil {
			hs = &hourSamples{}
			data[si][pi] = hs
		}
		h := int(pt.Time.Sub(day) / time.Hour)
		s := aqi.Sample{V: pt.Value, Flag: pt.Flag}
		if k == kindHour {
			hs.hourly[h] = &s
		} else {
			hs.samples[h] = append(hs.samples[h], s)
		}
	}

	conc := map[string]float64{}
	for si, st := range stations {
		var means [len(pollutants)][hoursPerDay]aqi.Mean
		for pi, hs := range data[si] {
			if hs == nil {
				continue
			}
			iv := st.Interval(pollutants[pi])
			if iv <= 0 {
				iv = time.Hour
			}
			for h := range hoursPerDay {
				if s := hs.hourly[h]; s != nil {
					means[pi][h] = val.Mean1h([]aqi.Sample{*s}, time.Hour)
				} else {
					means[pi][h] = val.Mean1h(hs.samples[h], iv)
				}
			}
		}
		daily := map[string]aqi.Mean{}
		for pi, key := range pollutants[:5] {
			daily[key] = val.Mean24h(means[pi][:])
		}
		o3 := means[len(pollutants)-1][:]
		daily["o3_8h"] = val.O3DailyMax8h(o3)
		var mx aqi.Mean
		for _, m := range o3 {
			if m.Valid {
				mx.N++
				if !mx.Valid || m.V > mx.V {
					mx.V, mx.Valid = m.V, true
				}
			}
		}
		daily["o3_1h"] = mx

		clear(conc)
		for k, m := range daily {
			if m.Valid {
				conc[k] = m.V
			}
		}
		res := ver.Compute(aqi.Daily, conc)
		out := AirStation{Station: st.ID, Name: st.Name, City: st.City, District: st.District,
			Primary: res.Primary(), Missing: res.Missing(), NA: !res.Published}
		if res.Published {
			a, l, c := res.AQI, res.Level, res.Category
			out.AQI, out.Level, out.Category, out.Color = &a, &l, &c, res.Color
		}
		for _, key := range ver.Indicators(aqi.Daily) {
			m := daily[key]
			p := Pollutant{Key: key, Unit: "µg/m³", N: m.N, Valid: m.Valid}
			if key == "co" {
				p.Unit = "mg/m³"
			}
			if m.Valid {
				v := round6(m.V)
				p.Value = &v
			}
			if sub, ok := res.Sub(key); ok {
				switch sub.State {
				case aqi.Computed:
					iaqi := sub.IAQI
					p.IAQI = &iaqi
				case aqi.Replaced:
					p.ReplacedBy = sub.ReplacedBy
				}
			}
			out.Pollutants = append(out.Pollutants, p)
		}
		rep.Stations = append(rep.Stations, out)
	}
	return rep, nil
}

func pollutantIndex(param string) int {
	for i, p := range pollutants {
		if p == param {
			return i
		}
	}
	return -1
}
