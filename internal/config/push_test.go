package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestPushAndCoAPSections(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "ct.token"), []byte("ct-secret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(dir, "qingliu.yaml")
	write := func(s string) {
		t.Helper()
		if err := os.WriteFile(file, []byte(s), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write(`push:
  ctwing:
    enabled: true
    token_file: ct.token
    products:
      "15034864":
        fields: {NH3N: nh3n, DO: {param: do, unit: µg/L}}
        ignore: [battery_value]
  onenet:
    enabled: true
    token: on-secret
    streams: {ph: ph}
coap:
  listen: "-"
`)
	c, err := Load(file)
	if err != nil {
		t.Fatal(err)
	}
	p := c.Push.CTWing.Products["15034864"]
	if c.Push.CTWing.Token != "ct-secret" || p.Fields["NH3N"] != (Field{Param: "nh3n"}) || p.Fields["DO"] != (Field{Param: "do", Unit: "µg/L"}) ||
		c.Push.OneNET.Streams["ph"].Param != "ph" || c.CoAP.Listen != "-" || c.Push.MaxBody != 64<<10 || c.CoAP.MaxPending != 8 {
		t.Errorf("push = %+v, coap = %+v", c.Push, c.CoAP)
	}

	write(`push:
  tls_cert_file: a.pem
  tls_key_file: a.key
  max_body: 10
  ctwing: {enabled: true, products: {"1": {fields: {X: {param: ""}}}}}
  onenet: {enabled: true, token: x, aes_key: short}
coap:
  listen: nowhere
  max_pending: 0
`)
	_, err = Load(file)
	want := []string{
		"push.max_body: must be between",
		"push.listen: TLS needs the endpoint's own listener",
		"push.ctwing.token: missing",
		"push.onenet.aes_key: is 5 bytes",
		"push.ctwing.products.1.fields.X: no parameter",
		`coap.listen: "nowhere" is not host:port`,
		"coap.max_pending: must be 1..1000",
	}
	for _, w := range want {
		if err == nil || !strings.Contains(err.Error(), w) {
			t.Errorf("error lacks %q:\n%v", w, err)
		}
	}

	write("push:\n  onenet:\n    streams: {ph: {param: ph, scale: 10}}\n")
	if _, err := Load(file); err == nil || !strings.Contains(err.Error(), "scale") {
		t.Errorf("unknown key in a field mapping: %v", err)
	}
}

func TestShippedPushAndCoAP(t *testing.T) {
	c, err := Load("../../configs/qingliu.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if c.CoAP.Listen != "127.0.0.1:5683" || c.Push.Listen != "" || c.Push.CTWing.Enabled || c.Push.OneNET.Enabled {
		t.Errorf("shipped push/coap = %+v %+v", c.Push, c.CoAP)
	}
}
