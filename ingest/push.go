package ingest

import (
	"bytes"
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/md5"
	"crypto/tls"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"math"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/valyala/fastjson"
	"golang.org/x/time/rate"

	"github.com/qingliu/qingliu/domain"
	"github.com/qingliu/qingliu/internal/auth"
	"github.com/qingliu/qingliu/registry"
)

// NB-IoT platforms whose HTTP pushes the push endpoint accepts. They are the
// platform names of a station's devices in stations.yaml and the platform
// label of qingliu_push_requests_total.
const (
	PlatformCTWing = "ctwing" // China Telecom CTWing (天翼物联 AIoT) subscription push
	PlatformOneNET = "onenet" // China Mobile OneNET HTTP 数据推送
)

// Paths of the push endpoint, on the main HTTP listener or on its own.
const (
	PushPathCTWing = "/push/ctwing"
	PushPathOneNET = "/push/onenet"
)

// Reasons the push endpoint quarantines input, beside the shared codes.
const (
	// CodeUnknownProduct: a CTWing product with no field mapping in
	// push.ctwing.products.
	CodeUnknownProduct Code = "unknown_product"
	// CodeBadCiphertext: a OneNET push in safe mode that does not decrypt
	// with the configured AES key.
	CodeBadCiphertext Code = "bad_ciphertext"
)

// Defaults of PushConfig.
const (
	DefaultPushMaxBody         = 64 << 10
	DefaultPushRatePerSec      = 200
	DefaultPushBurst           = 400
	DefaultPushDeviceRate      = 1
	DefaultPushDeviceBurst     = 20
	DefaultPushAckTimeout      = 4 * time.Second
	DefaultPushMaxClients      = 4096
	DefaultPushShutdownTimeout = 5 * time.Second
)

// FieldMap maps one platform field (a CTWing profile field, a OneNET data
// stream or thing-model identifier) to a canonical parameter, with the unit
// the platform sends it in (empty: the station's unit for the parameter).
type FieldMap struct {
	Param string
	Unit  string
}

// CTWingProduct is how the decoded payload of one CTWing product maps to
// canonical parameters.
type CTWingProduct struct {
	// Fields maps payload field names to parameters.
	Fields map[string]FieldMap
	// Ignore lists payload fields that carry no reading (battery, signal
	// strength …); any other unmapped field is quarantined.
	Ignore []string
	// TimeField names a payload field holding the observation time (epoch
	// milliseconds or RFC 3339); empty: the push's timestamp.
	TimeField string
}

// CTWingConfig configures CTWing subscription pushes.
type CTWingConfig struct {
	Enabled bool
	// Token is the shared secret in the push URL (?token=) or an
	// Authorization: Bearer header.
	Token string
	// Products maps a CTWing productId to its field mapping.
	Products map[string]CTWingProduct
}

// OneNETConfig configures OneNET HTTP pushes.
type OneNETConfig struct {
	Enabled bool
	// Token is the token of the push instance; it signs every request.
	Token string
	// AESKey is the 16-character key of a push instance in safe mode
	// (安全模式); empty for plain mode.
	AESKey string
	// Streams maps data stream ids (legacy type 1 datapoints) and
	// thing-model property identifiers to parameters.
	Streams map[string]FieldMap
	// Ignore lists streams and identifiers that carry no reading.
	Ignore []string
}

// PushConfig configures the NB-IoT platform push endpoint. Zero values take
// the defaults above.
type PushConfig struct {
	// Listen is empty to serve on the main HTTP listener (the caller mounts
	// Handler), else the address of the endpoint's own listener, which is
	// required for TLS.
	Listen string
	// TLSCert and TLSKey are PEM files; set both (with Listen) for HTTPS.
	TLSCert, TLSKey string
	// MaxBody bounds a request body in bytes (413 beyond).
	MaxBody int
	// RatePerSec and Burst are the token bucket per source IP address,
	// checked before anything else (429 beyond). A platform pushes from a
	// few addresses, so this is generous; DeviceRatePerSec and DeviceBurst
	// bound each authenticated station, so one flooding device behind the
	// platform is slowed without starving the others.
	RatePerSec       float64
	Burst            int
	DeviceRatePerSec float64
	DeviceBurst      int
	// MaxClients bounds the addresses and stations with a bucket of their
	// own; beyond it new ones share one bucket.
	MaxClients int
	// AckTimeout bounds the wait for JetStream: a request not stored by then
	// is answered 503 so the platform retries (OneNET waits 5 s).
	AckTimeout time.Duration
	// ShutdownTimeout bounds how long requests in flight get to be stored
	// once Run's context is done.
	ShutdownTimeout time.Duration

	CTWing CTWingConfig
	OneNET OneNETConfig
}

func (c PushConfig) withDefaults() PushConfig {
	if c.MaxBody <= 0 {
		c.MaxBody = DefaultPushMaxBody
	}
	if c.RatePerSec <= 0 {
		c.RatePerSec = DefaultPushRatePerSec
	}
	if c.Burst <= 0 {
		c.Burst = DefaultPushBurst
	}
	if c.DeviceRatePerSec <= 0 {
		c.DeviceRatePerSec = DefaultPushDeviceRate
	}
	if c.DeviceBurst <= 0 {
		c.DeviceBurst = DefaultPushDeviceBurst
	}
	if c.MaxClients <= 0 {
		c.MaxClients = DefaultPushMaxClients
	}
	if c.AckTimeout <= 0 {
		c.AckTimeout = DefaultPushAckTimeout
	}
	if c.ShutdownTimeout <= 0 {
		c.ShutdownTimeout = DefaultPushShutdownTimeout
	}
	return c
}

