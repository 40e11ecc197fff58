// Package broker runs the embedded NATS server of `qingliu up`: JetStream for
// the streams and the MQTT listener that devices publish to.
package broker

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/jwt/v2"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nkeys"
	"golang.org/x/crypto/bcrypt"
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
	// Auth, when set, makes every MQTT client log in (see Auth). Nil leaves
	// the MQTT listener open to anyone, as tests that need no accounts want.
	Auth *Auth
	// MQTTTLS, when set, makes the MQTT listener speak TLS only.
	MQTTTLS *tls.Config
}

// Auth holds the MQTT accounts of the embedded broker. A station logs in as
// its own user and may publish only under qingliu/v1/<station>/ (the NATS
// subjects qingliu.v1.<station>.>) and subscribe to nothing; the ingest
// stage logs in as Ingest and may subscribe to qingliu/v1/# and publish
// nothing. MQTT clients without credentials are refused unless Anonymous.
//
// Clients of the NATS port and the in-process stages need no credentials:
// they connect as an internal user, the server's no_auth_user, that only
// NATS and in-process connections may use — the server refuses it to MQTT
// clients by connection type. It is an nkey without a seed, so there is no
// password to keep or leak. The NATS port is as open as before: keep it on
// loopback (the default) or turn it off.
type Auth struct {
	Stations []StationUser
	Ingest   User
	// Anonymous lets MQTT clients without credentials publish under any
	// station and subscribe to qingliu/v1/# (tests and throwaway setups).
	Anonymous bool
}

// User is an MQTT login: a user name with either the plain password or its
// bcrypt hash ($2a$…). The server keeps only hashes: Start hashes a plain
// password at bcrypt's minimum cost (what the cost would protect, the
// password, is in this process anyway).
type User struct {
	Username     string
	Password     string // secret: never logged
	PasswordHash string
}

// StationUser is the login of the station whose id is Station.
type StationUser struct {
	Station string
	User
}

// stationSubjects are the NATS subjects of a station's MQTT topics: the
// server maps qingliu/v1/<station>/json to qingliu.v1.<station>.json.
func stationSubjects(station string) []string { return []string{"qingliu.v1." + station + ".>"} }

// allStations are the subjects of every station topic. An MQTT filter
// ending in # also matches its parent level (qingliu/v1/# matches
// qingliu/v1), which the server subscribes to as well.
func allStations() []string { return []string{"qingliu.v1", "qingliu.v1.>"} }

