package ingest

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	neturl "net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/qingliu/qingliu/domain"
)

// MQTTConfig configures the MQTT source.
type MQTTConfig struct {
	Broker   string // tcp://127.0.0.1:1883, ssl://…
	ClientID string // fixed, so the persistent session survives restarts
	Username string
	Password string
	// Topic is the subscription filter, default qingliu/v1/+/+.
	Topic string
	// SharedGroup, when set, subscribes as $share/<group>/<topic> so several
	// ingest instances split the load (brokers with shared subscriptions).
	SharedGroup string
	QoS         byte
	// MaxInflight bounds MQTT messages received but not yet acked.
	MaxInflight     int
	KeepAlive       time.Duration
	ConnectTimeout  time.Duration
	MaxReconnectGap time.Duration
	// TLS configures ssl:// brokers (the CA to trust); nil uses Go's
	// defaults (the system's roots).
	TLS *tls.Config
}

func (c MQTTConfig) filter() string {
	t := c.Topic
	if t == "" {
		t = "qingliu/v1/+/+"
	}
	if c.SharedGroup != "" {
		return "$share/" + c.SharedGroup + "/" + t
	}
	return t
}

// MQTTSource subscribes to station topics with a persistent session and
// manual acks: a QoS 1 message is acked to the broker only after its readings
// (or its quarantine record) are stored in JetStream.
type MQTTSource struct {
	cfg  MQTTConfig
	pipe *Pipeline
	pub  *Publisher
	m    *Metrics
	log  *slog.Logger
	now  func() time.Time

	connected atomic.Bool
	lastErr   atomic.Pointer[string]
}

// NewMQTTSource builds the source; Run connects.
func NewMQTTSource(cfg MQTTConfig, pipe *Pipeline, pub *Publisher, m *Metrics, log *slog.Logger, now func() time.Time) *MQTTSource {
	if cfg.QoS == 0 && cfg.MaxInflight == 0 {
		cfg.QoS = 1
	}
	if cfg.MaxInflight <= 0 {
		cfg.MaxInflight = 1000
	}
	if cfg.KeepAlive <= 0 {
		cfg.KeepAlive = 30 * time.Second
	}
	if cfg.ConnectTimeout <= 0 {
		cfg.ConnectTimeout = 10 * time.Second
	}
	if cfg.MaxReconnectGap <= 0 {
		cfg.MaxReconnectGap = 30 * time.Second
	}
	if cfg.ClientID == "" {
		cfg.ClientID = "qingliu-ingest"
	}
	return &MQTTSource{cfg: cfg, pipe: pipe, pub: pub, m: m, log: log, now: now}
}

// Ready reports whether the client is connected and subscribed.
func (s *MQTTSource) Ready() error {
	if s.connected.Load() {
		return nil
	}
	if e := s.lastErr.Load(); e != nil {
		return fmt.Errorf("mqtt %s: %s", s.cfg.Broker, *e)
	}
	return fmt.Errorf("mqtt %s: not connected", s.cfg.Broker)
}