// checkMappings reports the first field mapping to an unknown parameter or
// unit, so that a typo fails the start instead of quarantining every push.
func (c PushConfig) checkMappings() error {
	check := func(path string, fm FieldMap) error {
		p, ok := registry.LookupParam(fm.Param)
		if !ok {
			return fmt.Errorf("push: %s: unknown parameter %q", path, fm.Param)
		}
		if fm.Unit == "" {
			return nil
		}
		if _, err := registry.Convert(1, fm.Unit, p.Unit); err != nil {
			return fmt.Errorf("push: %s: unit %q: %w", path, fm.Unit, err)
		}
		return nil
	}
	for _, prod := range slices.Sorted(maps.Keys(c.CTWing.Products)) {
		fields := c.CTWing.Products[prod].Fields
		for _, f := range slices.Sorted(maps.Keys(fields)) {
			if err := check("ctwing.products."+prod+".fields."+f, fields[f]); err != nil {
				return err
			}
		}
	}
	for _, id := range slices.Sorted(maps.Keys(c.OneNET.Streams)) {
		if err := check("onenet.streams."+id, c.OneNET.Streams[id]); err != nil {
			return err
		}
	}
	return nil
}

// PushDevices is what the push endpoint needs of the station registry: the
// station a platform's device id belongs to.
type PushDevices interface {
	ByDevice(platform, id string) (*registry.Station, bool)
}

// PushSource is the HTTP endpoint for NB-IoT platform pushes (CTWing and
// OneNET). Every request is rate-limited per source address, then
// authenticated (CTWing: a shared token; OneNET: the body's signature)
// before anything else is looked at; forged requests are answered 401/403,
// counted and never stored. Authenticated pushes become readings through the
// Pipeline, and the platform gets 200 only after JetStream has stored them,
// 503 when it did not in time, so that the platform retries.
type PushSource struct {
	cfg  PushConfig
	reg  PushDevices
	pipe *Pipeline
	pub  *Publisher
	log  *slog.Logger
	now  func() time.Time
	m    *pushMetrics
	mux  *http.ServeMux

	ipLim  *keyLimiter
	devLim *keyLimiter
	aesKey []byte
	pp     fastjson.ParserPool

	authFailing [2]atomic.Bool // per platform: logged until a request passes

	mu       sync.Mutex
	closing  bool
	inflight sync.WaitGroup
	hard     context.Context
	stopHard context.CancelFunc

	ln      net.Listener
	tls     *tls.Config
	addr    string
	running atomic.Bool
	started atomic.Bool
}

// NewPushSource builds the endpoint. now is the ingest clock. It fails when
// the configuration is inconsistent or the metrics cannot be registered.
func NewPushSource(cfg PushConfig, reg PushDevices, pipe *Pipeline, pub *Publisher, promReg prometheus.Registerer, log *slog.Logger, now func() time.Time) (*PushSource, error) {
	cfg = cfg.withDefaults()
	if (cfg.TLSCert == "") != (cfg.TLSKey == "") {
		return nil, errors.New("push: give both a TLS certificate and a key, or neither")
	}
	if cfg.TLSCert != "" && cfg.Listen == "" {
		return nil, errors.New("push: TLS needs the endpoint's own listener (push.listen)")
	}
	if cfg.CTWing.Enabled && cfg.CTWing.Token == "" {
		return nil, errors.New("push: ctwing is enabled without a token")
	}
	if cfg.OneNET.Enabled && cfg.OneNET.Token == "" {
		return nil, errors.New("push: onenet is enabled without a token")
	}
	if err := cfg.checkMappings(); err != nil {
		return nil, err
	}
	var aesKey []byte
	if k := cfg.OneNET.AESKey; k != "" {
		if n := len(k); n != 16 && n != 24 && n != 32 {
			return nil, fmt.Errorf("push: onenet AES key is %d bytes; want 16 (as OneNET generates), 24 or 32", n)
		}
		aesKey = []byte(k)
	}
	m, err := newPushMetrics(promReg)
	if err != nil {
		return nil, err
	}
	hard, stopHard := context.WithCancel(context.Background())
	s := &PushSource{
		cfg: cfg, reg: reg, pipe: pipe, pub: pub, log: log, now: now, m: m,
		mux:      http.NewServeMux(),
		ipLim:    newKeyLimiter(cfg.RatePerSec, cfg.Burst, cfg.MaxClients),
		devLim:   newKeyLimiter(cfg.DeviceRatePerSec, cfg.DeviceBurst, cfg.MaxClients),
		aesKey:   aesKey,
		hard:     hard,
		stopHard: stopHard,
		addr:     cfg.Listen,
	}
	if cfg.CTWing.Enabled {
		s.mux.HandleFunc("POST "+PushPathCTWing, s.serveCTWing)
	}
	if cfg.OneNET.Enabled {
		s.mux.HandleFunc("POST "+PushPathOneNET, s.serveOneNET)
		s.mux.HandleFunc("GET "+PushPathOneNET, s.serveOneNETCheck)
	}
	return s, nil
}

// Handler serves the push paths (PushPathCTWing, PushPathOneNET) of the
// enabled platforms. Mount it on the main HTTP server when Listen is empty.
func (s *PushSource) Handler() http.Handler { return s.mux }

// Listen binds the endpoint's own listener (and loads the TLS certificate)
// when Listen is set; otherwise it does nothing.
func (s *PushSource) Listen() error {
	if s.cfg.Listen == "" || s.ln != nil {
		return nil
	}
	ln, tc, err := listen("push", s.cfg.Listen, s.cfg.TLSCert, s.cfg.TLSKey)
	if err != nil {
		return err
	}
	s.ln, s.tls, s.addr = ln, tc, ln.Addr().String()
	return nil
}

// Addr is the bound address of the endpoint's own listener, the configured
// one before Listen, or empty when the endpoint is on the main listener.
func (s *PushSource) Addr() string { return s.addr }

// Ready reports whether the endpoint is taking pushes.
func (s *PushSource) Ready() error {
	if s.running.Load() {
		return nil
	}
	return errors.New("push: not taking requests")
}

