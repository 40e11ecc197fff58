package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/spf13/cobra"

	"github.com/qingliu/qingliu/domain"
	"github.com/qingliu/qingliu/ingest"
	"github.com/qingliu/qingliu/internal/auth"
	"github.com/qingliu/qingliu/internal/bus"
	"github.com/qingliu/qingliu/internal/config"
	"github.com/qingliu/qingliu/registry"
	"github.com/qingliu/qingliu/rules"
	"github.com/qingliu/qingliu/standards"
)

const (
	defaultRules    = "configs/rules.yaml"
	defaultStations = "configs/stations.yaml"
)

// newRulesCmd returns `qingliu rules`: the rules stage against an external
// NATS server, and `qingliu rules test FILE` for rule authors.
func newRulesCmd() *cobra.Command {
	cmd := newStageCmd("rules", "Run the rules engine stage against an external NATS server",
		func(ctx context.Context, e *env) ([][]component, error) {
			c, err := buildRules(ctx, e, externalConnect(e.cfg, e.log))
			if err != nil {
				return nil, err
			}
			return [][]component{c}, nil
		})
	cmd.SilenceUsage, cmd.SilenceErrors = true, true
	cmd.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return badInput(err) })
	cmd.AddCommand(newRulesTestCmd())
	return cmd
}

// loadRules loads the registry-dependent rules set and the standards it needs.
func loadRules(rulesPath string, reg *registry.Registry, stdDir string) (*rules.Set, error) {
	std, err := loadStandards(stdDir)
	if err != nil {
		return nil, err
	}
	set, err := rules.Load(rulesPath, reg, std)
	if err != nil {
		return nil, badInput(fmt.Errorf("load rules: %s", oneLineError(err)))
	}
	return set, nil
}

// buildRules builds the rules stage of `qingliu up` and `qingliu rules`:
// rules from files.rules, reloaded on SIGHUP without losing the state of
// unchanged rules.
func buildRules(ctx context.Context, e *env, connect func(string) (*nats.Conn, error)) ([]component, error) {
	cfg, log := e.cfg, e.log.With("component", "rules")
	rulesPath, stdDir := cfg.Path(cfg.Files.Rules), cfg.Path(cfg.Files.Standards)
	set, err := loadRules(rulesPath, e.reg, stdDir)
	if err != nil {
		return nil, err
	}
	nc, js, err := stageJetStream(ctx, cfg, connect, "qingliu-rules", jetstream.WithPublishAsyncMaxPending(4096))
	if err != nil {
		return nil, err
	}
	// Maintenance windows made through the alert API live in its silences
	// bucket; the engine follows them.
	kctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	maint, err := bus.EnsureKeyValue(kctx, js, streamsConfig(cfg), bus.KVSilences)
	if err != nil {
		return nil, err
	}
	// The derived aqi and water_class series go to the DERIVED stream for
	// the writer: the engine never waits for InfluxDB.
	st := rules.NewStage(rules.StageConfig{Series: rules.NewDerivedSink(js, log), Maintenance: maint}, js, set, e.prom, log)
	e.admin.AddCheck("rules", false, st.Ready)
	e.admin.AddCheck("nats_rules", true, connStatus(nc))
	rl := &rulesReloader{path: rulesPath, stdDir: stdDir, reg: e.reg, st: st, log: log, token: cfg.HTTP.AdminToken}
	e.admin.Handle("POST /api/v1/rules/reload", rl)
	log.Info("rules stage ready", "rules", len(set.Rules()), "file", rulesPath)
	return []component{{"rules", func(ctx context.Context) error {
		hup := make(chan os.Signal, 1)
		signal.Notify(hup, syscall.SIGHUP)
		defer signal.Stop(hup)
		var wg sync.WaitGroup
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-ctx.Done():
					return
				case <-hup:
					if _, err := rl.reload(ctx, "SIGHUP"); err != nil && ctx.Err() == nil {
						log.Error("reload rules refused; the old rules stay", "err", err)
					}
				}
			}
		}()
		err := st.Run(ctx)
		wg.Wait()
		nc.Close()
		return err
	}}}, nil
}

