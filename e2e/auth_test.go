package e2e

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
	"github.com/eclipse/paho.mqtt.golang/packets"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/qingliu/qingliu/internal/auth"
	"github.com/qingliu/qingliu/internal/bus"
	"github.com/qingliu/qingliu/internal/testenv"
)

// devPasswords are the DEV ONLY station passwords shipped beside
// configs/stations.yaml.
func devPasswords(t *testing.T) map[string]string {
	t.Helper()
	pws, err := auth.LoadCredentials(filepath.Join(testenv.RepoRoot(t), "configs", "dev-credentials.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	return pws
}

// device connects as a device would: MQTT 3.1.1, a fixed client id, a
// user name and password, TLS when tlsCfg is set.
func device(broker, id, user, password string, tlsCfg *tls.Config) (mqtt.Client, error) {
	opts := mqtt.NewClientOptions().AddBroker(broker).SetClientID(id).SetUsername(user).SetPassword(password).
		SetProtocolVersion(4).SetCleanSession(true).SetAutoReconnect(false).SetConnectTimeout(5 * time.Second)
	if tlsCfg != nil {
		opts.SetTLSConfig(tlsCfg)
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

func mustDevice(t *testing.T, broker, user, password string, tlsCfg *tls.Config) mqtt.Client {
	t.Helper()
	c, err := device(broker, "e2e-dev-"+user, user, password, tlsCfg)
	if err != nil {
		t.Fatalf("connect as %s: %v", user, err)
	}
	t.Cleanup(func() { c.Disconnect(100) })
	return c
}

// stationSubjects returns the READINGS message count per station.
func stationSubjects(t *testing.T, js jetstream.JetStream) map[string]uint64 {
	t.Helper()
	s, err := js.Stream(context.Background(), bus.StreamReadings)
	if err != nil {
		t.Fatal(err)
	}
	info, err := s.Info(context.Background(), jetstream.WithSubjectFilter(">"))
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]uint64{}
	for subj, n := range info.State.Subjects {
		out[subj[strings.LastIndexByte(subj, '.')+1:]] += n
	}
	return out
}

// checkStationIsolation is the scenario both brokers must pass: station A
// publishes under its own topic and under B's, then a sentinel under its
// own. MQTT 3.1.1 has no negative PUBACK, so the broker acks the forged
// message (a device cannot tell) and must drop it: when the sentinel has
// reached InfluxDB, READINGS holds A's two readings and nothing of B.
// Wrong passwords and anonymous clients are refused at CONNECT.
func checkStationIsolation(t *testing.T, broker string, tlsCfg *tls.Config, js jetstream.JetStream, influx *testenv.Influx, db string) {
	t.Helper()
	const a, b = "bj-gaoqiao", "bj-lixi"
	pws := devPasswords(t)
	for _, c := range []struct{ name, user, pw string }{
		{"anonymous", "", ""},
		{"wrong password", a, pws[b]},
		{"unknown user", "bj-nowhere", pws[a]},
	} {
		cl, err := device(broker, "e2e-refused", c.user, c.pw, tlsCfg)
		if err == nil {
			cl.Disconnect(0)
		}
		if !errors.Is(err, packets.ErrorRefusedNotAuthorised) && !errors.Is(err, packets.ErrorRefusedBadUsernameOrPassword) {
			t.Errorf("%s: connect error %v, want a refused login", c.name, err)
		}
	}

	dev := mustDevice(t, broker, a, pws[a], tlsCfg)
	t0 := time.Now().Add(-time.Hour).Truncate(time.Second)
	send := func(station string, i int) {
		t.Helper()
		if !publish(dev, "qingliu/v1/"+station+"/json", reading(t0.Add(time.Duration(i)*time.Second), i)) {
			t.Fatalf("publish %d under %s: no PUBACK", i, station)
		}
	}
	send(a, 0)
	send(b, 1) // forged: acked, dropped
	if !dev.IsConnected() {
		t.Fatal("the broker closed the connection after the forged publish; want it kept (MQTT 3.1.1 acks and drops)")
	}
	send(a, 2) // the sentinel
	testenv.Eventually(t, 30*time.Second, "station A's two readings in influxdb", func() bool {
		return influx.Count(db, "water", "ph") >= 2
	})
	if got := stationSubjects(t, js); len(got) != 1 || got[a] != 2 {
		t.Errorf("READINGS per station %v, want only %s with 2", got, a)
	}
	if n := streamMsgs(t, js, bus.StreamQuarantine); n != 0 {
		t.Errorf("QUARANTINE holds %d messages, want none", n)
	}
	series, err := influx.Query(db, fmt.Sprintf(`SELECT COUNT("ph") FROM water WHERE station = '%s'`, b))
	if err != nil {
		t.Fatal(err)
	}
	if len(series) != 0 {
		t.Errorf("influxdb has rows for %s: %v", b, series)
	}
}

// The embedded broker with the shipped configuration: every station logs in
// with its own credential and publishes only under its own topic; the
// ingest stage has its own account; nothing secret reaches the log.
func TestEmbeddedBrokerStationLogins(t *testing.T) {
	influx := testenv.StartInflux(t)
	s := newStack(t, influx, stackOptions{secure: true})
	p := s.start("up") // ready: the ingest stage logged in and subscribed
	checkStationIsolation(t, s.mqttURL(), nil, jsConn(t, s.ports.NATS), influx, s.db)

	out := p.out.String()
	if !strings.Contains(out, `Publish Violation - Subject \"qingliu.v1.bj-lixi.json\"`) {
		t.Errorf("the forged publish is not in the log")
	}
	for id, pw := range devPasswords(t) {
		if strings.Contains(out, pw) {
			t.Errorf("the log contains the password of %s", id)
		}
	}
	if strings.Contains(out, "Plaintext passwords") {
		t.Error("the embedded server holds plain passwords")
	}
}

// `qingliu sim` with its defaults logs each station in with the DEV ONLY
// credentials beside the registry, and every message it sends is accepted.
func TestSimLogsInAsEachStation(t *testing.T) {
	influx := testenv.StartInflux(t)
	s := newStack(t, influx, stackOptions{secure: true})
	s.start("up")
	root := testenv.RepoRoot(t)
	const n = 136 // four messages per station
	cmd := exec.Command(binPath, "sim", "--stations-file", filepath.Join(root, "configs", "stations.yaml"),
		"--broker", s.mqttURL(), "--speedup", "inf", "--count", fmt.Sprint(n), "--start", "-8h", "--log-level", "warn")
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), fmt.Sprintf("published %d, acked %d, failed 0", n, n)) {
		t.Fatalf("qingliu sim: %v\n%s", err, out)
	}
	js := jsConn(t, s.ports.NATS)
	testenv.Eventually(t, 30*time.Second, "every simulated message in READINGS", func() bool {
		return streamMsgs(t, js, bus.StreamReadings) == n
	})
	if got := stationSubjects(t, js); len(got) != len(devPasswords(t)) {
		t.Errorf("readings from %d stations, want %d", len(got), len(devPasswords(t)))
	}
	if q := streamMsgs(t, js, bus.StreamQuarantine); q != 0 {
		t.Errorf("QUARANTINE holds %d messages", q)
	}
}

// `qingliu up --sim` — what `make run` starts — logs the simulated stations
// in with the DEV ONLY credentials named by files.dev_credentials.
func TestUpSimLogsInAsEachStation(t *testing.T) {
	influx := testenv.StartInflux(t)
	s := newStack(t, influx, stackOptions{secure: true,
		devCredentials: filepath.Join(testenv.RepoRoot(t), "configs", "dev-credentials.yaml")})
	p := s.start("up", "--sim")
	js := jsConn(t, s.ports.NATS)
	want := len(devPasswords(t))
	testenv.Eventually(t, 60*time.Second, "readings from every simulated station", func() bool {
		return len(stationSubjects(t, js)) == want
	})
	if out := p.out.String(); strings.Contains(out, "not Authorized") || strings.Contains(out, "Publish Violation") {
		t.Errorf("the simulator was refused somewhere:\n%s", lastLines(out, 40))
	}
}

// Mosquitto with the files `qingliu gen mosquitto` writes: the same
// isolation, and the ingest stage reads through its own account.
func TestMosquittoStationLogins(t *testing.T) {
	influx := testenv.StartInflux(t)
	root := testenv.RepoRoot(t)
	natsURL := externalNATS(t)

	gen := newStack(t, influx, stackOptions{natsURL: natsURL})
	dir := t.TempDir()
	out, err := exec.Command(binPath, "gen", "mosquitto", "--out", dir, "--config", gen.config(),
		"--credentials", filepath.Join(root, "configs", "dev-credentials.yaml")).CombinedOutput()
	if err != nil {
		t.Fatalf("qingliu gen mosquitto: %v\n%s", err, out)
	}
	// Mosquitto started as root reads its files as the mosquitto user.
	for _, p := range []string{filepath.Dir(dir), dir, filepath.Join(dir, "passwd"), filepath.Join(dir, "acl")} {
		if err := os.Chmod(p, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	mq := testenv.StartMosquitto(t, testenv.MosquittoOptions{Extra: fmt.Sprintf(
		"allow_anonymous false\npassword_file %s\nacl_file %s\n", filepath.Join(dir, "passwd"), filepath.Join(dir, "acl"))})

	login := stackOptions{natsURL: natsURL, mqttBroker: mq.URL(), mqttUser: "qingliu-ingest",
		mqttPasswordFile: filepath.Join(dir, "ingest-password")}
	in := newStack(t, influx, login)
	wr := newStack(t, influx, login)
	wr.start("writer")
	in.start("ingest") // ready: logged in with its own account and subscribed
	checkStationIsolation(t, mq.URL(), nil, jsConn(t, natsPort(t, natsURL)), influx, in.db)
}

// natsPort is the port of a nats://127.0.0.1:port URL.
func natsPort(t *testing.T, url string) int {
	t.Helper()
	var port int
	if _, err := fmt.Sscanf(url[strings.LastIndexByte(url, ':')+1:], "%d", &port); err != nil {
		t.Fatalf("nats url %q: %v", url, err)
	}
	return port
}

// The device MQTT listener (the gate in front of the embedded broker) on TLS
// with a CA made for the test: a device connects over ssl:// trusting it; a
// device that does not trust it, or speaks plain MQTT, gets nowhere. The
// ingest stage reads on the broker's own loopback listener.
func TestEmbeddedBrokerMQTTOverTLS(t *testing.T) {
	influx := testenv.StartInflux(t)
	pki := testenv.NewPKI(t)
	s := newStack(t, influx, stackOptions{secure: true, pki: &pki})
	s.start("up") // ready: the gate ends TLS, the ingest stage is subscribed
	if !strings.HasPrefix(s.mqttURL(), "ssl://") {
		t.Fatalf("broker URL %s", s.mqttURL())
	}
	withCA, err := auth.ClientTLS(pki.CAFile)
	if err != nil {
		t.Fatal(err)
	}
	checkStationIsolation(t, s.mqttURL(), withCA, jsConn(t, s.ports.NATS), influx, s.db)

	pw := devPasswords(t)["bj-lixi"]
	system, _ := auth.ClientTLS("")
	if c, err := device(s.mqttURL(), "e2e-untrusting", "bj-lixi", pw, system); err == nil {
		c.Disconnect(0)
		t.Error("a device that does not trust the CA connected")
	}
	plain := strings.Replace(s.mqttURL(), "ssl://", "tcp://", 1)
	if c, err := device(plain, "e2e-plain", "bj-lixi", pw, nil); err == nil {
		c.Disconnect(0)
		t.Error("a device connected without TLS")
	}
}
