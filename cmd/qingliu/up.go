package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/spf13/cobra"
	"golang.org/x/sync/errgroup"

	"github.com/qingliu/qingliu/alert"
	"github.com/qingliu/qingliu/ingest"
	"github.com/qingliu/qingliu/internal/admin"
	"github.com/qingliu/qingliu/internal/auth"
	"github.com/qingliu/qingliu/internal/broker"
	"github.com/qingliu/qingliu/internal/bus"
	"github.com/qingliu/qingliu/internal/config"
	"github.com/qingliu/qingliu/registry"
	"github.com/qingliu/qingliu/writer"
)

const defaultConfig = "configs/qingliu.yaml"

// env is what every stage command builds first: config, logger, registry,
// metrics registry and the admin server.
type env struct {
	cfg   *config.Config
	log   *slog.Logger
	reg   *registry.Registry
	prom  *prometheus.Registry
	admin *admin.Server
}

func loadEnv(cfgPath string) (*env, error) {
	cfg, err := config.Load(cfgPath)
	if err != nil {
		return nil, badInput(fmt.Errorf("config:\n%w", err))
	}
	log := newLogger(os.Stderr, cfg.Log.Level, cfg.Log.Format)
	reg, err := registry.Load(cfg.Path(cfg.Files.Stations))
	if err != nil {
		return nil, badInput(fmt.Errorf("station registry:\n%w", err))
	}
	prom := prometheus.NewRegistry()
	prom.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	adm := admin.New(cfg.HTTP.Listen, prom, log.With("component", "http"))
	if err := adm.Listen(); err != nil {
		return nil, err
	}
	return &env{cfg: cfg, log: log, reg: reg, prom: prom, admin: adm}, nil
}

func streamsConfig(c *config.Config) bus.Config {
	return bus.Config{
		Replicas:        c.NATS.Streams.Replicas,
		ReadingsMaxAge:  c.NATS.Streams.ReadingsMaxAge.D(),
		DuplicateWindow: c.NATS.Streams.DuplicateWindow.D(),
		MaxBytes:        c.NATS.Streams.MaxBytes,
	}
}

func newUpCmd() *cobra.Command {
	var cfgPath string
	var withSim bool
	var events []string
	cmd := &cobra.Command{
		Use:   "up",
		Short: "Run every stage in one process on an embedded NATS server (JetStream + MQTT)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if len(events) > 0 && !withSim {
				return badInputf("--event needs --sim")
			}
			return runUp(cmd.Context(), cfgPath, withSim, events)
		},
	}
	cmd.Flags().StringVarP(&cfgPath, "config", "c", defaultConfig, "main configuration file")
	cmd.Flags().BoolVar(&withSim, "sim", false, "also run the station simulator against the embedded broker")
	cmd.Flags().StringArrayVar(&events, "event", nil, "with --sim: inject a pollution event, e.g. station=bj-gaoqiao,param=nh3n,start=+1m,peak=3.5,duration=6h (repeatable; see qingliu sim --help)")
	return cmd
}

