// Package config is configs/qingliu.yaml: endpoints, listeners, limits and the
// paths of the other configuration files, decoded strictly and validated.
// Secrets come from ${ENV} references or *_file paths only.
package config

import (
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"github.com/qingliu/qingliu/internal/conf"
)

// Config is the whole of qingliu.yaml.
type Config struct {
	NATS     NATS     `yaml:"nats"`
	MQTT     MQTT     `yaml:"mqtt"`
	Ingest   Ingest   `yaml:"ingest"`
	HJ212    HJ212    `yaml:"hj212"`
	InfluxDB InfluxDB `yaml:"influxdb"`
	Writer   Writer   `yaml:"writer"`
	HTTP     HTTP     `yaml:"http"`
	Files    Files    `yaml:"files"`
	Log      Log      `yaml:"log"`

	// Dir is the directory of the file, for resolving relative paths.
	Dir string `yaml:"-"`
}

// NATS: either an external server (URL) or the embedded one.
type NATS struct {
	// URL of an external NATS server; empty runs the embedded server in `up`.
	URL         string      `yaml:"url"`
	Credentials string      `yaml:"credentials_file"`
	Embedded    Embedded    `yaml:"embedded"`
	Streams     StreamsConf `yaml:"streams"`
}

// Embedded is the embedded NATS server of `qingliu up`.
type Embedded struct {
	Listen            string `yaml:"listen"`
	MQTTListen        string `yaml:"mqtt_listen"`
	StoreDir          string `yaml:"store_dir"`
	MQTTMaxAckPending int    `yaml:"mqtt_max_ack_pending"`
}

// StreamsConf sizes the JetStream streams.
type StreamsConf struct {
	ReadingsMaxAge  Duration `yaml:"readings_max_age"`
	DuplicateWindow Duration `yaml:"duplicate_window"`
	Replicas        int      `yaml:"replicas"`
	MaxBytes        int64    `yaml:"max_bytes"`
}

// MQTT is the ingest stage's MQTT client.
type MQTT struct {
	Broker       string   `yaml:"broker"`
	ClientID     string   `yaml:"client_id"`
	Username     string   `yaml:"username"`
	Password     string   `yaml:"password"`
	PasswordFile string   `yaml:"password_file"`
	Topic        string   `yaml:"topic"`
	SharedGroup  string   `yaml:"shared_group"`
	QoS          int      `yaml:"qos"`
	MaxInflight  int      `yaml:"max_inflight"`
	KeepAlive    Duration `yaml:"keepalive"`
	ReconnectMax Duration `yaml:"reconnect_max"`
}

// Ingest holds validation limits.
type Ingest struct {
	MaxFutureSkew Duration `yaml:"max_future_skew"`
	MaxAge        Duration `yaml:"max_age"`
	MaxPayload    int      `yaml:"max_payload"`
	MaxBatch      int      `yaml:"max_batch"`
}

// HJ212 is the ingest stage's HJ 212-2017 TCP listener for dataloggers.
type HJ212 struct {
	// Listen is host:port; "-" turns the listener off.
	Listen   string `yaml:"listen"`
	MaxConns int    `yaml:"max_conns"`
	// MaxFrame bounds one frame, ## through CR LF, in bytes.
	MaxFrame int `yaml:"max_frame"`
	// IdleTimeout: a connection without a complete frame for this long is
	// closed (idle and slow clients alike).
	IdleTimeout  Duration `yaml:"idle_timeout"`
	WriteTimeout Duration `yaml:"write_timeout"`
	// RatePerSec and Burst: the per-connection token bucket, one token per
	// frame. FloodTimeout: throttled on every frame this long → disconnected.
	RatePerSec   float64  `yaml:"rate_per_sec"`
	Burst        int      `yaml:"burst"`
	FloodTimeout Duration `yaml:"flood_timeout"`
	// MaxPending bounds one connection's frames waiting for JetStream.
	MaxPending        int      `yaml:"max_pending"`
	ReassemblyTimeout Duration `yaml:"reassembly_timeout"`
	ShutdownTimeout   Duration `yaml:"shutdown_timeout"`
	// TLSCertFile and TLSKeyFile (PEM), relative to qingliu.yaml: set both
	// to speak TLS.
	TLSCertFile string `yaml:"tls_cert_file"`
	TLSKeyFile  string `yaml:"tls_key_file"`
	// Series are the data series published as readings: realtime (2011),
	// minute (2051), hourly (2061), daily (2031).
	Series []string `yaml:"series"`
}

