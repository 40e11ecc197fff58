package config

import (
	"strings"
	"testing"
	"time"
)

func TestMQTTGateKeys(t *testing.T) {
	load, _ := yamlLoader(t)
	c, err := load("files: {stations: s.yaml}\n")
	if err != nil {
		t.Fatal(err)
	}
	want := MQTTGate{MaxConns: 1024, MaxPacketBytes: 512 << 10, RatePerSec: 50, Burst: 200, BytesPerSec: 1 << 20, FloodTimeout: Duration(time.Minute)}
	if c.MQTTGate != want || c.NATS.Embedded.MQTTInternalListen != "127.0.0.1:0" {
		t.Errorf("defaults: %+v, internal listen %q", c.MQTTGate, c.NATS.Embedded.MQTTInternalListen)
	}

	c, err = load(`nats:
  embedded: {mqtt_internal_listen: "[::1]:18830"}
mqtt_gate: {rate_per_sec: 0.5, burst: 3, bytes_per_sec: 0, max_packet_bytes: 300000, flood_timeout: 5s, max_conns: 10}
files: {stations: s.yaml}
`)
	if err != nil {
		t.Fatal(err)
	}
	if g := c.MQTTGate; g.RatePerSec != 0.5 || g.Burst != 3 || g.BytesPerSec != 0 || g.MaxPacketBytes != 300000 || g.FloodTimeout.D() != 5*time.Second || g.MaxConns != 10 {
		t.Errorf("mqtt_gate = %+v", g)
	}

	_, err = load(`nats:
  embedded: {mqtt_listen: "127.0.0.1:1883", mqtt_internal_listen: "0.0.0.0:1884"}
mqtt_gate: {rate_per_sec: 0, burst: 0, bytes_per_sec: -1, max_packet_bytes: 65536, flood_timeout: 0s, max_conns: 0}
`)
	for _, want := range []string{
		`nats.embedded.mqtt_internal_listen: "0.0.0.0:1884" is not a loopback address`,
		"mqtt_gate.max_conns: must be at least 1",
		"mqtt_gate.max_packet_bytes: must be 263168..268435455 bytes: at least ingest.max_payload + 1024",
		"mqtt_gate.rate_per_sec: must be positive",
		"mqtt_gate.burst: must be at least 1",
		"mqtt_gate.bytes_per_sec: must be 0 (no byte limit) or positive",
		"mqtt_gate.flood_timeout: must be positive",
	} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error %v: want %q", err, want)
		}
	}

	_, err = load(`nats:
  embedded: {mqtt_listen: "127.0.0.1:1883", mqtt_internal_listen: "127.0.0.1:1883"}
`)
	if want := "nats.embedded.mqtt_internal_listen: must differ from mqtt_listen"; err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("error %v: want %q", err, want)
	}
	_, err = load("mqtt_gate: {rate: 5}\n")
	if err == nil || !strings.Contains(err.Error(), "rate") {
		t.Errorf("unknown key: error %v", err)
	}
}
