package broker_test

import (
	"bytes"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
	"github.com/eclipse/paho.mqtt.golang/packets"
	"github.com/nats-io/nats.go"

	"github.com/qingliu/qingliu/internal/auth"
	"github.com/qingliu/qingliu/internal/broker"
	"github.com/qingliu/qingliu/internal/testenv"
)

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

type authEnv struct {
	srv    *broker.Server
	log    *lockedBuffer
	pwA    string // station st-a's password (its hash is configured)
	pwB    string // station st-b's password (configured as is)
	ingest string // the ingest user's password
}

func startAuth(t *testing.T, anonymous bool, mutate func(*broker.Config)) authEnv {
	t.Helper()
	e := authEnv{log: &lockedBuffer{}, pwA: auth.NewPassword(), pwB: auth.NewPassword(), ingest: auth.NewPassword()}
	hashA, err := auth.HashPassword(e.pwA, auth.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	cfg := broker.Config{
		Listen: "127.0.0.1:0", MQTTListen: "127.0.0.1:0", StoreDir: t.TempDir(), MQTTMaxAckPending: 100,
		Auth: &broker.Auth{
			Stations: []broker.StationUser{
				{Station: "st-a", User: broker.User{Username: "st-a", PasswordHash: hashA}},
				{Station: "st-b", User: broker.User{Username: "device-b", Password: e.pwB}},
			},
			Ingest:    broker.User{Username: "qingliu-ingest", Password: e.ingest},
			Anonymous: anonymous,
		},
	}
	if mutate != nil {
		mutate(&cfg)
	}
	srv, err := broker.Start(cfg, slog.New(slog.NewTextHandler(e.log, &slog.HandlerOptions{Level: slog.LevelDebug})))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Shutdown)
	e.srv = srv
	return e
}

func dial(broker, id, user, password string, tune func(*mqtt.ClientOptions)) (mqtt.Client, error) {
	opts := mqtt.NewClientOptions().AddBroker(broker).SetClientID(id).SetUsername(user).SetPassword(password).
		SetProtocolVersion(4).SetCleanSession(true).SetAutoReconnect(false).SetConnectTimeout(5 * time.Second)
	if tune != nil {
		tune(opts)
	}
	c := mqtt.NewClient(opts)
	tok := c.Connect()
	if !tok.WaitTimeout(10 * time.Second) {
		return nil, errors.New("connect timed out")
	}
	if err := tok.Error(); err != nil {
		return nil, err
	}
	return c, nil
}

func mustDial(t *testing.T, broker, id, user, password string) mqtt.Client {
	t.Helper()
	c, err := dial(broker, id, user, password, nil)
	if err != nil {
		t.Fatalf("connect %s as %q: %v", id, user, err)
	}
	t.Cleanup(func() { c.Disconnect(50) })
	return c
}

// acked publishes at QoS 1 and reports whether a PUBACK came back.
func acked(c mqtt.Client, topic, payload string) bool {
	tok := c.Publish(topic, 1, false, payload)
	return tok.WaitTimeout(5*time.Second) && tok.Error() == nil
}