// InfluxDB is where the writer stores readings.
type InfluxDB struct {
	URL       string `yaml:"url"`
	Token     string `yaml:"token"`
	TokenFile string `yaml:"token_file"`
	// Org and Bucket for InfluxDB 2.x; on 1.8 Bucket is database/rp.
	Org             string   `yaml:"org"`
	Bucket          string   `yaml:"bucket"`
	Database        string   `yaml:"database"`
	RetentionPolicy string   `yaml:"retention_policy"`
	CreateDatabase  bool     `yaml:"create_database"`
	Timeout         Duration `yaml:"timeout"`
}

// Writer sizes the InfluxDB writer.
type Writer struct {
	BatchSize     int      `yaml:"batch_size"`
	FlushInterval Duration `yaml:"flush_interval"`
	MaxBackoff    Duration `yaml:"max_backoff"`
}

// HTTP is the API/admin listener.
type HTTP struct {
	Listen string `yaml:"listen"`
}

// Files names the other configuration files, relative to qingliu.yaml.
type Files struct {
	Stations  string `yaml:"stations"`
	Standards string `yaml:"standards"`
	Rules     string `yaml:"rules"`
	Routing   string `yaml:"routing"`
}

// Log configures logging.
type Log struct {
	Level  string `yaml:"level"`
	Format string `yaml:"format"`
}

// Defaults are DESIGN §3.5.
func Defaults() Config {
	return Config{
		NATS: NATS{
			Embedded: Embedded{Listen: "127.0.0.1:4222", MQTTListen: "127.0.0.1:1883", StoreDir: "./data/jetstream", MQTTMaxAckPending: 4096},
			Streams:  StreamsConf{ReadingsMaxAge: Duration(7 * 24 * time.Hour), DuplicateWindow: Duration(10 * time.Minute), Replicas: 1},
		},
		MQTT: MQTT{Broker: "tcp://127.0.0.1:1883", ClientID: "qingliu-ingest", Topic: "qingliu/v1/+/+", QoS: 1,
			MaxInflight: 4096, KeepAlive: Duration(30 * time.Second), ReconnectMax: Duration(30 * time.Second)},
		Ingest: Ingest{MaxFutureSkew: Duration(5 * time.Minute), MaxAge: Duration(7 * 24 * time.Hour), MaxPayload: 256 << 10, MaxBatch: 1000},
		HJ212: HJ212{Listen: "127.0.0.1:9212", MaxConns: 1024, MaxFrame: 4096, IdleTimeout: Duration(5 * time.Minute),
			WriteTimeout: Duration(10 * time.Second), RatePerSec: 50, Burst: 200, FloodTimeout: Duration(time.Minute),
			MaxPending: 64, ReassemblyTimeout: Duration(2 * time.Minute), ShutdownTimeout: Duration(5 * time.Second),
			Series: []string{"realtime", "minute", "hourly", "daily"}},
		InfluxDB: InfluxDB{URL: "http://127.0.0.1:8086", Database: "qingliu", RetentionPolicy: "autogen", CreateDatabase: true, Timeout: Duration(30 * time.Second)},
		Writer:   Writer{BatchSize: 5000, FlushInterval: Duration(500 * time.Millisecond), MaxBackoff: Duration(30 * time.Second)},
		HTTP:     HTTP{Listen: "127.0.0.1:8080"},
		Files:    Files{Stations: "stations.yaml", Standards: "standards", Rules: "rules.yaml", Routing: "routing.yaml"},
		Log:      Log{Level: "info", Format: "text"},
	}
}

// Load reads file over the defaults, expands ${ENV} references, resolves
// *_file secrets and validates. Every problem is reported with its path.
func Load(file string) (*Config, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, &conf.Error{Problems: []conf.Problem{{File: file, Msg: "cannot read: " + err.Error()}}}
	}
	ps := conf.Problems{File: file}
	expanded := expandEnv(string(data), &ps)
	c := Defaults()
	if err := conf.DecodeStrict(file, []byte(expanded), &c); err != nil {
		return nil, err
	}
	c.Dir = filepath.Dir(file)
	c.resolveSecrets(&ps)
	c.validate(&ps)
	if err := ps.Err(); err != nil {
		return nil, err
	}
	return &c, nil
}

var envRef = regexp.MustCompile(`\$\{([A-Za-z_][A-Za-z0-9_]*)(:-([^}]*))?\}`)