func runUp(ctx context.Context, cfgPath string, withSim bool, events []string) error {
	e, err := loadEnv(cfgPath)
	if err != nil {
		return err
	}
	cfg, log := e.cfg, e.log
	if cfg.NATS.URL != "" {
		return badInputf("%s: nats.url is set; `qingliu up` runs the embedded server — use `qingliu ingest` and `qingliu writer` against an external NATS", cfgPath)
	}
	var mqttTLS *tls.Config
	if emb := cfg.NATS.Embedded; emb.MQTTTLSCertFile != "" {
		if mqttTLS, err = auth.ServerTLS(cfg.Path(emb.MQTTTLSCertFile), cfg.Path(emb.MQTTTLSKeyFile)); err != nil {
			return badInput(fmt.Errorf("%s: nats.embedded: %w", cfgPath, err))
		}
		// The ingest stage reads on the internal plain listener; the
		// simulator connects like a device, with mqtt.broker's TLS settings.
		if withSim && !usesTLS(cfg.MQTT.Broker) {
			return badInputf("%s: the MQTT listener speaks TLS only (nats.embedded.mqtt_tls_cert_file): for --sim, mqtt.broker %q must be ssl://… (with mqtt.tls_ca_file)", cfgPath, cfg.MQTT.Broker)
		}
	}
	// The ingest stage logs in to the embedded broker with its own account:
	// mqtt.username/password when set, else qingliu-ingest with a password
	// made for this run, held in memory only.
	if cfg.MQTT.Username == "" {
		cfg.MQTT.Username = "qingliu-ingest"
	}
	if cfg.MQTT.Password == "" {
		cfg.MQTT.Password = auth.NewPassword()
	}
	// Devices connect to the MQTT gate on mqtt_listen, which limits each
	// connection (mqtt_gate) and ends TLS; it forwards to the broker's own
	// MQTT listener on loopback, where the ingest stage reads unlimited.
	emb := cfg.NATS.Embedded
	internalMQTT := ""
	if emb.MQTTListen != "" {
		internalMQTT = emb.MQTTInternalListen
	}
	srv, err := broker.Start(broker.Config{
		Listen:            emb.Listen,
		MQTTListen:        internalMQTT,
		StoreDir:          cfg.Path(emb.StoreDir),
		MQTTMaxAckPending: uint16(emb.MQTTMaxAckPending),
		MaxPayload:        int32(max(cfg.Ingest.MaxPayload*2, 1<<20)),
		Auth:              brokerAuth(cfg, e.reg),
	}, log.With("component", "nats"))
	if err != nil {
		return err
	}
	defer srv.Shutdown()
	log.Info("embedded nats started", "component", "nats", "client_url", srv.ClientURL(), "mqtt_internal", srv.MQTTAddr(), "store_dir", cfg.Path(emb.StoreDir))
	e.admin.AddCheck("nats", true, srv.Ready)
	var gateInput []component
	deviceMQTT := "" // the URL devices (and --sim) publish to
	if emb.MQTTListen != "" {
		gate, err := buildGate(e, emb.MQTTListen, srv.MQTTHostPort(), mqttTLS)
		if err != nil {
			return err
		}
		gateInput = []component{{"mqtt-gate", gate.Run}}
		deviceMQTT = "tcp://" + gate.Addr()
		if mqttTLS != nil {
			deviceMQTT = "ssl://" + gate.Addr()
		}
	}

	connect := func(name string) (*nats.Conn, error) { return srv.Connect(name) }
	w, err := buildWriter(ctx, e, connect)
	if err != nil {
		return err
	}
	in, err := buildIngest(ctx, e, connect, mqttEndpoint{URL: srv.MQTTAddr()})
	if err != nil {
		return err
	}
	rl, err := buildRules(ctx, e, connect)
	if err != nil {
		return err
	}
	al, err := buildAlert(ctx, e, connect)
	if err != nil {
		return err
	}
	inputs := append(gateInput, in.inputs...)
	if withSim {
		simc, err := buildSim(e, deviceMQTT, events)
		if err != nil {
			return err
		}
		inputs = append(inputs, simc)
	}
	log.Info("qingliu up", "version", version, "http", e.admin.Addr(), "mqtt", deviceMQTT, "influxdb", cfg.InfluxDB.URL)
	err = runLayers(ctx,
		[]component{{"http", e.admin.Run}},
		al,
		append(w, rl...),
		in.publishers,
		inputs,
	)
	log.Info("qingliu stopped")
	return err
}

// brokerAuth lists the embedded broker's MQTT accounts: one per station with
// an MQTT credential in the registry, and the ingest stage's own.
func brokerAuth(cfg *config.Config, reg *registry.Registry) *broker.Auth {
	a := &broker.Auth{
		Ingest:    broker.User{Username: cfg.MQTT.Username, Password: cfg.MQTT.Password},
		Anonymous: cfg.NATS.Embedded.MQTTAnonymous,
	}
	for _, st := range reg.Stations() {
		if m := st.MQTT; m != nil {
			a.Stations = append(a.Stations, broker.StationUser{Station: st.ID,
				User: broker.User{Username: m.Username, Password: m.Password, PasswordHash: m.PasswordHash}})
		}
	}
	return a
}

