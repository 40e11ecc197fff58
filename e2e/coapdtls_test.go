package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	piondtls "github.com/pion/dtls/v3"
	"github.com/plgd-dev/go-coap/v3/dtls"
	"github.com/plgd-dev/go-coap/v3/message"
	"github.com/plgd-dev/go-coap/v3/message/codes"

	"github.com/qingliu/qingliu/internal/testenv"
	"github.com/qingliu/qingliu/registry"
)

// A device with the shipped DEV key of its station posts over CoAP/DTLS to
// `qingliu up`: the reading reaches InfluxDB, and a post for another
// station is refused 4.03.
func TestCoAPDTLSToInfluxDB(t *testing.T) {
	influx := testenv.StartInflux(t)
	s := newStack(t, influx, stackOptions{coapDTLS: true})
	p := s.start("up")

	reg, err := registry.Load(filepath.Join(testenv.RepoRoot(t), "configs", "stations.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	st, ok := reg.Station(e2eStation)
	if !ok || st.CoAP == nil {
		t.Fatalf("shipped station %s has no coap psk", e2eStation)
	}
	cc, err := dtls.Dial(fmt.Sprintf("127.0.0.1:%d", s.ports.CoAPDTLS), dtls.NewDTLSClientOptions(
		piondtls.WithPSK(func([]byte) ([]byte, error) { return st.CoAP.PSK, nil }),
		piondtls.WithPSKIdentityHint([]byte(e2eStation)),
		piondtls.WithCipherSuites(piondtls.TLS_PSK_WITH_AES_128_CCM_8),
	))
	if err != nil {
		t.Fatal(err)
	}
	defer cc.Close()
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	obs := time.Now().Truncate(time.Second).Add(-time.Minute)
	post := func(station string, ph float64) codes.Code {
		body := fmt.Sprintf(`{"ts":%q,"values":{"ph":%v}}`, obs.Format(time.RFC3339), ph)
		res, err := cc.Post(ctx, "/qingliu/v1/"+station, message.AppJSON, strings.NewReader(body))
		if err != nil {
			t.Fatalf("coaps POST: %v", err)
		}
		defer cc.ReleaseMessage(res)
		return res.Code()
	}
	if c := post(e2eStation, 7.44); c != codes.Changed {
		t.Fatalf("coaps POST: %v", c)
	}
	if c := post("bj-gaoqiao", 7.45); c != codes.Forbidden {
		t.Errorf("coaps POST for another station: %v, want 4.03", c)
	}

	q := fmt.Sprintf(`SELECT ph, "source" FROM water WHERE station = '%s' AND time = %d`, e2eStation, obs.UnixNano())
	testenv.Eventually(t, 30*time.Second, "the DTLS reading in influxdb", func() bool {
		series, err := influx.Query(s.db, q)
		return err == nil && len(series) == 1 && len(series[0].Values) == 1
	})
	series, err := influx.Query(s.db, q)
	if err != nil {
		t.Fatal(err)
	}
	if row := series[0].Values[0]; row[1] != json.Number("7.44") || row[2] != "coap" {
		t.Errorf("row %v", row)
	}

	resp, err := http.Get("http://" + p.http + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	metrics, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, w := range []string{
		`qingliu_coap_dtls_handshakes_total{result="ok"} 1`,
		`qingliu_coap_requests_total{result="stored"} 1`,
		`qingliu_coap_requests_total{result="forbidden"} 1`,
	} {
		if !strings.Contains(string(metrics), w) {
			t.Errorf("/metrics lacks %s", w)
		}
	}
	p.stop()
}
