package auth

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
	"github.com/eclipse/paho.mqtt.golang/packets"

	"github.com/qingliu/qingliu/internal/testenv"
)

func mqttConnect(broker, id, user, password string) (mqtt.Client, error) {
	opts := mqtt.NewClientOptions().AddBroker(broker).SetClientID(id).SetUsername(user).SetPassword(password).
		SetProtocolVersion(4).SetCleanSession(true).SetAutoReconnect(false).SetConnectTimeout(5 * time.Second)
	c := mqtt.NewClient(opts)
	tok := c.Connect()
	if !tok.WaitTimeout(10 * time.Second) {
		return nil, errors.New("connect timed out")
	}
	return c, tok.Error()
}

// The real Mosquitto (Debian's 2.0) accepts the files MosquittoPasswd and
// MosquittoACL write: each station logs in with its own password and may
// publish only under its own topic; the ingest account reads everything.
func TestRealMosquittoAcceptsGeneratedFiles(t *testing.T) {
	if testing.Short() {
		t.Skip("starts mosquitto")
	}
	accounts := []Account{
		{Username: "qingliu-ingest", Password: NewPassword(), Read: []string{"qingliu/v1/#"}},
		{Username: "st-a", Password: NewPassword(), Write: []string{"qingliu/v1/st-a/#"}},
		{Username: "st-b", Password: NewPassword(), Write: []string{"qingliu/v1/st-b/#"}},
	}
	passwd, err := MosquittoPasswd(accounts)
	if err != nil {
		t.Fatal(err)
	}
	acl, err := MosquittoACL(accounts)
	if err != nil {
		t.Fatal(err)
	}
	// Mosquitto started as root drops to the mosquitto user before it reads
	// the files: let that user read them.
	dir := t.TempDir()
	for _, d := range []string{filepath.Dir(dir), dir} {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	pf, af := filepath.Join(dir, "passwd"), filepath.Join(dir, "acl")
	if err := os.WriteFile(pf, passwd, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(af, acl, 0o644); err != nil {
		t.Fatal(err)
	}
	mq := testenv.StartMosquitto(t, testenv.MosquittoOptions{
		Extra: fmt.Sprintf("allow_anonymous false\npassword_file %s\nacl_file %s\n", pf, af)})

	ingest, err := mqttConnect(mq.URL(), "ingest", "qingliu-ingest", accounts[0].Password)
	if err != nil {
		t.Fatalf("ingest connect: %v", err)
	}
	defer ingest.Disconnect(100)
	got := make(chan string, 10)
	if tok := ingest.Subscribe("qingliu/v1/+/+", 1, func(_ mqtt.Client, m mqtt.Message) {
		got <- m.Topic() + " " + string(m.Payload())
	}); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		t.Fatalf("ingest subscribe: %v", tok.Error())
	}

	for _, c := range []struct{ name, user, pw string }{
		{"anonymous", "", ""},
		{"wrong password", "st-a", accounts[2].Password},
		{"unknown user", "st-c", "x"},
	} {
		cl, err := mqttConnect(mq.URL(), "dev-"+c.user, c.user, c.pw)
		if !errors.Is(err, packets.ErrorRefusedNotAuthorised) && !errors.Is(err, packets.ErrorRefusedBadUsernameOrPassword) {
			t.Errorf("%s: connect error %v, want a refusal", c.name, err)
		}
		if err == nil {
			cl.Disconnect(0)
		}
	}

	a, err := mqttConnect(mq.URL(), "dev-a", "st-a", accounts[1].Password)
	if err != nil {
		t.Fatalf("station connect: %v", err)
	}
	defer a.Disconnect(100)
	// MQTT 3.1.1 has no negative PUBACK: Mosquitto acks the forged message
	// and drops it.
	for _, p := range []struct{ topic, payload string }{{"qingliu/v1/st-b/json", "forged"}, {"qingliu/v1/st-a/json", "own"}} {
		if tok := a.Publish(p.topic, 1, false, p.payload); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
			t.Fatalf("publish %s: %v", p.topic, tok.Error())
		}
	}
	select {
	case m := <-got:
		if m != "qingliu/v1/st-a/json own" {
			t.Fatalf("ingest received %q first, want only the station's own message", m)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("ingest received nothing")
	}
	select {
	case m := <-got:
		t.Errorf("ingest also received %q", m)
	case <-time.After(300 * time.Millisecond):
	}
}
