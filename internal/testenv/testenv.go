// Package testenv starts the real services Qingliu's tests run against: an
// embedded NATS server with JetStream and MQTT, InfluxDB OSS 1.8.10 and
// Mosquitto, each on free loopback ports with data in t.TempDir().
package testenv

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/qingliu/qingliu/internal/broker"
)

// RepoRoot is the repository root (the directory with go.mod).
func RepoRoot(t testing.TB) string {
	t.Helper()
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		t.Fatal("testenv: cannot locate source")
	}
	return filepath.Clean(filepath.Join(filepath.Dir(file), "..", ".."))
}

// FreePort returns a free TCP port on 127.0.0.1.
func FreePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("free port: %v", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// Logger returns a logger that writes to the test log.
func Logger(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelInfo}))
}

type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// NATS starts an embedded NATS server with JetStream and an MQTT listener.
func NATS(t testing.TB) *broker.Server {
	t.Helper()
	srv, err := broker.Start(broker.Config{
		Listen:            "127.0.0.1:0",
		MQTTListen:        "127.0.0.1:0",
		StoreDir:          t.TempDir(),
		MQTTMaxAckPending: 4096,
	}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatalf("start nats: %v", err)
	}
	t.Cleanup(srv.Shutdown)
	return srv
}

// Eventually polls cond every 50 ms until it returns true or d elapses.
func Eventually(t testing.TB, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		if cond() {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", d, what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Influx is a real InfluxDB OSS 1.8.10 process.
type Influx struct {
	t       testing.TB
	bin     string
	dir     string
	port    int
	cmd     *exec.Cmd
	exited  chan struct{}
	logFile *os.File
}

// InfluxdPath finds the influxd binary: $QINGLIU_INFLUXD, else tools/bin/influxd
// (built by `make tools`).
func InfluxdPath(t testing.TB) string {
	t.Helper()
	if p := os.Getenv("QINGLIU_INFLUXD"); p != "" {
		return p
	}
	p := filepath.Join(RepoRoot(t), "tools", "bin", "influxd")
	if _, err := os.Stat(p); err != nil {
		t.Fatalf("influxd not found at %s: run `make tools` (go install github.com/influxdata/influxdb/cmd/influxd@v1.8.10)", p)
	}
	return p
}

// StartInflux starts InfluxDB on a free port with data in a temp dir.
func StartInflux(t testing.TB) *Influx {
	t.Helper()
	in := &Influx{t: t, bin: InfluxdPath(t), dir: t.TempDir(), port: FreePort(t)}
	rpc := FreePort(t)
	conf := fmt.Sprintf(`reporting-disabled = true
bind-address = "127.0.0.1:%d"
[meta]
  dir = %q
[data]
  dir = %q
  wal-dir = %q
  query-log-enabled = false
  wal-fsync-delay = "0s"
[coordinator]
[retention]
  enabled = false
[monitor]
  store-enabled = false
[http]
  enabled = true
  bind-address = "127.0.0.1:%d"
  log-enabled = false
  flux-enabled = true
  max-body-size = 0
[continuous_queries]
  enabled = false
`, rpc, filepath.Join(in.dir, "meta"), filepath.Join(in.dir, "data"), filepath.Join(in.dir, "wal"), in.port)
	if err := os.WriteFile(filepath.Join(in.dir, "influxdb.conf"), []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	in.Start()
	t.Cleanup(in.Stop)
	return in
}

// URL is the HTTP base URL.
func (in *Influx) URL() string { return "http://127.0.0.1:" + strconv.Itoa(in.port) }

// Start (re)starts the process on the same port and data and waits for /ping.
func (in *Influx) Start() {
	in.t.Helper()
	lf, err := os.OpenFile(filepath.Join(in.dir, "influxd.log"), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		in.t.Fatal(err)
	}
	in.logFile = lf
	cmd := exec.Command(in.bin, "-config", filepath.Join(in.dir, "influxdb.conf"))
	cmd.Stdout, cmd.Stderr = lf, lf
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		in.t.Fatalf("start influxd: %v", err)
	}
	in.cmd = cmd
	in.exited = make(chan struct{})
	go func() { _ = cmd.Wait(); close(in.exited) }()
	deadline := time.Now().Add(60 * time.Second)
	for {
		resp, err := http.Get(in.URL() + "/ping")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusNoContent {
				return
			}
		}
		select {
		case <-in.exited:
			b, _ := os.ReadFile(filepath.Join(in.dir, "influxd.log"))
			in.t.Fatalf("influxd exited at start:\n%s", tail(b, 2000))
		default:
		}
		if time.Now().After(deadline) {
			in.t.Fatalf("influxd not answering /ping after 60s")
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Kill stops the process abruptly (SIGKILL), as a crash would.
func (in *Influx) Kill() {
	if in.cmd == nil {
		return
	}
	_ = in.cmd.Process.Kill()
	<-in.exited
	in.cmd = nil
	in.logFile.Close()
}

// Stop terminates the process and waits.
func (in *Influx) Stop() {
	if in.cmd == nil {
		return
	}
	_ = in.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-in.exited:
	case <-time.After(10 * time.Second):
		_ = in.cmd.Process.Kill()
		<-in.exited
	}
	in.cmd = nil
	in.logFile.Close()
}

// CreateDB creates a database.
func (in *Influx) CreateDB(name string) {
	in.t.Helper()
	if _, err := in.Query("", fmt.Sprintf("CREATE DATABASE %q", name)); err != nil {
		in.t.Fatal(err)
	}
}

// Series is one InfluxQL result series.
type Series struct {
	Name    string            `json:"name"`
	Tags    map[string]string `json:"tags"`
	Columns []string          `json:"columns"`
	Values  [][]any           `json:"values"`
}

// Query runs InfluxQL and returns the series of the first statement.
func (in *Influx) Query(db, q string) ([]Series, error) {
	form := url.Values{"q": {q}, "epoch": {"ns"}}
	if db != "" {
		form.Set("db", db)
	}
	resp, err := http.PostForm(in.URL()+"/query", form)
	if err != nil {
		return nil, fmt.Errorf("influx query: %w", err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	var out struct {
		Results []struct {
			Series []Series `json:"series"`
			Error  string   `json:"error"`
		} `json:"results"`
		Error string `json:"error"`
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	if err := dec.Decode(&out); err != nil {
		return nil, fmt.Errorf("influx query %q: %s: %w", q, body, err)
	}
	if out.Error != "" {
		return nil, fmt.Errorf("influx query %q: %s", q, out.Error)
	}
	if len(out.Results) == 0 {
		return nil, nil
	}
	if out.Results[0].Error != "" {
		return nil, fmt.Errorf("influx query %q: %s", q, out.Results[0].Error)
	}
	return out.Results[0].Series, nil
}

// Count returns SELECT COUNT(field) over measurement, 0 when empty or missing.
func (in *Influx) Count(db, measurement, field string) int {
	in.t.Helper()
	s, err := in.Query(db, fmt.Sprintf("SELECT COUNT(%q) FROM %q", field, measurement))
	if err != nil {
		if strings.Contains(err.Error(), "database not found") {
			return 0
		}
		in.t.Fatalf("count: %v", err)
	}
	if len(s) == 0 || len(s[0].Values) == 0 {
		return 0
	}
	n, _ := s[0].Values[0][1].(json.Number).Int64()
	return int(n)
}

// Mosquitto is a real Mosquitto broker process.
type Mosquitto struct {
	Port int
	cmd  *exec.Cmd
	done chan struct{}
}

// MosquittoOptions tunes the broker; extra lines are appended to its config.
type MosquittoOptions struct {
	Extra string
}

// StartMosquitto starts /usr/sbin/mosquitto (Debian package) on a free port
// with persistence in a temp dir and a production-like queue limit.
func StartMosquitto(t testing.TB, o MosquittoOptions) *Mosquitto {
	t.Helper()
	bin, err := exec.LookPath("mosquitto")
	if err != nil {
		bin = "/usr/sbin/mosquitto"
		if _, err := os.Stat(bin); err != nil {
			t.Fatalf("mosquitto not installed: apt-get install mosquitto (CI does this in .ci/run)")
		}
	}
	dir := t.TempDir()
	m := &Mosquitto{Port: FreePort(t)}
	conf := fmt.Sprintf(`listener %d 127.0.0.1
allow_anonymous true
persistence true
persistence_location %s/
max_queued_messages 1000000
max_inflight_messages 0
max_queued_bytes 0
log_dest stderr
log_type error
log_type warning
%s
`, m.Port, dir, o.Extra)
	cf := filepath.Join(dir, "mosquitto.conf")
	if err := os.WriteFile(cf, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	var logBuf bytes.Buffer
	cmd := exec.Command(bin, "-c", cf)
	cmd.Stdout, cmd.Stderr = &logBuf, &logBuf
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start mosquitto: %v", err)
	}
	m.cmd, m.done = cmd, make(chan struct{})
	go func() { _ = cmd.Wait(); close(m.done) }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-m.done:
		case <-time.After(5 * time.Second):
			_ = cmd.Process.Kill()
		}
	})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for {
		c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", m.Port))
		if err == nil {
			c.Close()
			return m
		}
		select {
		case <-m.done:
			t.Fatalf("mosquitto exited: %s", logBuf.String())
		case <-ctx.Done():
			t.Fatalf("mosquitto not listening after 10s: %s", logBuf.String())
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// URL is the broker URL for paho.
func (m *Mosquitto) URL() string { return fmt.Sprintf("tcp://127.0.0.1:%d", m.Port) }

func tail(b []byte, n int) string {
	if len(b) > n {
		b = b[len(b)-n:]
	}
	return string(b)
}
