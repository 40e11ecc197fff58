package sim

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"math"
	"net/url"
	"os"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/qingliu/qingliu/registry"
)

// Registry is what the simulator needs of the station registry;
// *registry.Registry satisfies it.
type Registry interface {
	// Stations returns every station, sorted by id.
	Stations() []*registry.Station
	// Downstream returns the sections downstream of a station in river order.
	Downstream(station string) []registry.Hop
}

// Config is what a Simulator does. Start from DefaultConfig.
type Config struct {
	// Stations selects stations by id; empty means every station.
	Stations []string
	// Speedup is simulated seconds per wall second; +Inf publishes as fast
	// as the broker acknowledges. Ignored when Rate is set.
	Speedup float64
	// Rate, when > 0, paces publishing at Rate messages per second in total
	// instead, simulated time advancing as the schedule demands.
	Rate float64
	// Start is the first simulated instant; zero means now.
	Start time.Time
	// NoFuture holds simulated time at the wall clock once it has caught
	// up: a run that starts in the past replays quickly, then goes on live,
	// so ingest never sees timestamps from the future.
	NoFuture bool
	// Until, when set, ends the run when simulated time reaches it.
	Until At
	// Seed makes values, malformed and duplicate choices reproducible.
	Seed uint64

	// Broker is the MQTT broker URL (tcp://host:port, ssl://…, ws://…).
	Broker string
	// TLS configures ssl:// brokers (the CA to trust); nil uses Go's
	// defaults (the system's roots).
	TLS *tls.Config
	// Username and Password log every connection in as one user (a
	// gateway's account, or none for an open broker).
	Username string
	Password string // a secret: never logged
	// Credentials, when set, gives each station its own connection, logged
	// in with the station's own credential, as devices do on a broker that
	// lets a station publish only under its own topic. Every selected
	// station needs one; Username, Password and Publishers are then unused.
	Credentials map[string]Credential
	// ClientIDPrefix names the connections <prefix>-1, <prefix>-2 …, or
	// <prefix>-<station> with Credentials.
	ClientIDPrefix string
	QoS            byte
	// Publishers is the number of MQTT connections; a station always uses
	// the same one, so its messages arrive in order.
	Publishers int
	// MaxInFlight bounds the messages per connection awaiting their PUBACK.
	MaxInFlight int

	// Count, when > 0, stops after that many messages (duplicates and
	// malformed ones included); Duration, when > 0, after that wall time.
	Count    int64
	Duration time.Duration

	// Events are pollution events; Attenuation is their default factor per
	// downstream hop.
	Events      []EventSpec
	Attenuation float64
	Stuck       []StuckSpec
	Silent      []SilentSpec
	// Malformed and Duplicates are fractions of messages in [0,1].
	Malformed  float64
	Duplicates float64

	// StatsInterval is how often progress is logged; 0 disables it.
	StatsInterval time.Duration
	// DrainTimeout bounds the wait for outstanding PUBACKs at the end.
	DrainTimeout time.Duration
}

// Credential is an MQTT login. Password is a secret: never logged.
type Credential struct {
	Username string
	Password string
}

// String leaves the password out, so that %v never prints it.
func (c Credential) String() string { return "{Username:" + c.Username + " Password:[redacted]}" }

// GoString is String for %#v.
func (c Credential) GoString() string { return c.String() }

// DefaultConfig returns the defaults: the local broker, one simulated minute
// per second, QoS 1, one publisher.
func DefaultConfig() Config {
	return Config{
		Speedup:        60,
		Broker:         "tcp://127.0.0.1:1883",
		ClientIDPrefix: "qingliu-sim-" + strconv.Itoa(os.Getpid()),
		QoS:            1,
		Publishers:     1,
		MaxInFlight:    512,
		Attenuation:    DefaultAttenuation,
		StatsInterval:  10 * time.Second,
		DrainTimeout:   10 * time.Second,
	}
}