// rulesReloader reloads rules.yaml on SIGHUP and on POST
// /api/v1/rules/reload (operators' bearer token, http.admin_token). A file
// that does not load leaves the running rules as they are.
type rulesReloader struct {
	path, stdDir string
	reg          *registry.Registry
	st           *rules.Stage
	log          *slog.Logger
	token        string
	mu           sync.Mutex // one reload at a time
}

func (rl *rulesReloader) reload(ctx context.Context, by string) (int, error) {
	rl.mu.Lock()
	defer rl.mu.Unlock()
	set, err := loadRules(rl.path, rl.reg, rl.stdDir)
	if err != nil {
		return 0, err
	}
	if err := rl.st.Reload(ctx, set); err != nil {
		return 0, fmt.Errorf("reload rules: %w", err)
	}
	rl.log.Info("rules reload", "by", by, "rules", len(set.Rules()), "file", rl.path)
	return len(set.Rules()), nil
}

func (rl *rulesReloader) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	reply := func(code int, body any) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(code)
		_ = json.NewEncoder(w).Encode(body)
	}
	type apiError struct {
		Error string `json:"error"`
	}
	if rl.token == "" {
		reply(http.StatusForbidden, apiError{"operator endpoints are off: set http.admin_token (or admin_token_file) in qingliu.yaml"})
		return
	}
	got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok || !auth.SecretEqual(got, rl.token) {
		w.Header().Set("WWW-Authenticate", `Bearer realm="qingliu-admin"`)
		reply(http.StatusUnauthorized, apiError{"missing or wrong operator token (Authorization: Bearer <http.admin_token>)"})
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), 30*time.Second)
	defer cancel()
	n, err := rl.reload(ctx, "api "+r.RemoteAddr)
	switch {
	case exitCode(err) == 2: // the file does not load
		reply(http.StatusBadRequest, apiError{err.Error() + "; the running rules stay"})
	case err != nil:
		reply(http.StatusServiceUnavailable, apiError{err.Error() + "; the running rules stay"})
	default:
		reply(http.StatusOK, map[string]any{"reloaded": true, "rules": n, "file": rl.path})
	}
}

// rulesTestLine is one line of `qingliu rules test` output.
type rulesTestLine struct {
	At            string        `json:"at"`
	AlertID       string        `json:"alert_id"`
	Rule          string        `json:"rule"`
	Kind          string        `json:"kind"`
	Station       string        `json:"station"`
	Parameter     string        `json:"parameter"`
	Status        domain.Status `json:"status"`
	Level         domain.Level  `json:"level"`
	Value         float64       `json:"value"`
	Jurisdictions []string      `json:"jurisdictions"`
	Joint         bool          `json:"joint"`
	ETA           *string       `json:"eta"`
	Reason        string        `json:"reason"`
}

func newRulesTestCmd() *cobra.Command {
	var rulesPath, stationsPath, stdDir string
	cmd := &cobra.Command{
		Use:   "test [--rules FILE] READINGS.jsonl",
		Short: "Feed a JSON-lines file of readings through the rules offline and print every transition",
		Long: `Test reads FILE (or stdin, or "-"): one reading per line, the MQTT JSON payload
of DESIGN §3.1 plus "station", e.g.

  {"station":"bj-gaoqiao","ts":"2026-11-26T14:00:00+08:00","values":{"nh3n":2.3},"flags":{"tp":"M"}}

Each reading goes through ingest's validation (units, physical range, flags),
then through the compiled rules, in the order given, with time taken from the
readings (silence is judged by the latest observation time seen; stations
absent from the file are not reported silent). Every alert
transition is printed as one JSON line: at, alert_id, rule, kind, station,
parameter, status (pending, firing, resolved), level, value, jurisdictions,
joint, eta and reason. Values ingest would quarantine are reported on stderr
and skipped. Bad input (unreadable line, unknown station) exits 2.`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			reg, err := registry.Load(stationsPath)
			if err != nil {
				return badInput(fmt.Errorf("station registry: %s", oneLineError(err)))
			}
			set, err := loadRules(rulesPath, reg, stdDir)
			if err != nil {
				return err
			}
			in := cmd.InOrStdin()
			if len(args) == 1 && args[0] != "-" {
				f, err := os.Open(args[0])
				if err != nil {
					return badInput(fmt.Errorf("open readings: %w", err))
				}
				defer f.Close()
				in = f
			}
			return runRulesTest(set, reg, in, cmd.OutOrStdout(), cmd.ErrOrStderr())
		},
	}
	cmd.Flags().StringVar(&rulesPath, "rules", defaultRules, "rules file")
	cmd.Flags().StringVar(&stationsPath, "stations", defaultStations, "station registry")
	cmd.Flags().StringVar(&stdDir, "standards", "", standardsFlagUsage)
	cmd.SilenceUsage, cmd.SilenceErrors = true, true
	cmd.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return badInput(err) })
	return cmd
}