// usesTLS reports whether an MQTT broker URL names a TLS transport.
func usesTLS(broker string) bool {
	u, err := url.Parse(broker)
	if err != nil {
		return false
	}
	switch u.Scheme {
	case "ssl", "tls", "mqtts", "wss":
		return true
	}
	return false
}

// mqttClientTLS is the TLS configuration of the MQTT clients of this
// process for an ssl:// broker (nil otherwise): mqtt.tls_ca_file, else the
// system's roots.
func mqttClientTLS(cfg *config.Config) (*tls.Config, error) {
	if !usesTLS(cfg.MQTT.Broker) {
		return nil, nil
	}
	c, err := auth.ClientTLS(cfg.Path(cfg.MQTT.TLSCAFile))
	if err != nil {
		return nil, badInput(fmt.Errorf("config: mqtt.tls_ca_file: %w", err))
	}
	return c, nil
}

// ingestStage is the ingest components: publishers (stop last) and sources.
type ingestStage struct {
	publishers []component
	inputs     []component
}

// mqttEndpoint is the broker the ingest stage subscribes to: the embedded
// broker's internal listener in `qingliu up`, mqtt.broker otherwise.
type mqttEndpoint struct {
	URL string
	TLS *tls.Config // for ssl:// (nil: plain, or the system's roots)
}

// configMQTT is the broker of mqtt.broker, with mqtt.tls_ca_file.
func configMQTT(cfg *config.Config) (mqttEndpoint, error) {
	tc, err := mqttClientTLS(cfg)
	if err != nil {
		return mqttEndpoint{}, err
	}
	return mqttEndpoint{URL: cfg.MQTT.Broker, TLS: tc}, nil
}

func buildIngest(ctx context.Context, e *env, connect func(string) (*nats.Conn, error), broker mqttEndpoint) (*ingestStage, error) {
	cfg, log := e.cfg, e.log.With("component", "ingest")
	nc, js, err := stageJetStream(ctx, cfg, connect, "qingliu-ingest", jetstream.WithPublishAsyncMaxPending(cfg.MQTT.MaxInflight*2))
	if err != nil {
		return nil, err
	}
	m := ingest.NewMetrics(e.prom)
	pipe := ingest.NewPipeline(e.reg, ingest.Limits{
		MaxFutureSkew: cfg.Ingest.MaxFutureSkew.D(),
		MaxAge:        cfg.Ingest.MaxAge.D(),
		MaxPayload:    cfg.Ingest.MaxPayload,
		MaxBatch:      cfg.Ingest.MaxBatch,
	})
	pub := ingest.NewPublisher(js, cfg.MQTT.MaxInflight, m, log)
	src := ingest.NewMQTTSource(ingest.MQTTConfig{
		Broker:          broker.URL,
		ClientID:        cfg.MQTT.ClientID,
		Username:        cfg.MQTT.Username,
		Password:        cfg.MQTT.Password,
		Topic:           cfg.MQTT.Topic,
		SharedGroup:     cfg.MQTT.SharedGroup,
		QoS:             byte(cfg.MQTT.QoS),
		MaxInflight:     cfg.MQTT.MaxInflight,
		KeepAlive:       cfg.MQTT.KeepAlive.D(),
		MaxReconnectGap: cfg.MQTT.ReconnectMax.D(),
		TLS:             broker.TLS,
	}, pipe, pub, m, log, time.Now)
	e.admin.AddCheck("mqtt", true, src.Ready)
	e.admin.AddCheck("nats_ingest", true, connStatus(nc))
	inputs := []component{{"ingest-mqtt", src.Run}}
	if cfg.HJ212.Listen != "-" {
		hj, err := buildHJ212(e, pipe, pub)
		if err != nil {
			return nil, err
		}
		inputs = append(inputs, component{"ingest-hj212", hj.Run})
	}
	if cfg.Push.CTWing.Enabled || cfg.Push.OneNET.Enabled {
		ps, err := buildPush(e, pipe, pub)
		if err != nil {
			return nil, err
		}
		inputs = append(inputs, component{"ingest-push", ps.Run})
	}
	if cfg.CoAP.Listen != "-" || cfg.CoAP.DTLSListen != "" {
		cs, err := buildCoAP(e, pipe, pub)
		if err != nil {
			return nil, err
		}
		inputs = append(inputs, component{"ingest-coap", cs.Run})
	}
	log.Info("ingest stage ready", "broker", broker.URL, "hj212", cfg.HJ212.Listen, "coap", cfg.CoAP.Listen, "coap_dtls", cfg.CoAP.DTLSListen, "stations", len(e.reg.Stations()))
	return &ingestStage{
		publishers: []component{{"ingest-publisher", func(ctx context.Context) error {
			err := pub.Run(ctx)
			nc.Close()
			return err
		}}},
		inputs: inputs,
	}, nil
}

