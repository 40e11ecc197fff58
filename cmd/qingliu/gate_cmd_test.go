package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/qingliu/qingliu/internal/testenv"
)

func TestGateCmdBadInput(t *testing.T) {
	for _, c := range []struct {
		args []string
		want string
	}{
		{nil, `"upstream" not set`},
		{[]string{"--upstream", "mosquitto"}, `--upstream "mosquitto": want the broker's host:port`},
		{[]string{"--upstream", "127.0.0.1:1884", "--tls-cert-file", "s.pem"}, "give both --tls-cert-file and --tls-key-file"},
	} {
		root := newRootCmd()
		root.SetOut(io.Discard)
		root.SetErr(io.Discard)
		root.SetArgs(append([]string{"gate"}, c.args...))
		err := root.ExecuteContext(t.Context())
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("gate %v: error %v, want %q", c.args, err, c.want)
		}
	}
}

// `qingliu gate` in front of a real Mosquitto: a device publishes through
// it, the gate's metrics are on http.listen, and cancelling stops it.
func TestGateCmdInFrontOfMosquitto(t *testing.T) {
	mq := testenv.StartMosquitto(t, testenv.MosquittoOptions{})
	dir := t.TempDir()
	httpPort, gatePort := testenv.FreePort(t), testenv.FreePort(t)
	cfg := fmt.Sprintf("mqtt_gate: {rate_per_sec: 5, burst: 5}\nhttp: {listen: 127.0.0.1:%d}\nfiles: {stations: %s}\nlog: {level: warn}\n",
		httpPort, filepath.Join(testenv.RepoRoot(t), "configs", "stations.yaml"))
	if err := os.WriteFile(filepath.Join(dir, "qingliu.yaml"), []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	root := newRootCmd()
	var out bytes.Buffer
	root.SetOut(&out)
	root.SetErr(&out)
	root.SetArgs([]string{"gate", "-c", filepath.Join(dir, "qingliu.yaml"),
		"--listen", "127.0.0.1:" + strconv.Itoa(gatePort), "--upstream", "127.0.0.1:" + strconv.Itoa(mq.Port)})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- root.ExecuteContext(ctx) }()
	defer func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("qingliu gate: %v", err)
			}
		case <-time.After(10 * time.Second):
			t.Error("qingliu gate did not stop within 10s")
		}
	}()
	metrics := func() string {
		resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/metrics", httpPort))
		if err != nil {
			return ""
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return string(b)
	}
	testenv.Eventually(t, 10*time.Second, "the gate ready", func() bool {
		resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/readyz", httpPort))
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})

	got := make(chan string, 10)
	sub := mqtt.NewClient(mqtt.NewClientOptions().AddBroker(mq.URL()).SetClientID("gate-cmd-sub"))
	if tok := sub.Connect(); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		t.Fatal(tok.Error())
	}
	defer sub.Disconnect(0)
	if tok := sub.Subscribe("qingliu/v1/#", 1, func(_ mqtt.Client, m mqtt.Message) { got <- string(m.Payload()) }); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		t.Fatal(tok.Error())
	}
	dev := mqtt.NewClient(mqtt.NewClientOptions().AddBroker("tcp://127.0.0.1:" + strconv.Itoa(gatePort)).SetClientID("gate-cmd-dev").SetProtocolVersion(4))
	if tok := dev.Connect(); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		t.Fatal(tok.Error())
	}
	defer dev.Disconnect(0)
	// Ten QoS 1 messages at 5/s with a burst of 5: about one second.
	start := time.Now()
	for i := range 10 {
		if tok := dev.Publish("qingliu/v1/bj-lixi/json", 1, false, strconv.Itoa(i)); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
			t.Fatalf("publish %d: %v", i, tok.Error())
		}
		select {
		case p := <-got:
			if p != strconv.Itoa(i) {
				t.Fatalf("subscriber got %q, want %d", p, i)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("message %d not delivered through the gate", i)
		}
	}
	if d := time.Since(start); d < 800*time.Millisecond {
		t.Errorf("10 messages at 5/s (burst 5) took %s, want about 1s", d)
	}
	m := metrics()
	for _, want := range []string{`qingliu_mqtt_gate_packets_total{type="publish"} 10`, "qingliu_mqtt_gate_connections 1"} {
		if !strings.Contains(m, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
}
