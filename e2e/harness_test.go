// Package e2e runs the real qingliu binary against real services: the
// embedded NATS server (JetStream + MQTT), InfluxDB OSS 1.8.10 and Mosquitto.
package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/qingliu/qingliu/internal/testenv"
)

var binPath string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "qingliu-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binPath = filepath.Join(dir, "qingliu")
	build := exec.Command("go", "build", "-o", binPath, "../cmd/qingliu")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "build qingliu:", err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// ports are the listeners of one qingliu process under test.
type ports struct {
	NATS, MQTT, HTTP, HJ212, CoAP int
	// CoAPDTLS is used only with stackOptions.coapDTLS.
	CoAPDTLS int
}

// stack is one test's configuration directory and services.
type stack struct {
	t      testing.TB
	dir    string
	influx *testenv.Influx
	ports  ports
	db     string
	tls    bool // the embedded MQTT listener speaks TLS
}

type stackOptions struct {
	natsURL    string // external NATS for ingest/writer
	mqttBroker string // external broker for ingest
	extra      string // appended YAML
	clientID   string // MQTT client id of the ingest stage
	stations   string // station registry file; default configs/stations.yaml
	shipped    bool   // the shipped writer batching instead of the small test batches
	rules      string // rules file; default configs/rules.yaml
	shared     string // MQTT shared subscription group
	coapDTLS   bool   // serve CoAP over DTLS too (coap.dtls_listen)
	// secure keeps the shipped MQTT security of the embedded broker: no
	// anonymous clients. Without it the stack lets MQTT clients in without
	// credentials (nats.embedded.mqtt_anonymous), as the tests that are
	// about delivery, not logins, publish.
	secure bool
	// pki, when set, puts the embedded MQTT listener on TLS with its
	// certificate, and the ingest stage trusts its CA.
	pki *testenv.PKI
	// mqttUser and mqttPasswordFile are the ingest stage's login on an
	// external broker.
	mqttUser, mqttPasswordFile string
	// devCredentials names the DEV ONLY station credentials file
	// (files.dev_credentials) that `qingliu up --sim` logs in with.
	devCredentials string
}

// e2eAdminToken is the operators' token (http.admin_token) of every stack.
const e2eAdminToken = "e2e-admin-token-0001"

// newStack writes a qingliu.yaml with free ports, the repo's station registry
// and a fresh store directory.
func newStack(t testing.TB, influx *testenv.Influx, o stackOptions) *stack {
	t.Helper()
	s := &stack{t: t, dir: t.TempDir(), influx: influx, db: "qingliu", tls: o.pki != nil,
		ports: ports{NATS: testenv.FreePort(t), MQTT: testenv.FreePort(t), HTTP: testenv.FreePort(t), HJ212: testenv.FreePort(t), CoAP: freeUDPPort(t), CoAPDTLS: freeUDPPort(t)}}
	broker := o.mqttBroker
	if broker == "" {
		broker = s.mqttURL()
	}
	embedded := fmt.Sprintf("    mqtt_anonymous: %t\n", !o.secure)
	var login string
	if o.pki != nil {
		embedded += fmt.Sprintf("    mqtt_tls_cert_file: %s\n    mqtt_tls_key_file: %s\n", o.pki.CertFile, o.pki.KeyFile)
		login += fmt.Sprintf("  tls_ca_file: %s\n", o.pki.CAFile)
	}
	if o.mqttUser != "" {
		login += fmt.Sprintf("  username: %s\n  password_file: %s\n", o.mqttUser, o.mqttPasswordFile)
	}
	var files string
	if o.devCredentials != "" {
		files = fmt.Sprintf("  dev_credentials: %s\n", o.devCredentials)
	}
	root := testenv.RepoRoot(t)
	batch := "  batch_size: 2000\n  flush_interval: 200ms\n"
	if o.shipped {
		batch = ""
	}
	if o.stations == "" {
		o.stations = filepath.Join(root, "configs", "stations.yaml")
	}
	if o.rules == "" {
		o.rules = filepath.Join(root, "configs", "rules.yaml")
	}
	if o.clientID == "" {
		o.clientID = "qingliu-ingest-e2e"
	}
	dtls := ""
	if o.coapDTLS {
		dtls = fmt.Sprintf("  dtls_listen: 127.0.0.1:%d\n", s.ports.CoAPDTLS)
	}
	cfg := fmt.Sprintf(`nats:
  url: %q
  embedded:
    listen: 127.0.0.1:%d
    mqtt_listen: 127.0.0.1:%d
    store_dir: %s
%smqtt:
  broker: %s
  client_id: %s
  shared_group: %q
%sinfluxdb:
  url: %s
  database: %s
  timeout: 5s
writer:
%s  max_backoff: 1s
http:
  listen: 127.0.0.1:%d
  admin_token: `+e2eAdminToken+`
hj212:
  listen: 127.0.0.1:%d
coap:
  listen: 127.0.0.1:%d
%sfiles:
  stations: %s
  standards: %s
  rules: %s
  routing: %s
%slog:
  level: debug
%s`, o.natsURL, s.ports.NATS, s.ports.MQTT, filepath.Join(s.dir, "jetstream"), embedded, broker, o.clientID, o.shared, login, influx.URL(), s.db, batch, s.ports.HTTP, s.ports.HJ212, s.ports.CoAP, dtls,
		o.stations, filepath.Join(root, "configs", "standards"), o.rules, filepath.Join(root, "configs", "routing.yaml"), files, o.extra)
	if err := os.WriteFile(s.config(), []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	return s
}

// freeUDPPort returns a free UDP port on 127.0.0.1.
func freeUDPPort(t testing.TB) int {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("free udp port: %v", err)
	}
	defer pc.Close()
	return pc.LocalAddr().(*net.UDPAddr).Port
}