// buildHJ212 builds the HJ 212 TCP listener and binds it, so that a port in
// use fails the start.
func buildHJ212(e *env, pipe *ingest.Pipeline, pub *ingest.Publisher) (*ingest.HJ212Source, error) {
	c := e.cfg.HJ212
	series, err := ingest.ParseHJ212Series(c.Series)
	if err != nil {
		return nil, badInput(fmt.Errorf("config: hj212.series: %w", err))
	}
	hj, err := ingest.NewHJ212Source(ingest.HJ212Config{
		Listen:            c.Listen,
		MaxConns:          c.MaxConns,
		MaxFrame:          c.MaxFrame,
		IdleTimeout:       c.IdleTimeout.D(),
		WriteTimeout:      c.WriteTimeout.D(),
		RatePerSec:        c.RatePerSec,
		Burst:             c.Burst,
		FloodTimeout:      c.FloodTimeout.D(),
		MaxPending:        c.MaxPending,
		ReassemblyTimeout: c.ReassemblyTimeout.D(),
		ShutdownTimeout:   c.ShutdownTimeout.D(),
		TLSCert:           e.cfg.Path(c.TLSCertFile),
		TLSKey:            e.cfg.Path(c.TLSKeyFile),
		Series:            series,
	}, e.reg, pipe, pub, e.prom, e.log.With("component", "hj212"), time.Now)
	if err != nil {
		return nil, err
	}
	if err := hj.Listen(); err != nil {
		return nil, err
	}
	e.admin.AddCheck("hj212", true, hj.Ready)
	return hj, nil
}

// buildPush builds the NB-IoT platform push endpoint: mounted on the main
// HTTP listener, or bound on its own (for TLS) so that a port in use fails
// the start.
func buildPush(e *env, pipe *ingest.Pipeline, pub *ingest.Publisher) (*ingest.PushSource, error) {
	c := e.cfg.Push
	fields := func(m map[string]config.Field) map[string]ingest.FieldMap {
		out := make(map[string]ingest.FieldMap, len(m))
		for k, f := range m {
			out[k] = ingest.FieldMap{Param: f.Param, Unit: f.Unit}
		}
		return out
	}
	products := make(map[string]ingest.CTWingProduct, len(c.CTWing.Products))
	for id, p := range c.CTWing.Products {
		products[id] = ingest.CTWingProduct{Fields: fields(p.Fields), Ignore: p.Ignore, TimeField: p.TimeField}
	}
	ps, err := ingest.NewPushSource(ingest.PushConfig{
		Listen:           c.Listen,
		TLSCert:          e.cfg.Path(c.TLSCertFile),
		TLSKey:           e.cfg.Path(c.TLSKeyFile),
		MaxBody:          c.MaxBody,
		RatePerSec:       c.RatePerSec,
		Burst:            c.Burst,
		DeviceRatePerSec: c.DeviceRatePerSec,
		DeviceBurst:      c.DeviceBurst,
		AckTimeout:       c.AckTimeout.D(),
		CTWing:           ingest.CTWingConfig{Enabled: c.CTWing.Enabled, Token: c.CTWing.Token, Products: products},
		OneNET: ingest.OneNETConfig{Enabled: c.OneNET.Enabled, Token: c.OneNET.Token, AESKey: c.OneNET.AESKey,
			Streams: fields(c.OneNET.Streams), Ignore: c.OneNET.Ignore},
	}, e.reg, pipe, pub, e.prom, e.log.With("component", "push"), time.Now)
	if err != nil {
		return nil, badInput(fmt.Errorf("config: push: %w", err))
	}
	if c.Listen == "" {
		e.admin.Handle("/push/", ps.Handler())
	} else if err := ps.Listen(); err != nil {
		return nil, err
	}
	e.admin.AddCheck("push", true, ps.Ready)
	return ps, nil
}

