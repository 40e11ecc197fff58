// Package config is configs/qingliu.yaml: endpoints, listeners, limits and the
// paths of the other configuration files, decoded strictly and validated.
// Secrets come from ${ENV} references or *_file paths only.
package config

import (
	"fmt"
	"maps"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/qingliu/qingliu/internal/conf"
)

// Config is the whole of qingliu.yaml.
type Config struct {
	NATS     NATS     `yaml:"nats"`
	MQTT     MQTT     `yaml:"mqtt"`
	Ingest   Ingest   `yaml:"ingest"`
	HJ212    HJ212    `yaml:"hj212"`
	Push     Push     `yaml:"push"`
	CoAP     CoAP     `yaml:"coap"`
	MQTTGate MQTTGate `yaml:"mqtt_gate"`
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
	// MQTTAnonymous lets MQTT clients without credentials publish under
	// any station. Off by default: each station logs in with the
	// credential of stations.yaml. For tests and throwaway setups only.
	MQTTAnonymous bool `yaml:"mqtt_anonymous"`
	// MQTTTLSCertFile and MQTTTLSKeyFile (PEM), relative to qingliu.yaml:
	// set both and the MQTT listener speaks TLS only (ssl:// for clients);
	// the gate ends TLS and the internal hop is plain loopback.
	MQTTTLSCertFile string `yaml:"mqtt_tls_cert_file"`
	MQTTTLSKeyFile  string `yaml:"mqtt_tls_key_file"`
	// MQTTListen is where devices connect: the MQTT gate (see MQTTGate).
	// It forwards them to the broker's own listener on MQTTInternalListen,
	// on loopback only (port 0: any free port), where the ingest stage
	// reads without limits.
	MQTTInternalListen string `yaml:"mqtt_internal_listen"`
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
	// TLSCAFile (PEM), relative to qingliu.yaml, verifies an ssl:// broker;
	// empty uses the system's roots.
	TLSCAFile string `yaml:"tls_ca_file"`
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

// Push is the ingest stage's endpoint for NB-IoT platform HTTP pushes
// (CTWing subscription push, OneNET 数据推送). Which station a platform
// device belongs to is in stations.yaml (devices:).
type Push struct {
	// Listen is empty to serve push on http.listen (paths /push/ctwing and
	// /push/onenet), else host:port of the endpoint's own listener, which
	// TLS needs.
	Listen string `yaml:"listen"`
	// MaxBody bounds a request body in bytes (413 beyond).
	MaxBody int `yaml:"max_body"`
	// RatePerSec and Burst: token bucket per source IP (429 beyond);
	// DeviceRatePerSec and DeviceBurst: per station behind the platform.
	RatePerSec       float64 `yaml:"rate_per_sec"`
	Burst            int     `yaml:"burst"`
	DeviceRatePerSec float64 `yaml:"device_rate_per_sec"`
	DeviceBurst      int     `yaml:"device_burst"`
	// AckTimeout: a push not in JetStream by then is answered 503 so the
	// platform retries (OneNET waits 5 s for an answer).
	AckTimeout Duration `yaml:"ack_timeout"`
	// TLSCertFile and TLSKeyFile (PEM), relative to qingliu.yaml: set both,
	// with listen, to serve HTTPS.
	TLSCertFile string `yaml:"tls_cert_file"`
	TLSKeyFile  string `yaml:"tls_key_file"`
	CTWing      CTWing `yaml:"ctwing"`
	OneNET      OneNET `yaml:"onenet"`
}

// CTWing is the CTWing subscription push. CTWing signs nothing, so the push
// URL carries a shared token: https://host/push/ctwing?token=… (or a proxy
// adds Authorization: Bearer …).
type CTWing struct {
	Enabled   bool   `yaml:"enabled"`
	Token     string `yaml:"token"`
	TokenFile string `yaml:"token_file"`
	// Products maps a CTWing productId to how its decoded payload fields
	// map to canonical parameters.
	Products map[string]CTWingProduct `yaml:"products"`
}

// CTWingProduct maps one product's profile fields.
type CTWingProduct struct {
	// Fields maps a payload field to a parameter: `NH3N: nh3n` or
	// `DO: {param: do, unit: µg/L}`.
	Fields map[string]Field `yaml:"fields"`
	// Ignore lists payload fields without readings (battery, signal …);
	// other unmapped fields are quarantined.
	Ignore []string `yaml:"ignore"`
	// TimeField names a payload field with the observation time; empty
	// uses the push's timestamp.
	TimeField string `yaml:"time_field"`
}

// OneNET is the OneNET HTTP push; every request is signed with the token.
type OneNET struct {
	Enabled   bool   `yaml:"enabled"`
	Token     string `yaml:"token"`
	TokenFile string `yaml:"token_file"`
	// AESKey is the 16-character key of a push instance in safe mode
	// (安全模式); empty for plain mode.
	AESKey     string `yaml:"aes_key"`
	AESKeyFile string `yaml:"aes_key_file"`
	// Streams maps data stream ids and thing-model identifiers to
	// parameters, like CTWingProduct.Fields.
	Streams map[string]Field `yaml:"streams"`
	Ignore  []string         `yaml:"ignore"`
}

// Field is a platform field's canonical parameter and, when the platform
// sends another unit than the station's, that unit.
type Field struct {
	Param string `yaml:"param"`
	Unit  string `yaml:"unit"`
}

// UnmarshalYAML accepts the short form `nh3n` as well as {param, unit}.
func (f *Field) UnmarshalYAML(n *yaml.Node) error {
	switch n.Kind {
	case yaml.ScalarNode:
		f.Param = n.Value
		return nil
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			switch k.Value {
			case "param":
				f.Param = v.Value
			case "unit":
				f.Unit = v.Value
			default:
				return fmt.Errorf("line %d: field %s not found in a field mapping (want param, unit)", k.Line, k.Value)
			}
		}
		return nil
	}
	return fmt.Errorf("line %d: a field mapping is a parameter key or {param, unit}", n.Line)
}