// Validate reports every problem of c against reg, joined.
func (c Config) Validate(reg Registry) error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	all := map[string]*registry.Station{}
	for _, st := range reg.Stations() {
		all[st.ID] = st
	}
	for _, id := range c.Stations {
		if all[id] == nil {
			bad("stations: unknown station %q", id)
		}
	}
	if math.IsNaN(c.Speedup) || c.Speedup <= 0 {
		bad("speedup: %v is not > 0 (inf for no pacing)", c.Speedup)
	}
	if math.IsNaN(c.Rate) || math.IsInf(c.Rate, 0) || c.Rate < 0 {
		bad("rate: %v is not a finite number >= 0", c.Rate)
	}
	if c.Broker == "" {
		bad("broker: empty URL")
	}
	if c.QoS > 1 {
		bad("qos: %d is not 0 or 1", c.QoS)
	}
	if c.Publishers < 1 {
		bad("publishers: %d is not >= 1", c.Publishers)
	}
	if c.MaxInFlight < 1 || c.MaxInFlight > 65535 {
		bad("max-in-flight: %d is not in 1..65535", c.MaxInFlight)
	}
	if c.Count < 0 {
		bad("count: %d is negative", c.Count)
	}
	if c.Duration < 0 {
		bad("duration: %v is negative", c.Duration)
	}
	if c.DrainTimeout <= 0 {
		bad("drain-timeout: %v is not > 0", c.DrainTimeout)
	}
	if c.StatsInterval < 0 {
		bad("stats-interval: %v is negative", c.StatsInterval)
	}
	if !(c.Attenuation > 0 && c.Attenuation <= 1) {
		bad("attenuation: %v is not in (0,1]", c.Attenuation)
	}
	for _, f := range []struct {
		name string
		v    float64
	}{{"malformed", c.Malformed}, {"duplicates", c.Duplicates}} {
		if !(f.v >= 0 && f.v <= 1) {
			bad("%s: %v is not a fraction in [0,1]", f.name, f.v)
		}
	}
	reports := func(what, station, param string) {
		st := all[station]
		switch {
		case st == nil:
			bad("%s: unknown station %q", what, station)
		case param != "" && st.Params[param] <= 0:
			bad("%s: station %q does not report %q", what, station, param)
		}
	}
	for _, e := range c.Events {
		reports("event", e.Station, e.Param)
		if p, ok := lookupParam(e.Param); ok && !p.Plausible(e.Peak) {
			bad("event: peak %v %s of %q is outside the plausible %v..%v", e.Peak, p.Unit, e.Param, p.Min, p.Max)
		}
	}
	for _, s := range c.Stuck {
		reports("stuck", s.Station, s.Param)
	}
	for _, s := range c.Silent {
		reports("silent", s.Station, "")
	}
	for _, st := range c.selected(reg) {
		if cr, ok := c.Credentials[st.ID]; c.Credentials != nil && (!ok || cr.Username == "" || cr.Password == "") {
			bad("credentials: station %q has no MQTT user name and password", st.ID)
		}
		for _, p := range slices.Sorted(maps.Keys(st.Units)) {
			if _, _, err := deviceValue(st, p, 1); err != nil {
				bad("station %q: unit of %q: %w", st.ID, p, err)
			}
		}
	}
	return errors.Join(errs...)
}

// conn is one MQTT connection of a run.
type conn struct {
	clientID           string
	username, password string
}

// conns lists the connections of a run and routes each station to one:
// with Credentials one per station, else Publishers shared round-robin.
func (c Config) conns(stations []*registry.Station) ([]conn, map[string]int) {
	route := make(map[string]int, len(stations))
	var cs []conn
	if c.Credentials != nil {
		for i, st := range stations {
			cr := c.Credentials[st.ID]
			cs = append(cs, conn{clientID: c.ClientIDPrefix + "-" + st.ID, username: cr.Username, password: cr.Password})
			route[st.ID] = i
		}
		return cs, route
	}
	for i := range c.Publishers {
		cs = append(cs, conn{clientID: fmt.Sprintf("%s-%d", c.ClientIDPrefix, i+1), username: c.Username, password: c.Password})
	}
	for i, st := range stations {
		route[st.ID] = i % len(cs)
	}
	return cs, route
}

// selected returns the stations c selects from reg, sorted by id.
func (c Config) selected(reg Registry) []*registry.Station {
	all := reg.Stations()
	if len(c.Stations) == 0 {
		return all
	}
	var out []*registry.Station
	for _, st := range all {
		if slices.Contains(c.Stations, st.ID) {
			out = append(out, st)
		}
	}
	return out
}

// Stats counts what a Simulator has done.
type Stats struct {
	Published  int64 // publish calls made
	Acked      int64 // PUBACKs received (or QoS 0 writes completed)
	Failed     int64 // publishes that errored or were never acknowledged
	Malformed  int64 // malformed messages among Published
	Duplicates int64 // duplicates among Published
}

// Simulator publishes the readings of simulated stations over MQTT.
type Simulator struct {
	cfg Config
	reg Registry
	log *slog.Logger

	published, acked, failed, malformed, duplicates atomic.Int64
	simTime                                         atomic.Int64 // Unix ns of the latest message generated
}

// New returns a simulator of the stations of reg; log gets component=sim.
func New(cfg Config, reg Registry, log *slog.Logger) *Simulator {
	return &Simulator{cfg: cfg, reg: reg, log: log.With("component", "sim")}
}

// Stats returns the counts so far.
func (s *Simulator) Stats() Stats {
	return Stats{
		Published: s.published.Load(), Acked: s.acked.Load(), Failed: s.failed.Load(),
		Malformed: s.malformed.Load(), Duplicates: s.duplicates.Load(),
	}
}