// buildCoAP builds the CoAP endpoint and binds its UDP and DTLS sockets.
func buildCoAP(e *env, pipe *ingest.Pipeline, pub *ingest.Publisher) (*ingest.CoAPSource, error) {
	c := e.cfg.CoAP
	cs, err := ingest.NewCoAPSource(ingest.CoAPConfig{
		Listen:     c.Listen,
		MaxPayload: c.MaxPayload,
		RatePerSec: c.RatePerSec,
		Burst:      c.Burst,
		MaxPending: c.MaxPending,
		AckTimeout: c.AckTimeout.D(),
		DTLSListen: c.DTLSListen,
		PSKs:       e.reg.CoAPKeys(),
	}, pipe, pub, e.prom, e.log.With("component", "coap"), time.Now)
	if err != nil {
		return nil, err
	}
	if err := cs.Listen(); err != nil {
		return nil, err
	}
	e.admin.AddCheck("coap", true, cs.Ready)
	return cs, nil
}

func buildWriter(ctx context.Context, e *env, connect func(string) (*nats.Conn, error)) ([]component, error) {
	cfg, log := e.cfg, e.log.With("component", "writer")
	nc, js, err := stageJetStream(ctx, cfg, connect, "qingliu-writer")
	if err != nil {
		return nil, err
	}
	cons, err := bus.Consumer(ctx, js, bus.StreamReadings, bus.WriterConsumer(cfg.Writer.BatchSize, 30*time.Second))
	if err != nil {
		return nil, err
	}
	client := newInflux(cfg.InfluxDB)
	createDB := func(ctx context.Context) error { return ensureDatabase(ctx, cfg.InfluxDB, client) }
	if cfg.InfluxDB.CreateDatabase {
		cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		err := createDB(cctx)
		cancel()
		if err != nil {
			// Not fatal: readings wait in JetStream until InfluxDB is there.
			log.Warn("influxdb not ready; readings will wait in jetstream", "url", cfg.InfluxDB.URL, "err", err)
		}
	} else {
		createDB = nil
	}
	out := client.WriteAPIBlocking(cfg.InfluxDB.Org, cfg.InfluxDB.BucketName())
	w := writer.New(writer.Config{
		BatchSize:     cfg.Writer.BatchSize,
		FlushInterval: cfg.Writer.FlushInterval.D(),
		WriteTimeout:  cfg.InfluxDB.Timeout.D(),
		MaxBackoff:    cfg.Writer.MaxBackoff.D(),
	}, cons, js, out, e.reg, createDB, e.prom, log)
	acons, err := bus.Consumer(ctx, js, bus.StreamAlerts, bus.AlertsWriterConsumer(1000))
	if err != nil {
		return nil, err
	}
	aw := writer.NewAlerts(writer.Config{
		BatchSize:     1000,
		FlushInterval: 200 * time.Millisecond,
		WriteTimeout:  cfg.InfluxDB.Timeout.D(),
		MaxBackoff:    cfg.Writer.MaxBackoff.D(),
	}, acons, js, out, createDB, e.prom, log.With("stream", "alerts"))
	dcons, err := bus.Consumer(ctx, js, bus.StreamDerived, bus.DerivedWriterConsumer(1000))
	if err != nil {
		return nil, err
	}
	dw := writer.NewDerived(writer.Config{
		BatchSize:     1000,
		FlushInterval: time.Second,
		WriteTimeout:  cfg.InfluxDB.Timeout.D(),
		MaxBackoff:    cfg.Writer.MaxBackoff.D(),
	}, dcons, js, out, createDB, e.prom, log.With("stream", "derived"))
	e.admin.AddCheck("influxdb_writes", false, w.Ready)
	e.admin.AddCheck("influxdb_alert_writes", false, aw.Ready)
	e.admin.AddCheck("nats_writer", true, connStatus(nc))
	log.Info("writer stage ready", "influxdb", cfg.InfluxDB.URL, "bucket", cfg.InfluxDB.BucketName(), "batch_size", cfg.Writer.BatchSize)
	return []component{{"writer", func(ctx context.Context) error {
		g, gctx := errgroup.WithContext(ctx)
		g.Go(func() error { return w.Run(gctx) })
		g.Go(func() error { return aw.Run(gctx) })
		g.Go(func() error { return dw.Run(gctx) })
		err := g.Wait()
		client.Close()
		nc.Close()
		return err
	}}}, nil
}

