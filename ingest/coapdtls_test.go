package ingest

import (
	"context"
	"encoding/hex"
	"net"
	"strings"
	"testing"
	"time"

	piondtls "github.com/pion/dtls/v3"
	"github.com/plgd-dev/go-coap/v3/dtls"
	"github.com/plgd-dev/go-coap/v3/message"
	"github.com/plgd-dev/go-coap/v3/message/codes"
	udpClient "github.com/plgd-dev/go-coap/v3/udp/client"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/qingliu/qingliu/domain"
	"github.com/qingliu/qingliu/internal/testenv"
)

// The test stations' DTLS keys (hex, as in stations.yaml); nb-w3 has none.
const (
	coapPSK1 = "000102030405060708090a0b0c0d0e0f"
	coapPSK2 = "f0e1d2c3b4a5968778695a4b3c2d1e0f00112233"
)

func mustHex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// pskClient is a pion DTLS client configuration that offers identity and
// key with one cipher suite.
func pskClient(identity string, key []byte, suite piondtls.CipherSuiteID) []piondtls.ClientOption {
	return []piondtls.ClientOption{
		piondtls.WithPSK(func([]byte) ([]byte, error) { return key, nil }),
		piondtls.WithPSKIdentityHint([]byte(identity)),
		piondtls.WithCipherSuites(suite),
	}
}

// dialDTLS is a go-coap DTLS client that offers identity and key with one
// of the endpoint's cipher suites, as a datalogger would.
func (e *coapEnv) dialDTLS(identity string, key []byte, suite piondtls.CipherSuiteID) *udpClient.Conn {
	e.t.Helper()
	cc, err := dtls.Dial(e.src.DTLSAddr(), dtls.NewDTLSClientOptions(pskClient(identity, key, suite)...))
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { cc.Close() })
	return cc
}

// A station that proves its key posts readings over DTLS exactly as over
// UDP (2.04 only once JetStream has them), with either suite, and only to
// its own path.
func TestCoAPDTLSPostStored(t *testing.T) {
	e := newCoAPEnv(t, CoAPConfig{DTLSListen: "127.0.0.1:0"})
	obs := hjT0.Add(-10 * time.Minute)

	cc := e.dialDTLS("nb-w1", mustHex(t, coapPSK1), piondtls.TLS_PSK_WITH_AES_128_CCM_8)
	if a := e.post(cc, "/qingliu/v1/nb-w1", message.AppJSON, jsonPayload(obs, `{"ph":7.21}`)); a.code != codes.Changed {
		t.Fatalf("answer %v %q", a.code, a.diag)
	}
	got, ok := e.reading(domain.Water, "nb-w1")
	if !ok || got.Values["ph"] != 7.21 || got.Source != domain.SourceCoAP || !got.Time.Equal(obs) {
		t.Fatalf("reading after 2.04 = %+v, %v", got, ok)
	}

	// Authenticated as nb-w1, it may not post for nb-w2, nor for a
	// station without a key.
	for _, path := range []string{"/qingliu/v1/nb-w2", "/qingliu/v1/nb-w3"} {
		if a := e.post(cc, path, message.AppJSON, jsonPayload(obs, `{"ph":6.5}`)); a.code != codes.Forbidden {
			t.Errorf("POST %s as nb-w1: %v %q, want 4.03", path, a.code, a.diag)
		}
	}
	for _, st := range []string{"nb-w2", "nb-w3"} {
		if _, ok := e.reading(domain.Water, st); ok {
			t.Errorf("a reading of %s was stored", st)
		}
	}

	cc2 := e.dialDTLS("nb-w2", mustHex(t, coapPSK2), piondtls.TLS_PSK_WITH_AES_128_GCM_SHA256)
	if a := e.post(cc2, "/qingliu/v1/nb-w2", message.AppJSON, jsonPayload(obs, `{"ph":7.4}`)); a.code != codes.Changed {
		t.Fatalf("nb-w2 over GCM: %v %q", a.code, a.diag)
	}
	// Payload refusals over DTLS are quarantined and answered like over UDP.
	if a := e.post(cc2, "/qingliu/v1/nb-w2", message.AppJSON, `{"values":`); a.code != codes.BadRequest {
		t.Errorf("bad payload: %v %q, want 4.00", a.code, a.diag)
	}

	for _, c := range []struct {
		name, label, value string
		want               float64
	}{
		{"qingliu_coap_requests_total", "result", "stored", 2},
		{"qingliu_coap_requests_total", "result", "forbidden", 2},
		{"qingliu_coap_requests_total", "result", "rejected", 1},
		{"qingliu_coap_dtls_handshakes_total", "result", "ok", 2},
	} {
		if n := e.metric(c.name, c.label, c.value); n != c.want {
			t.Errorf("%s{%s=%q} = %v, want %v", c.name, c.label, c.value, n, c.want)
		}
	}
}