func TestStationPublishesOnlyUnderItsOwnTopic(t *testing.T) {
	e := startAuth(t, false, nil)
	nc, err := e.srv.Connect("observer")
	if err != nil {
		t.Fatalf("in-process connection without credentials: %v", err)
	}
	defer nc.Close()
	seen, err := nc.SubscribeSync("qingliu.v1.>")
	if err != nil {
		t.Fatal(err)
	}
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}

	ingest := mustDial(t, e.srv.MQTTAddr(), "ingest", "qingliu-ingest", e.ingest)
	got := make(chan string, 10)
	if tok := ingest.Subscribe("qingliu/v1/+/+", 1, func(_ mqtt.Client, m mqtt.Message) {
		got <- m.Topic() + " " + string(m.Payload())
	}); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		t.Fatalf("ingest subscribe: %v", tok.Error())
	}

	a := mustDial(t, e.srv.MQTTAddr(), "dev-a", "st-a", e.pwA)
	b := mustDial(t, e.srv.MQTTAddr(), "dev-b", "device-b", e.pwB)
	// MQTT 3.1.1 has no negative PUBACK: the broker acks the forged message,
	// drops it and keeps the connection.
	if !acked(a, "qingliu/v1/st-b/json", "forged by a") || !a.IsConnected() {
		t.Fatalf("forged publish: want a PUBACK and the connection kept (connected %v)", a.IsConnected())
	}
	if !acked(a, "qingliu/v1/st-a/json", "own a") || !acked(b, "qingliu/v1/st-b/json", "own b") {
		t.Fatal("a station's publish under its own topic was not acked")
	}
	if !acked(a, "qingliu/v1/st-a", "no format") {
		t.Fatal("publish not acked")
	}
	if !acked(ingest, "qingliu/v1/st-a/json", "forged by ingest") {
		t.Fatal("ingest publish not acked")
	}
	for _, want := range []string{"qingliu/v1/st-a/json own a", "qingliu/v1/st-b/json own b"} {
		select {
		case m := <-got:
			if m != want {
				t.Errorf("ingest received %q, want %q", m, want)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("ingest did not receive %q", want)
		}
	}
	select {
	case m := <-got:
		t.Errorf("ingest also received %q", m)
	case <-time.After(300 * time.Millisecond):
	}
	var subjects []string
	for {
		m, err := seen.NextMsg(200 * time.Millisecond)
		if err != nil {
			break
		}
		subjects = append(subjects, m.Subject+" "+string(m.Data))
	}
	if want := "qingliu.v1.st-a.json own a|qingliu.v1.st-b.json own b"; strings.Join(subjects, "|") != want {
		t.Errorf("nats saw %q, want %q", subjects, want)
	}
	if !strings.Contains(e.log.String(), `Publish Violation - Subject \"qingliu.v1.st-b.json\"`) {
		t.Errorf("no publish violation logged:\n%s", e.log)
	}

	// A station may not read anything, not even its own topic.
	tok := a.Subscribe("qingliu/v1/#", 1, nil)
	if !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		t.Fatal(tok.Error())
	}
	if qos := tok.(*mqtt.SubscribeToken).Result()["qingliu/v1/#"]; qos != 0x80 {
		t.Errorf("station subscribe granted QoS %#x, want the failure code 0x80", qos)
	}
}

func TestMQTTLoginsRefused(t *testing.T) {
	e := startAuth(t, false, nil)
	for _, c := range []struct{ name, user, pw string }{
		{"anonymous", "", ""},
		{"wrong password", "st-a", e.pwB},
		{"station id instead of its user name", "st-b", e.pwB},
		{"unknown user", "st-c", e.pwA},
		{"empty password", "st-a", ""},
	} {
		_, err := dial(e.srv.MQTTAddr(), "dev", c.user, c.pw, nil)
		if !errors.Is(err, packets.ErrorRefusedNotAuthorised) {
			t.Errorf("%s: connect error %v, want CONNACK 5 (not authorised)", c.name, err)
		}
	}
	for _, secret := range []string{e.pwA, e.pwB, e.ingest} {
		if strings.Contains(e.log.String(), secret) {
			t.Error("the server log contains a password")
		}
	}
	if strings.Contains(e.log.String(), "Plaintext passwords") {
		t.Error("the server warns about plaintext passwords: it should hold only hashes")
	}
}

func TestNATSClientsNeedNoCredentials(t *testing.T) {
	e := startAuth(t, false, nil)
	nc, err := nats.Connect(e.srv.ClientURL())
	if err != nil {
		t.Fatalf("tcp nats client: %v", err)
	}
	defer nc.Close()
	if err := nc.Publish("qingliu.v1.st-a.json", []byte("x")); err != nil {
		t.Fatal(err)
	}
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
}

func TestAnonymousMQTTWhenAllowed(t *testing.T) {
	e := startAuth(t, true, nil)
	anon := mustDial(t, e.srv.MQTTAddr(), "anon", "", "")
	got := make(chan string, 1)
	if tok := anon.Subscribe("qingliu/v1/#", 1, func(_ mqtt.Client, m mqtt.Message) { got <- m.Topic() }); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		t.Fatal(tok.Error())
	}
	if !acked(anon, "qingliu/v1/st-b/json", "{}") {
		t.Fatal("anonymous publish not acked")
	}
	select {
	case m := <-got:
		if m != "qingliu/v1/st-b/json" {
			t.Errorf("got %q", m)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("anonymous publish not delivered")
	}
	// Credentials still count: a wrong password is not anonymous.
	if _, err := dial(e.srv.MQTTAddr(), "dev", "st-a", "wrong", nil); !errors.Is(err, packets.ErrorRefusedNotAuthorised) {
		t.Errorf("wrong password with anonymous access on: %v", err)
	}
	// Anonymous clients cannot write outside the station topics.
	nc, err := e.srv.Connect("observer")
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	other, _ := nc.SubscribeSync("other.>")
	_ = nc.Flush()
	acked(anon, "other/topic", "x")
	if m, err := other.NextMsg(300 * time.Millisecond); err == nil {
		t.Errorf("anonymous publish outside qingliu/v1 delivered: %s", m.Subject)
	}
}

