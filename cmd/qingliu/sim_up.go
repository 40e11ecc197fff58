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
// Each station logs in with its own credential, as a device would: from
// files.dev_credentials (DEV ONLY) or the station's password_file or ${ENV}.
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
	tlsCfg, err := mqttClientTLS(e.cfg)
	if err != nil {
		return component{}, err
	}
	cfg.TLS = tlsCfg
	devFile := ""
	if e.cfg.Files.DevCredentials != "" {
		devFile = e.cfg.Path(e.cfg.Files.DevCredentials)
	}
	pws, err := stationPasswords(e.reg, devFile)
	if err != nil {
		return component{}, badInput(err)
	}
	switch {
	case len(pws) > 0:
		cfg.Credentials, cfg.Stations = simCredentials(e.reg, pws)
	case !e.cfg.NATS.Embedded.MQTTAnonymous:
		return component{}, badInputf("--sim: no station has a known MQTT password: name the DEV ONLY credentials file in files.dev_credentials, or set nats.embedded.mqtt_anonymous: true")
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
