package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/plgd-dev/go-coap/v3/message"
	"github.com/plgd-dev/go-coap/v3/message/codes"
	"github.com/plgd-dev/go-coap/v3/udp"

	"github.com/qingliu/qingliu/ingest"
	"github.com/qingliu/qingliu/internal/testenv"
)

const (
	e2eStation   = "bj-qixinggang"
	e2eIMEI      = "864016059485616"
	e2eOneNETDev = "00001/iot-0001"
	e2eCTToken   = "e2e-ct-Token-31"
	e2eONToken   = "e2e-on-Token-47"
)

// stationsWithDevices is the shipped registry with NB-IoT identities added
// to one water station.
func stationsWithDevices(t *testing.T, dir string) string {
	t.Helper()
	src, err := os.ReadFile(filepath.Join(testenv.RepoRoot(t), "configs", "stations.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	anchor := "  - id: " + e2eStation + "\n"
	if !bytes.Contains(src, []byte(anchor)) {
		t.Fatalf("configs/stations.yaml has no %q", anchor)
	}
	devices := fmt.Sprintf("    devices: [{platform: ctwing, id: %q}, {platform: onenet, id: %q}]\n", e2eIMEI, e2eOneNETDev)
	out := bytes.Replace(src, []byte(anchor), []byte(anchor+devices), 1)
	file := filepath.Join(dir, "stations.yaml")
	if err := os.WriteFile(file, out, 0o600); err != nil {
		t.Fatal(err)
	}
	return file
}

// NB-IoT platforms push to `qingliu up` and a device posts over CoAP: each
// reading is acknowledged (200, 2.04) and lands in InfluxDB tagged with its
// source; forged pushes are refused and counted.
func TestPushAndCoAPToInfluxDB(t *testing.T) {
	influx := testenv.StartInflux(t)
	stations := stationsWithDevices(t, t.TempDir())
	s := newStack(t, influx, stackOptions{stations: stations, extra: fmt.Sprintf(`push:
  ctwing:
    enabled: true
    token: %s
    products: {"15034864": {fields: {PH: ph, NH3N: nh3n}, ignore: [battery_value]}}
  onenet:
    enabled: true
    token: %s
    streams: {ph: ph}
`, e2eCTToken, e2eONToken)})
	p := s.start("up")
	base := "http://" + p.http
	now := time.Now().Truncate(time.Second)
	tCT, tON, tCoAP := now.Add(-3*time.Minute), now.Add(-2*time.Minute), now.Add(-time.Minute)

	post := func(path string, body []byte) (int, string) {
		t.Helper()
		resp, err := http.Post(base+path, "application/json", bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}

	ct := fmt.Appendf(nil, `{"upPacketSN":-1,"upDataSN":-1,"topic":"v1/up/ad19","timestamp":%d,"tenantId":"2000030881","serviceId":1,`+
		`"protocol":"lwm2m","productId":"15034864","payload":{"PH":7.31,"NH3N":0.28,"battery_value":88},"messageType":"dataReport",`+
		`"deviceType":"","deviceId":"87f4b2814f434992a94a4871b32c6b75","assocAssetId":"","IMSI":"undefined","IMEI":%q}`, tCT.UnixMilli(), e2eIMEI)
	if code, body := post(ingest.PushPathCTWing+"?token="+e2eCTToken, ct); code != 200 || !strings.Contains(body, `"stored"`) {
		t.Fatalf("ctwing push: %d %s", code, body)
	}
	if code, _ := post(ingest.PushPathCTWing+"?token=forged", ct); code != http.StatusForbidden {
		t.Errorf("forged ctwing push: %d", code)
	}

	msg := fmt.Sprintf(`{"projectId":"990909090","productId":"00001","deviceName":"iot-0001","messageType":"notify","notifyType":"property",`+
		`"data":{"id":"1","params":{"ph":{"value":7.32,"time":%d}}}}`, tON.UnixMilli())
	on, _ := json.Marshal(map[string]any{"msg": msg, "nonce": "n0nce0e2", "signature": ingest.OneNETSignature(e2eONToken, "n0nce0e2", []byte(msg)), "time": now.UnixMilli(), "id": "1"})
	if code, body := post(ingest.PushPathOneNET, on); code != 200 || !strings.Contains(body, `"stored"`) {
		t.Fatalf("onenet push: %d %s", code, body)
	}
	forged, _ := json.Marshal(map[string]any{"msg": msg, "nonce": "n0nce0e3", "signature": ingest.OneNETSignature("forged", "n0nce0e3", []byte(msg))})
	if code, _ := post(ingest.PushPathOneNET, forged); code != http.StatusForbidden {
		t.Errorf("forged onenet push: %d", code)
	}
	chk := url.Values{"msg": {"hello-e2e"}, "nonce": {"abcdefgh"}, "signature": {ingest.OneNETSignature(e2eONToken, "abcdefgh", []byte("hello-e2e"))}}
	resp, err := http.Get(base + ingest.PushPathOneNET + "?" + chk.Encode())
	if err != nil {
		t.Fatal(err)
	}
	echo, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || string(echo) != "hello-e2e" {
		t.Errorf("onenet URL validation: %d %q", resp.StatusCode, echo)
	}

	cc, err := udp.Dial(fmt.Sprintf("127.0.0.1:%d", s.ports.CoAP))
	if err != nil {
		t.Fatal(err)
	}
	defer cc.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	coapBody := fmt.Sprintf(`{"ts":%q,"values":{"ph":7.33}}`, tCoAP.Format(time.RFC3339))
	res, err := cc.Post(ctx, "/qingliu/v1/"+e2eStation, message.AppJSON, strings.NewReader(coapBody))
	if err != nil {
		t.Fatal(err)
	}
	if res.Code() != codes.Changed {
		t.Fatalf("coap POST: %v", res.Code())
	}

	want := map[int64][2]any{
		tCT.UnixNano():   {7.31, "push"},
		tON.UnixNano():   {7.32, "push"},
		tCoAP.UnixNano(): {7.33, "coap"},
	}
	q := fmt.Sprintf(`SELECT ph, "source" FROM water WHERE station = '%s' AND time >= %d`, e2eStation, tCT.UnixNano())
	testenv.Eventually(t, 30*time.Second, "three rows in influxdb", func() bool {
		series, err := influx.Query(s.db, q)
		return err == nil && len(series) == 1 && len(series[0].Values) == 3
	})
	series, err := influx.Query(s.db, q)
	if err != nil {
		t.Fatal(err)
	}
	for _, row := range series[0].Values {
		ns, _ := row[0].(json.Number).Int64()
		ph, _ := row[1].(json.Number).Float64()
		w, ok := want[ns]
		if !ok || ph != w[0] || row[2] != w[1] {
			t.Errorf("row %v, want one of %v", row, want)
		}
	}

	mresp, err := http.Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	metrics, _ := io.ReadAll(mresp.Body)
	mresp.Body.Close()
	for _, w := range []string{
		`qingliu_push_requests_total{platform="ctwing",result="stored"} 1`,
		`qingliu_push_requests_total{platform="ctwing",result="forbidden"} 1`,
		`qingliu_push_requests_total{platform="onenet",result="stored"} 1`,
		`qingliu_push_requests_total{platform="onenet",result="forbidden"} 1`,
		`qingliu_push_requests_total{platform="onenet",result="handshake"} 1`,
		`qingliu_coap_requests_total{result="stored"} 1`,
	} {
		if !strings.Contains(string(metrics), w) {
			t.Errorf("/metrics lacks %s", w)
		}
	}
	p.stop()
	if out := p.out.String(); strings.Contains(out, e2eCTToken) || strings.Contains(out, e2eONToken) {
		t.Error("a push token appears in the log")
	}
}
