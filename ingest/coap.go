package ingest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	dtlsServer "github.com/plgd-dev/go-coap/v3/dtls/server"
	"github.com/plgd-dev/go-coap/v3/message"
	"github.com/plgd-dev/go-coap/v3/message/codes"
	"github.com/plgd-dev/go-coap/v3/message/pool"
	coapNet "github.com/plgd-dev/go-coap/v3/net"
	"github.com/plgd-dev/go-coap/v3/net/responsewriter"
	"github.com/plgd-dev/go-coap/v3/options/config"
	udpClient "github.com/plgd-dev/go-coap/v3/udp/client"
	udpServer "github.com/plgd-dev/go-coap/v3/udp/server"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/qingliu/qingliu/domain"
)

// Defaults of CoAPConfig.
const (
	DefaultCoAPListen           = "127.0.0.1:5683"
	DefaultCoAPMaxPayload       = 16 << 10
	DefaultCoAPRatePerSec       = 5
	DefaultCoAPBurst            = 20
	DefaultCoAPAckTimeout       = 5 * time.Second
	DefaultCoAPMaxPending       = 8
	DefaultCoAPMaxPeers         = 4096
	DefaultCoAPShutdownTimeout  = 5 * time.Second
	DefaultCoAPMaxHandshakes    = 64
	DefaultCoAPHandshakeTimeout = 20 * time.Second
)

// CoAPPathPrefix is the resource under which a station posts its readings:
// POST /qingliu/v1/<station>.
const CoAPPathPrefix = "qingliu/v1/"

// CoAPConfig configures the CoAP endpoint. Zero values take the defaults.
type CoAPConfig struct {
	// Listen is the UDP address, default 127.0.0.1:5683; "-" serves CoAP
	// over DTLS only.
	Listen string
	// DTLSListen, when set, is the UDP address of CoAP over DTLS (RFC 7252
	// §9, port 5684) in PSK mode: the device's PSK identity is a station id
	// and its key is PSKs[id]. Requests over DTLS get the same handling and
	// limits, and may post only to their own station's path.
	DTLSListen string
	// PSKs are the stations' DTLS pre-shared keys by station id.
	PSKs map[string][]byte
	// MaxHandshakes bounds the DTLS handshakes in progress; one beyond it
	// fails at once.
	MaxHandshakes int
	// HandshakeTimeout bounds one DTLS handshake.
	HandshakeTimeout time.Duration
	// MaxPayload bounds a request body (after block-wise reassembly) in
	// bytes; a larger one is answered 4.13 with Size1.
	MaxPayload int
	// RatePerSec and Burst are the token bucket per source IP address,
	// answered 4.29 Too Many Requests (RFC 8516) with Max-Age beyond.
	RatePerSec float64
	Burst      int
	// MaxPending bounds the requests of one peer (address and port) queued
	// or waiting for JetStream. Further requests are dropped unanswered
	// before they are queued, so the server's single read loop never waits
	// on one peer; a confirmable request is retransmitted by the client.
	MaxPending int
	// MaxPeers bounds the peers the server keeps state for; datagrams from
	// new peers beyond it are dropped.
	MaxPeers int
	// AckTimeout bounds the wait for JetStream before a 5.03 answer.
	AckTimeout time.Duration
	// ShutdownTimeout bounds how long requests in flight get to be stored
	// once Run's context is done.
	ShutdownTimeout time.Duration
}