// Run connects, subscribes and handles messages until ctx is done. It returns
// after paho has stopped and every handler has returned.
func (s *MQTTSource) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	handlerCtx, cancelHandlers := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelHandlers()

	opts := mqtt.NewClientOptions().
		AddBroker(s.cfg.Broker).
		SetClientID(s.cfg.ClientID).
		SetUsername(s.cfg.Username).
		SetPassword(s.cfg.Password).
		// MQTT 3.1.1 only: paho's fallback to 3.1 would turn a refused login
		// into an opaque EOF.
		SetProtocolVersion(4).
		SetCleanSession(false).
		SetAutoAckDisabled(true).
		SetOrderMatters(true).
		SetKeepAlive(s.cfg.KeepAlive).
		SetConnectTimeout(s.cfg.ConnectTimeout).
		SetAutoReconnect(true).
		SetConnectRetry(true).
		SetConnectRetryInterval(time.Second).
		SetMaxReconnectInterval(s.cfg.MaxReconnectGap).
		SetMessageChannelDepth(uint(s.cfg.MaxInflight)).
		SetCustomOpenConnectionFn(openBuffered)
	if s.cfg.TLS != nil {
		opts.SetTLSConfig(s.cfg.TLS)
	}
	filter := s.cfg.filter()
	onMessage := func(_ mqtt.Client, m mqtt.Message) {
		wg.Add(1)
		defer wg.Done()
		s.handle(handlerCtx, m)
	}
	// A resumed persistent session delivers the messages the broker queued
	// while we were away as soon as the connection is up, before OnConnect
	// (run in its own goroutine) has subscribed and registered a route. paho
	// neither handles nor acks a message without a handler, so they would sit
	// unacknowledged until the next reconnect. The default handler catches them.
	opts.SetDefaultPublishHandler(onMessage)
	var logOnce sync.Once
	opts.SetOnConnectHandler(func(c mqtt.Client) {
		// Subscribing again on every connect is harmless with a persistent
		// session and needed when the broker lost it.
		tok := c.Subscribe(filter, s.cfg.QoS, onMessage)
		go func() {
			if !tok.WaitTimeout(s.cfg.ConnectTimeout) || tok.Error() != nil {
				err := tok.Error()
				if err == nil {
					err = errors.New("subscribe timed out")
				}
				msg := err.Error()
				s.lastErr.Store(&msg)
				s.log.Error("mqtt subscribe failed", "topic", filter, "err", err)
				return
			}
			s.connected.Store(true)
			s.m.connected.Set(1)
			logOnce.Do(func() {
				s.log.Info("mqtt subscribed", "broker", s.cfg.Broker, "topic", filter, "client_id", s.cfg.ClientID)
			})
		}()
	})
	opts.SetConnectionLostHandler(func(_ mqtt.Client, err error) {
		s.connected.Store(false)
		s.m.connected.Set(0)
		msg := err.Error()
		s.lastErr.Store(&msg)
		s.log.Warn("mqtt connection lost", "broker", s.cfg.Broker, "err", err)
	})
	var attempts atomic.Int64
	opts.SetConnectionAttemptHandler(func(_ *neturl.URL, tc *tls.Config) *tls.Config {
		if attempts.Add(1) == 2 {
			s.log.Warn("mqtt broker not reachable yet, retrying", "broker", s.cfg.Broker)
		}
		return tc
	})

	client := mqtt.NewClient(opts)
	tok := client.Connect()
	go func() {
		// With ConnectRetry the token completes on the first success.
		tok.Wait()
		if err := tok.Error(); err != nil {
			msg := err.Error()
			s.lastErr.Store(&msg)
		}
	}()
	<-ctx.Done()
	// Stop taking new messages; unacked ones stay with the broker session.
	client.Disconnect(250)
	cancelHandlers()
	wg.Wait()
	s.connected.Store(false)
	s.m.connected.Set(0)
	return nil
}

// handle processes one MQTT message. It blocks while the publisher's window is
// full, which stops paho reading and pushes back on the broker.
func (s *MQTTSource) handle(ctx context.Context, m mqtt.Message) {
	topic := m.Topic()
	station, format, err := ParseTopic(topic)
	now := s.now()
	var res Result
	if err != nil {
		res.Rejects = []Reject{{Code: CodeBadTopic, Reason: err.Error(), Index: -1, Raw: m.Payload()}}
	} else {
		s.m.messages.WithLabelValues(string(domain.SourceMQTT), format).Inc()
		res = s.pipe.Process(domain.SourceMQTT, station, format, m.Payload(), now)
	}
	s.pub.Submit(ctx, res, Meta{Source: domain.SourceMQTT, Decoder: format, Topic: topic}, func(err error) {
		if err == nil {
			m.Ack()
		}
	})
}

// ParseTopic splits qingliu/v1/<station>/<format>.
func ParseTopic(topic string) (station, format string, err error) {
	parts := strings.Split(topic, "/")
	if len(parts) != 4 || parts[0] != "qingliu" || parts[1] != "v1" {
		return "", "", fmt.Errorf("topic %q is not qingliu/v1/<station>/<format>", clipS(topic))
	}
	station, format = parts[2], parts[3]
	if !validStationID(station) {
		return "", "", fmt.Errorf("station id %q in topic is not [A-Za-z0-9_-]{1,64}", clipS(station))
	}
	return station, format, nil
}

func validStationID(s string) bool {
	if len(s) == 0 || len(s) > 64 {
		return false
	}
	for _, c := range []byte(s) {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}
