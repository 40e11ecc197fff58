package ingest

import (
	"bytes"
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/qingliu/qingliu/domain"
	"github.com/qingliu/qingliu/internal/admin"
	"github.com/qingliu/qingliu/internal/bus"
	"github.com/qingliu/qingliu/internal/testenv"
	"github.com/qingliu/qingliu/registry"
)

// pushDevices are the NB-IoT identities of the test stations (those of
// coapStationsYAML), as stations.yaml's devices: lists would give them.
var pushDevices = map[[2]string]string{
	{PlatformCTWing, "864016059485616"}:                  "nb-w1",
	{PlatformOneNET, "2016617"}:                          "nb-w1",
	{PlatformOneNET, "00001/iot-0001"}:                   "nb-w1",
	{PlatformCTWing, "87f4b2814f434992a94a4871b32c6b75"}: "nb-w2",
	{PlatformOneNET, "2017618"}:                          "nb-w2",
	{PlatformCTWing, "864016059400003"}:                  "nb-w3",
}

// testDevices resolves pushDevices against a registry.
type testDevices struct{ reg *registry.Registry }

func (d testDevices) ByDevice(platform, id string) (*registry.Station, bool) {
	st, ok := pushDevices[[2]string{platform, id}]
	if !ok {
		return nil, false
	}
	return d.reg.Station(st)
}

func pushRegistry(t testing.TB) (*registry.Registry, testDevices) {
	reg := hjRegistry(t, coapStationsYAML)
	return reg, testDevices{reg}
}

const (
	ctToken   = "ct-Token-4471"
	onToken   = "on-Token-9921"
	ctProduct = "15034864"
	imeiW1    = "864016059485616"
)

func pushTestConfig() PushConfig {
	return PushConfig{
		Listen:     "127.0.0.1:0",
		AckTimeout: 2 * time.Second,
		CTWing: CTWingConfig{Enabled: true, Token: ctToken, Products: map[string]CTWingProduct{
			ctProduct: {
				Fields: map[string]FieldMap{"NH3N": {Param: "nh3n"}, "PH": {Param: "ph"}, "DO": {Param: "do", Unit: "µg/L"}},
				Ignore: []string{"battery_value", "signal_strength"},
			},
		}},
		OneNET: OneNETConfig{Enabled: true, Token: onToken,
			Streams: map[string]FieldMap{"ph": {Param: "ph"}, "NH3N": {Param: "nh3n"}, "do_ugL": {Param: "do", Unit: "µg/L"}},
			Ignore:  []string{"Power"},
		},
	}
}

// pushEnv is a running push endpoint over a real embedded JetStream; the
// embedded hjEnv gives the stream and metric helpers.
type pushEnv struct {
	*hjEnv
	src    *PushSource
	base   string
	client *http.Client
	stop   func() error
}

func newPushEnv(t testing.TB, cfg PushConfig) *pushEnv {
	t.Helper()
	log := testenv.Logger(t).With("component", "push")
	rig := newBusRig(t, "push-test", log)
	js, prom, pub := rig.js, rig.prom, rig.pub

	clock := &hjClock{}
	clock.Set(hjT0)
	reg, devs := pushRegistry(t)
	src, err := NewPushSource(cfg, devs, NewPipeline(reg, Limits{}), pub, prom, log, clock.Now)
	if err != nil {
		t.Fatal(err)
	}
	if err := src.Listen(); err != nil {
		t.Fatal(err)
	}
	e := &pushEnv{hjEnv: &hjEnv{t: t, js: js, prom: prom, clock: clock}, src: src, client: &http.Client{Timeout: 10 * time.Second}}
	scheme := "http"
	if cfg.TLSCert != "" {
		scheme = "https"
	}
	e.base = scheme + "://" + src.Addr()
	e.stop = rig.runSource(t, "push", src.Run, src.Ready)
	return e
}

// pushResp is an answer with its decoded JSON body.
type pushResp struct {
	code  int
	body  pushReply
	raw   string
	retry string
	auth  string
}