// A wrong key or an identity no station has fails the handshake: the POST
// gets no answer, nothing is stored, and the failure is counted. An unknown
// identity is refused at once with an alert; the server cannot decrypt the
// Finished of a client with a wrong key and discards it, so that handshake
// ends at HandshakeTimeout.
func TestCoAPDTLSHandshakeRefused(t *testing.T) {
	e := newCoAPEnv(t, CoAPConfig{DTLSListen: "127.0.0.1:0", HandshakeTimeout: time.Second})
	for _, c := range []struct {
		name, identity, key, result string
	}{
		{"wrong key", "nb-w1", coapPSK2, dtlsTimeout},
		{"unknown identity", "nb-w9", coapPSK1, dtlsUnknownIdentity},
		{"station without a key", "nb-w3", coapPSK1, dtlsUnknownIdentity},
	} {
		t.Run(c.name, func(t *testing.T) {
			before := e.metric("qingliu_coap_dtls_handshakes_total", "result", c.result)
			// pion's client directly: go-coap's client handshakes lazily on
			// its first write, which then outlives the request's context.
			addr, err := net.ResolveUDPAddr("udp", e.src.DTLSAddr())
			if err != nil {
				t.Fatal(err)
			}
			key := mustHex(t, c.key)
			conn, err := piondtls.DialWithOptions("udp", addr, pskClient(c.identity, key, piondtls.TLS_PSK_WITH_AES_128_CCM_8)...)
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			ctx, cancel := context.WithTimeout(t.Context(), 3*time.Second)
			defer cancel()
			if err := conn.HandshakeContext(ctx); err == nil {
				t.Fatal("the handshake succeeded")
			}
			testenv.Eventually(t, 10*time.Second, "handshake failure counted", func() bool {
				// A client retrying its handshake may be counted again.
				return e.metric("qingliu_coap_dtls_handshakes_total", "result", c.result) > before
			})
		})
	}
	if n := e.metric("qingliu_coap_dtls_handshakes_total", "result", dtlsOK); n != 0 {
		t.Errorf("%v handshakes succeeded", n)
	}
	if _, ok := e.reading(domain.Water, "nb-w1"); ok {
		t.Error("a reading was stored")
	}
}

// With listen "-" the endpoint serves DTLS only.
func TestCoAPDTLSOnly(t *testing.T) {
	e := newCoAPEnv(t, CoAPConfig{Listen: "-", DTLSListen: "127.0.0.1:0"})
	cc := e.dialDTLS("nb-w1", mustHex(t, coapPSK1), piondtls.TLS_PSK_WITH_AES_128_CCM_8)
	if a := e.post(cc, "/qingliu/v1/nb-w1", message.AppJSON, jsonPayload(hjT0, `{"ph":7.1}`)); a.code != codes.Changed {
		t.Fatalf("answer %v %q", a.code, a.diag)
	}
	if e.src.Addr() != "-" {
		t.Errorf("Addr() = %q with plain UDP off", e.src.Addr())
	}
}

func TestCoAPDTLSWithoutKeys(t *testing.T) {
	_, err := NewCoAPSource(CoAPConfig{DTLSListen: "127.0.0.1:0"}, nil, nil, prometheus.NewRegistry(), testenv.Logger(t), time.Now)
	if err == nil || !strings.Contains(err.Error(), "no station has a coap psk") {
		t.Fatalf("err = %v", err)
	}
}
