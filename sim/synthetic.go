package sim

import (
	"fmt"
	"slices"
	"time"

	"github.com/qingliu/qingliu/domain"
	"github.com/qingliu/qingliu/registry"
)

// SyntheticInterval is the reporting interval of every parameter of a
// synthetic station, so each of its messages carries all its parameters.
const SyntheticInterval = time.Minute

// SyntheticParams returns the parameters of a synthetic station of medium:
// seven water parameters (the five field parameters, ammonia and total
// phosphorus) or the six AQI pollutants.
func SyntheticParams(medium domain.Medium) []string {
	if medium == domain.Air {
		return []string{"co", "no2", "o3", "pm10", "pm25", "so2"}
	}
	return []string{"cond", "do", "nh3n", "ph", "temp", "tp", "turb"}
}

// SyntheticStations returns n stations of medium for load tests, with ids
// load-0001, load-0002 … (wider when n > 9999), no river, and every
// parameter of SyntheticParams reported each SyntheticInterval.
func SyntheticStations(n int, medium domain.Medium) []*registry.Station {
	width := max(4, len(fmt.Sprint(n)))
	kind := registry.KindMunicipal
	if medium == domain.Air {
		kind = registry.KindAirStation
	}
	out := make([]*registry.Station, n)
	for i := range n {
		params := map[string]time.Duration{}
		for _, p := range SyntheticParams(medium) {
			params[p] = SyntheticInterval
		}
		num := fmt.Sprintf("%0*d", width, i+1)
		st := &registry.Station{
			ID:     "load-" + num,
			Name:   "负载测试站" + num,
			Medium: medium,
			Kind:   kind,
			City:   [2]string{"广州", "清远"}[i%2],
			Lat:    23.0 + 0.8*float64(i%100)/100,
			Lon:    112.8 + 0.9*float64(i/100%100)/100,
			Params: params,
			Labels: map[string]string{"synthetic": "true"},
			Note:   "synthetic station for load tests",
		}
		if medium == domain.Water {
			st.TargetClass = 3
		}
		out[i] = st
	}
	return out
}

// StationList is a Registry of stations on no river, for load tests with
// SyntheticStations. Its Stations must be sorted by id.
type StationList []*registry.Station

// Stations returns the stations.
func (l StationList) Stations() []*registry.Station { return slices.Clone(l) }

// Downstream returns nothing: the stations are on no river.
func (l StationList) Downstream(string) []registry.Hop { return nil }