// buildAlert builds the alert stage of `qingliu up` and `qingliu alert`:
// the alert service (ALERTS → records → outbox → receivers, API on the
// admin server) and the writer of InfluxDB's alerts measurement, each on
// its own durable consumer so that InfluxDB never holds up alerting.
func buildAlert(ctx context.Context, e *env, connect func(string) (*nats.Conn, error)) ([]component, error) {
	cfg, log := e.cfg, e.log.With("component", "alert")
	nc, js, err := stageJetStream(ctx, cfg, connect, "qingliu-alert", jetstream.WithPublishAsyncMaxPending(4096))
	if err != nil {
		return nil, err
	}
	cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	kvs, err := bus.EnsureKeyValues(cctx, js, streamsConfig(cfg))
	if err != nil {
		return nil, err
	}
	trans, err := bus.Consumer(cctx, js, bus.StreamAlerts, bus.AlertConsumer())
	if err != nil {
		return nil, err
	}
	b := alert.Bus{JS: js, Transitions: trans, Records: kvs[bus.KVAlerts], Silences: kvs[bus.KVSilences],
		NotifyLog: kvs[bus.KVNotifyLog], Lease: kvs[bus.KVAlertLease], OutboxSubject: bus.OutboxSubject,
		OutboxConsumer: func(ctx context.Context, receiver string, maxAckPending int) (jetstream.Consumer, error) {
			return bus.Consumer(ctx, js, bus.StreamOutbox, bus.OutboxConsumer(receiver, maxAckPending, time.Minute))
		}}
	svc, err := newAlertService(e, nc, b, e.prom)
	if err != nil {
		return nil, err
	}
	e.admin.AddCheck("nats_alert", true, connStatus(nc))
	log.Info("alert stage ready", "routing", cfg.Path(cfg.Files.Routing), "receivers", len(svc.Routing().Receivers()))
	// Alert history in InfluxDB is the writer's (bus.AlertsWriterConsumer),
	// so it does not depend on this service being up.
	return []component{{"alert", func(ctx context.Context) error {
		err := svc.Run(ctx)
		nc.Close()
		return err
	}}}, nil
}

// stageJetStream connects a stage to NATS as name and makes sure the
// streams exist; on failure the connection is closed again.
func stageJetStream(ctx context.Context, cfg *config.Config, connect func(string) (*nats.Conn, error), name string,
	opts ...jetstream.JetStreamOpt) (*nats.Conn, jetstream.JetStream, error) {
	nc, err := connect(name)
	if err != nil {
		return nil, nil, err
	}
	js, err := jetstream.New(nc, opts...)
	if err != nil {
		nc.Close()
		return nil, nil, fmt.Errorf("jetstream: %w", err)
	}
	if err := ensureStreams(ctx, js, cfg); err != nil {
		nc.Close()
		return nil, nil, err
	}
	return nc, js, nil
}