// CoAP is the ingest stage's CoAP (RFC 7252) endpoint over UDP: POST
// /qingliu/v1/<station> with a JSON or SenML payload.
type CoAP struct {
	// Listen is host:port (UDP); "-" turns the endpoint off.
	Listen string `yaml:"listen"`
	// MaxPayload bounds a request body in bytes (4.13 beyond).
	MaxPayload int `yaml:"max_payload"`
	// RatePerSec and Burst: token bucket per source IP (4.29 beyond).
	RatePerSec float64 `yaml:"rate_per_sec"`
	Burst      int     `yaml:"burst"`
	// MaxPending bounds one peer's requests queued or waiting for
	// JetStream; more are dropped unanswered (the device retransmits).
	MaxPending int `yaml:"max_pending"`
	// AckTimeout: not stored by then → 5.03.
	AckTimeout Duration `yaml:"ack_timeout"`
	// DTLSListen, when set, is host:port (UDP, CoAP over DTLS is 5684) of
	// CoAP over DTLS with the PSK of each station's coap: entry in
	// stations.yaml (identity = station id). Off when empty.
	DTLSListen string `yaml:"dtls_listen"`
}

// MQTTGate limits each device connection to the MQTT broker: the gate in
// front of the embedded broker of `qingliu up` (nats.embedded.mqtt_listen)
// and `qingliu gate` in front of Mosquitto or EMQX.
type MQTTGate struct {
	// MaxConns bounds concurrent device connections.
	MaxConns int `yaml:"max_conns"`
	// MaxPacketBytes bounds one packet's remaining length (topic, payload
	// and a few bytes): a device that sends more is disconnected.
	MaxPacketBytes int `yaml:"max_packet_bytes"`
	// RatePerSec and Burst are each connection's token bucket: one token per
	// PUBLISH (and SUBSCRIBE, UNSUBSCRIBE, PINGREQ). A faster device is read
	// more slowly.
	RatePerSec float64 `yaml:"rate_per_sec"`
	Burst      int     `yaml:"burst"`
	// BytesPerSec bounds each connection's PUBLISH bytes per second; 0 turns
	// the byte limit off.
	BytesPerSec int `yaml:"bytes_per_sec"`
	// FloodTimeout: a connection throttled on every packet this long is
	// disconnected.
	FloodTimeout Duration `yaml:"flood_timeout"`
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
	// AdminToken (or AdminTokenFile) is the operators' bearer token for
	// operator endpoints such as POST /api/v1/rules/reload; empty turns
	// them off.
	AdminToken     string `yaml:"admin_token"`
	AdminTokenFile string `yaml:"admin_token_file"`
}