func (e *pushEnv) do(method, path string, body []byte, header ...string) pushResp {
	e.t.Helper()
	req, err := http.NewRequest(method, e.base+path, bytes.NewReader(body))
	if err != nil {
		e.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := e.client.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	out := pushResp{code: resp.StatusCode, raw: string(raw), retry: resp.Header.Get("Retry-After"), auth: resp.Header.Get("WWW-Authenticate")}
	_ = json.Unmarshal(raw, &out.body)
	return out
}

// ctwingReport is a CTWing LwM2M dataReport shaped like the platform's (see
// DOMAIN §7), for imei at t with the given decoded payload.
func ctwingReport(imei, product string, t time.Time, payload string) []byte {
	return fmt.Appendf(nil, `{"upPacketSN":-1,"upDataSN":-1,"topic":"v1/up/ad19","timestamp":%d,"tenantId":"2000030881",`+
		`"serviceId":1,"protocol":"lwm2m","productId":%q,"payload":%s,"messageType":"dataReport","deviceType":"",`+
		`"deviceId":"87f4b2814f434992a94a4871b32c6b75x","assocAssetId":"","IMSI":"undefined","IMEI":%q}`,
		t.UnixMilli(), product, payload, imei)
}

func ctPath(token string) string { return PushPathCTWing + "?token=" + url.QueryEscape(token) }

func TestPushCTWingStoredBeforeOK(t *testing.T) {
	e := newPushEnv(t, pushTestConfig())
	obs := hjT0.Add(-10 * time.Minute)
	r := e.do("POST", ctPath(ctToken), ctwingReport(imeiW1, ctProduct, obs,
		`{"NH3N":0.42,"PH":"7.21","DO":6800,"battery_value":90,"signal_strength":-85}`))
	if r.code != http.StatusOK || r.body.Status != "stored" || r.body.Readings != 1 || len(r.body.Rejects) != 0 {
		t.Fatalf("answer %d %s", r.code, r.raw)
	}
	// No polling: the 200 promises the reading is already in JetStream.
	got, ok := e.reading(domain.Water, "nb-w1")
	if !ok {
		t.Fatal("200 answered before the reading was in READINGS")
	}
	want := map[string]float64{"nh3n": 0.42, "ph": 7.21, "do": 6.8}
	for k, v := range want {
		if !near(got.Values[k], v) {
			t.Errorf("%s = %v, want %v", k, got.Values[k], v)
		}
	}
	if len(got.Values) != 3 || !got.Time.Equal(obs.Truncate(time.Millisecond)) || got.Source != domain.SourcePush {
		t.Errorf("reading = %+v", got)
	}

	// Bearer header, and the deviceId when the IMEI is not registered.
	body := bytes.Replace(ctwingReport("000000000000000", ctProduct, obs.Add(time.Minute), `{"PH":7.3}`),
		[]byte(`87f4b2814f434992a94a4871b32c6b75x`), []byte(`87f4b2814f434992a94a4871b32c6b75`), 1)
	if r := e.do("POST", PushPathCTWing, body, "Authorization", "Bearer "+ctToken); r.code != http.StatusOK || r.body.Readings != 1 {
		t.Fatalf("deviceId push: %d %s", r.code, r.raw)
	}
	if got, ok := e.reading(domain.Water, "nb-w2"); !ok || got.Values["ph"] != 7.3 {
		t.Errorf("nb-w2 reading = %+v, %v", got, ok)
	}
	if n := e.metric("qingliu_push_requests_total", "platform", "ctwing", "result", "stored"); n != 2 {
		t.Errorf("stored counted %v times", n)
	}
}

// Forged and missing credentials are answered 401/403, counted, and leave
// nothing in JetStream; the body is not even read.
func TestPushCTWingCredentials(t *testing.T) {
	e := newPushEnv(t, pushTestConfig())
	body := ctwingReport(imeiW1, ctProduct, hjT0.Add(-time.Minute), `{"PH":7.2}`)
	tests := []struct {
		name   string
		path   string
		header []string
		code   int
	}{
		{"no token", PushPathCTWing, nil, http.StatusUnauthorized},
		{"empty token", ctPath(""), nil, http.StatusUnauthorized},
		{"wrong query token", ctPath("ct-Token-4470"), nil, http.StatusForbidden},
		{"token prefix", ctPath(ctToken[:5]), nil, http.StatusForbidden},
		{"wrong bearer", PushPathCTWing, []string{"Authorization", "Bearer nope"}, http.StatusForbidden},
		{"basic auth is not a bearer", PushPathCTWing, []string{"Authorization", "Basic " + base64.StdEncoding.EncodeToString([]byte("x:"+ctToken))}, http.StatusUnauthorized},
	}
	for _, tt := range tests {
		r := e.do("POST", tt.path, body, tt.header...)
		if r.code != tt.code {
			t.Errorf("%s: %d %s, want %d", tt.name, r.code, r.raw, tt.code)
		}
		if tt.code == http.StatusUnauthorized && r.auth == "" {
			t.Errorf("%s: 401 without WWW-Authenticate", tt.name)
		}
		if strings.Contains(r.raw, ctToken) {
			t.Errorf("%s: the answer contains the token", tt.name)
		}
	}
	if n := e.streamCount(bus.StreamReadings) + e.streamCount(bus.StreamQuarantine); n != 0 {
		t.Errorf("%d messages stored for forged requests", n)
	}
	if a, f := e.metric("qingliu_push_requests_total", "result", "unauthorized"), e.metric("qingliu_push_requests_total", "result", "forbidden"); a != 3 || f != 3 {
		t.Errorf("counted %v unauthorized, %v forbidden; want 3, 3", a, f)
	}
	if r := e.do("POST", ctPath(ctToken), body); r.code != http.StatusOK {
		t.Errorf("valid token after failures: %d %s", r.code, r.raw)
	}
}

func TestPushCTWingBadInput(t *testing.T) {
	cfg := pushTestConfig()
	cfg.MaxBody = 2048
	e := newPushEnv(t, cfg)
	obs := hjT0.Add(-time.Minute)
	tests := []struct {
		name   string
		body   []byte
		code   int
		status string
		qcode  Code // quarantined with this code; "" for nothing
	}{
		{"not json", []byte(`{"messageType":"dataReport",`), 400, "bad_request", CodeMalformed},
		{"no messageType", []byte(`{"IMEI":"864016059485616"}`), 400, "bad_request", CodeSchema},
		{"unknown imei", ctwingReport("999999999999999", ctProduct, obs, `{"PH":7}`), 404, "unknown", CodeUnknownStation},
		{"unknown product", ctwingReport("864016059400003", "999", obs, `{"PH":7}`), 404, "unknown", CodeUnknownProduct},
		{"payload not object", ctwingReport("864016059400003", ctProduct, obs, `"AAEC"`), 400, "bad_request", CodeSchema},
		{"out of range", ctwingReport("864016059400003", ctProduct, obs.Add(time.Second), `{"PH":15.5}`), 200, "quarantined", CodeOutOfRange},
		{"too old", ctwingReport("864016059400003", ctProduct, hjT0.Add(-30*24*time.Hour), `{"PH":7}`), 200, "quarantined", CodeTooOld},
		{"online report", []byte(`{"timestamp":1589444231825,"tenantId":"10461180","protocol":"lwm2m","productId":"10053421","messageType":"deviceOnlineOfflineReport","eventType":1,"deviceId":"44d0b9e48d404094bbbcf889e4e64ece"}`), 200, "ignored", ""},
	}
	for _, tt := range tests {
		r := e.do("POST", ctPath(ctToken), tt.body)
		if r.code != tt.code || r.body.Status != tt.status {
			t.Errorf("%s: %d %s, want %d %s", tt.name, r.code, r.raw, tt.code, tt.status)
			continue
		}
		if tt.code >= 400 && (r.body.Error == "" || r.body.Code != string(tt.qcode)) {
			t.Errorf("%s: error body %s does not name the problem", tt.name, r.raw)
		}
		if tt.qcode != "" {
			e.waitQuarantined(tt.qcode, tt.body)
		}
	}
	// An unmapped field is quarantined; the mapped ones are stored.
	r := e.do("POST", ctPath(ctToken), ctwingReport("864016059400003", ctProduct, obs.Add(2*time.Second), `{"PH":7.4,"TURB_X":3}`))
	if r.code != 200 || r.body.Readings != 1 || len(r.body.Rejects) != 1 || r.body.Rejects[0].Code != string(CodeUnknownParam) {
		t.Errorf("unmapped field: %d %s", r.code, r.raw)
	}
	if q := e.waitQuarantine(CodeUnknownParam, "nb-w3"); q.field != "TURB_X" {
		t.Errorf("unmapped field quarantined as %+v", q)
	}
	// Oversize: refused by Content-Length and by the reader, never stored.
	before := e.streamCount(bus.StreamQuarantine)
	big := ctwingReport("864016059400003", ctProduct, obs, `{"PH":7,"pad":"`+strings.Repeat("x", 4096)+`"}`)
	if r := e.do("POST", ctPath(ctToken), big); r.code != http.StatusRequestEntityTooLarge {
		t.Errorf("oversize body: %d %s", r.code, r.raw)
	}
	if r := e.chunked(ctPath(ctToken), big); r != http.StatusRequestEntityTooLarge {
		t.Errorf("oversize chunked body: %d", r)
	}
	if e.streamCount(bus.StreamQuarantine) != before {
		t.Error("an oversize body was stored")
	}
	if n := e.metric("qingliu_push_requests_total", "result", "too_large"); n != 2 {
		t.Errorf("too_large counted %v", n)
	}
}

// waitQuarantined waits for a QUARANTINE message with code holding raw.
func (e *pushEnv) waitQuarantined(code Code, raw []byte) quarantined {
	e.t.Helper()
	var found quarantined
	testenv.Eventually(e.t, 5*time.Second, fmt.Sprintf("quarantine %s of %.40q", code, raw), func() bool {
		for _, q := range e.quarantine() {
			if q.code == string(code) && bytes.Equal(q.raw, raw) {
				found = q
				return true
			}
		}
		return false
	})
	if found.reason == "" {
		e.t.Errorf("quarantine %s has no reason", code)
	}
	return found
}

// chunked posts body without a Content-Length and returns the status.
func (e *pushEnv) chunked(path string, body []byte) int {
	e.t.Helper()
	req, err := http.NewRequest("POST", e.base+path, io.MultiReader(bytes.NewReader(body)))
	if err != nil {
		e.t.Fatal(err)
	}
	req.ContentLength = -1
	resp, err := e.client.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// The signature vectors were computed with openssl, independently of the
// code under test:
//
//	printf '%s%s%s' "$token" "$nonce" "$msg" | openssl dgst -md5 -binary | base64
//	printf '%s' "$msg" | openssl enc -aes-128-cbc -K $(printf '%s' "$key" | xxd -p) -iv <same> -base64 -A
const (
	vecToken  = "5ec78dbca0db5a7e49b603fe"
	vecNonce  = "abcdefgh"
	vecMsg    = `{"messageType":"notify","notifyType":"property","productId":"00001","deviceName":"iot-0001","data":{"id":"12345","params":{"ph":{"value":7.21,"time":1764136800000}}}}`
	vecSig    = "Zg3zm7Wbgn8v0tfCM33iMQ=="
	vecChkSig = "kVYDMjNem3FUqva48Xk4RQ==" // msg "validate-8Xk2"
	vecAESKey = "AAlvB3jc2dlPq2nF"
	vecCipher = "b3abezuYhGgqN2I7NQYqZv0n1gftVBgyTvRHM9Ac2OAjmB2Qb8Ppj1OJwTbAVneoIoXHM/dbUSryZjc2qsbz+bUK7OR1K/kmBZwQnlb4hlqLfm/pdtcIIZkfeWtDBeHUWkHDw95nOx/Yb+BkzTeULgXKpPHawEJ1B5qFQQa6MKYwpI90BlpkrigGsv4Yo51SwiVKZDb8ZzCDRueG+wx1ZpFE8zpoTET3BAw5Ph3cMDs="
)

func TestOneNETVectors(t *testing.T) {
	if got := OneNETSignature(vecToken, vecNonce, []byte(vecMsg)); got != vecSig {
		t.Errorf("signature = %s, want %s", got, vecSig)
	}
	if got := OneNETSignature(vecToken, vecNonce, []byte("validate-8Xk2")); got != vecChkSig {
		t.Errorf("validation signature = %s, want %s", got, vecChkSig)
	}
	for _, sig := range []string{vecSig, strings.TrimRight(vecSig, "="), strings.ReplaceAll(vecSig, "+", " ")} {
		if !OneNETSignatureValid(vecToken, vecNonce, []byte(vecMsg), sig) {
			t.Errorf("%q does not verify", sig)
		}
	}
	for _, bad := range []struct{ token, nonce, msg, sig string }{
		{"x" + vecToken, vecNonce, vecMsg, vecSig},
		{vecToken, "abcdefgi", vecMsg, vecSig},
		{vecToken, vecNonce, vecMsg + " ", vecSig},
		{vecToken, vecNonce, vecMsg, vecChkSig},
		{vecToken, vecNonce, vecMsg, ""},
		{"", vecNonce, vecMsg, OneNETSignature("", vecNonce, []byte(vecMsg))},
	} {
		if OneNETSignatureValid(bad.token, bad.nonce, []byte(bad.msg), bad.sig) {
			t.Errorf("forged %+v verifies", bad)
		}
	}
	plain, err := OneNETDecrypt([]byte(vecAESKey), vecCipher)
	if err != nil || string(plain) != vecMsg {
		t.Errorf("decrypt = %q, %v", plain, err)
	}
	if _, err := OneNETDecrypt([]byte("AAlvB3jc2dlPq2nG"), vecCipher); err == nil {
		t.Error("a wrong key decrypted")
	}
	if _, err := OneNETDecrypt([]byte(vecAESKey), "not base64!"); err == nil {
		t.Error("garbage decrypted")
	}
}

// onenetPush is a signed current-platform push body: msg as a JSON string.
func onenetPush(token, nonce, msg string) []byte {
	b, _ := json.Marshal(map[string]any{"msg": msg, "nonce": nonce, "signature": OneNETSignature(token, nonce, []byte(msg)), "time": 1591340648197, "id": "3799902"})
	return b
}

func propertyMsg(product, device string, t time.Time, params string) string {
	return fmt.Sprintf(`{"projectId":"990909090","productId":%q,"deviceName":%q,"messageType":"notify","notifyType":"property","data":{"id":"12345","params":%s}}`,
		product, device, strings.ReplaceAll(params, "$T", fmt.Sprint(t.UnixMilli())))
}

func TestPushOneNET(t *testing.T) {
	e := newPushEnv(t, pushTestConfig())
	obs := hjT0.Add(-5 * time.Minute)

	// URL validation: the msg is echoed only with a valid signature.
	chk := func(msg, nonce, sig string) pushResp {
		return e.do("GET", PushPathOneNET+"?"+url.Values{"msg": {msg}, "nonce": {nonce}, "signature": {sig}}.Encode(), nil)
	}
	if r := chk("validate-8Xk2", "abcdefgh", OneNETSignature(onToken, "abcdefgh", []byte("validate-8Xk2"))); r.code != 200 || r.raw != "validate-8Xk2" {
		t.Errorf("URL validation: %d %q", r.code, r.raw)
	}
	if r := chk("validate-8Xk2", "abcdefgh", vecChkSig); r.code != http.StatusForbidden || strings.Contains(r.raw, "validate-8Xk2") {
		t.Errorf("forged URL validation: %d %q", r.code, r.raw)
	}
	if r := e.do("GET", PushPathOneNET+"?msg=x", nil); r.code != http.StatusUnauthorized {
		t.Errorf("URL validation without signature: %d", r.code)
	}

	// Current platform: msg is a JSON string; identifiers map to params.
	msg := propertyMsg("00001", "iot-0001", obs, `{"ph":{"value":7.21,"time":$T},"NH3N":{"value":"0.35","time":$T},"Power":{"value":"on","time":$T}}`)
	if r := e.do("POST", PushPathOneNET, onenetPush(onToken, "n0nce001", msg)); r.code != 200 || r.body.Readings != 1 || len(r.body.Rejects) != 0 {
		t.Fatalf("property push: %d %s", r.code, r.raw)
	}
	got, ok := e.reading(domain.Water, "nb-w1")
	if !ok || !near(got.Values["ph"], 7.21) || !near(got.Values["nh3n"], 0.35) || len(got.Values) != 2 || !got.Time.Equal(obs.Truncate(time.Millisecond)) {
		t.Errorf("reading = %+v, %v", got, ok)
	}

	// Forged: signed with another token, or msg altered after signing.
	forged := onenetPush("not-the-token", "n0nce002", msg)
	altered := bytes.Replace(onenetPush(onToken, "n0nce003", msg), []byte(`7.21`), []byte(`9.21`), 1)
	before := e.streamCount(bus.StreamReadings) + e.streamCount(bus.StreamQuarantine)
	for name, body := range map[string][]byte{"other token": forged, "altered": altered} {
		if r := e.do("POST", PushPathOneNET, body); r.code != http.StatusForbidden {
			t.Errorf("%s: %d %s", name, r.code, r.raw)
		}
	}
	for name, body := range map[string]string{"no signature": `{"msg":"{}","nonce":"abcdefgh"}`, "not json": `msg=1`, "no msg": `{"nonce":"a","signature":"b"}`} {
		if r := e.do("POST", PushPathOneNET, []byte(body)); r.code != http.StatusUnauthorized {
			t.Errorf("%s: %d %s", name, r.code, r.raw)
		}
	}
	if after := e.streamCount(bus.StreamReadings) + e.streamCount(bus.StreamQuarantine); after != before {
		t.Errorf("forged pushes stored %d messages", after-before)
	}

	// Legacy platform: msg is an array of datapoints, signed (as
	// msg_signature) over its bytes exactly as sent, spaces included.
	at := obs.Add(time.Minute).UnixMilli()
	legacy := fmt.Sprintf(`[ {"at": %d, "type": 1, "ds_id": "ph", "value": 7.05, "dev_id": 2016617},
	  {"at": "%d", "type": 1, "ds_id": "NH3N", "value": "0.5", "dev_id": 2016617},
	  {"at": %d, "type": 1, "ds_id": "ph", "value": 7.5, "dev_id": 2017618},
	  {"at": %d, "type": 2, "dev_id": 2017618, "status": 1, "login_type": 7} ]`, at, at, at, at)
	body := fmt.Appendf(nil, `{"msg": %s, "msg_signature": %q, "nonce": "abcdefgh"}`, legacy, OneNETSignature(onToken, "abcdefgh", []byte(legacy)))
	if r := e.do("POST", PushPathOneNET, body); r.code != 200 || r.body.Readings != 2 {
		t.Fatalf("legacy push: %d %s", r.code, r.raw)
	}
	if got, _ := e.reading(domain.Water, "nb-w1"); got.Values["ph"] != 7.05 || got.Values["nh3n"] != 0.5 || got.Time.UnixMilli() != at {
		t.Errorf("legacy nb-w1 = %+v", got)
	}
	if got, _ := e.reading(domain.Water, "nb-w2"); got.Values["ph"] != 7.5 {
		t.Errorf("legacy nb-w2 = %+v", got)
	}
	// Re-signed compactly, the same datapoints do not verify: what is signed
	// is the bytes as sent.
	var compact bytes.Buffer
	_ = json.Compact(&compact, []byte(legacy))
	body = fmt.Appendf(nil, `{"msg": %s, "msg_signature": %q, "nonce": "abcdefgh"}`, legacy, OneNETSignature(onToken, "abcdefgh", compact.Bytes()))
	if r := e.do("POST", PushPathOneNET, body); r.code != http.StatusForbidden {
		t.Errorf("signature over re-serialised msg: %d %s", r.code, r.raw)
	}

	// Authenticated but unusable.
	for name, tc := range map[string]struct {
		msg    string
		code   int
		status string
		qcode  Code
	}{
		"unknown device":  {propertyMsg("00001", "iot-9999", obs, `{"ph":{"value":7,"time":$T}}`), 404, "unknown", CodeUnknownStation},
		"msg not json":    {`{"messageType":`, 400, "bad_request", CodeMalformed},
		"unmapped stream": {propertyMsg("00001", "iot-0001", obs.Add(3*time.Minute), `{"TURB":{"value":2,"time":$T}}`), 200, "quarantined", CodeUnknownParam},
		"lifecycle":       {`{"projectId":"990909090","productId":"00001","deviceName":"iot-0001","messageType":"lifeCycle","data":{"status":"online","time":1524448722123}}`, 200, "ignored", ""},
	} {
		r := e.do("POST", PushPathOneNET, onenetPush(onToken, "n0nce009", tc.msg))
		if r.code != tc.code || r.body.Status != tc.status {
			t.Errorf("%s: %d %s, want %d %s", name, r.code, r.raw, tc.code, tc.status)
			continue
		}
		if tc.qcode != "" {
			e.waitQuarantine(tc.qcode, "")
		}
	}
	if n := e.metric("qingliu_push_requests_total", "platform", "onenet", "result", "handshake"); n != 1 {
		t.Errorf("handshake counted %v", n)
	}
}

// oneNETEncrypt is the platform's side of safe mode, written from the
// documented Java example: AES-CBC, key = IV = the 16-character key, PKCS#7.
func oneNETEncrypt(t *testing.T, key, msg string) string {
	t.Helper()
	block, err := aes.NewCipher([]byte(key))
	if err != nil {
		t.Fatal(err)
	}
	n := aes.BlockSize - len(msg)%aes.BlockSize
	pt := append([]byte(msg), bytes.Repeat([]byte{byte(n)}, n)...)
	ct := make([]byte, len(pt))
	cipher.NewCBCEncrypter(block, []byte(key)).CryptBlocks(ct, pt)
	return base64.StdEncoding.EncodeToString(ct)
}

func TestPushOneNETSafeMode(t *testing.T) {
	cfg := pushTestConfig()
	cfg.OneNET.AESKey = vecAESKey
	e := newPushEnv(t, cfg)
	if got := oneNETEncrypt(t, vecAESKey, vecMsg); got != vecCipher {
		t.Fatalf("test encryption disagrees with openssl: %s", got)
	}
	obs := hjT0.Add(-2 * time.Minute)
	ct := oneNETEncrypt(t, vecAESKey, propertyMsg("00001", "iot-0001", obs, `{"do_ugL":{"value":7100,"time":$T}}`))
	// The signature covers the ciphertext as sent.
	if r := e.do("POST", PushPathOneNET, onenetPush(onToken, "n0nce101", ct)); r.code != 200 || r.body.Readings != 1 {
		t.Fatalf("safe-mode push: %d %s", r.code, r.raw)
	}
	if got, _ := e.reading(domain.Water, "nb-w1"); !near(got.Values["do"], 7.1) {
		t.Errorf("reading = %+v, want do 7.1 mg/L", got)
	}
	wrongKey := oneNETEncrypt(t, "0123456789abcdef", propertyMsg("00001", "iot-0001", obs, `{"ph":{"value":7,"time":$T}}`))
	if r := e.do("POST", PushPathOneNET, onenetPush(onToken, "n0nce102", wrongKey)); r.code != 400 || r.body.Code != string(CodeBadCiphertext) {
		t.Errorf("wrong key: %d %s", r.code, r.raw)
	}
	e.waitQuarantine(CodeBadCiphertext, "")
}

// A flood from one address is slowed with 429 and Retry-After; a flooding
// device behind the platform is slowed alone: another station's pushes from
// the same address still go through.
func TestPushRateLimits(t *testing.T) {
	cfg := pushTestConfig()
	cfg.RatePerSec, cfg.Burst = 0.01, 6
	cfg.DeviceRatePerSec, cfg.DeviceBurst = 0.01, 2
	e := newPushEnv(t, cfg)
	obs := hjT0.Add(-time.Hour)
	var codes []int
	for i := range 4 {
		r := e.do("POST", ctPath(ctToken), ctwingReport(imeiW1, ctProduct, obs.Add(time.Duration(i)*time.Second), `{"PH":7}`))
		codes = append(codes, r.code)
		if r.code == http.StatusTooManyRequests && r.retry == "" {
			t.Error("429 without Retry-After")
		}
	}
	if fmt.Sprint(codes) != "[200 200 429 429]" {
		t.Errorf("one station's pushes: %v, want [200 200 429 429]", codes)
	}
	if r := e.do("POST", ctPath(ctToken), ctwingReport("864016059400003", ctProduct, obs, `{"PH":7}`)); r.code != 200 {
		t.Errorf("another station while the first is limited: %d %s", r.code, r.raw)
	}
	// Five requests so far from this address, of a burst of six.
	if r := e.do("POST", ctPath("forged"), nil); r.code != http.StatusForbidden {
		t.Errorf("sixth request: %d", r.code)
	}
	r := e.do("POST", ctPath(ctToken), ctwingReport("864016059400003", ctProduct, obs.Add(time.Second), `{"PH":7}`))
	if r.code != http.StatusTooManyRequests || r.retry == "" {
		t.Errorf("seventh request from the address: %d %q", r.code, r.retry)
	}
	if n := e.metric("qingliu_push_requests_total", "result", "rate_limited"); n != 3 {
		t.Errorf("rate_limited counted %v", n)
	}
}

func TestKeyLimiterBounded(t *testing.T) {
	l := newKeyLimiter(1, 2, 3)
	now := time.Unix(1000, 0)
	for _, k := range []string{"a", "b", "c"} {
		if ok, _ := l.allow(k, now); !ok {
			t.Fatalf("%s refused", k)
		}
	}
	// Full map, no full bucket: the new key shares the overflow bucket.
	for i, want := range []bool{true, true, false} {
		if ok, _ := l.allow(fmt.Sprint("new", i), now); ok != want {
			t.Errorf("overflow %d: %v, want %v", i, ok, want)
		}
	}
	if ok, wait := l.allow("a", now); !ok || wait != 0 {
		t.Errorf("a's own bucket: %v %v", ok, wait)
	}
	if ok, wait := l.allow("a", now); ok || wait != time.Second {
		t.Errorf("a exhausted: %v %v, want a 1s wait", ok, wait)
	}
	// Later, refilled buckets are evicted to make room.
	later := now.Add(time.Minute)
	if ok, _ := l.allow("d", later); !ok || len(l.m) > 3 {
		t.Errorf("d after refill: %v, %d keys", ok, len(l.m))
	}
}

// When JetStream does not store in time the platform gets 503 (so it
// retries); the retry of the same push is stored once.
func TestPushNotStoredIs503(t *testing.T) {
	cfg := pushTestConfig()
	cfg.AckTimeout = 300 * time.Millisecond
	e := newPushEnv(t, cfg)
	if err := e.js.DeleteStream(context.Background(), bus.StreamReadings); err != nil {
		t.Fatal(err)
	}
	body := ctwingReport(imeiW1, ctProduct, hjT0.Add(-time.Minute), `{"PH":7.11}`)
	r := e.do("POST", ctPath(ctToken), body)
	if r.code != http.StatusServiceUnavailable || r.retry == "" {
		t.Fatalf("push while READINGS is gone: %d %s", r.code, r.raw)
	}
	if err := bus.Ensure(context.Background(), e.js, bus.Config{}); err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, 10*time.Second, "platform retry stored", func() bool {
		return e.do("POST", ctPath(ctToken), body).code == http.StatusOK
	})
	// The publisher's own retry of the first attempt and the platform's retry
	// carry one dedupe id.
	testenv.Eventually(t, 5*time.Second, "publisher retry done", func() bool {
		return e.metric("qingliu_ingest_inflight_payloads") == 0
	})
	if n := e.streamCount(bus.StreamReadings); n != 1 {
		t.Errorf("READINGS has %d messages, want 1", n)
	}
	if n := e.metric("qingliu_push_requests_total", "result", "unavailable"); n < 1 {
		t.Errorf("unavailable counted %v", n)
	}
}

// Mounted on the main HTTP server (push.listen empty): the endpoint serves
// through admin.Server, and after Run stops it answers 503.
func TestPushOnMainListener(t *testing.T) {
	cfg := pushTestConfig()
	cfg.Listen = ""
	srv := testenv.NATS(t)
	nc, err := srv.Connect("push-mounted")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc, jetstream.WithPublishAsyncMaxPending(1024))
	if err != nil {
		t.Fatal(err)
	}
	if err := bus.Ensure(context.Background(), js, bus.Config{}); err != nil {
		t.Fatal(err)
	}
	prom := prometheus.NewRegistry()
	log := testenv.Logger(t)
	pub := NewPublisher(js, 64, NewMetrics(prom), log)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var wg sync.WaitGroup
	defer wg.Wait()
	defer cancel()
	wg.Go(func() { _ = pub.Run(ctx) })
	reg, devs := pushRegistry(t)
	clock := &hjClock{}
	clock.Set(hjT0)
	src, err := NewPushSource(cfg, devs, NewPipeline(reg, Limits{}), pub, prom, log, clock.Now)
	if err != nil {
		t.Fatal(err)
	}
	adm := admin.New("127.0.0.1:0", prom, log)
	adm.Handle("/push/", src.Handler())
	if err := adm.Listen(); err != nil {
		t.Fatal(err)
	}
	wg.Go(func() { _ = adm.Run(ctx) })
	pushCtx, stopPush := context.WithCancel(ctx)
	pushDone := make(chan error, 1)
	go func() { pushDone <- src.Run(pushCtx) }()
	testenv.Eventually(t, 5*time.Second, "push ready", func() bool { return src.Ready() == nil })
	e := &pushEnv{hjEnv: &hjEnv{t: t, js: js, prom: prom}, src: src, base: "http://" + adm.Addr(), client: &http.Client{Timeout: 10 * time.Second}}
	if src.Addr() != "" {
		t.Errorf("Addr = %q on the main listener", src.Addr())
	}
	body := ctwingReport(imeiW1, ctProduct, hjT0.Add(-time.Minute), `{"PH":7.2}`)
	if r := e.do("POST", ctPath(ctToken), body); r.code != 200 {
		t.Fatalf("mounted push: %d %s", r.code, r.raw)
	}
	if r := e.do("GET", "/metrics", nil); !strings.Contains(r.raw, `qingliu_push_requests_total{platform="ctwing",result="stored"} 1`) {
		t.Error("/metrics lacks the push counter")
	}
	stopPush()
	if err := <-pushDone; err != nil {
		t.Fatal(err)
	}
	if r := e.do("POST", ctPath(ctToken), body); r.code != http.StatusServiceUnavailable {
		t.Errorf("after stop: %d %s", r.code, r.raw)
	}
}