// Run serves until ctx is done: on its own listener when Listen is set,
// otherwise through the Handler mounted by the caller. Then requests still
// arriving are answered 503, and those in flight get ShutdownTimeout to be
// stored and answered. Run returns after every goroutine it started has
// exited. Run may be called once.
func (s *PushSource) Run(ctx context.Context) error {
	if !s.started.CompareAndSwap(false, true) {
		return errors.New("push: Run called twice")
	}
	defer s.stopHard()
	if err := s.Listen(); err != nil {
		return err
	}
	var srv *http.Server
	errc := make(chan error, 1)
	var wg sync.WaitGroup
	if s.ln != nil {
		srv = &http.Server{
			Handler:           s.mux,
			ReadHeaderTimeout: 10 * time.Second,
			ReadTimeout:       30 * time.Second,
			WriteTimeout:      s.cfg.AckTimeout + 10*time.Second,
			IdleTimeout:       2 * time.Minute,
			TLSConfig:         s.tls,
			ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelDebug),
		}
		wg.Go(func() {
			var err error
			if s.tls != nil {
				err = srv.ServeTLS(s.ln, "", "")
			} else {
				err = srv.Serve(s.ln)
			}
			if !errors.Is(err, http.ErrServerClosed) {
				errc <- fmt.Errorf("push: serve on %s: %w", s.addr, err)
			}
		})
	}
	s.running.Store(true)
	s.log.Info("push endpoint ready", "addr", s.addr, "tls", s.tls != nil,
		"ctwing", s.cfg.CTWing.Enabled, "onenet", s.cfg.OneNET.Enabled)
	var err error
	select {
	case <-ctx.Done():
	case err = <-errc:
	}
	s.running.Store(false)
	s.mu.Lock()
	s.closing = true
	s.mu.Unlock()
	timer := time.AfterFunc(s.cfg.ShutdownTimeout, s.stopHard)
	defer timer.Stop()
	s.inflight.Wait()
	if srv != nil {
		sctx, cancel := context.WithTimeout(context.Background(), s.cfg.ShutdownTimeout)
		if e := srv.Shutdown(sctx); e != nil {
			srv.Close()
		}
		cancel()
	}
	wg.Wait()
	return err
}

// enter admits a request; it is false once Run is stopping.
func (s *PushSource) enter() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closing || !s.running.Load() {
		return false
	}
	s.inflight.Add(1)
	return true
}

// Results of a push request (qingliu_push_requests_total{result}).
const (
	pushStored       = "stored"       // 200: readings stored (maybe with rejects quarantined)
	pushQuarantined  = "quarantined"  // 200: authenticated, values refused and quarantined
	pushIgnored      = "ignored"      // 200: a message that carries no readings
	pushHandshake    = "handshake"    // 200: OneNET URL validation passed
	pushBadRequest   = "bad_request"  // 400: malformed body, quarantined
	pushUnknown      = "unknown"      // 404: unknown device or product, quarantined
	pushUnauthorized = "unauthorized" // 401: no credentials
	pushForbidden    = "forbidden"    // 403: wrong token or signature
	pushTooLarge     = "too_large"    // 413
	pushRateLimited  = "rate_limited" // 429
	pushUnavailable  = "unavailable"  // 503: not stored in time, or stopping
)

// pushReply is the JSON body of every answer but the OneNET handshake.
type pushReply struct {
	Status   string        `json:"status"`
	Readings int           `json:"readings,omitempty"`
	Error    string        `json:"error,omitempty"`
	Code     string        `json:"code,omitempty"`
	Field    string        `json:"field,omitempty"`
	Rejects  []pushRejectJ `json:"rejects,omitempty"`
}

type pushRejectJ struct {
	Code   string `json:"code"`
	Field  string `json:"field,omitempty"`
	Reason string `json:"reason"`
}

// pushOutcome is what decoding one authenticated push decided.
type pushOutcome struct {
	res     Result
	whole   bool   // res holds one reject that refused the push as a whole
	ignored string // non-empty: the reason nothing is stored (messageType …)
	station string // for the per-device limit; empty when unknown
}

func (s *PushSource) writeJSON(w http.ResponseWriter, platform, result string, code int, body pushReply, start time.Time) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(body)
	s.m.requests.WithLabelValues(platform, result).Inc()
	s.m.seconds.WithLabelValues(platform).Observe(time.Since(start).Seconds())
}

// admit runs the checks every push passes before its credentials are
// looked at: the endpoint is running and the source address is within its
// rate. It answers the request itself and returns false otherwise.
func (s *PushSource) admit(w http.ResponseWriter, r *http.Request, platform string, start time.Time) bool {
	if !s.enter() {
		w.Header().Set("Retry-After", "5")
		s.writeJSON(w, platform, pushUnavailable, http.StatusServiceUnavailable, pushReply{Status: "unavailable", Error: "ingest is stopping"}, start)
		return false
	}
	if ok, wait := s.ipLim.allow(remoteHost(r), time.Now()); !ok {
		s.inflight.Done()
		retryAfter(w, wait)
		s.writeJSON(w, platform, pushRateLimited, http.StatusTooManyRequests, pushReply{Status: "rate_limited", Error: "too many requests from this address"}, start)
		return false
	}
	return true
}

// readBody reads at most MaxBody bytes; on false it has answered 413.
func (s *PushSource) readBody(w http.ResponseWriter, r *http.Request, platform string, start time.Time) ([]byte, bool) {
	tooLarge := func() ([]byte, bool) {
		// The rest of the body is not read; close the connection rather than
		// drain it.
		w.Header().Set("Connection", "close")
		s.writeJSON(w, platform, pushTooLarge, http.StatusRequestEntityTooLarge,
			pushReply{Status: "too_large", Error: fmt.Sprintf("body is larger than %d bytes", s.cfg.MaxBody)}, start)
		return nil, false
	}
	if r.ContentLength > int64(s.cfg.MaxBody) {
		return tooLarge()
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, int64(s.cfg.MaxBody)))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return tooLarge()
		}
		s.writeJSON(w, platform, pushBadRequest, http.StatusBadRequest, pushReply{Status: "bad_request", Error: "cannot read body"}, start)
		return nil, false
	}
	return body, true
}