// Files names the other configuration files, relative to qingliu.yaml.
type Files struct {
	Stations  string `yaml:"stations"`
	Standards string `yaml:"standards"`
	Rules     string `yaml:"rules"`
	Routing   string `yaml:"routing"`
	// DevCredentials is the DEV ONLY file of plain station MQTT passwords
	// that `qingliu up --sim` and `qingliu gen credentials` read. Empty in
	// production.
	DevCredentials string `yaml:"dev_credentials"`
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
			Embedded: Embedded{Listen: "127.0.0.1:4222", MQTTListen: "127.0.0.1:1883", MQTTInternalListen: "127.0.0.1:0", StoreDir: "./data/jetstream", MQTTMaxAckPending: 4096},
			Streams:  StreamsConf{ReadingsMaxAge: Duration(7 * 24 * time.Hour), DuplicateWindow: Duration(10 * time.Minute), Replicas: 1},
		},
		MQTT: MQTT{Broker: "tcp://127.0.0.1:1883", ClientID: "qingliu-ingest", Topic: "qingliu/v1/+/+", QoS: 1,
			MaxInflight: 4096, KeepAlive: Duration(30 * time.Second), ReconnectMax: Duration(30 * time.Second)},
		Ingest: Ingest{MaxFutureSkew: Duration(5 * time.Minute), MaxAge: Duration(7 * 24 * time.Hour), MaxPayload: 256 << 10, MaxBatch: 1000},
		HJ212: HJ212{Listen: "127.0.0.1:9212", MaxConns: 1024, MaxFrame: 4096, IdleTimeout: Duration(5 * time.Minute),
			WriteTimeout: Duration(10 * time.Second), RatePerSec: 50, Burst: 200, FloodTimeout: Duration(time.Minute),
			MaxPending: 64, ReassemblyTimeout: Duration(2 * time.Minute), ShutdownTimeout: Duration(5 * time.Second),
			Series: []string{"realtime", "minute", "hourly", "daily"}},
		Push: Push{MaxBody: 64 << 10, RatePerSec: 200, Burst: 400, DeviceRatePerSec: 1, DeviceBurst: 20,
			AckTimeout: Duration(4 * time.Second)},
		CoAP: CoAP{Listen: "127.0.0.1:5683", MaxPayload: 16 << 10, RatePerSec: 5, Burst: 20, MaxPending: 8,
			AckTimeout: Duration(5 * time.Second)},
		// A station publishes a few messages a minute; these leave room for a
		// backlog upload and the demo simulator (one connection per station)
		// and match the HJ 212 listener's per-connection limits.
		MQTTGate: MQTTGate{MaxConns: 1024, MaxPacketBytes: 512 << 10, RatePerSec: 50, Burst: 200, BytesPerSec: 1 << 20,
			FloodTimeout: Duration(time.Minute)},
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
	expanded := conf.ExpandEnv(string(data), &ps)
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
	read("push.ctwing.token", c.Push.CTWing.TokenFile, &c.Push.CTWing.Token)
	read("push.onenet.token", c.Push.OneNET.TokenFile, &c.Push.OneNET.Token)
	read("push.onenet.aes_key", c.Push.OneNET.AESKeyFile, &c.Push.OneNET.AESKey)
	read("http.admin_token", c.HTTP.AdminTokenFile, &c.HTTP.AdminToken)
	if t := c.HTTP.AdminToken; t != "" && len(t) < 16 {
		ps.Addf("http.admin_token", "is %d characters; use at least 16 (e.g. openssl rand -hex 16)", len(t))
	}
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
	if c.MQTT.TLSCAFile != "" {
		if u, err := url.Parse(c.MQTT.Broker); err == nil && !oneOf(u.Scheme, "ssl", "tls", "mqtts", "wss") {
			ps.Addf("mqtt.tls_ca_file", "set, but mqtt.broker %q does not use TLS (ssl://, tls://, mqtts:// or wss://)", c.MQTT.Broker)
		}
	}
	if (c.NATS.Embedded.MQTTTLSCertFile == "") != (c.NATS.Embedded.MQTTTLSKeyFile == "") {
		ps.Addf("nats.embedded", "set both mqtt_tls_cert_file and mqtt_tls_key_file, or neither")
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
	c.validatePush(ps)
	c.validateCoAP(ps)
	c.validateMQTTGate(ps)
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

func (c *Config) validatePush(ps *conf.Problems) {
	p := c.Push
	if p.Listen != "" {
		if _, _, err := net.SplitHostPort(p.Listen); err != nil {
			ps.Addf("push.listen", "%q is not host:port (or empty to serve push on http.listen)", p.Listen)
		}
	}
	if p.MaxBody < 1024 || p.MaxBody > 8<<20 {
		ps.Addf("push.max_body", "must be between 1024 and 8388608 bytes")
	}
	if !(p.RatePerSec > 0) || !(p.DeviceRatePerSec > 0) {
		ps.Addf("push", "rate_per_sec and device_rate_per_sec must be positive")
	}
	if p.Burst < 1 || p.DeviceBurst < 1 {
		ps.Addf("push", "burst and device_burst must be at least 1")
	}
	if p.AckTimeout <= 0 {
		ps.Addf("push.ack_timeout", "must be positive")
	}
	if (p.TLSCertFile == "") != (p.TLSKeyFile == "") {
		ps.Addf("push", "set both tls_cert_file and tls_key_file, or neither")
	}
	if p.TLSCertFile != "" && p.Listen == "" {
		ps.Addf("push.listen", "TLS needs the endpoint's own listener: set push.listen")
	}
	if p.CTWing.Enabled && p.CTWing.Token == "" {
		ps.Addf("push.ctwing.token", "missing: ctwing is enabled (give token as ${ENV} or token_file)")
	}
	if p.OneNET.Enabled && p.OneNET.Token == "" {
		ps.Addf("push.onenet.token", "missing: onenet is enabled (give token as ${ENV} or token_file)")
	}
	if k := p.OneNET.AESKey; k != "" && len(k) != 16 && len(k) != 24 && len(k) != 32 {
		ps.Addf("push.onenet.aes_key", "is %d bytes; OneNET generates 16 characters", len(k))
	}
	fields := func(path string, m map[string]Field) {
		for _, k := range slices.Sorted(maps.Keys(m)) {
			if m[k].Param == "" {
				ps.Addf(path+"."+k, "no parameter")
			}
		}
	}
	for _, id := range slices.Sorted(maps.Keys(p.CTWing.Products)) {
		fields("push.ctwing.products."+id+".fields", p.CTWing.Products[id].Fields)
	}
	fields("push.onenet.streams", p.OneNET.Streams)
}

func (c *Config) validateCoAP(ps *conf.Problems) {
	p := c.CoAP
	if p.Listen != "-" {
		if _, _, err := net.SplitHostPort(p.Listen); err != nil {
			ps.Addf("coap.listen", "%q is not host:port (or - to turn the endpoint off)", p.Listen)
		}
	}
	if p.MaxPayload < 64 || p.MaxPayload > 1<<20 {
		ps.Addf("coap.max_payload", "must be 64..1048576 bytes")
	}
	if !(p.RatePerSec > 0) {
		ps.Addf("coap.rate_per_sec", "must be positive")
	}
	if p.Burst < 1 {
		ps.Addf("coap.burst", "must be at least 1")
	}
	if p.MaxPending < 1 || p.MaxPending > 1000 {
		ps.Addf("coap.max_pending", "must be 1..1000")
	}
	if p.AckTimeout <= 0 {
		ps.Addf("coap.ack_timeout", "must be positive")
	}
	if p.DTLSListen != "" {
		if _, _, err := net.SplitHostPort(p.DTLSListen); err != nil {
			ps.Addf("coap.dtls_listen", "%q is not host:port (or empty to turn CoAP over DTLS off)", p.DTLSListen)
		}
	}
}

func (c *Config) validateMQTTGate(ps *conf.Problems) {
	emb := c.NATS.Embedded
	if emb.MQTTListen != "" {
		host, port, err := net.SplitHostPort(emb.MQTTInternalListen)
		switch {
		case err != nil:
			ps.Addf("nats.embedded.mqtt_internal_listen", "%q is not host:port", emb.MQTTInternalListen)
		case !isLoopback(host):
			ps.Addf("nats.embedded.mqtt_internal_listen", "%q is not a loopback address: clients there would bypass the mqtt_gate limits", emb.MQTTInternalListen)
		case port != "0" && emb.MQTTInternalListen == emb.MQTTListen:
			ps.Addf("nats.embedded.mqtt_internal_listen", "must differ from mqtt_listen, where the gate listens")
		}
	}
	g := c.MQTTGate
	if g.MaxConns < 1 {
		ps.Addf("mqtt_gate.max_conns", "must be at least 1")
	}
	if minPacket := c.Ingest.MaxPayload + 1024; g.MaxPacketBytes < minPacket || g.MaxPacketBytes > 268435455 {
		ps.Addf("mqtt_gate.max_packet_bytes", "must be %d..268435455 bytes: at least ingest.max_payload + 1024, so that a payload ingest quarantines with a reason is not cut off at the gate", minPacket)
	}
	if !(g.RatePerSec > 0) {
		ps.Addf("mqtt_gate.rate_per_sec", "must be positive")
	}
	if g.Burst < 1 {
		ps.Addf("mqtt_gate.burst", "must be at least 1")
	}
	if g.BytesPerSec < 0 {
		ps.Addf("mqtt_gate.bytes_per_sec", "must be 0 (no byte limit) or positive")
	}
	if g.FloodTimeout <= 0 {
		ps.Addf("mqtt_gate.flood_timeout", "must be positive")
	}
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
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

// Duration is a time.Duration written like 30s or 15m in YAML.
type Duration = conf.Duration

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