func (c CoAPConfig) withDefaults() CoAPConfig {
	if c.Listen == "" {
		c.Listen = DefaultCoAPListen
	}
	if c.MaxPayload <= 0 {
		c.MaxPayload = DefaultCoAPMaxPayload
	}
	if c.RatePerSec <= 0 {
		c.RatePerSec = DefaultCoAPRatePerSec
	}
	if c.Burst <= 0 {
		c.Burst = DefaultCoAPBurst
	}
	if c.MaxPending <= 0 {
		c.MaxPending = DefaultCoAPMaxPending
	}
	if c.MaxPeers <= 0 {
		c.MaxPeers = DefaultCoAPMaxPeers
	}
	if c.AckTimeout <= 0 {
		c.AckTimeout = DefaultCoAPAckTimeout
	}
	if c.ShutdownTimeout <= 0 {
		c.ShutdownTimeout = DefaultCoAPShutdownTimeout
	}
	if c.MaxHandshakes <= 0 {
		c.MaxHandshakes = DefaultCoAPMaxHandshakes
	}
	if c.HandshakeTimeout <= 0 {
		c.HandshakeTimeout = DefaultCoAPHandshakeTimeout
	}
	return c
}

// CoAPSource is the CoAP (RFC 7252) endpoint over UDP for NB-IoT devices
// that post our JSON or SenML payloads to /qingliu/v1/<station>. The answer
// is sent only after JetStream has stored what the payload became: 2.04
// Changed for readings, 4.00 with a diagnostic payload for a refused payload
// and 4.04 for an unknown station (both quarantined first), 5.03 when it was
// not stored in time. For a confirmable request the answer is the
// piggybacked ACK, so the device's ACK arrives only after the readings are
// in JetStream (go-coap sends no early empty ACK; retransmissions that
// arrive meanwhile are recognised as duplicates and dropped). With
// DTLSListen the same endpoint also serves CoAP over DTLS with a PSK per
// station; a request there for another station's path is answered 4.03.
type CoAPSource struct {
	cfg  CoAPConfig
	pipe *Pipeline
	pub  *Publisher
	log  *slog.Logger
	now  func() time.Time
	m    *coapMetrics
	lim  *keyLimiter
	srv  *udpServer.Server  // nil when Listen is "-"
	dsrv *dtlsServer.Server // nil without DTLSListen
	// handshakes holds a token per DTLS handshake in progress.
	handshakes chan struct{}

	peersMu sync.Mutex
	peers   map[*udpClient.Conn]*coapPeer

	mu       sync.Mutex
	closing  bool
	inflight sync.WaitGroup
	hard     context.Context
	stopHard context.CancelFunc
	// wg joins the periodic runner the server starts.
	wg       sync.WaitGroup
	stopTick chan struct{}

	ln      *coapNet.UDPConn
	addr    string
	dln     *coapNet.DTLSListener
	daddr   string
	running atomic.Bool
	started atomic.Bool
}

// coapPeer is the requests of one peer admitted and not yet finished.
type coapPeer struct {
	// identity is the station a DTLS peer authenticated as; empty over
	// plain UDP.
	identity string

	mu   sync.Mutex
	mids map[int32]struct{}
}

// NewCoAPSource builds the endpoint; Listen binds it and Run serves. now is
// the ingest clock.
func NewCoAPSource(cfg CoAPConfig, pipe *Pipeline, pub *Publisher, promReg prometheus.Registerer, log *slog.Logger, now func() time.Time) (*CoAPSource, error) {
	cfg = cfg.withDefaults()
	m, err := newCoAPMetrics(promReg)
	if err != nil {
		return nil, err
	}
	hard, stopHard := context.WithCancel(context.Background())
	s := &CoAPSource{
		cfg: cfg, pipe: pipe, pub: pub, log: log, now: now, m: m,
		lim:      newKeyLimiter(cfg.RatePerSec, cfg.Burst, cfg.MaxPeers),
		peers:    map[*udpClient.Conn]*coapPeer{},
		hard:     hard,
		stopHard: stopHard,
		stopTick: make(chan struct{}),
		addr:     cfg.Listen,
		daddr:    cfg.DTLSListen,
	}
	if cfg.Listen != "-" {
		s.srv = udpServer.New(coapOption(func(c *udpServer.Config) {
			c.Handler = s.handle
			c.Errors = func(err error) { s.log.Debug("coap protocol error", "err", err) }
			c.MaxMessageSize = uint32(cfg.MaxPayload + 1024)
			c.RequestMonitor = s.admitDatagram
			c.ProcessReceivedMessage = s.process
			// Room for the admitted requests plus pings, which are not counted.
			c.ReceivedMessageQueueSize = 2*cfg.MaxPending + 4
			c.OnNewConn = func(cc *udpClient.Conn) { s.newPeer(cc, "") }
			c.PeriodicRunner = s.periodic
		}))
	}
	if cfg.DTLSListen != "" {
		if len(cfg.PSKs) == 0 {
			return nil, errors.New("coap: dtls_listen is set but no station has a coap psk")
		}
		s.handshakes = make(chan struct{}, cfg.MaxHandshakes)
		s.dsrv = s.newDTLSServer()
	}
	if s.srv == nil && s.dsrv == nil {
		return nil, errors.New("coap: neither a UDP nor a DTLS listen address")
	}
	return s, nil
}