// apply adds the users and permissions of a to opts.
func (a *Auth) apply(opts *server.Options) error {
	mqttOnly := map[string]struct{}{jwt.ConnectionTypeMqtt: {}}
	var errs []error
	seen := map[string]bool{}
	add := func(u User, perms *server.Permissions) {
		switch {
		case u.Username == "":
			errs = append(errs, errors.New("mqtt user with an empty name"))
			return
		case seen[u.Username]:
			errs = append(errs, fmt.Errorf("mqtt user %q defined twice", u.Username))
			return
		case (u.Password == "") == (u.PasswordHash == ""):
			errs = append(errs, fmt.Errorf("mqtt user %q: give a password or a bcrypt hash", u.Username))
			return
		}
		seen[u.Username] = true
		hash := u.PasswordHash
		if hash == "" {
			h, err := bcrypt.GenerateFromPassword([]byte(u.Password), bcrypt.MinCost)
			if err != nil {
				errs = append(errs, fmt.Errorf("mqtt user %q: %w", u.Username, err))
				return
			}
			hash = string(h)
		} else if _, err := bcrypt.Cost([]byte(hash)); err != nil {
			errs = append(errs, fmt.Errorf("mqtt user %q: password hash is not bcrypt", u.Username))
			return
		}
		opts.Users = append(opts.Users, &server.User{Username: u.Username, Password: hash,
			Permissions: perms, AllowedConnectionTypes: mqttOnly})
	}
	for _, st := range a.Stations {
		if st.Station == "" || strings.ContainsAny(st.Station, ".*> \t\r\n") {
			errs = append(errs, fmt.Errorf("mqtt user %q: station id %q is not a subject token", st.Username, st.Station))
			continue
		}
		add(st.User, &server.Permissions{
			Publish:   &server.SubjectPermission{Allow: stationSubjects(st.Station)},
			Subscribe: &server.SubjectPermission{Deny: []string{">"}},
		})
	}
	add(a.Ingest, &server.Permissions{
		Publish:   &server.SubjectPermission{Deny: []string{">"}},
		Subscribe: &server.SubjectPermission{Allow: allStations()},
	})
	if err := errors.Join(errs...); err != nil {
		return err
	}

	local, err := seedlessUser()
	if err != nil {
		return err
	}
	opts.Nkeys = append(opts.Nkeys, &server.NkeyUser{Nkey: local, AllowedConnectionTypes: map[string]struct{}{
		jwt.ConnectionTypeStandard: {}, jwt.ConnectionTypeInProcess: {}}})
	opts.NoAuthUser = local
	if a.Anonymous {
		anon, err := seedlessUser()
		if err != nil {
			return err
		}
		opts.Nkeys = append(opts.Nkeys, &server.NkeyUser{Nkey: anon, AllowedConnectionTypes: mqttOnly,
			Permissions: &server.Permissions{
				Publish:   &server.SubjectPermission{Allow: []string{"qingliu.v1.>"}},
				Subscribe: &server.SubjectPermission{Allow: allStations()},
			}})
		opts.MQTT.NoAuthUser = anon
	}
	return nil
}

// seedlessUser returns the public key of a fresh user nkey whose seed is
// dropped: only the server's no_auth_user mapping can ever use it.
func seedlessUser() (string, error) {
	kp, err := nkeys.CreateUser()
	if err != nil {
		return "", fmt.Errorf("internal nats user: %w", err)
	}
	defer kp.Wipe()
	return kp.PublicKey()
}

// Server is a running embedded NATS server.
type Server struct {
	srv      *server.Server
	log      *slog.Logger
	mqttAddr string
	mqttHost string // host:port of mqttAddr
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
		if cfg.MQTTTLS != nil {
			opts.MQTT.TLSConfig = cfg.MQTTTLS
			opts.MQTT.TLSTimeout = 5
		}
	}
	if cfg.Auth != nil {
		if err := cfg.Auth.apply(opts); err != nil {
			return nil, fmt.Errorf("embedded nats: %w", err)
		}
		if opts.Host != "" && !opts.DontListen && !isLoopback(opts.Host) {
			log.Warn("the nats client port needs no credentials and is not on loopback", "host", opts.Host, "port", opts.Port)
		}
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
	mqttAddr, mqttHost := "", ""
	if cfg.MQTTListen != "" {
		scheme := "tcp://"
		if cfg.MQTTTLS != nil {
			scheme = "ssl://"
		}
		mqttHost = net.JoinHostPort(opts.MQTT.Host, strconv.Itoa(opts.MQTT.Port))
		mqttAddr = scheme + mqttHost
	}
	return &Server{srv: s, log: log, mqttAddr: mqttAddr, mqttHost: mqttHost}, nil
}

// ClientURL is the URL for TCP clients (empty when there is no listener).
func (s *Server) ClientURL() string {
	if s.srv.Addr() == nil {
		return ""
	}
	return s.srv.ClientURL()
}

// MQTTAddr is the MQTT listener's address as tcp://host:port, or
// ssl://host:port with TLS.
func (s *Server) MQTTAddr() string { return s.mqttAddr }

// MQTTHostPort is the MQTT listener's host:port, without a scheme (empty
// without a listener): the upstream of an MQTT gate.
func (s *Server) MQTTHostPort() string { return s.mqttHost }

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

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
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