// authFailed answers a request whose credentials are missing (401) or wrong
// (403), counts it and logs it at warn once until a request passes again.
// The body is not stored: whoever cannot sign must not fill QUARANTINE.
func (s *PushSource) authFailed(w http.ResponseWriter, r *http.Request, platform string, missing bool, why string, start time.Time) {
	i := platformIndex(platform)
	if !s.authFailing[i].Swap(true) {
		s.log.Warn("push refused: bad credentials", "platform", platform, "remote", remoteHost(r), "reason", why)
	} else {
		s.log.Debug("push refused: bad credentials", "platform", platform, "remote", remoteHost(r), "reason", why)
	}
	if missing {
		if platform == PlatformCTWing {
			w.Header().Set("WWW-Authenticate", `Bearer realm="qingliu-push"`)
		}
		s.writeJSON(w, platform, pushUnauthorized, http.StatusUnauthorized, pushReply{Status: "unauthorized", Error: why}, start)
		return
	}
	s.writeJSON(w, platform, pushForbidden, http.StatusForbidden, pushReply{Status: "forbidden", Error: why}, start)
}

func (s *PushSource) authPassed(platform string) {
	if s.authFailing[platformIndex(platform)].Swap(false) {
		s.log.Info("push credentials accepted again", "platform", platform)
	}
}

// finish applies the per-device limit, stores what the push became and
// answers: 200 once JetStream has it, 503 when it did not in time.
func (s *PushSource) finish(w http.ResponseWriter, r *http.Request, platform string, out pushOutcome, start time.Time) {
	if out.ignored != "" {
		s.writeJSON(w, platform, pushIgnored, http.StatusOK, pushReply{Status: "ignored", Error: out.ignored}, start)
		return
	}
	if out.station != "" {
		if ok, wait := s.devLim.allow(platform+"/"+out.station, time.Now()); !ok {
			retryAfter(w, wait)
			s.writeJSON(w, platform, pushRateLimited, http.StatusTooManyRequests,
				pushReply{Status: "rate_limited", Error: "too many pushes for station " + out.station}, start)
			return
		}
	}
	ctx, cancel := context.WithTimeout(r.Context(), s.cfg.AckTimeout)
	defer cancel()
	stop := context.AfterFunc(s.hard, cancel)
	defer stop()
	done := make(chan error, 1)
	s.pub.Submit(ctx, out.res, Meta{Source: domain.SourcePush, Decoder: platform, Topic: r.URL.Path}, func(err error) { done <- err })
	select {
	case err := <-done:
		if err != nil {
			s.unavailable(w, platform, err, start)
			return
		}
	case <-ctx.Done():
		// The publisher keeps the messages and stores them later; the
		// platform's retry is deduplicated by their ids.
		s.unavailable(w, platform, ctx.Err(), start)
		return
	}
	reply := pushReply{Readings: len(out.res.Readings)}
	for _, rj := range out.res.Rejects {
		reply.Rejects = append(reply.Rejects, pushRejectJ{Code: string(rj.Code), Field: rj.Field, Reason: rj.Error()})
	}
	var whole *Reject
	if out.whole && len(out.res.Readings) == 0 && len(out.res.Rejects) == 1 {
		whole = &out.res.Rejects[0]
	}
	switch {
	case len(out.res.Readings) > 0:
		reply.Status = "stored"
		s.writeJSON(w, platform, pushStored, http.StatusOK, reply, start)
	case whole != nil && (whole.Code == CodeUnknownStation || whole.Code == CodeUnknownProduct):
		reply.Status, reply.Error, reply.Code, reply.Field, reply.Rejects = "unknown", whole.Reason, string(whole.Code), whole.Field, nil
		s.writeJSON(w, platform, pushUnknown, http.StatusNotFound, reply, start)
	case whole != nil:
		reply.Status, reply.Error, reply.Code, reply.Field, reply.Rejects = "bad_request", whole.Reason, string(whole.Code), whole.Field, nil
		s.writeJSON(w, platform, pushBadRequest, http.StatusBadRequest, reply, start)
	default:
		// Well-formed, but every value was refused: quarantined, and a
		// retry by the platform could not change that.
		reply.Status = "quarantined"
		s.writeJSON(w, platform, pushQuarantined, http.StatusOK, reply, start)
	}
}

func (s *PushSource) unavailable(w http.ResponseWriter, platform string, err error, start time.Time) {
	s.log.Debug("push not stored in time", "platform", platform, "err", err)
	w.Header().Set("Retry-After", "5")
	s.writeJSON(w, platform, pushUnavailable, http.StatusServiceUnavailable, pushReply{Status: "unavailable", Error: "not stored; retry"}, start)
}

// ---- CTWing ----

// serveCTWing handles a CTWing subscription push. The token is compared
// before the body is read.
func (s *PushSource) serveCTWing(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	if !s.admit(w, r, PlatformCTWing, start) {
		return
	}
	defer s.inflight.Done()
	got, how := ctwingToken(r)
	if got == "" {
		s.authFailed(w, r, PlatformCTWing, true, "no token: set ?token= in the push URL or send Authorization: Bearer", start)
		return
	}
	if !auth.SecretEqual(got, s.cfg.CTWing.Token) {
		s.authFailed(w, r, PlatformCTWing, false, "wrong token in the "+how, start)
		return
	}
	s.authPassed(PlatformCTWing)
	body, ok := s.readBody(w, r, PlatformCTWing, start)
	if !ok {
		return
	}
	s.finish(w, r, PlatformCTWing, s.decodeCTWing(body, s.now()), start)
}