// coapOption sets fields of the go-coap UDP server configuration.
type coapOption func(*udpServer.Config)

func (o coapOption) UDPServerApply(c *udpServer.Config) { o(c) }

// Listen binds the UDP socket and the DTLS one, so that a port in use is
// one clear error at start-up. Run calls it when it has not been called.
func (s *CoAPSource) Listen() error {
	if s.srv != nil && s.ln == nil {
		ln, err := coapNet.NewListenUDP("udp", s.cfg.Listen)
		if err != nil {
			return fmt.Errorf("coap: listen on udp %s: %w", s.cfg.Listen, err)
		}
		s.ln, s.addr = ln, ln.LocalAddr().String()
	}
	if s.dsrv != nil && s.dln == nil {
		ln, err := s.listenDTLS()
		if err != nil {
			return err
		}
		s.dln, s.daddr = ln, ln.Addr().String()
	}
	return nil
}

// Addr is the bound UDP address once Listen succeeded, else the configured
// one.
func (s *CoAPSource) Addr() string { return s.addr }

// DTLSAddr is the bound DTLS address once Listen succeeded, else the
// configured one.
func (s *CoAPSource) DTLSAddr() string { return s.daddr }

// Ready reports whether the endpoint is serving.
func (s *CoAPSource) Ready() error {
	if s.running.Load() {
		return nil
	}
	return fmt.Errorf("coap %s: not serving", s.addrs())
}

func (s *CoAPSource) addrs() string {
	switch {
	case s.srv == nil:
		return "dtls " + s.daddr
	case s.dsrv == nil:
		return s.addr
	}
	return s.addr + ", dtls " + s.daddr
}

// Run serves until ctx is done. Then requests still arriving are answered
// 5.03, those in flight get ShutdownTimeout to be stored and answered, the
// server stops and Run returns after the goroutines it started have exited
// (go-coap's per-peer goroutines end with their connections, which Stop
// closes). Run may be called once.
func (s *CoAPSource) Run(ctx context.Context) error {
	if !s.started.CompareAndSwap(false, true) {
		return errors.New("coap: Run called twice")
	}
	defer s.stopHard()
	if err := s.Listen(); err != nil {
		return err
	}
	errc := make(chan error, 2)
	var serve sync.WaitGroup
	if s.srv != nil {
		serve.Go(func() {
			if err := s.srv.Serve(s.ln); err != nil {
				errc <- fmt.Errorf("coap: serve on %s: %w", s.addr, err)
			}
		})
	}
	if s.dsrv != nil {
		serve.Go(func() {
			if err := s.dsrv.Serve(dtlsListener{s.dln, s}); err != nil {
				errc <- fmt.Errorf("coap: serve dtls on %s: %w", s.daddr, err)
			}
		})
	}
	s.running.Store(true)
	s.log.Info("coap listening", "addr", s.addr, "dtls_addr", s.daddr, "max_payload", s.cfg.MaxPayload)
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
	s.inflight.Wait()
	timer.Stop()
	if s.srv != nil {
		s.srv.Stop()
	}
	if s.dsrv != nil {
		s.dsrv.Stop()
	}
	serve.Wait()
	close(s.stopTick)
	s.wg.Wait()
	if s.ln != nil {
		s.ln.Close()
	}
	if s.dln != nil {
		s.dln.Close()
	}
	return err
}