func TestAuthConfigErrors(t *testing.T) {
	const pw = "s3cret-pw"
	user := func(name string) broker.User { return broker.User{Username: name, Password: pw} }
	for name, a := range map[string]*broker.Auth{
		"duplicate user": {Stations: []broker.StationUser{{Station: "a", User: user("u")}, {Station: "b", User: user("u")}},
			Ingest: user("i")},
		"ingest named like a station": {Stations: []broker.StationUser{{Station: "a", User: user("a")}}, Ingest: user("a")},
		"no ingest user":              {Stations: []broker.StationUser{{Station: "a", User: user("a")}}},
		"no password":                 {Stations: []broker.StationUser{{Station: "a", User: broker.User{Username: "a"}}}, Ingest: user("i")},
		"password and hash": {Stations: []broker.StationUser{{Station: "a", User: broker.User{Username: "a", Password: pw,
			PasswordHash: "$2a$04$tvW2dFlkcJ.Qg7XKa.86wOV/2X2Vp8lOe9aJPesq7.CHnzehTBjTW"}}}, Ingest: user("i")},
		"not a bcrypt hash":     {Stations: []broker.StationUser{{Station: "a", User: broker.User{Username: "a", PasswordHash: "$1$" + pw}}}, Ingest: user("i")},
		"station id with a dot": {Stations: []broker.StationUser{{Station: "a.b", User: user("a")}}, Ingest: user("i")},
		"password too long":     {Stations: []broker.StationUser{{Station: "a", User: broker.User{Username: "a", Password: strings.Repeat(pw, 10)}}}, Ingest: user("i")},
	} {
		_, err := broker.Start(broker.Config{Listen: "-", MQTTListen: "127.0.0.1:0", StoreDir: t.TempDir(), MQTTMaxAckPending: 10, Auth: a},
			slog.New(slog.DiscardHandler))
		if err == nil {
			t.Errorf("%s: Start succeeded", name)
		} else if strings.Contains(err.Error(), pw) {
			t.Errorf("%s: error %q contains the password", name, err)
		}
	}
}

func TestMQTTOverTLS(t *testing.T) {
	pki := testenv.NewPKI(t)
	serverTLS, err := auth.ServerTLS(pki.CertFile, pki.KeyFile)
	if err != nil {
		t.Fatal(err)
	}
	e := startAuth(t, false, func(c *broker.Config) { c.MQTTTLS = serverTLS })
	addr := e.srv.MQTTAddr()
	if !strings.HasPrefix(addr, "ssl://127.0.0.1:") {
		t.Fatalf("MQTTAddr() = %q, want ssl://127.0.0.1:…", addr)
	}
	clientTLS, err := auth.ClientTLS(pki.CAFile)
	if err != nil {
		t.Fatal(err)
	}
	withCA := func(o *mqtt.ClientOptions) { o.SetTLSConfig(clientTLS) }
	c, err := dial(addr, "dev-a", "st-a", e.pwA, withCA)
	if err != nil {
		t.Fatalf("TLS connect with the CA: %v", err)
	}
	defer c.Disconnect(50)
	if !acked(c, "qingliu/v1/st-a/json", "{}") {
		t.Error("publish over TLS not acked")
	}
	if _, err := dial(addr, "dev-a2", "st-a", e.pwB, withCA); !errors.Is(err, packets.ErrorRefusedNotAuthorised) {
		t.Errorf("wrong password over TLS: %v, want not authorised", err)
	}
	// A client that does not trust the CA, and one without TLS, get nowhere.
	noCA, _ := auth.ClientTLS("")
	if c, err := dial(addr, "dev-x", "st-a", e.pwA, func(o *mqtt.ClientOptions) { o.SetTLSConfig(noCA) }); err == nil {
		c.Disconnect(0)
		t.Error("TLS connect without the CA succeeded")
	}
	plain := "tcp://" + strings.TrimPrefix(addr, "ssl://")
	if c, err := dial(plain, "dev-y", "st-a", e.pwA, func(o *mqtt.ClientOptions) { o.SetConnectTimeout(2 * time.Second) }); err == nil {
		c.Disconnect(0)
		t.Error("plain TCP connect to the TLS listener succeeded")
	}
}