// expandEnv replaces ${NAME} and ${NAME:-default}; an unset NAME without a
// default is a problem, never silently empty.
func expandEnv(s string, ps *conf.Problems) string {
	lines := strings.Split(s, "\n")
	for i, line := range lines {
		if strings.HasPrefix(strings.TrimSpace(line), "#") {
			continue
		}
		lines[i] = envRef.ReplaceAllStringFunc(line, func(m string) string {
			g := envRef.FindStringSubmatch(m)
			if v, ok := os.LookupEnv(g[1]); ok {
				return v
			}
			if g[2] != "" {
				return g[3]
			}
			ps.Addf(fmt.Sprintf("line %d", i+1), "environment variable %s is not set", g[1])
			return ""
		})
	}
	return strings.Join(lines, "\n")
}

func (c *Config) resolveSecrets(ps *conf.Problems) {
	read := func(path, file string, dst *string) {
		if file == "" {
			return
		}
		if *dst != "" {
			ps.Addf(path, "set either the value or the _file reference, not both")
			return
		}
		b, err := os.ReadFile(c.Path(file))
		if err != nil {
			ps.Addf(path+"_file", "cannot read secret file %s: %v", file, unwrap(err))
			return
		}
		*dst = strings.TrimSpace(string(b))
	}
	read("mqtt.password", c.MQTT.PasswordFile, &c.MQTT.Password)
	read("influxdb.token", c.InfluxDB.TokenFile, &c.InfluxDB.Token)
}

func (c *Config) validate(ps *conf.Problems) {
	addr := func(path, v string, optional bool) {
		if v == "" && optional {
			return
		}
		if v == "-" && path == "nats.embedded.listen" {
			return
		}
		if _, _, err := net.SplitHostPort(v); err != nil {
			ps.Addf(path, "%q is not host:port", v)
		}
	}
	addr("nats.embedded.listen", c.NATS.Embedded.Listen, false)
	addr("nats.embedded.mqtt_listen", c.NATS.Embedded.MQTTListen, true)
	addr("http.listen", c.HTTP.Listen, false)
	if c.NATS.URL != "" {
		if u, err := url.Parse(c.NATS.URL); err != nil || u.Host == "" {
			ps.Addf("nats.url", "%q is not a URL like nats://host:4222", c.NATS.URL)
		}
	}
	if c.NATS.Embedded.MQTTMaxAckPending < 1 || c.NATS.Embedded.MQTTMaxAckPending > 65535 {
		ps.Addf("nats.embedded.mqtt_max_ack_pending", "must be 1..65535")
	}
	if time.Duration(c.NATS.Streams.ReadingsMaxAge) < 7*24*time.Hour {
		ps.Addf("nats.streams.readings_max_age", "must be at least 168h (the replay window for an InfluxDB outage)")
	}
	if c.NATS.Streams.DuplicateWindow <= 0 {
		ps.Addf("nats.streams.duplicate_window", "must be positive")
	}
	if u, err := url.Parse(c.MQTT.Broker); err != nil || u.Host == "" || !oneOf(u.Scheme, "tcp", "ssl", "tls", "mqtt", "mqtts", "ws", "wss") {
		ps.Addf("mqtt.broker", "%q is not a broker URL like tcp://127.0.0.1:1883", c.MQTT.Broker)
	}
	if c.MQTT.ClientID == "" {
		ps.Addf("mqtt.client_id", "must be set: a fixed id keeps the persistent session")
	}
	if c.MQTT.QoS != 0 && c.MQTT.QoS != 1 {
		ps.Addf("mqtt.qos", "must be 0 or 1")
	}
	if c.MQTT.MaxInflight < 1 {
		ps.Addf("mqtt.max_inflight", "must be at least 1")
	}
	if c.MQTT.SharedGroup != "" && strings.ContainsAny(c.MQTT.SharedGroup, "/+#") {
		ps.Addf("mqtt.shared_group", "must not contain / + or #")
	}
	if c.Ingest.MaxFutureSkew <= 0 {
		ps.Addf("ingest.max_future_skew", "must be positive")
	}
	if c.Ingest.MaxAge <= 0 {
		ps.Addf("ingest.max_age", "must be positive")
	}
	if c.Ingest.MaxPayload < 1024 || c.Ingest.MaxPayload > 8<<20 {
		ps.Addf("ingest.max_payload", "must be between 1024 and 8388608 bytes")
	}
	if c.Ingest.MaxBatch < 1 {
		ps.Addf("ingest.max_batch", "must be at least 1")
	}
	c.validateHJ212(ps)
	if u, err := url.Parse(c.InfluxDB.URL); err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
		ps.Addf("influxdb.url", "%q is not an http(s) URL", c.InfluxDB.URL)
	}
	if c.InfluxDB.Bucket == "" && c.InfluxDB.Database == "" {
		ps.Addf("influxdb", "set database (InfluxDB 1.8) or org and bucket (InfluxDB 2.x)")
	}
	if c.InfluxDB.Org != "" && c.InfluxDB.Bucket == "" {
		ps.Addf("influxdb.bucket", "must be set with org")
	}
	if c.Writer.BatchSize < 1 || c.Writer.BatchSize > 100000 {
		ps.Addf("writer.batch_size", "must be 1..100000")
	}
	if c.Writer.FlushInterval <= 0 {
		ps.Addf("writer.flush_interval", "must be positive")
	}
	if !oneOf(c.Log.Level, "debug", "info", "warn", "error") {
		ps.Addf("log.level", "%q: want debug, info, warn or error", c.Log.Level)
	}
	if !oneOf(c.Log.Format, "text", "json") {
		ps.Addf("log.format", "%q: want text or json", c.Log.Format)
	}
	if c.Files.Stations == "" {
		ps.Addf("files.stations", "must name the station registry")
	}
}