// ctwingToken is the token of a CTWing push and where it was found.
func ctwingToken(r *http.Request) (token, where string) {
	if h := r.Header.Get("Authorization"); h != "" {
		if t, ok := strings.CutPrefix(h, "Bearer "); ok {
			return strings.TrimSpace(t), "Authorization header"
		}
	}
	return r.URL.Query().Get("token"), "token query parameter"
}

// decodeCTWing turns a CTWing push into readings. Only messageType
// dataReport carries readings; deviceOnlineOfflineReport, eventReport,
// commandResponse and dataReportTupUnion (a merged copy of dataReports) are
// acknowledged and counted as ignored.
func (s *PushSource) decodeCTWing(body []byte, now time.Time) pushOutcome {
	bad := func(r *Reject) pushOutcome {
		r.Index, r.Raw = -1, body
		return pushOutcome{res: Result{Rejects: []Reject{*r}}, whole: true}
	}
	p := s.pp.Get()
	defer s.pp.Put(p)
	v, err := p.ParseBytes(body)
	if err != nil {
		return bad(rejectf(CodeMalformed, "", "ctwing: body is not valid JSON: %s", clipS(err.Error())))
	}
	if v.Type() != fastjson.TypeObject {
		return bad(rejectf(CodeMalformed, "", "ctwing: body is not a JSON object"))
	}
	mt := string(v.GetStringBytes("messageType"))
	switch mt {
	case "":
		return bad(rejectf(CodeSchema, "messageType", `ctwing: no "messageType"`))
	case "dataReport":
	default:
		return pushOutcome{ignored: "messageType " + clipS(mt) + " carries no readings"}
	}
	imei, devID := jsonID(v.Get("IMEI")), jsonID(v.Get("deviceId"))
	st, ok := s.reg.ByDevice(PlatformCTWing, imei)
	if !ok || imei == "" {
		st, ok = s.reg.ByDevice(PlatformCTWing, devID)
	}
	if !ok || (imei == "" && devID == "") {
		return bad(rejectf(CodeUnknownStation, "IMEI", "ctwing: device IMEI %q / deviceId %q is not in the station registry", clipS(imei), clipS(devID)))
	}
	out := pushOutcome{station: st.ID}
	fail := func(r *Reject) pushOutcome {
		r.Station, r.Index, r.Raw = st.ID, -1, body
		out.res, out.whole = Result{Rejects: []Reject{*r}}, true
		return out
	}
	product := jsonID(v.Get("productId"))
	prod, ok := s.cfg.CTWing.Products[product]
	if !ok {
		return fail(rejectf(CodeUnknownProduct, "productId", "ctwing: product %q has no field mapping (push.ctwing.products)", clipS(product)))
	}
	payload := v.Get("payload")
	if payload == nil || payload.Type() != fastjson.TypeObject {
		return fail(rejectf(CodeSchema, "payload", `ctwing: "payload" is not an object of decoded profile fields`))
	}
	var t time.Time
	var rej *Reject
	if prod.TimeField != "" {
		t, rej = pushTime(payload.Get(prod.TimeField), "payload."+prod.TimeField)
	} else {
		t, rej = pushTime(v.Get("timestamp"), "timestamp")
	}
	if rej != nil {
		return fail(rej)
	}
	obj, _ := payload.Object()
	values, units := map[string]float64{}, map[string]string{}
	var rejects []Reject
	from := map[string]string{}
	obj.Visit(func(k []byte, fv *fastjson.Value) {
		field := string(k)
		if field == prod.TimeField || slices.Contains(prod.Ignore, field) {
			return
		}
		fm, mapped := prod.Fields[field]
		if !mapped {
			rejects = append(rejects, Reject{Code: CodeUnknownParam, Field: clipS(field),
				Reason: fmt.Sprintf("ctwing: payload field %q of product %s maps to no parameter (push.ctwing.products)", clipS(field), product)})
			return
		}
		x, ok := pushNumber(fv)
		if !ok {
			rejects = append(rejects, Reject{Code: CodeNotNumber, Field: clipS(field),
				Reason: fmt.Sprintf("ctwing: payload field %q is %s, not a number", clipS(field), clipS(fv.String()))})
			return
		}
		if other, dup := from[fm.Param]; dup {
			rejects = append(rejects, Reject{Code: CodeSchema, Field: clipS(field),
				Reason: fmt.Sprintf("ctwing: fields %q and %q both map to %q; kept %q", other, field, fm.Param, other)})
			return
		}
		from[fm.Param] = field
		values[fm.Param] = x
		if fm.Unit != "" {
			units[fm.Param] = fm.Unit
		}
	})
	out.res = s.normalise(st, t, values, units, rejects, body, now)
	return out
}

// ---- OneNET ----

// serveOneNETCheck answers OneNET's URL validation: GET
// ?msg=…&nonce=…&signature=… with a valid signature is answered with msg
// itself as the body.
func (s *PushSource) serveOneNETCheck(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	if !s.admit(w, r, PlatformOneNET, start) {
		return
	}
	defer s.inflight.Done()
	q := r.URL.Query()
	msg, nonce, sig := q.Get("msg"), q.Get("nonce"), q.Get("signature")
	if msg == "" || nonce == "" || sig == "" {
		s.authFailed(w, r, PlatformOneNET, true, "URL validation needs msg, nonce and signature", start)
		return
	}
	if !OneNETSignatureValid(s.cfg.OneNET.Token, nonce, []byte(msg), sig) {
		s.authFailed(w, r, PlatformOneNET, false, "URL validation signature does not verify", start)
		return
	}
	s.authPassed(PlatformOneNET)
	s.log.Info("onenet push URL validated", "remote", remoteHost(r))
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	_, _ = io.WriteString(w, msg)
	s.m.requests.WithLabelValues(PlatformOneNET, pushHandshake).Inc()
	s.m.seconds.WithLabelValues(PlatformOneNET).Observe(time.Since(start).Seconds())
}

