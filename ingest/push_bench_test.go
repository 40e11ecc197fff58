package ingest

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	piondtls "github.com/pion/dtls/v3"
	"github.com/plgd-dev/go-coap/v3/dtls"
	"github.com/plgd-dev/go-coap/v3/message"
	"github.com/plgd-dev/go-coap/v3/message/codes"
	"github.com/plgd-dev/go-coap/v3/udp"
	udpClient "github.com/plgd-dev/go-coap/v3/udp/client"
)

// BenchmarkPushCTWing is CTWing pushes per second through the real HTTP
// listener, each answered only after JetStream (file storage) stored its
// reading; 16 concurrent keep-alive clients.
func BenchmarkPushCTWing(b *testing.B) {
	cfg := pushTestConfig()
	cfg.RatePerSec, cfg.Burst = 1e9, 1<<30
	cfg.DeviceRatePerSec, cfg.DeviceBurst = 1e9, 1<<30
	e := newPushEnv(b, cfg)
	tr := &http.Transport{MaxIdleConnsPerHost: 64}
	client := &http.Client{Transport: tr, Timeout: 10 * time.Second}
	var seq atomic.Int64
	base := hjT0.Add(-6 * 24 * time.Hour)
	b.SetParallelism(8)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			i := seq.Add(1)
			body := ctwingReport(imeiW1, ctProduct, base.Add(time.Duration(i)*time.Millisecond), `{"NH3N":0.42,"PH":7.21,"DO":6800}`)
			resp, err := client.Post(e.base+ctPath(ctToken), "application/json", bytes.NewReader(body))
			if err != nil {
				b.Error(err)
				return
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				b.Errorf("status %d", resp.StatusCode)
				return
			}
		}
	})
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "pushes/s")
	if n := e.streamCount("READINGS"); n != uint64(b.N) {
		b.Errorf("READINGS has %d messages, want %d", n, b.N)
	}
}

// BenchmarkCoAPPost is confirmable CoAP POSTs per second, each 2.04 ACK
// sent after JetStream stored the reading; 16 client peers.
func BenchmarkCoAPPost(b *testing.B) {
	e := newCoAPEnv(b, CoAPConfig{RatePerSec: 1e9, Burst: 1 << 30, MaxPeers: 64})
	benchCoAPPost(b, e, func() (*udpClient.Conn, error) { return udp.Dial(e.src.Addr()) })
}

// BenchmarkCoAPPostDTLS is BenchmarkCoAPPost over DTLS (AES-128-CCM-8, one
// handshake per client, then requests on the session).
func BenchmarkCoAPPostDTLS(b *testing.B) {
	e := newCoAPEnv(b, CoAPConfig{RatePerSec: 1e9, Burst: 1 << 30, MaxPeers: 64, DTLSListen: "127.0.0.1:0"})
	key := mustHex(b, coapPSK1)
	benchCoAPPost(b, e, func() (*udpClient.Conn, error) {
		return dtls.Dial(e.src.DTLSAddr(), dtls.NewDTLSClientOptions(pskClient("nb-w1", key, piondtls.TLS_PSK_WITH_AES_128_CCM_8)...))
	})
}

func benchCoAPPost(b *testing.B, e *coapEnv, dial func() (*udpClient.Conn, error)) {
	var seq atomic.Int64
	base := hjT0.Add(-6 * 24 * time.Hour)
	b.SetParallelism(8)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		cc, err := dial()
		if err != nil {
			b.Error(err)
			return
		}
		defer cc.Close()
		for pb.Next() {
			i := seq.Add(1)
			payload := fmt.Sprintf(`{"ts":%d,"values":{"ph":7.21,"nh3n":0.42,"do":6.8}}`, base.Add(time.Duration(i)*time.Millisecond).UnixMilli())
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			resp, err := cc.Post(ctx, "/qingliu/v1/nb-w1", message.AppJSON, strings.NewReader(payload))
			cancel()
			if err != nil {
				b.Error(err)
				return
			}
			if resp.Code() != codes.Changed {
				b.Errorf("code %v", resp.Code())
				return
			}
			cc.ReleaseMessage(resp)
		}
	})
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "posts/s")
	if n := e.streamCount("READINGS"); n != uint64(b.N) {
		b.Errorf("READINGS has %d messages, want %d", n, b.N)
	}
}
