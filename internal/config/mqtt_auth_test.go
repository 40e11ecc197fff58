package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestMQTTSecurityKeys(t *testing.T) {
	load, dir := yamlLoader(t)
	c, err := load("files: {stations: s.yaml}\n")
	if err != nil {
		t.Fatal(err)
	}
	if c.NATS.Embedded.MQTTAnonymous || c.Files.DevCredentials != "" || c.MQTT.TLSCAFile != "" {
		t.Errorf("defaults: anonymous %v, dev credentials %q, CA %q; want off and none",
			c.NATS.Embedded.MQTTAnonymous, c.Files.DevCredentials, c.MQTT.TLSCAFile)
	}

	c, err = load(`nats:
  embedded: {mqtt_anonymous: true, mqtt_tls_cert_file: s.pem, mqtt_tls_key_file: s.key}
mqtt: {broker: "ssl://127.0.0.1:8883", tls_ca_file: ca.pem}
files: {stations: s.yaml, dev_credentials: dev.yaml}
`)
	if err != nil {
		t.Fatal(err)
	}
	if !c.NATS.Embedded.MQTTAnonymous || c.Path(c.MQTT.TLSCAFile) != filepath.Join(dir, "ca.pem") || c.Files.DevCredentials != "dev.yaml" {
		t.Errorf("config = %+v", c)
	}

	_, err = load(`nats:
  embedded: {mqtt_tls_cert_file: s.pem}
mqtt: {tls_ca_file: ca.pem}
`)
	for _, want := range []string{
		`mqtt.tls_ca_file: set, but mqtt.broker "tcp://127.0.0.1:1883" does not use TLS`,
		"nats.embedded: set both mqtt_tls_cert_file and mqtt_tls_key_file, or neither",
	} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error %v: want %q", err, want)
		}
	}
}

// yamlLoader returns a function that writes its argument as qingliu.yaml in
// a temp dir and loads it, and that dir.
func yamlLoader(t *testing.T) (func(string) (*Config, error), string) {
	dir := t.TempDir()
	file := filepath.Join(dir, "qingliu.yaml")
	return func(s string) (*Config, error) {
		t.Helper()
		if err := os.WriteFile(file, []byte(s), 0o600); err != nil {
			t.Fatal(err)
		}
		return Load(file)
	}, dir
}
