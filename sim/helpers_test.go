package sim

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/qingliu/qingliu/domain"
	"github.com/qingliu/qingliu/registry"
)

// testRegistry is a hand-built registry: a three-section river a → b → c
// (ETAs 2h and 5h from a), and one air station.
type testRegistry struct {
	stations []*registry.Station
	down     map[string][]registry.Hop
}

func (r *testRegistry) Stations() []*registry.Station { return slices.Clone(r.stations) }
func (r *testRegistry) Downstream(id string) []registry.Hop {
	return slices.Clone(r.down[id])
}

func (r *testRegistry) station(id string) *registry.Station {
	for _, st := range r.stations {
		if st.ID == id {
			return st
		}
	}
	panic("no station " + id)
}

func waterParams() map[string]time.Duration {
	return map[string]time.Duration{
		"temp": time.Hour, "ph": time.Hour, "do": time.Hour, "cond": time.Hour, "turb": time.Hour,
		"codmn": 4 * time.Hour, "nh3n": 4 * time.Hour, "tp": 4 * time.Hour, "tn": 4 * time.Hour,
	}
}

func newTestRegistry() *testRegistry {
	water := func(id string) *registry.Station {
		return &registry.Station{ID: id, Medium: domain.Water, River: "北江", TargetClass: 2, Params: waterParams()}
	}
	a, b, c := water("bj-a"), water("bj-b"), water("bj-c")
	c.Units = map[string]string{"cond": "mS/cm"}
	air := &registry.Station{ID: "aq-x", Medium: domain.Air, Params: map[string]time.Duration{
		"pm25": time.Hour, "pm10": time.Hour, "o3": time.Hour, "no2": time.Hour, "so2": time.Hour, "co": time.Hour,
		"air_temp": time.Hour, "rh": time.Hour, "pressure": time.Hour, "wind_speed": time.Hour, "wind_dir": time.Hour,
	}}
	return &testRegistry{
		stations: []*registry.Station{air, a, b, c},
		down: map[string][]registry.Hop{
			"bj-a": {{Station: "bj-b", River: "北江", ETA: 2 * time.Hour}, {Station: "bj-c", River: "北江", ETA: 5 * time.Hour, Intake: true}},
			"bj-b": {{Station: "bj-c", River: "北江", ETA: 3 * time.Hour, Intake: true}},
		},
	}
}

// at parses a +08:00 local time for tests.
func at(t *testing.T, s string) time.Time {
	t.Helper()
	v, err := time.Parse(time.RFC3339, s)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// wantErrContains checks that err is not nil and mentions every fragment.
func wantErrContains(t *testing.T, err error, fragments ...string) {
	t.Helper()
	if err == nil {
		t.Fatalf("got no error, want one containing %q", fragments)
	}
	for _, f := range fragments {
		if !strings.Contains(err.Error(), f) {
			t.Errorf("error %q does not contain %q", err, f)
		}
	}
}
