// Package broker runs the embedded NATS server of `qingliu up`: JetStream for
// the streams and the MQTT listener that devices publish to.
package broker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
)

// Config is the embedded server's configuration.
type Config struct {
	// Listen is the NATS client address, e.g. 127.0.0.1:4222. Port 0 picks a
	// free port; "-" disables the TCP client listener (in-process clients only).
	Listen string
	// MQTTListen is the MQTT listener address, e.g. 127.0.0.1:1883; empty
	// disables MQTT.
	MQTTListen string
	// StoreDir holds the JetStream file store.
	StoreDir string
	// MQTTMaxAckPending bounds QoS 1 messages in flight to one MQTT subscriber.
	MQTTMaxAckPending uint16
	// MaxPayload caps one message (NATS and MQTT), bytes.
	MaxPayload int32
	// ServerName names the server (required by the MQTT listener).
	ServerName string
}

// Server is a running embedded NATS server.
type Server struct {
	srv      *server.Server
	log      *slog.Logger
	mqttAddr string
}

// Start checks that the ports are free, starts the server and waits until it
// accepts connections.
func Start(cfg Config, log *slog.Logger) (*Server, error) {
	opts := &server.Options{
		ServerName:             cfg.ServerName,
		JetStream:              true,
		StoreDir:               cfg.StoreDir,
		NoSigs:                 true,
		MaxPayload:             cfg.MaxPayload,
		DisableJetStreamBanner: true,
	}
	if opts.ServerName == "" {
		opts.ServerName = "qingliu"
	}
	if cfg.Listen == "-" {
		opts.DontListen = true
	} else {
		host, port, err := splitHostPort(cfg.Listen, 4222)
		if err != nil {
			return nil, fmt.Errorf("nats listen address %q: %w", cfg.Listen, err)
		}
		if err := checkFree("nats", host, port); err != nil {
			return nil, err
		}
		opts.Host, opts.Port = host, port
		if port == 0 {
			opts.Port = server.RANDOM_PORT
		}
	}
	if cfg.MQTTListen != "" {
		host, port, err := splitHostPort(cfg.MQTTListen, 1883)
		if err != nil {
			return nil, fmt.Errorf("mqtt listen address %q: %w", cfg.MQTTListen, err)
		}
		if err := checkFree("mqtt", host, port); err != nil {
			return nil, err
		}
		if port == 0 {
			// The server does not expose the MQTT listener's address, so pick
			// a free port here.
			if port, err = freePort(host); err != nil {
				return nil, fmt.Errorf("mqtt listener: %w", err)
			}
		}
		opts.MQTT.Host, opts.MQTT.Port = host, port
		opts.MQTT.MaxAckPending = cfg.MQTTMaxAckPending
	}
	s, err := server.NewServer(opts)
	if err != nil {
		return nil, fmt.Errorf("embedded nats: %w", err)
	}
	s.SetLoggerV2(&logAdapter{log: log}, false, false, false)
	go s.Start()
	if !s.ReadyForConnections(30 * time.Second) {
		s.Shutdown()
		return nil, errors.New("embedded nats: not ready after 30s (see the log above)")
	}
	mqttAddr := ""
	if cfg.MQTTListen != "" {
		mqttAddr = "tcp://" + net.JoinHostPort(opts.MQTT.Host, strconv.Itoa(opts.MQTT.Port))
	}
	return &Server{srv: s, log: log, mqttAddr: mqttAddr}, nil
}

// ClientURL is the URL for TCP clients (empty when there is no listener).
func (s *Server) ClientURL() string {
	if s.srv.Addr() == nil {
		return ""
	}
	return s.srv.ClientURL()
}

// MQTTAddr is the MQTT listener's address as tcp://host:port.
func (s *Server) MQTTAddr() string { return s.mqttAddr }

// Connect opens an in-process client connection (no TCP).
func (s *Server) Connect(name string, extra ...nats.Option) (*nats.Conn, error) {
	opts := append([]nats.Option{nats.InProcessServer(s.srv), nats.Name(name), nats.MaxReconnects(-1)}, extra...)
	nc, err := nats.Connect("", opts...)
	if err != nil {
		return nil, fmt.Errorf("connect to embedded nats: %w", err)
	}
	return nc, nil
}

// Run blocks until ctx is done, then shuts the server down (after the stages
// that use it have stopped: the caller orders that).
func (s *Server) Run(ctx context.Context) error {
	<-ctx.Done()
	return nil
}

// Shutdown stops the server and waits for it.
func (s *Server) Shutdown() {
	s.srv.Shutdown()
	s.srv.WaitForShutdown()
}

// Ready reports whether the server and JetStream are up.
func (s *Server) Ready() error {
	if !s.srv.Running() {
		return errors.New("nats server not running")
	}
	if !s.srv.JetStreamEnabled() {
		return errors.New("jetstream not enabled")
	}
	return nil
}

func splitHostPort(addr string, def int) (string, int, error) {
	if addr == "" {
		return "127.0.0.1", def, nil
	}
	host, ps, err := net.SplitHostPort(addr)
	if err != nil {
		return "", 0, err
	}
	p, err := strconv.Atoi(ps)
	if err != nil || p < 0 || p > 65535 {
		return "", 0, fmt.Errorf("bad port %q", ps)
	}
	return host, p, nil
}

// checkFree gives a clear one-line error for a port already in use, instead of
// the server's own retry and fatal logging.
func checkFree(what, host string, port int) error {
	if port == 0 {
		return nil
	}
	l, err := net.Listen("tcp", net.JoinHostPort(host, strconv.Itoa(port)))
	if err != nil {
		return fmt.Errorf("%s listener %s:%d: port in use or not allowed (%w); set another address in configs/qingliu.yaml", what, host, port, err)
	}
	return l.Close()
}

func freePort(host string) (int, error) {
	l, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

type logAdapter struct{ log *slog.Logger }

func (l *logAdapter) Noticef(format string, v ...any) {
	l.log.Debug("nats server", "msg_text", fmt.Sprintf(format, v...))
}
func (l *logAdapter) Warnf(format string, v ...any) {
	l.log.Warn("nats server warning", "msg_text", fmt.Sprintf(format, v...))
}
func (l *logAdapter) Fatalf(format string, v ...any) {
	l.log.Error("nats server fatal", "msg_text", fmt.Sprintf(format, v...))
}
func (l *logAdapter) Errorf(format string, v ...any) {
	l.log.Error("nats server error", "msg_text", fmt.Sprintf(format, v...))
}
func (l *logAdapter) Debugf(format string, v ...any) {}
func (l *logAdapter) Tracef(format string, v ...any) {}