func (c *Config) validateHJ212(ps *conf.Problems) {
	h := c.HJ212
	if h.Listen != "-" {
		if _, _, err := net.SplitHostPort(h.Listen); err != nil {
			ps.Addf("hj212.listen", "%q is not host:port (or - to turn the listener off)", h.Listen)
		}
	}
	if h.MaxConns < 1 {
		ps.Addf("hj212.max_conns", "must be at least 1")
	}
	if h.MaxFrame < 64 || h.MaxFrame > 16384 {
		ps.Addf("hj212.max_frame", "must be 64..16384 bytes (HJ 212 caps the data segment at 1024; devices send more)")
	}
	for _, d := range []struct {
		path string
		v    Duration
	}{{"hj212.idle_timeout", h.IdleTimeout}, {"hj212.write_timeout", h.WriteTimeout}, {"hj212.flood_timeout", h.FloodTimeout},
		{"hj212.reassembly_timeout", h.ReassemblyTimeout}, {"hj212.shutdown_timeout", h.ShutdownTimeout}} {
		if d.v <= 0 {
			ps.Addf(d.path, "must be positive")
		}
	}
	if !(h.RatePerSec > 0) {
		ps.Addf("hj212.rate_per_sec", "must be positive")
	}
	if h.Burst < 1 {
		ps.Addf("hj212.burst", "must be at least 1")
	}
	if h.MaxPending < 1 {
		ps.Addf("hj212.max_pending", "must be at least 1")
	}
	if (h.TLSCertFile == "") != (h.TLSKeyFile == "") {
		ps.Addf("hj212", "set both tls_cert_file and tls_key_file, or neither")
	}
	if len(h.Series) == 0 {
		ps.Addf("hj212.series", "name at least one of realtime, minute, hourly, daily")
	}
	for i, s := range h.Series {
		if !oneOf(s, "realtime", "minute", "hourly", "daily") {
			ps.Addf(fmt.Sprintf("hj212.series[%d]", i), "%q: want realtime, minute, hourly or daily", s)
		}
	}
}

// Path resolves p relative to the directory of qingliu.yaml.
func (c *Config) Path(p string) string {
	if p == "" || filepath.IsAbs(p) {
		return p
	}
	return filepath.Join(c.Dir, p)
}

// BucketName is the InfluxDB bucket to write to: bucket, or database/rp on 1.8.
func (i InfluxDB) BucketName() string {
	if i.Bucket != "" {
		return i.Bucket
	}
	if i.RetentionPolicy == "" {
		return i.Database
	}
	return i.Database + "/" + i.RetentionPolicy
}

// Duration is a time.Duration written as "30s", "7d" is not accepted: use h.
type Duration time.Duration

// UnmarshalText parses Go duration syntax.
func (d *Duration) UnmarshalText(b []byte) error {
	v, err := time.ParseDuration(string(b))
	if err != nil {
		return fmt.Errorf("%q is not a duration like 500ms, 30s, 168h", string(b))
	}
	*d = Duration(v)
	return nil
}

// MarshalText writes Go duration syntax.
func (d Duration) MarshalText() ([]byte, error) { return []byte(time.Duration(d).String()), nil }

// D returns the time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

func oneOf(s string, vals ...string) bool {
	for _, v := range vals {
		if s == v {
			return true
		}
	}
	return false
}

func unwrap(err error) string {
	if pe, ok := err.(*os.PathError); ok {
		return pe.Err.Error()
	}
	return err.Error()
}