func (s *stack) config() string { return filepath.Join(s.dir, "qingliu.yaml") }

func (s *stack) mqttURL() string {
	if s.tls {
		return fmt.Sprintf("ssl://127.0.0.1:%d", s.ports.MQTT)
	}
	return fmt.Sprintf("tcp://127.0.0.1:%d", s.ports.MQTT)
}

// proc is a running qingliu process.
type proc struct {
	t    testing.TB
	cmd  *exec.Cmd
	out  *syncBuffer
	done chan struct{}
	http string
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// start runs `qingliu args... -c config` and waits for /readyz to say ready.
func (s *stack) start(args ...string) *proc {
	s.t.Helper()
	p := &proc{t: s.t, out: &syncBuffer{}, done: make(chan struct{}), http: fmt.Sprintf("127.0.0.1:%d", s.ports.HTTP)}
	p.cmd = exec.Command(binPath, append(args, "--config", s.config())...)
	p.cmd.Stdout, p.cmd.Stderr = p.out, p.out
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := p.cmd.Start(); err != nil {
		s.t.Fatalf("start qingliu: %v", err)
	}
	go func() { _ = p.cmd.Wait(); close(p.done) }()
	s.t.Cleanup(func() {
		p.stop()
		if s.t.Failed() {
			s.t.Logf("qingliu %s output:\n%s", strings.Join(args, " "), lastLines(p.out.String(), 60))
		}
	})
	deadline := time.Now().Add(60 * time.Second)
	url := fmt.Sprintf("http://127.0.0.1:%d/readyz", s.ports.HTTP)
	for {
		select {
		case <-p.done:
			s.t.Fatalf("qingliu %v exited at start:\n%s", args, p.out.String())
		default:
		}
		if resp, err := http.Get(url); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return p
			}
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("qingliu %v not ready after 60s:\n%s", args, p.out.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// stop sends SIGTERM and waits for a clean exit.
func (p *proc) stop() {
	if p.cmd.ProcessState != nil {
		return
	}
	select {
	case <-p.done:
		return
	default:
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(20 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.done
		p.t.Errorf("qingliu did not stop within 20s of SIGTERM")
	}
}

// kill sends SIGKILL, as a crash would.
func (p *proc) kill() {
	_ = p.cmd.Process.Kill()
	<-p.done
}

func lastLines(s string, n int) string {
	lines := strings.Split(s, "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// publisher is a device-like MQTT client.
func publisher(t testing.TB, broker, id string) mqtt.Client {
	t.Helper()
	opts := mqtt.NewClientOptions().AddBroker(broker).SetClientID(id).SetCleanSession(true).
		SetAutoReconnect(false).SetConnectTimeout(5 * time.Second)
	c := mqtt.NewClient(opts)
	tok := c.Connect()
	if !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("connect publisher to %s: %v", broker, tok.Error())
	}
	t.Cleanup(func() { c.Disconnect(100) })
	return c
}

// publish sends one QoS 1 message and reports whether the broker acked it.
func publish(c mqtt.Client, topic string, payload []byte) bool {
	tok := c.Publish(topic, 1, false, payload)
	return tok.WaitTimeout(10*time.Second) && tok.Error() == nil
}

func tryPublisher(broker, id string) (mqtt.Client, error) {
	opts := mqtt.NewClientOptions().AddBroker(broker).SetClientID(id).SetCleanSession(true).
		SetAutoReconnect(false).SetConnectTimeout(2 * time.Second)
	c := mqtt.NewClient(opts)
	tok := c.Connect()
	if !tok.WaitTimeout(3*time.Second) || tok.Error() != nil {
		return nil, fmt.Errorf("connect: %v", tok.Error())
	}
	return c, nil
}

// apiCall sends a JSON request to a process's HTTP API with a bearer token
// (none when empty) and returns the status and body.
func apiCall(t testing.TB, p *proc, method, path, token string, body any) (int, string) {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, "http://"+p.http+path, rd)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}