// periodic runs go-coap's expiry checks in a goroutine Run joins.
func (s *CoAPSource) periodic(f func(now time.Time) bool) {
	s.wg.Go(func() {
		t := time.NewTicker(2 * time.Second)
		defer t.Stop()
		for {
			select {
			case now := <-t.C:
				if !f(now) {
					return
				}
			case <-s.stopTick:
				return
			}
		}
	})
}

// newPeer keeps state for a new peer, authenticated as station identity
// over DTLS, or closes it at once when MaxPeers peers are known.
func (s *CoAPSource) newPeer(cc *udpClient.Conn, identity string) {
	s.peersMu.Lock()
	full := len(s.peers) >= s.cfg.MaxPeers
	if !full {
		s.peers[cc] = &coapPeer{identity: identity, mids: map[int32]struct{}{}}
	}
	n := len(s.peers)
	s.peersMu.Unlock()
	if full {
		s.m.dropped.WithLabelValues("max_peers").Inc()
		_ = cc.Close()
		return
	}
	s.m.peers.Set(float64(n))
	cc.AddOnClose(func() {
		s.peersMu.Lock()
		delete(s.peers, cc)
		n := len(s.peers)
		s.peersMu.Unlock()
		s.m.peers.Set(float64(n))
	})
}

func (s *CoAPSource) peer(cc *udpClient.Conn) *coapPeer {
	s.peersMu.Lock()
	defer s.peersMu.Unlock()
	return s.peers[cc]
}

// admitDatagram runs in the server's read loop for every parsed message,
// before it is queued for the peer's handler goroutine. It drops what a
// server has no use for (responses, acknowledgements, resets) and requests
// beyond the peer's MaxPending, so that queueing never blocks the read loop
// and one peer cannot starve the others.
func (s *CoAPSource) admitDatagram(cc *udpClient.Conn, req *pool.Message) (drop bool, err error) {
	typ, code := req.Type(), req.Code()
	if code == codes.Empty {
		// A ping (confirmable empty message) is answered with a reset inline.
		return typ != message.Confirmable, nil
	}
	if (typ != message.Confirmable && typ != message.NonConfirmable) || code >= 32 {
		s.m.dropped.WithLabelValues("not_request").Inc()
		return true, nil
	}
	p := s.peer(cc)
	if p == nil {
		s.m.dropped.WithLabelValues("max_peers").Inc()
		return true, nil
	}
	mid := req.MessageID()
	p.mu.Lock()
	defer p.mu.Unlock()
	if _, dup := p.mids[mid]; dup {
		// A retransmission of a request in flight: go-coap drops it.
		return false, nil
	}
	if len(p.mids) >= s.cfg.MaxPending {
		s.m.dropped.WithLabelValues("overload").Inc()
		return true, nil
	}
	p.mids[mid] = struct{}{}
	return false, nil
}

// process wraps go-coap's handling of one queued message to release its
// admission when it is done (answered from the response cache or by handle).
func (s *CoAPSource) process(req *pool.Message, cc *udpClient.Conn, handler config.HandlerFunc[*udpClient.Conn]) {
	mid := req.MessageID()
	defer func() {
		if p := s.peer(cc); p != nil {
			p.mu.Lock()
			delete(p.mids, mid)
			p.mu.Unlock()
		}
	}()
	cc.ProcessReceivedMessageWithHandler(req, handler)
}