func TestPushTLS(t *testing.T) {
	caPEM, certFile, keyFile := selfSignedChain(t)
	cfg := pushTestConfig()
	cfg.TLSCert, cfg.TLSKey = certFile, keyFile
	e := newPushEnv(t, cfg)
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(caPEM)
	e.client = &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}}}
	if r := e.do("POST", ctPath(ctToken), ctwingReport(imeiW1, ctProduct, hjT0.Add(-time.Minute), `{"PH":7.2}`)); r.code != 200 {
		t.Fatalf("https push: %d %s", r.code, r.raw)
	}
	// Plain HTTP to the TLS listener is not served.
	resp, err := http.Post("http://"+e.src.Addr()+ctPath(ctToken), "application/json", strings.NewReader("{}"))
	if err == nil {
		resp.Body.Close()
		if resp.StatusCode == 200 {
			t.Error("plain HTTP accepted on the TLS listener")
		}
	}
}

func TestPushConfigErrors(t *testing.T) {
	reg, devs := pushRegistry(t)
	for name, cfg := range map[string]PushConfig{
		"tls on main listener": {TLSCert: "a", TLSKey: "b"},
		"cert without key":     {Listen: "127.0.0.1:0", TLSCert: "a"},
		"ctwing without token": {CTWing: CTWingConfig{Enabled: true}},
		"onenet without token": {OneNET: OneNETConfig{Enabled: true}},
		"bad aes key":          {OneNET: OneNETConfig{Enabled: true, Token: "x", AESKey: "short"}},
		"unknown param":        {OneNET: OneNETConfig{Enabled: true, Token: "x", Streams: map[string]FieldMap{"x": {Param: "pH"}}}},
		"wrong unit":           {CTWing: CTWingConfig{Enabled: true, Token: "x", Products: map[string]CTWingProduct{"1": {Fields: map[string]FieldMap{"T": {Param: "temp", Unit: "mg/L"}}}}}},
	} {
		if _, err := NewPushSource(cfg, devs, NewPipeline(reg, Limits{}), nil, prometheus.NewRegistry(), testenv.Logger(t), time.Now); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
	// A port in use is one clear error from Listen.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	src, err := NewPushSource(PushConfig{Listen: ln.Addr().String()}, devs, NewPipeline(reg, Limits{}), nil, prometheus.NewRegistry(), testenv.Logger(t), time.Now)
	if err != nil {
		t.Fatal(err)
	}
	if err := src.Listen(); err == nil || !strings.Contains(err.Error(), ln.Addr().String()) {
		t.Errorf("Listen on a used port: %v", err)
	}
}