func ensureStreams(ctx context.Context, js jetstream.JetStream, cfg *config.Config) error {
	cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	return bus.Ensure(cctx, js, streamsConfig(cfg))
}

func connStatus(nc *nats.Conn) func() error {
	return func() error {
		if nc.IsConnected() {
			return nil
		}
		return errors.New("nats connection " + nc.Status().String())
	}
}

// externalConnect connects to the NATS server named in the config.
func externalConnect(cfg *config.Config, log *slog.Logger) func(string) (*nats.Conn, error) {
	return func(name string) (*nats.Conn, error) {
		opts := []nats.Option{nats.Name(name), nats.MaxReconnects(-1), nats.RetryOnFailedConnect(true),
			nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
				if err != nil {
					log.Warn("nats disconnected", "conn", name, "err", err)
				}
			}),
			nats.ReconnectHandler(func(_ *nats.Conn) { log.Info("nats reconnected", "conn", name) }),
		}
		if cfg.NATS.Credentials != "" {
			opts = append(opts, nats.UserCredentials(cfg.Path(cfg.NATS.Credentials)))
		}
		nc, err := nats.Connect(cfg.NATS.URL, opts...)
		if err != nil {
			return nil, fmt.Errorf("connect to nats %s: %w", cfg.NATS.URL, err)
		}
		return nc, nil
	}
}

func newStageCmd(use, short string, build func(ctx context.Context, e *env) ([][]component, error)) *cobra.Command {
	var cfgPath string
	cmd := &cobra.Command{
		Use:   use,
		Short: short,
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			e, err := loadEnv(cfgPath)
			if err != nil {
				return err
			}
			if e.cfg.NATS.URL == "" {
				return badInputf("%s: nats.url is empty; `qingliu %s` runs against an external NATS server (or use `qingliu up`)", cfgPath, use)
			}
			layers, err := build(cmd.Context(), e)
			if err != nil {
				return err
			}
			e.log.Info("qingliu "+use, "version", version, "nats", e.cfg.NATS.URL, "http", e.admin.Addr())
			return runLayers(cmd.Context(), append([][]component{{{"http", e.admin.Run}}}, layers...)...)
		},
	}
	cmd.Flags().StringVarP(&cfgPath, "config", "c", defaultConfig, "main configuration file")
	return cmd
}

func newIngestCmd() *cobra.Command {
	return newStageCmd("ingest", "Run the ingest stage against an external NATS server and MQTT broker",
		func(ctx context.Context, e *env) ([][]component, error) {
			broker, err := configMQTT(e.cfg)
			if err != nil {
				return nil, err
			}
			in, err := buildIngest(ctx, e, externalConnect(e.cfg, e.log), broker)
			if err != nil {
				return nil, err
			}
			return [][]component{in.publishers, in.inputs}, nil
		})
}

// newAlertCmd is `qingliu alert`: the alert stage against an external NATS
// server, and `qingliu alert sink` to watch the dev receivers.
func newAlertCmd() *cobra.Command {
	cmd := newStageCmd("alert", "Run the alert service stage against an external NATS server",
		func(ctx context.Context, e *env) ([][]component, error) {
			al, err := buildAlert(ctx, e, externalConnect(e.cfg, e.log))
			if err != nil {
				return nil, err
			}
			return [][]component{al}, nil
		})
	cmd.AddCommand(newAlertSinkCmd())
	return cmd
}

func newWriterCmd() *cobra.Command {
	return newStageCmd("writer", "Run the InfluxDB writer stage against an external NATS server",
		func(ctx context.Context, e *env) ([][]component, error) {
			w, err := buildWriter(ctx, e, externalConnect(e.cfg, e.log))
			if err != nil {
				return nil, err
			}
			return [][]component{w}, nil
		})
}