// oneNETBody is the envelope of a OneNET push. The current platform sends
// msg as a JSON string and signs it as "signature"; the legacy platform sends
// msg as an object (or a list) and signs it as "msg_signature".
type oneNETBody struct {
	Msg          json.RawMessage `json:"msg"`
	Nonce        string          `json:"nonce"`
	Signature    string          `json:"signature"`
	MsgSignature string          `json:"msg_signature"`
}

// serveOneNET handles a OneNET push. The signature is verified before msg
// is decrypted or parsed.
func (s *PushSource) serveOneNET(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	if !s.admit(w, r, PlatformOneNET, start) {
		return
	}
	defer s.inflight.Done()
	body, ok := s.readBody(w, r, PlatformOneNET, start)
	if !ok {
		return
	}
	var env oneNETBody
	if err := json.Unmarshal(body, &env); err != nil {
		s.authFailed(w, r, PlatformOneNET, true, "body is not a signed OneNET push (not a JSON object)", start)
		return
	}
	sig := env.Signature
	if sig == "" {
		sig = env.MsgSignature
	}
	signed, isString, err := oneNETSigned(env.Msg)
	if err != nil || env.Nonce == "" || sig == "" {
		s.authFailed(w, r, PlatformOneNET, true, "body lacks msg, nonce or signature", start)
		return
	}
	if !OneNETSignatureValid(s.cfg.OneNET.Token, env.Nonce, signed, sig) {
		s.authFailed(w, r, PlatformOneNET, false, "signature does not verify", start)
		return
	}
	s.authPassed(PlatformOneNET)
	msg := signed
	if isString && s.aesKey != nil {
		plain, err := OneNETDecrypt(s.aesKey, string(signed))
		if err != nil {
			rej := Reject{Code: CodeBadCiphertext, Field: "msg", Index: -1, Raw: body,
				Reason: "onenet: msg does not decrypt with the configured AES key: " + err.Error()}
			s.finish(w, r, PlatformOneNET, pushOutcome{res: Result{Rejects: []Reject{rej}}, whole: true}, start)
			return
		}
		msg = plain
	}
	s.finish(w, r, PlatformOneNET, s.decodeOneNET(msg, body, s.now()), start)
}

// oneNETSigned returns the bytes a OneNET signature covers: for a msg sent
// as a JSON string, the string's value (unescaped, as the platform's Java
// demo signs msg.getBytes()); for a msg sent as an object or a list, its raw
// JSON bytes exactly as they appear in the body.
func oneNETSigned(raw json.RawMessage) (signed []byte, isString bool, err error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return nil, false, errors.New("no msg")
	}
	if raw[0] == '"' {
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return nil, false, err
		}
		return []byte(s), true, nil
	}
	return raw, false, nil
}

// OneNETSignature is base64(md5(token + nonce + msg)), OneNET's signature of
// a push and of its URL validation.
func OneNETSignature(token, nonce string, msg []byte) string {
	h := md5.New()
	io.WriteString(h, token)
	io.WriteString(h, nonce)
	h.Write(msg)
	return base64.StdEncoding.EncodeToString(h.Sum(nil))
}

// OneNETSignatureValid compares sig with OneNETSignature in constant time.
// A space in sig is read as '+' (a signature put in a URL unencoded has its
// '+' decoded to spaces), and '=' padding is optional.
func OneNETSignatureValid(token, nonce string, msg []byte, sig string) bool {
	want := strings.TrimRight(OneNETSignature(token, nonce, msg), "=")
	got := strings.TrimRight(strings.ReplaceAll(strings.TrimSpace(sig), " ", "+"), "=")
	return token != "" && auth.SecretEqual(got, want)
}

// OneNETDecrypt decrypts a msg of a push instance in safe mode: base64 of
// AES-CBC with the instance's key as both key and IV, PKCS#7 padding (the
// platform's documented Java example).
func OneNETDecrypt(key []byte, msg string) ([]byte, error) {
	ct, err := base64.StdEncoding.DecodeString(msg)
	if err != nil {
		return nil, fmt.Errorf("not base64: %w", err)
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("aes key: %w", err)
	}
	if len(ct) == 0 || len(ct)%aes.BlockSize != 0 {
		return nil, fmt.Errorf("ciphertext of %d bytes is not a whole number of blocks", len(ct))
	}
	pt := make([]byte, len(ct))
	cipher.NewCBCDecrypter(block, key[:aes.BlockSize]).CryptBlocks(pt, ct)
	n := int(pt[len(pt)-1])
	if n == 0 || n > aes.BlockSize || n > len(pt) {
		return nil, errors.New("bad padding")
	}
	for _, b := range pt[len(pt)-n:] {
		if int(b) != n {
			return nil, errors.New("bad padding")
		}
	}
	return pt[:len(pt)-n], nil
}

// oneNETGroup is the values of one station at one instant.
type oneNETGroup struct {
	st     *registry.Station
	t      time.Time
	values map[string]float64
	units  map[string]string
	from   map[string]string
}