// Run validates the configuration, connects the publishers and publishes
// until ctx is cancelled or a limit (Count, Duration, Until) is reached. It
// returns after every goroutine it started has exited; cancellation is a
// clean stop, not an error. A Simulator runs once.
func (s *Simulator) Run(ctx context.Context) error {
	cfg := s.cfg
	if err := cfg.Validate(s.reg); err != nil {
		return fmt.Errorf("sim config: %w", err)
	}
	start := cfg.Start
	if start.IsZero() {
		start = time.Now()
	}
	start = start.Round(0)
	stations := cfg.selected(s.reg)
	gen := s.generator(cfg, start, stations)

	conns, route := cfg.conns(stations)
	pubs, err := s.connect(ctx, cfg, conns)
	if err != nil {
		return err
	}
	ins := make([]chan Message, len(pubs))
	for i := range ins {
		ins[i] = make(chan Message, cfg.MaxInFlight)
	}

	s.log.Info("starting", "stations", len(stations), "publishers", len(pubs), "broker", redactURL(cfg.Broker),
		"start", start.In(cst).Format(time.RFC3339), "speedup", cfg.Speedup, "rate", cfg.Rate,
		"count", cfg.Count, "seed", cfg.Seed)
	began := time.Now()

	genCtx, cancel := ctx, context.CancelFunc(func() {})
	if cfg.Duration > 0 {
		genCtx, cancel = context.WithTimeout(ctx, cfg.Duration)
	}
	defer cancel()
	var wg sync.WaitGroup
	wg.Go(func() {
		defer func() {
			for _, in := range ins {
				close(in)
			}
		}()
		s.generate(genCtx, cfg, gen, start, ins, route)
	})
	for i, p := range pubs {
		wg.Go(func() { p.run(ctx, ins[i]) })
	}

	statsDone := make(chan struct{})
	var statsWG sync.WaitGroup
	if cfg.StatsInterval > 0 {
		statsWG.Go(func() { s.logProgress(cfg.StatsInterval, statsDone) })
	}
	wg.Wait()
	close(statsDone)
	statsWG.Wait()

	st := s.Stats()
	elapsed := time.Since(began)
	s.log.Info("finished", "published", st.Published, "acked", st.Acked, "failed", st.Failed,
		"malformed", st.Malformed, "duplicates", st.Duplicates, "elapsed", elapsed.Round(time.Millisecond),
		"rate", math.Round(float64(st.Acked)/elapsed.Seconds()))
	return nil
}

// generator builds the model and generator of a run starting at start.
func (s *Simulator) generator(cfg Config, start time.Time, stations []*registry.Station) *Generator {
	events := make([]Event, len(cfg.Events))
	for i, e := range cfg.Events {
		events[i] = e.Resolve(start, cfg.Attenuation)
	}
	stuck := make([]Stuck, len(cfg.Stuck))
	for i, e := range cfg.Stuck {
		stuck[i] = e.Resolve(start)
	}
	silent := make([]Silent, len(cfg.Silent))
	for i, e := range cfg.Silent {
		silent[i] = e.Resolve(start)
	}
	opt := GeneratorOptions{Start: start, Silent: silent, Malformed: cfg.Malformed, Duplicates: cfg.Duplicates}
	if !cfg.Until.IsZero() {
		opt.End = cfg.Until.Resolve(start)
	}
	return NewGenerator(stations, NewModel(cfg.Seed, events, stuck, s.reg.Downstream), opt)
}

// generate paces the generator's messages against the wall clock and hands
// each to its station's publisher.
func (s *Simulator) generate(ctx context.Context, cfg Config, gen *Generator, start time.Time,
	ins []chan Message, route map[string]int) {
	wallStart := time.Now()
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	for n := int64(0); cfg.Count == 0 || n < cfg.Count; n++ {
		m, ok := gen.Next()
		if !ok {
			return
		}
		var due time.Time
		switch {
		case cfg.Rate > 0:
			due = wallStart.Add(time.Duration(float64(n) / cfg.Rate * float64(time.Second)))
		case !math.IsInf(cfg.Speedup, 1):
			due = wallStart.Add(time.Duration(float64(m.Time.Sub(start)) / cfg.Speedup))
		}
		if cfg.NoFuture && m.Time.After(due) {
			due = m.Time
		}
		if wait := time.Until(due); !due.IsZero() && wait > 0 {
			timer.Reset(wait)
			select {
			case <-ctx.Done():
				timer.Stop()
				return
			case <-timer.C:
			}
		}
		select {
		case ins[route[m.Station]] <- m:
			s.simTime.Store(m.Time.UnixNano())
		case <-ctx.Done():
			return
		}
	}
}

// logProgress logs the counts every interval until done is closed.
func (s *Simulator) logProgress(every time.Duration, done <-chan struct{}) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-done:
			return
		case <-t.C:
			st := s.Stats()
			simTime := ""
			if ns := s.simTime.Load(); ns != 0 {
				simTime = time.Unix(0, ns).In(cst).Format(time.RFC3339)
			}
			s.log.Info("progress", "published", st.Published, "acked", st.Acked, "failed", st.Failed,
				"malformed", st.Malformed, "duplicates", st.Duplicates, "sim_time", simTime)
		}
	}
}

// redactURL hides the password of a broker URL with user info.
func redactURL(s string) string {
	u, err := url.Parse(s)
	if err != nil {
		return "(unparsable URL)"
	}
	return u.Redacted()
}