// runRulesTest evaluates the readings of in and writes the transitions to out.
func runRulesTest(set *rules.Set, reg *registry.Registry, in io.Reader, out, errOut io.Writer) error {
	// Every timestamp is accepted: the file is history, not live input.
	const forever = 100 * 365 * 24 * time.Hour
	pipe := ingest.NewPipeline(reg, ingest.Limits{MaxFutureSkew: forever, MaxAge: forever})
	eng := rules.NewEngine(set)
	eng.IgnoreUnseen()
	enc := json.NewEncoder(out)
	enc.SetEscapeHTML(false)
	emit := func(trs []domain.Transition) error {
		for i := range trs {
			if err := enc.Encode(testLine(&trs[i])); err != nil {
				return err
			}
		}
		return nil
	}
	sc := bufio.NewScanner(in)
	sc.Buffer(make([]byte, 0, 64<<10), 4<<20)
	for n := 1; sc.Scan(); n++ {
		line := bytes.TrimSpace(sc.Bytes())
		if len(line) == 0 || line[0] == '#' {
			continue
		}
		var obj map[string]json.RawMessage
		if err := json.Unmarshal(line, &obj); err != nil {
			return badInputf("line %d: not a JSON object: %v", n, err)
		}
		var station string
		if err := json.Unmarshal(obj["station"], &station); err != nil || station == "" {
			return badInputf("line %d: want \"station\": a station id", n)
		}
		delete(obj, "station")
		payload, _ := json.Marshal(obj)
		res := pipe.Process(domain.SourceMQTT, station, ingest.FormatJSON, payload, time.Now())
		if len(res.Readings) == 0 {
			reason := "no reading"
			if len(res.Rejects) > 0 {
				reason = res.Rejects[0].Error()
			}
			return badInputf("line %d: %s", n, reason)
		}
		for _, rj := range res.Rejects {
			fmt.Fprintf(errOut, "qingliu: line %d: quarantined: %s\n", n, rj.Error())
		}
		for i := range res.Readings {
			r := &res.Readings[i]
			if err := emit(eng.Tick(r.Time)); err != nil {
				return err
			}
			if err := emit(eng.Process(r, r.Time)); err != nil {
				return err
			}
		}
	}
	if err := sc.Err(); err != nil {
		return badInputf("read readings: %v", err)
	}
	return nil
}

func testLine(tr *domain.Transition) rulesTestLine {
	l := rulesTestLine{
		At: tr.At.In(chinaStandardTime).Format(time.RFC3339), AlertID: tr.AlertID, Rule: tr.Rule, Kind: tr.Kind,
		Station: tr.Station, Parameter: tr.Parameter, Status: tr.Status, Level: tr.Level,
		Value: math.Round(tr.Value*1e4) / 1e4, Jurisdictions: tr.Jurisdictions, Joint: tr.Joint, Reason: tr.Reason,
	}
	if l.Jurisdictions == nil {
		l.Jurisdictions = []string{}
	}
	if tr.ETA != nil {
		s := tr.ETA.In(chinaStandardTime).Format(time.RFC3339)
		l.ETA = &s
	}
	return l
}

// checkRules validates files.rules against the registry and standards that
// cfg names, for `qingliu check`. skipped is true when those could not be
// loaded (their own checkers report why).
func checkRules(cfg *config.Config) (skipped bool, err error) {
	reg, err := registry.Load(cfg.Path(cfg.Files.Stations))
	if err != nil {
		return true, nil
	}
	std, err := standards.Load(cfg.Path(cfg.Files.Standards))
	if err != nil {
		return true, nil
	}
	_, err = rules.Load(cfg.Path(cfg.Files.Rules), reg, std)
	return false, err
}
