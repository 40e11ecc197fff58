package sim

import (
	"fmt"
	"math"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
	"github.com/nats-io/nats-server/v2/server"
)

// authBroker runs a NATS MQTT listener where each station of creds may
// publish only under its own topic and the user "reader" reads them all.
func authBroker(t *testing.T, creds map[string]Credential) string {
	t.Helper()
	opts := &server.Options{ServerName: "sim-auth-test", Host: "127.0.0.1", Port: -1, JetStream: true,
		StoreDir: t.TempDir(), NoLog: true, NoSigs: true}
	opts.MQTT.Host, opts.MQTT.Port = "127.0.0.1", -1
	for id, c := range creds {
		opts.Users = append(opts.Users, &server.User{Username: c.Username, Password: c.Password,
			Permissions: &server.Permissions{Publish: &server.SubjectPermission{Allow: []string{"qingliu.v1." + id + ".>"}}}})
	}
	opts.Users = append(opts.Users, &server.User{Username: "reader", Password: "reader-pw",
		Permissions: &server.Permissions{Publish: &server.SubjectPermission{Deny: []string{">"}}}})
	s, err := server.NewServer(opts)
	if err != nil {
		t.Fatal(err)
	}
	s.Start()
	t.Cleanup(func() { s.Shutdown(); s.WaitForShutdown() })
	if !s.ReadyForConnections(10 * time.Second) {
		t.Fatal("nats server not ready")
	}
	return fmt.Sprintf("tcp://127.0.0.1:%d", opts.MQTT.Port)
}

// With per-station credentials every station publishes on its own
// connection; a message routed to another station's connection would be
// acked and dropped by the broker, so every message must arrive.
func TestRunWithStationCredentials(t *testing.T) {
	reg := newTestRegistry()
	creds := map[string]Credential{}
	for _, st := range reg.Stations() {
		creds[st.ID] = Credential{Username: "user-" + st.ID, Password: "pw-" + st.ID}
	}
	broker := authBroker(t, creds)
	var received atomic.Int64
	opts := mqtt.NewClientOptions().AddBroker(broker).SetClientID("reader").SetUsername("reader").SetPassword("reader-pw")
	c := mqtt.NewClient(opts)
	if tok := c.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("reader connect: %v", tok.Error())
	}
	defer c.Disconnect(100)
	if tok := c.Subscribe("qingliu/v1/+/+", 1, func(mqtt.Client, mqtt.Message) { received.Add(1) }); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("subscribe: %v", tok.Error())
	}

	cfg := DefaultConfig()
	cfg.Broker = broker
	cfg.ClientIDPrefix = "sim-cred"
	cfg.Credentials = creds
	cfg.Publishers = 1 // unused with credentials
	cfg.Speedup = math.Inf(1)
	cfg.Start = at(t, "2026-11-20T00:00:00+08:00")
	cfg.Count = 400
	s := New(cfg, reg, discard())
	if err := s.Run(t.Context()); err != nil {
		t.Fatal(err)
	}
	if st := s.Stats(); st.Acked != 400 || st.Failed != 0 {
		t.Fatalf("stats %+v, want 400 acked", st)
	}
	eventually(t, 20*time.Second, "every message at the reader", func() bool { return received.Load() == 400 })
}

func TestCredentialsValidation(t *testing.T) {
	reg := newTestRegistry()
	cfg := DefaultConfig()
	cfg.Credentials = map[string]Credential{"bj-a": {Username: "a", Password: "s3cret-pw"}, "bj-b": {Username: "b"}}
	err := cfg.Validate(reg)
	for _, id := range []string{"aq-x", "bj-b", "bj-c"} {
		wantErrContains(t, err, `station "`+id+`" has no MQTT user name and password`)
	}
	if err != nil && (strings.Contains(err.Error(), `"bj-a"`) || strings.Contains(err.Error(), "s3cret-pw")) {
		t.Errorf("error %q: want no complaint about bj-a and no password", err)
	}
	cfg.Stations = []string{"bj-a"}
	if err := cfg.Validate(reg); err != nil {
		t.Errorf("only bj-a selected: %v", err)
	}
	if s := fmt.Sprintf("%v %+v %#v", cfg.Credentials["bj-a"], cfg.Credentials["bj-a"], cfg.Credentials["bj-a"]); strings.Contains(s, "s3cret-pw") {
		t.Errorf("credential formatted as %q", s)
	}
}

// A wrong password fails the run at connect, naming the user but not the
// password.
func TestRunWithWrongCredential(t *testing.T) {
	reg := newTestRegistry()
	creds := map[string]Credential{}
	for _, st := range reg.Stations() {
		creds[st.ID] = Credential{Username: "user-" + st.ID, Password: "pw-" + st.ID}
	}
	broker := authBroker(t, creds)
	creds["bj-b"] = Credential{Username: "user-bj-b", Password: "s3cret-wrong"}
	cfg := DefaultConfig()
	cfg.Broker = broker
	cfg.Credentials = creds
	cfg.Count = 10
	err := New(cfg, reg, discard()).Run(t.Context())
	wantErrContains(t, err, "user-bj-b", "not Authorized")
	if err != nil && strings.Contains(err.Error(), "s3cret-wrong") {
		t.Errorf("error %q shows the password", err)
	}
}