// decodeOneNET turns the (verified, decrypted) msg of a OneNET push into
// readings: one per station and instant. msg is one message or a list of
// them, each either a legacy datapoint (type 1: dev_id, ds_id, value, at ms)
// or a current-platform thing-model property report (messageType notify,
// notifyType property: productId, deviceName, data.params.<id>.{value,
// time}). Lifecycle, event and other messages are counted as ignored.
func (s *PushSource) decodeOneNET(msg, body []byte, now time.Time) pushOutcome {
	bad := func(r *Reject) pushOutcome {
		r.Index, r.Raw = -1, body
		return pushOutcome{res: Result{Rejects: []Reject{*r}}, whole: true}
	}
	p := s.pp.Get()
	defer s.pp.Put(p)
	v, err := p.ParseBytes(msg)
	if err != nil {
		return bad(rejectf(CodeMalformed, "msg", "onenet: msg is not valid JSON: %s", clipS(err.Error())))
	}
	var items []*fastjson.Value
	switch v.Type() {
	case fastjson.TypeObject:
		items = []*fastjson.Value{v}
	case fastjson.TypeArray:
		items, _ = v.Array()
		if len(items) > s.pipe.lim.MaxBatch {
			return bad(rejectf(CodeBadBatch, "msg", "onenet: msg has %d messages, more than the limit of %d", len(items), s.pipe.lim.MaxBatch))
		}
	default:
		return bad(rejectf(CodeMalformed, "msg", "onenet: msg is neither a JSON object nor a list"))
	}
	var (
		groups  []*oneNETGroup
		rejects []Reject
		ignored []string
		station string
		// wholeRefused: the only message was refused as a whole.
		wholeRefused bool
	)
	group := func(st *registry.Station, t time.Time) *oneNETGroup {
		for _, g := range groups {
			if g.st == st && g.t.Equal(t) {
				return g
			}
		}
		g := &oneNETGroup{st: st, t: t, values: map[string]float64{}, units: map[string]string{}, from: map[string]string{}}
		groups = append(groups, g)
		return g
	}
	add := func(st *registry.Station, t time.Time, id string, fv *fastjson.Value, raw []byte) {
		if slices.Contains(s.cfg.OneNET.Ignore, id) {
			return
		}
		fm, ok := s.cfg.OneNET.Streams[id]
		if !ok {
			rejects = append(rejects, Reject{Code: CodeUnknownParam, Field: clipS(id), Station: st.ID, Index: -1, Raw: raw,
				Reason: fmt.Sprintf("onenet: stream %q maps to no parameter (push.onenet.streams)", clipS(id))})
			return
		}
		x, ok := pushNumber(fv)
		if !ok {
			rejects = append(rejects, Reject{Code: CodeNotNumber, Field: clipS(id), Station: st.ID, Index: -1, Raw: raw,
				Reason: fmt.Sprintf("onenet: value of stream %q is %s, not a number", clipS(id), clipS(fmt.Sprint(fv)))})
			return
		}
		g := group(st, t)
		if other, dup := g.from[fm.Param]; dup {
			rejects = append(rejects, Reject{Code: CodeSchema, Field: clipS(id), Station: st.ID, Index: -1, Raw: raw,
				Reason: fmt.Sprintf("onenet: streams %q and %q both map to %q at one instant; kept %q", other, id, fm.Param, other)})
			return
		}
		g.from[fm.Param] = id
		g.values[fm.Param] = x
		if fm.Unit != "" {
			g.units[fm.Param] = fm.Unit
		}
	}
	for i, it := range items {
		raw := msg
		if len(items) > 1 {
			raw = it.MarshalTo(nil)
		}
		refuse := func(r *Reject) {
			r.Index, r.Raw = -1, raw
			if len(items) == 1 {
				wholeRefused = true
			} else {
				r.Reason = fmt.Sprintf("%s (message %d)", r.Reason, i)
			}
			rejects = append(rejects, *r)
		}
		if it.Type() != fastjson.TypeObject {
			refuse(rejectf(CodeMalformed, "msg", "onenet: message is not a JSON object"))
			continue
		}
		switch {
		case it.Exists("type"):
			typ := it.GetInt("type")
			if typ != 1 {
				ignored = append(ignored, "type "+strconv.Itoa(typ))
				continue
			}
			devID := jsonID(it.Get("dev_id"))
			st, ok := s.reg.ByDevice(PlatformOneNET, devID)
			if !ok || devID == "" {
				refuse(rejectf(CodeUnknownStation, "dev_id", "onenet: dev_id %q is not in the station registry", clipS(devID)))
				continue
			}
			station = st.ID
			t, rej := pushTime(it.Get("at"), "at")
			if rej != nil {
				refuse(rej)
				continue
			}
			dsID := string(it.GetStringBytes("ds_id"))
			if dsID == "" {
				refuse(rejectf(CodeSchema, "ds_id", "onenet: datapoint without ds_id"))
				continue
			}
			add(st, t, dsID, it.Get("value"), raw)
		case string(it.GetStringBytes("messageType")) == "notify" && string(it.GetStringBytes("notifyType")) == "property":
			key := jsonID(it.Get("productId")) + "/" + jsonID(it.Get("deviceName"))
			st, ok := s.reg.ByDevice(PlatformOneNET, key)
			if !ok {
				refuse(rejectf(CodeUnknownStation, "deviceName", "onenet: device %q (productId/deviceName) is not in the station registry", clipS(key)))
				continue
			}
			station = st.ID
			params := it.Get("data", "params")
			if params == nil || params.Type() != fastjson.TypeObject {
				refuse(rejectf(CodeSchema, "data.params", `onenet: property report without an object "data.params"`))
				continue
			}
			obj, _ := params.Object()
			obj.Visit(func(k []byte, pv *fastjson.Value) {
				id := string(k)
				t, rej := pushTime(pv.Get("time"), "data.params."+clipS(id)+".time")
				if rej != nil {
					rej.Station, rej.Index, rej.Raw = st.ID, -1, raw
					rejects = append(rejects, *rej)
					return
				}
				add(st, t, id, pv.Get("value"), raw)
			})
		default:
			mt := string(it.GetStringBytes("messageType"))
			if nt := string(it.GetStringBytes("notifyType")); nt != "" {
				mt += "/" + nt
			}
			ignored = append(ignored, "messageType "+clipS(mt))
		}
	}
	if len(groups) == 0 && len(rejects) == 0 {
		return pushOutcome{ignored: strings.Join(ignored, ", ") + " carries no readings"}
	}
	var res Result
	for _, g := range groups {
		r := s.pipe.Normalise(domain.SourcePush, g.st, g.t, g.values, g.units, nil, msg, now)
		res.Readings = append(res.Readings, r.Readings...)
		res.Rejects = append(res.Rejects, r.Rejects...)
	}
	res.Rejects = append(res.Rejects, rejects...)
	for i := range res.Rejects {
		if res.Rejects[i].Raw == nil {
			res.Rejects[i].Raw = msg
		}
	}
	return pushOutcome{res: res, station: station, whole: wholeRefused}
}