// Results of a CoAP request (qingliu_coap_requests_total{result}).
const (
	coapStored         = "stored"          // 2.04
	coapRejected       = "rejected"        // 4.00, quarantined
	coapUnknownStation = "unknown_station" // 4.04, quarantined
	coapNotFound       = "not_found"       // 4.04: not a /qingliu/v1/<station> path
	coapForbidden      = "forbidden"       // 4.03: DTLS peer posting for another station
	coapMethod         = "bad_method"      // 4.05
	coapFormat         = "bad_format"      // 4.15
	coapTooLarge       = "too_large"       // 4.13
	coapRateLimited    = "rate_limited"    // 4.29
	coapUnavailable    = "unavailable"     // 5.03
)

// handle answers one request; go-coap sends the answer when it returns.
func (s *CoAPSource) handle(w *responsewriter.ResponseWriter[*udpClient.Conn], r *pool.Message) {
	start := time.Now()
	reply := func(result string, code codes.Code, diag string, opts ...message.Option) {
		var body io.ReadSeeker
		if diag != "" {
			if len(diag) > 256 {
				diag = diag[:256]
			}
			body = bytes.NewReader([]byte(diag))
		}
		if err := w.SetResponse(code, message.TextPlain, body, opts...); err != nil {
			s.log.Debug("coap response not set", "err", err)
		}
		s.m.requests.WithLabelValues(result).Inc()
		s.m.seconds.Observe(time.Since(start).Seconds())
	}
	if !s.enter() {
		reply(coapUnavailable, codes.ServiceUnavailable, "ingest is stopping", maxAge(5*time.Second))
		return
	}
	defer s.inflight.Done()
	path, _ := r.Path()
	station, ok := strings.CutPrefix(strings.TrimPrefix(path, "/"), CoAPPathPrefix)
	if !ok || strings.Contains(station, "/") {
		reply(coapNotFound, codes.NotFound, "post readings to /qingliu/v1/<station>")
		return
	}
	if r.Code() != codes.POST {
		reply(coapMethod, codes.MethodNotAllowed, "use POST")
		return
	}
	if !validStationID(station) {
		reply(coapNotFound, codes.NotFound, "station id is not [A-Za-z0-9_-]{1,64}")
		return
	}
	if id, secure := s.identity(w.Conn()); secure && id != station {
		reply(coapForbidden, codes.Forbidden, "this DTLS identity may post only to /qingliu/v1/<identity>")
		return
	}
	remote := w.Conn().RemoteAddr()
	host := remote.String()
	if ua, isUDP := remote.(*net.UDPAddr); isUDP {
		host = ua.IP.String()
	}
	if ok, wait := s.lim.allow(host, time.Now()); !ok {
		reply(coapRateLimited, codes.TooManyRequests, "too many requests from this address", maxAge(wait))
		return
	}
	format := FormatJSON
	if cf, err := r.ContentFormat(); err == nil {
		switch cf {
		case message.AppJSON:
		case message.AppSenmlJSON:
			format = FormatSenML
		default:
			reply(coapFormat, codes.UnsupportedMediaType, "content-format must be application/json (50) or application/senml+json (110)")
			return
		}
	}
	if n, err := r.BodySize(); err == nil && n > int64(s.cfg.MaxPayload) {
		reply(coapTooLarge, codes.RequestEntityTooLarge, fmt.Sprintf("payload is larger than %d bytes", s.cfg.MaxPayload),
			message.Option{ID: message.Size1, Value: uintOpt(uint32(s.cfg.MaxPayload))})
		return
	}
	var payload []byte
	if b := r.Body(); b != nil {
		var err error
		if payload, err = io.ReadAll(io.LimitReader(b, int64(s.cfg.MaxPayload)+1)); err != nil {
			reply(coapRejected, codes.BadRequest, "cannot read payload")
			return
		}
	}
	res := s.pipe.Process(domain.SourceCoAP, station, format, payload, s.now())

	ctx, cancel := context.WithTimeout(context.Background(), s.cfg.AckTimeout)
	defer cancel()
	stop := context.AfterFunc(s.hard, cancel)
	defer stop()
	done := make(chan error, 1)
	s.pub.Submit(ctx, res, Meta{Source: domain.SourceCoAP, Decoder: format, Topic: "/" + CoAPPathPrefix + station}, func(err error) { done <- err })
	select {
	case err := <-done:
		if err != nil {
			s.log.Debug("coap payload not stored", "station", station, "err", err)
			reply(coapUnavailable, codes.ServiceUnavailable, "not stored; retry", maxAge(5*time.Second))
			return
		}
	case <-ctx.Done():
		reply(coapUnavailable, codes.ServiceUnavailable, "not stored in time; retry", maxAge(5*time.Second))
		return
	}
	switch {
	case len(res.Readings) > 0:
		diag := ""
		if len(res.Rejects) > 0 {
			diag = fmt.Sprintf("%d refused: %s", len(res.Rejects), res.Rejects[0].Error())
		}
		reply(coapStored, codes.Changed, diag)
	case len(res.Rejects) > 0 && res.Rejects[0].Code == CodeUnknownStation:
		reply(coapUnknownStation, codes.NotFound, res.Rejects[0].Error())
	case len(res.Rejects) > 0:
		reply(coapRejected, codes.BadRequest, res.Rejects[0].Error())
	default:
		reply(coapRejected, codes.BadRequest, "payload carries no readings")
	}
}

