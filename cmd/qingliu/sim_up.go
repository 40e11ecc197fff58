package main

import (
	"time"

	"github.com/qingliu/qingliu/registry"
	"github.com/qingliu/qingliu/sim"
)

// buildSim runs the station simulator inside `qingliu up --sim`: it replays
// the last two hours at 240× (about 30 s), then goes on in real time with
// every parameter at least every five minutes. Events given with --event start
// relative to the wall clock ("+1m" is a minute from now), not to the
// replay's start, because that is what someone watching the console means.
func buildSim(e *env, broker string, events []string) (component, error) {
	now := time.Now()
	cfg := sim.DefaultConfig()
	cfg.Broker = broker
	cfg.Start = now.Add(-2 * time.Hour).Truncate(time.Hour)
	cfg.Speedup = 240
	cfg.NoFuture = true
	for _, s := range events {
		ev, err := sim.ParseEvent(s)
		if err != nil {
			return component{}, badInputf("--event: %w", err)
		}
		if ev.Start.Abs.IsZero() {
			ev.Start = sim.At{Abs: now.Add(ev.Start.Rel)}
		}
		cfg.Events = append(cfg.Events, ev)
	}
	if err := cfg.Validate(e.reg); err != nil {
		return component{}, badInput(err)
	}
	s := sim.New(cfg, demoStations(e.reg, 5*time.Minute), e.log)
	return component{"sim", s.Run}, nil
}

// demoRegistry is the registry as the demo simulator sees it: every
// parameter reported at least every limit, so an event shows within minutes
// instead of at the next 4-hourly nutrient sample. (Every minute was too
// often: the simulator's noise then trips the rate and stuck rules.) The stages keep the real
// intervals.
type demoRegistry struct {
	*registry.Registry
	stations []*registry.Station
}

func (d demoRegistry) Stations() []*registry.Station { return d.stations }

func demoStations(reg *registry.Registry, limit time.Duration) demoRegistry {
	d := demoRegistry{Registry: reg}
	for _, st := range reg.Stations() {
		c := *st
		c.Params = make(map[string]time.Duration, len(st.Params))
		for p, iv := range st.Params {
			c.Params[p] = min(iv, limit)
		}
		d.stations = append(d.stations, &c)
	}
	return d
}
