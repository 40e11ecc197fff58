package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/qingliu/qingliu/internal/auth"
	"github.com/qingliu/qingliu/registry"
	"github.com/qingliu/qingliu/sim"
)

// simPasswordEnv supplies the MQTT password when --password is not given,
// so that it need not appear in the process list.
const simPasswordEnv = "QINGLIU_SIM_PASSWORD"

// simFlags are the raw flag values of `qingliu sim`.
type simFlags struct {
	stationsFile string
	credentials  string
	caFile       string
	clientID     string
	start        string
	until        string
	qos          int
	events       []string
	stuck        []string
	silent       []string
	logLevel     string
	logFormat    string
}

func newSimCmd() *cobra.Command {
	cfg := sim.DefaultConfig()
	f := simFlags{stationsFile: "configs/stations.yaml", qos: int(cfg.QoS), logLevel: "info", logFormat: "text"}
	cmd := &cobra.Command{
		Use:   "sim",
		Short: "Publish simulated station readings over MQTT, with injectable faults",
		Long: `Publish realistic readings for the stations of the registry over MQTT
(topic qingliu/v1/<station>/json, JSON payload v1): diurnal and seasonal
cycles, noise, each parameter at its reporting interval. Simulated time starts
at --start and runs --speedup times faster than the wall clock (60: one
simulated minute per second; inf: as fast as the broker acknowledges), or
--rate sets a total message rate instead. With --speedup above 1 simulated
time runs ahead of the clock, and ingest quarantines readings too far in the
future: for long runs start in the past (--start -24h).

Faults:
  --event station=bj-gaoqiao,param=nh3n,peak=3.5[,start=+2m][,duration=2h][,rise=10m][,attenuation=0.85]
      a pollution event (peak in the canonical unit) that travels down the
      river, reaching each section after its travel time, attenuated per hop
  --stuck station=X,param=do[,after=+1m]     the sensor repeats its last value
  --silent station=X[,after=+1m][,for=30m]   the station stops publishing
  --malformed 0.01    fraction of messages replaced by malformed ones
  --duplicates 0.01   fraction of messages sent twice
Times are +duration from --start or RFC 3339.

Logins: each station connects with its own MQTT credential, as a device
does, when its password is known — from its password_file or ${ENV} in the
registry, or from --credentials-file (default: dev-credentials.yaml beside
--stations-file, when it exists; DEV ONLY). --username logs every connection
in as one user instead; with neither, the connections are anonymous.`,
		Example: `  qingliu sim --stations bj-gaoqiao,bj-lixi --event station=bj-gaoqiao,param=nh3n,peak=3.5,start=+2m
  qingliu sim --speedup inf --count 200000 --publishers 4 --start -72h`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if !cmd.Flags().Changed("password") {
				cfg.Password = os.Getenv(simPasswordEnv)
			}
			if err := f.apply(&cfg, time.Now()); err != nil {
				return badInput(err)
			}
			reg, err := registry.Load(f.stationsFile)
			if err != nil {
				return badInput(fmt.Errorf("station registry:\n%w", err))
			}
			if err := f.logins(&cfg, reg, cmd.Flags().Changed("username")); err != nil {
				return badInput(err)
			}
			if err := cfg.Validate(reg); err != nil {
				return badInput(err)
			}
			log := newLogger(cmd.ErrOrStderr(), f.logLevel, f.logFormat)
			s := sim.New(cfg, reg, log)
			if err := s.Run(cmd.Context()); err != nil {
				return err
			}
			st := s.Stats()
			fmt.Fprintf(cmd.OutOrStdout(), "published %d, acked %d, failed %d (malformed %d, duplicates %d)\n",
				st.Published, st.Acked, st.Failed, st.Malformed, st.Duplicates)
			if st.Failed > 0 {
				return fmt.Errorf("%d of %d messages were not acknowledged", st.Failed, st.Published)
			}
			return nil
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&f.stationsFile, "stations-file", f.stationsFile, "station registry")
	fl.StringVar(&cfg.Broker, "broker", cfg.Broker, "MQTT broker URL")
	fl.StringVar(&f.credentials, "credentials-file", "", "station credentials (DEV ONLY; default dev-credentials.yaml beside --stations-file if it exists)")
	fl.StringVar(&f.caFile, "ca-file", "", "PEM CA certificates to verify an ssl:// broker (default the system's roots)")
	fl.StringVar(&cfg.Username, "username", "", "MQTT user name for every connection, instead of per-station logins")
	fl.StringVar(&cfg.Password, "password", "", "MQTT password (default $"+simPasswordEnv+")")
	fl.StringVar(&f.clientID, "client-id", "", "MQTT client id prefix; connections are <prefix>-1, <prefix>-2 …, or <prefix>-<station> with per-station logins (default qingliu-sim-<pid>)")
	fl.IntVar(&f.qos, "qos", f.qos, "MQTT QoS, 0 or 1")
	fl.IntVar(&cfg.Publishers, "publishers", cfg.Publishers, "MQTT connections to spread the stations over")
	fl.IntVar(&cfg.MaxInFlight, "max-in-flight", cfg.MaxInFlight, "messages per connection awaiting their PUBACK")
	fl.StringSliceVar(&cfg.Stations, "stations", nil, "station ids to simulate (default every station)")
	fl.Float64Var(&cfg.Speedup, "speedup", cfg.Speedup, "simulated seconds per wall second; inf for no pacing")
	fl.Float64Var(&cfg.Rate, "rate", 0, "total messages per second, instead of --speedup pacing")
	fl.StringVar(&f.start, "start", "", "first simulated instant: RFC 3339, or a duration from now such as -72h (default now)")
	fl.StringVar(&f.until, "until", "", "stop when simulated time reaches this: +duration from --start or RFC 3339")
	fl.Uint64Var(&cfg.Seed, "seed", cfg.Seed, "seed of values and injected faults")
	fl.Int64Var(&cfg.Count, "count", 0, "stop after this many messages (0: no limit)")
	fl.DurationVar(&cfg.Duration, "duration", 0, "stop after this much wall time (0: no limit)")
	fl.StringArrayVar(&f.events, "event", nil, "pollution event station=,param=,peak=[,start=,duration=,rise=,attenuation=] (repeatable)")
	fl.Float64Var(&cfg.Attenuation, "attenuation", cfg.Attenuation, "default attenuation of an event's excess per downstream section")
	fl.StringArrayVar(&f.stuck, "stuck", nil, "stuck sensor station=,param=[,after=] (repeatable)")
	fl.StringArrayVar(&f.silent, "silent", nil, "silent station station=[,after=][,for=] (repeatable)")
	fl.Float64Var(&cfg.Malformed, "malformed", 0, "fraction of messages replaced by malformed ones")
	fl.Float64Var(&cfg.Duplicates, "duplicates", 0, "fraction of messages sent twice")
	fl.StringVar(&f.logLevel, "log-level", f.logLevel, "debug, info, warn or error")
	fl.StringVar(&f.logFormat, "log-format", f.logFormat, "text or json")
	return cmd
}

