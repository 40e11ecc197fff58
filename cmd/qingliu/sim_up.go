package main

import (
	"time"

	"github.com/qingliu/qingliu/sim"
)

// buildSim runs the station simulator inside `qingliu up --sim`: it replays
// the last day at 240× (hourly parameters every 15 s, for about six
// minutes), then goes on in real time.
func buildSim(e *env, broker string) (component, error) {
	cfg := sim.DefaultConfig()
	cfg.Broker = broker
	cfg.Start = time.Now().Add(-24 * time.Hour).Truncate(time.Hour)
	cfg.Speedup = 240
	cfg.NoFuture = true
	if err := cfg.Validate(e.reg); err != nil {
		return component{}, badInput(err)
	}
	s := sim.New(cfg, e.reg, e.log)
	return component{"sim", s.Run}, nil
}