func (s *CoAPSource) enter() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closing || !s.running.Load() {
		return false
	}
	s.inflight.Add(1)
	return true
}

// maxAge is a Max-Age option of d rounded up to whole seconds.
func maxAge(d time.Duration) message.Option {
	return message.Option{ID: message.MaxAge, Value: uintOpt(uint32(max(1, math.Ceil(d.Seconds()))))}
}

// uintOpt encodes a CoAP uint option value (RFC 7252 §3.2: shortest form).
func uintOpt(v uint32) []byte {
	buf := make([]byte, 4)
	n, _ := message.EncodeUint32(buf, v)
	return buf[:n]
}

// coapMetrics are the endpoint's collectors; no label carries a station or
// an address.
type coapMetrics struct {
	requests   *prometheus.CounterVec
	handshakes *prometheus.CounterVec
	dropped    *prometheus.CounterVec
	peers      prometheus.Gauge
	seconds    prometheus.Histogram
}

func newCoAPMetrics(reg prometheus.Registerer) (*coapMetrics, error) {
	m := &coapMetrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "qingliu_coap_requests_total",
			Help: "CoAP requests answered, by result (stored, rejected, unknown_station, not_found, forbidden, bad_method, bad_format, too_large, rate_limited, unavailable).",
		}, []string{"result"}),
		handshakes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "qingliu_coap_dtls_handshakes_total",
			Help: "CoAP DTLS handshakes, by result (ok; unknown_identity: no station has that PSK identity; rate_limited: the source address's token bucket was empty; overload: MaxHandshakes in progress; timeout, which is also how a wrong key shows: the server cannot decrypt the client's Finished and discards it; failed: anything else).",
		}, []string{"result"}),
		dropped: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "qingliu_coap_dropped_total",
			Help: "CoAP datagrams dropped unanswered, by reason (overload: a peer's MaxPending reached; not_request; max_peers).",
		}, []string{"reason"}),
		peers: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "qingliu_coap_peers", Help: "CoAP peers (address and port) the server keeps state for.",
		}),
		seconds: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "qingliu_coap_request_seconds",
			Help:    "Time to answer a CoAP request (for stored payloads: until JetStream stored them).",
			Buckets: []float64{0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5},
		}),
	}
	for _, c := range []prometheus.Collector{m.requests, m.handshakes, m.dropped, m.peers, m.seconds} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("coap: register metrics: %w", err)
		}
	}
	return m, nil
}