// normalise validates decoded values of one station and instant, adding
// the decoder's own rejects (with the push body as their bytes).
func (s *PushSource) normalise(st *registry.Station, t time.Time, values map[string]float64, units map[string]string, rejects []Reject, body []byte, now time.Time) Result {
	var res Result
	if len(values) > 0 {
		res = s.pipe.Normalise(domain.SourcePush, st, t, values, units, nil, body, now)
	} else if len(rejects) == 0 {
		res.Rejects = append(res.Rejects, Reject{Code: CodeNoValues, Station: st.ID, Index: -1, Raw: body, Reason: "push carries no values"})
	}
	for _, r := range rejects {
		r.Station, r.Index, r.Raw = st.ID, -1, body
		res.Rejects = append(res.Rejects, r)
	}
	return res
}

// pushTime reads an observation time: epoch milliseconds (a number or a
// string of digits, as OneNET's legacy "at" sometimes is) or RFC 3339.
func pushTime(v *fastjson.Value, field string) (time.Time, *Reject) {
	if v == nil || v.Type() == fastjson.TypeNull {
		return time.Time{}, rejectf(CodeBadTimestamp, field, "no %q (epoch milliseconds)", field)
	}
	var ms int64
	var err error
	switch v.Type() {
	case fastjson.TypeNumber:
		ms, err = strconv.ParseInt(v.String(), 10, 64)
	case fastjson.TypeString:
		b, _ := v.StringBytes()
		if t, perr := time.Parse(time.RFC3339Nano, string(b)); perr == nil {
			return t, nil
		}
		ms, err = strconv.ParseInt(string(b), 10, 64)
	default:
		err = errors.New("not a number")
	}
	if err != nil || ms <= 0 || ms > 1e14 {
		return time.Time{}, rejectf(CodeBadTimestamp, field, "%s is %s, not epoch milliseconds or RFC 3339", field, clipS(v.String()))
	}
	return time.UnixMilli(ms), nil
}

// pushNumber reads a value: a JSON number, or a string holding one (OneNET
// and CTWing profiles often carry decimals as strings).
func pushNumber(v *fastjson.Value) (float64, bool) {
	if v == nil {
		return 0, false
	}
	switch v.Type() {
	case fastjson.TypeNumber:
		return number(v)
	case fastjson.TypeString:
		b, _ := v.StringBytes()
		f, err := strconv.ParseFloat(strings.TrimSpace(string(b)), 64)
		if err != nil || math.IsInf(f, 0) || math.IsNaN(f) {
			return 0, false
		}
		return f, true
	}
	return 0, false
}

// jsonID is a device or product id given as a string or a number.
func jsonID(v *fastjson.Value) string {
	if v == nil {
		return ""
	}
	switch v.Type() {
	case fastjson.TypeString:
		b, _ := v.StringBytes()
		return string(b)
	case fastjson.TypeNumber:
		return v.String()
	}
	return ""
}

func platformIndex(platform string) int {
	if platform == PlatformOneNET {
		return 1
	}
	return 0
}

// remoteHost is the IP address of the peer (no proxy headers are trusted).
func remoteHost(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

func retryAfter(w http.ResponseWriter, wait time.Duration) {
	w.Header().Set("Retry-After", strconv.Itoa(max(1, int(math.Ceil(wait.Seconds())))))
}

// keyLimiter is a token bucket per key (a source address, a station),
// bounded to max keys. A bucket that has refilled is as good as a new one, so
// full buckets are evicted to make room; when none is full, new keys share
// one overflow bucket, so a flood of new addresses slows only itself.
type keyLimiter struct {
	mu       sync.Mutex
	limit    rate.Limit
	burst    int
	max      int
	m        map[string]*rate.Limiter
	overflow *rate.Limiter
}

func newKeyLimiter(perSec float64, burst, max int) *keyLimiter {
	return &keyLimiter{limit: rate.Limit(perSec), burst: burst, max: max,
		m: make(map[string]*rate.Limiter), overflow: rate.NewLimiter(rate.Limit(perSec), burst)}
}

// allow takes a token for key at now; when there is none it returns false
// and how long until there will be.
func (l *keyLimiter) allow(key string, now time.Time) (bool, time.Duration) {
	l.mu.Lock()
	lim, ok := l.m[key]
	if !ok {
		if len(l.m) >= l.max {
			for k, b := range l.m {
				if b.TokensAt(now) >= float64(l.burst) {
					delete(l.m, k)
				}
			}
		}
		if len(l.m) < l.max {
			lim = rate.NewLimiter(l.limit, l.burst)
			l.m[key] = lim
		} else {
			lim = l.overflow
		}
	}
	l.mu.Unlock()
	if lim.AllowN(now, 1) {
		return true, 0
	}
	r := lim.ReserveN(now, 1)
	d := r.DelayFrom(now)
	r.CancelAt(now)
	return false, d
}

// pushMetrics are the endpoint's collectors; labels are bounded (two
// platforms, a fixed result vocabulary).
type pushMetrics struct {
	requests *prometheus.CounterVec
	seconds  *prometheus.HistogramVec
}

func newPushMetrics(reg prometheus.Registerer) (*pushMetrics, error) {
	m := &pushMetrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "qingliu_push_requests_total",
			Help: "NB-IoT platform push requests, by platform and result (stored, quarantined, ignored, handshake, bad_request, unknown, unauthorized, forbidden, too_large, rate_limited, unavailable).",
		}, []string{"platform", "result"}),
		seconds: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "qingliu_push_request_seconds",
			Help:    "Time to answer a push request (for stored pushes: until JetStream stored them).",
			Buckets: []float64{0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5},
		}, []string{"platform"}),
	}
	for _, c := range []prometheus.Collector{m.requests, m.seconds} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("push: register metrics: %w", err)
		}
	}
	return m, nil
}