// apply parses the flags that need more than pflag into cfg; now resolves a
// relative --start. Every error names its flag.
func (f *simFlags) apply(cfg *sim.Config, now time.Time) error {
	var errs []error
	if f.clientID != "" {
		cfg.ClientIDPrefix = f.clientID
	}
	switch f.qos {
	case 0, 1:
		cfg.QoS = byte(f.qos)
	default:
		errs = append(errs, fmt.Errorf("--qos %d: want 0 or 1", f.qos))
	}
	if f.start != "" {
		t, err := parseSimStart(f.start, now)
		if err != nil {
			errs = append(errs, fmt.Errorf("--start: %w", err))
		}
		cfg.Start = t
	}
	if f.until != "" {
		a, err := sim.ParseAt(f.until)
		if err != nil {
			errs = append(errs, fmt.Errorf("--until: %w", err))
		}
		cfg.Until = a
	}
	for _, s := range f.events {
		e, err := sim.ParseEvent(s)
		if err != nil {
			errs = append(errs, fmt.Errorf("--%w", err))
		}
		cfg.Events = append(cfg.Events, e)
	}
	for _, s := range f.stuck {
		e, err := sim.ParseStuck(s)
		if err != nil {
			errs = append(errs, fmt.Errorf("--%w", err))
		}
		cfg.Stuck = append(cfg.Stuck, e)
	}
	for _, s := range f.silent {
		e, err := sim.ParseSilent(s)
		if err != nil {
			errs = append(errs, fmt.Errorf("--%w", err))
		}
		cfg.Silent = append(cfg.Silent, e)
	}
	for i, id := range cfg.Stations {
		cfg.Stations[i] = strings.TrimSpace(id)
	}
	return errors.Join(errs...)
}

// logins sets up how the simulator logs in (see the command's help) and its
// TLS configuration.
func (f *simFlags) logins(cfg *sim.Config, reg *registry.Registry, shared bool) error {
	if usesTLS(cfg.Broker) {
		c, err := auth.ClientTLS(f.caFile)
		if err != nil {
			return fmt.Errorf("--ca-file: %w", err)
		}
		cfg.TLS = c
	} else if f.caFile != "" {
		return fmt.Errorf("--ca-file: the broker %s does not use TLS (ssl://…)", cfg.Broker)
	}
	if shared {
		return nil
	}
	file := f.credentials
	if file == "" {
		beside := filepath.Join(filepath.Dir(f.stationsFile), "dev-credentials.yaml")
		if _, err := os.Stat(beside); err == nil {
			file = beside
		}
	}
	pws, err := stationPasswords(reg, file)
	if err != nil {
		return err
	}
	if len(pws) == 0 {
		if f.credentials != "" {
			return fmt.Errorf("--credentials-file %s: no station of %s has a login there", f.credentials, f.stationsFile)
		}
		return nil
	}
	creds, ids := simCredentials(reg, pws)
	cfg.Credentials = creds
	if len(cfg.Stations) == 0 {
		cfg.Stations = ids
	}
	return nil
}

// parseSimStart accepts an RFC 3339 time or a duration from now (-72h, +1h).
func parseSimStart(s string, now time.Time) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, nil
	}
	if d, err := time.ParseDuration(s); err == nil {
		return now.Add(d), nil
	}
	return time.Time{}, fmt.Errorf("%q is neither RFC 3339 nor a duration from now such as -72h", s)
}
