package ingest

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/time/rate"

	"github.com/qingliu/qingliu/domain"
	"github.com/qingliu/qingliu/ingest/hj212"
	"github.com/qingliu/qingliu/internal/auth"
	"github.com/qingliu/qingliu/internal/netx"
	"github.com/qingliu/qingliu/registry"
)

// Reasons the HJ 212 listener quarantines input, beside the shared codes
// (CodeUnknownStation, CodeTooLarge, CodeMalformed, CodeUnknownParam …).
const (
	CodeGarbage     Code = "garbage"          // bytes outside any HJ 212 frame
	CodeTruncated   Code = "truncated"        // an HJ 212 frame cut short
	CodeBadCRC      Code = "bad_crc"          // HJ 212 CRC does not verify
	CodeBadLength   Code = "bad_length"       // HJ 212 length field does not match
	CodeBadPassword Code = "bad_password"     // HJ 212 PW does not match the registry
	CodeSplit       Code = "split_incomplete" // HJ 212 split transfer not completed or not joinable
)

// Defaults of HJ212Config.
const (
	DefaultHJ212Listen            = "127.0.0.1:9212"
	DefaultHJ212MaxConns          = 1024
	DefaultHJ212IdleTimeout       = 5 * time.Minute
	DefaultHJ212WriteTimeout      = 10 * time.Second
	DefaultHJ212RatePerSec        = 50
	DefaultHJ212Burst             = 200
	DefaultHJ212FloodTimeout      = time.Minute
	DefaultHJ212MaxPending        = 64
	DefaultHJ212ReassemblyTimeout = 2 * time.Minute
	DefaultHJ212MaxSplits         = 256
	DefaultHJ212MaxSplitParts     = 64
	DefaultHJ212ShutdownTimeout   = 5 * time.Second
)

// DefaultHJ212Series returns the data series published to READINGS when
// HJ212Config.Series is empty: all of them. Each reading is timestamped at
// DataTime (the sampling instant for 2011, the start of the period for 2051,
// 2061 and 2031) and carries its domain.Interval, which the writer stores as
// the InfluxDB tag interval, so the series of one station never overwrite
// each other.
func DefaultHJ212Series() []hj212.Series {
	return []hj212.Series{hj212.Realtime, hj212.Minute, hj212.Hourly, hj212.Daily}
}

// intervalOf is the interval the readings of series s carry.
func intervalOf(s hj212.Series) domain.Interval {
	switch s {
	case hj212.Minute:
		return domain.IntervalMinute
	case hj212.Hourly:
		return domain.IntervalHour
	case hj212.Daily:
		return domain.IntervalDay
	}
	return domain.IntervalInstant
}

// ParseHJ212Series maps configuration names (realtime, minute, hourly, daily)
// to series.
func ParseHJ212Series(names []string) ([]hj212.Series, error) {
	out := make([]hj212.Series, 0, len(names))
	for _, n := range names {
		var s hj212.Series
		switch n {
		case "realtime":
			s = hj212.Realtime
		case "minute":
			s = hj212.Minute
		case "hourly":
			s = hj212.Hourly
		case "daily":
			s = hj212.Daily
		default:
			return nil, fmt.Errorf("hj212 series %q: want realtime, minute, hourly or daily", n)
		}
		if !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	return out, nil
}

// HJ212Config configures the HJ 212 TCP listener. Zero values take the
// defaults above.
type HJ212Config struct {
	// Listen is the TCP address, default 127.0.0.1:9212.
	Listen string
	// MaxConns bounds concurrent connections; one more is accepted and
	// closed at once (counted as a max_conns refusal).
	MaxConns int
	// MaxFrame is the largest frame, ## through CR LF (hj212.DefaultMaxFrame).
	MaxFrame int
	// IdleTimeout: a connection is closed when no complete frame arrives for
	// this long after the previous one (idle and slow clients alike).
	IdleTimeout time.Duration
	// WriteTimeout bounds writing one reply.
	WriteTimeout time.Duration
	// RatePerSec and Burst are the per-connection token bucket, one token per
	// frame (or chunk of garbage). A faster client is read more slowly.
	RatePerSec float64
	Burst      int
	// FloodTimeout: a connection that is throttled on every frame for this
	// long is disconnected (counted as a flood refusal).
	FloodTimeout time.Duration
	// MaxPending bounds the frames of one connection waiting for JetStream
	// and their replies; the connection is not read while it is full.
	MaxPending int
	// ReassemblyTimeout is how long the parts of a split transfer (PNUM/PNO)
	// wait for the rest; MaxSplits and MaxSplitParts bound the transfers in
	// progress (all connections together) and the parts of one.
	ReassemblyTimeout time.Duration
	MaxSplits         int
	MaxSplitParts     int
	// ShutdownTimeout bounds how long in-flight frames get to be stored and
	// acknowledged once Run's context is done.
	ShutdownTimeout time.Duration
	// TLSCert and TLSKey are PEM files; when set, the listener speaks TLS.
	TLSCert, TLSKey string
	// Series are the data series whose readings go to READINGS (default
	// DefaultHJ212Series(): all). Uploads of other series are acknowledged
	// and counted as skipped.
	Series []hj212.Series
}

func (c HJ212Config) withDefaults() HJ212Config {
	if c.Listen == "" {
		c.Listen = DefaultHJ212Listen
	}
	if c.MaxConns <= 0 {
		c.MaxConns = DefaultHJ212MaxConns
	}
	if c.MaxFrame <= 0 {
		c.MaxFrame = hj212.DefaultMaxFrame
	}
	if c.IdleTimeout <= 0 {
		c.IdleTimeout = DefaultHJ212IdleTimeout
	}
	if c.WriteTimeout <= 0 {
		c.WriteTimeout = DefaultHJ212WriteTimeout
	}
	if c.RatePerSec <= 0 {
		c.RatePerSec = DefaultHJ212RatePerSec
	}
	if c.Burst <= 0 {
		c.Burst = DefaultHJ212Burst
	}
	if c.FloodTimeout <= 0 {
		c.FloodTimeout = DefaultHJ212FloodTimeout
	}
	if c.MaxPending <= 0 {
		c.MaxPending = DefaultHJ212MaxPending
	}
	if c.ReassemblyTimeout <= 0 {
		c.ReassemblyTimeout = DefaultHJ212ReassemblyTimeout
	}
	if c.MaxSplits <= 0 {
		c.MaxSplits = DefaultHJ212MaxSplits
	}
	if c.MaxSplitParts <= 0 {
		c.MaxSplitParts = DefaultHJ212MaxSplitParts
	}
	if c.ShutdownTimeout <= 0 {
		c.ShutdownTimeout = DefaultHJ212ShutdownTimeout
	}
	if len(c.Series) == 0 {
		c.Series = DefaultHJ212Series()
	}
	return c
}

// HJ212Stations is what the HJ 212 listener needs of the station registry.
type HJ212Stations interface {
	ByMN(mn string) (*registry.Station, bool)
}

// HJ212Source is the HJ 212-2017 TCP listener for dataloggers (数采仪). It
// reads frames robustly from each connection, checks CRC and length, MN and
// password against the registry, reassembles split transfers, turns data
// uploads into readings through the Pipeline and hands them to the
// Publisher. A 9014 data acknowledgement goes back only after JetStream has
// stored what the frame became, so a device that gets no ack resends;
// protocol errors get a 9011 refusal, and everything refused goes to
// QUARANTINE with a reason and the frame (its password masked).
type HJ212Source struct {
	cfg  HJ212Config
	h    *hj212Handler
	pub  *Publisher
	m    *hj212Metrics
	log  *slog.Logger
	tls  *tls.Config
	ln   net.Listener
	addr string

	running atomic.Bool
	started atomic.Bool
}

// NewHJ212Source builds the listener; Listen binds it and Run serves. now is
// the ingest clock (reading validation, 1012 time replies, reassembly
// timeouts). It fails when the configuration is inconsistent or the metrics
// cannot be registered.
func NewHJ212Source(cfg HJ212Config, reg HJ212Stations, pipe *Pipeline, pub *Publisher, promReg prometheus.Registerer, log *slog.Logger, now func() time.Time) (*HJ212Source, error) {
	cfg = cfg.withDefaults()
	if (cfg.TLSCert == "") != (cfg.TLSKey == "") {
		return nil, errors.New("hj212: give both a TLS certificate and a key, or neither")
	}
	m, err := newHJ212Metrics(promReg)
	if err != nil {
		return nil, err
	}
	h := newHJ212Handler(reg, pipe, cfg, now)
	return &HJ212Source{cfg: cfg, h: h, pub: pub, m: m, log: log, addr: cfg.Listen}, nil
}

// Listen binds the listening socket (and loads the TLS certificate), so that
// a port in use or a bad certificate is one clear error at start-up. Run
// calls it when it has not been called.
func (s *HJ212Source) Listen() error {
	if s.ln != nil {
		return nil
	}
	ln, tc, err := listen("hj212", s.cfg.Listen, s.cfg.TLSCert, s.cfg.TLSKey)
	if err != nil {
		return err
	}
	s.ln, s.tls, s.addr = ln, tc, ln.Addr().String()
	return nil
}

// Addr is the bound address once Listen succeeded, else the configured one.
func (s *HJ212Source) Addr() string { return s.addr }

// Ready reports whether the listener is accepting connections.
func (s *HJ212Source) Ready() error {
	if s.running.Load() {
		return nil
	}
	return fmt.Errorf("hj212 %s: not accepting connections", s.addr)
}

// Run accepts connections until ctx is done. Then it stops accepting and
// reading, gives the frames already read ShutdownTimeout to be stored and
// acknowledged, closes every connection and returns after every goroutine it
// started has exited. Run may be called once.
func (s *HJ212Source) Run(ctx context.Context) error {
	if !s.started.CompareAndSwap(false, true) {
		return errors.New("hj212: Run called twice")
	}
	if err := s.Listen(); err != nil {
		return err
	}
	// soft stops accepting and reading; hard abandons what is still in
	// flight and closes the connections.
	soft, stopSoft := context.WithCancel(ctx)
	defer stopSoft()
	hard, stopHard := context.WithCancel(context.WithoutCancel(ctx))
	defer stopHard()

	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		s.janitor(soft, hard)
	}()
	s.running.Store(true)
	s.log.Info("hj212 listening", "addr", s.addr, "tls", s.tls != nil)
	err := s.accept(soft, hard, &wg)
	s.running.Store(false)
	stopSoft()
	timer := time.AfterFunc(s.cfg.ShutdownTimeout, stopHard)
	wg.Wait()
	timer.Stop()
	return err
}

// accept runs the accept loop until soft is done or accepting fails for
// good.
func (s *HJ212Source) accept(soft, hard context.Context, wg *sync.WaitGroup) error {
	ln := s.ln
	if s.tls != nil {
		ln = tls.NewListener(ln, s.tls)
	}
	l := netx.Limited{Name: "hj212", MaxConns: s.cfg.MaxConns, Log: s.log,
		Refused: func() { s.m.refusals.WithLabelValues("max_conns").Inc() }}
	return l.Accept(soft, ln, wg, func(conn net.Conn, release func()) { s.serve(soft, hard, conn, release) })
}

// janitor quarantines split transfers that did not complete in time, and
// those still incomplete at shutdown.
func (s *HJ212Source) janitor(soft, hard context.Context) {
	every := min(max(s.cfg.ReassemblyTimeout/4, 50*time.Millisecond), 30*time.Second)
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-t.C:
			s.flushSplits(hard, s.h.expire(s.h.now(), false))
		case <-soft.Done():
			s.flushSplits(hard, s.h.expire(s.h.now(), true))
			return
		}
	}
}

func (s *HJ212Source) flushSplits(hard context.Context, res Result) {
	s.m.splits.Set(float64(s.h.splitsInProgress()))
	if len(res.Rejects) == 0 {
		return
	}
	s.m.frames.WithLabelValues("none", "split_expired").Add(float64(len(res.Rejects)))
	s.pub.Submit(hard, res, Meta{Source: domain.SourceHJ212, Decoder: FormatHJ212, Topic: "hj212"}, func(error) {})
}

// Disconnect reasons (qingliu_hj212_disconnects_total{reason}).
const (
	discEOF      = "eof"      // the device closed the connection
	discIdle     = "idle"     // no frame within IdleTimeout
	discFlood    = "flood"    // throttled for longer than FloodTimeout
	discWrite    = "write"    // a reply could not be written in time
	discError    = "error"    // a read error
	discShutdown = "shutdown" // the listener is stopping
	discTLS      = "tls"      // the TLS handshake failed
)

// aLongTimeAgo is a read deadline in the past: it unblocks a pending Read.
var aLongTimeAgo = time.Unix(1, 0)

// hj212Conn is one datalogger connection: a read loop (the serve
// goroutine) and a write loop that sends replies in frame order, each when
// its frame's JetStream publish has completed.
type hj212Conn struct {
	s       *HJ212Source
	conn    net.Conn
	remote  string
	meta    Meta
	replies chan *hj212Reply
	logged  map[string]bool // refusal reasons already logged at warn level
}

// hj212Reply is the reply to one frame (or nothing, for a frame that only
// holds a place in the bounded window). When the frame was submitted, ready
// receives one value once its publish has completed; a nil ready means the
// reply may be sent at once. (ready is signalled by a send, not closed: a
// test file of this package declares a func named close.)
type hj212Reply struct {
	ready  chan struct{}
	frame  []byte
	ack    bool // a 9014: not sent when the publish failed
	failed bool // the publish failed; set before ready is signalled
	start  time.Time
}

func (s *HJ212Source) serve(soft, hard context.Context, conn net.Conn, release func()) {
	remote := conn.RemoteAddr().String()
	host, _, err := net.SplitHostPort(remote)
	if err != nil {
		host = remote
	}
	c := &hj212Conn{
		s:       s,
		conn:    conn,
		remote:  remote,
		meta:    Meta{Source: domain.SourceHJ212, Decoder: FormatHJ212, Topic: host},
		replies: make(chan *hj212Reply, s.cfg.MaxPending),
		logged:  map[string]bool{},
	}
	s.m.conns.Inc()
	stopSoft := context.AfterFunc(soft, func() { conn.SetReadDeadline(aLongTimeAgo) })
	stopHard := context.AfterFunc(hard, func() { conn.Close() })
	var writer sync.WaitGroup
	writer.Go(func() { c.writeLoop(hard) })
	s.log.Debug("hj212 connection opened", "remote", remote)

	reason := c.readLoop(soft, hard)

	// The nil ends the queue: the writer sends the replies before it and
	// returns. The connection slot is free already.
	c.replies <- nil
	release()
	writer.Wait()
	stopSoft()
	stopHard()
	conn.Close()
	s.m.conns.Dec()
	s.m.disconnects.WithLabelValues(reason).Inc()
	s.log.Debug("hj212 connection closed", "remote", remote, "reason", reason)
}

// readLoop reads, throttles and handles frames until the connection ends or
// soft is done, and returns the disconnect reason.
func (c *hj212Conn) readLoop(soft, hard context.Context) string {
	s := c.s
	if tc, ok := c.conn.(*tls.Conn); ok {
		hs, cancel := context.WithTimeout(soft, min(s.cfg.IdleTimeout, 10*time.Second))
		err := tc.HandshakeContext(hs)
		cancel()
		if err != nil {
			if soft.Err() != nil {
				return discShutdown
			}
			s.log.Debug("hj212 tls handshake failed", "remote", c.remote, "err", err)
			return discTLS
		}
	}
	rd := hj212.NewReader(c.conn, s.cfg.MaxFrame)
	lim := rate.NewLimiter(rate.Limit(s.cfg.RatePerSec), s.cfg.Burst)
	var throttledSince time.Time
	for {
		if err := c.conn.SetReadDeadline(time.Now().Add(s.cfg.IdleTimeout)); err != nil {
			return discError
		}
		// Checked after setting the deadline: a shutdown that set its past
		// deadline before ours is seen here.
		if soft.Err() != nil {
			return discShutdown
		}
		chunk, err := rd.ReadFrame()
		if err != nil && !errors.Is(err, hj212.ErrGarbage) && !errors.Is(err, hj212.ErrTooLong) && !errors.Is(err, hj212.ErrTruncated) {
			var ne net.Error
			switch {
			case soft.Err() != nil:
				return discShutdown
			case errors.Is(err, io.EOF):
				return discEOF
			case errors.As(err, &ne) && ne.Timeout():
				return discIdle
			case errors.Is(err, net.ErrClosed):
				return discWrite // the writer closed it after a failed write
			}
			s.log.Debug("hj212 read failed", "remote", c.remote, "err", err)
			return discError
		}
		received := time.Now()

		// One token per frame or chunk: a flooding device is read at the
		// configured rate, so TCP pushes back on it, and is cut off when it
		// never lets up.
		if d := lim.Reserve().Delay(); d > 0 {
			s.m.throttled.Inc()
			if throttledSince.IsZero() {
				throttledSince = received
			} else if received.Sub(throttledSince) >= s.cfg.FloodTimeout {
				s.m.refusals.WithLabelValues("flood").Inc()
				s.log.Warn("hj212 connection closed: sustained flood", "remote", c.remote,
					"rate_per_sec", s.cfg.RatePerSec, "throttled_for", received.Sub(throttledSince).Round(time.Millisecond))
				return discFlood
			}
			t := time.NewTimer(d)
			select {
			case <-t.C:
			case <-soft.Done():
				t.Stop()
				return discShutdown
			}
		} else {
			throttledSince = time.Time{}
		}

		out := s.h.handle(chunk, err, s.h.now())
		c.dispatch(hard, out, received)
	}
}

// dispatch counts a handled frame, submits what it became and queues its
// reply. It blocks while MaxPending frames of this connection are in flight.
func (c *hj212Conn) dispatch(hard context.Context, out hj212Outcome, received time.Time) {
	s := c.s
	s.m.frames.WithLabelValues(out.cn, out.result).Inc()
	if out.refusal != "" {
		s.m.refusals.WithLabelValues(out.refusal).Inc()
		if !c.logged[out.refusal] {
			// Once per connection and reason at warn: a misconfigured
			// device repeats the same mistake every interval.
			c.logged[out.refusal] = true
			s.log.Warn("hj212 frame refused", "remote", c.remote, "reason", out.refusal, "mn", out.mn, "err", out.err)
		} else {
			s.log.Debug("hj212 frame refused", "remote", c.remote, "reason", out.refusal, "mn", out.mn, "err", out.err)
		}
	}
	if out.note != "" {
		s.log.Info(out.note, "remote", c.remote, "mn", out.mn, "station", out.station, "restart_time", out.restart)
	}
	if !out.submit && out.reply == nil {
		return
	}
	r := &hj212Reply{frame: out.reply, ack: out.ack, start: received}
	if out.submit {
		r.ready = make(chan struct{}, 1)
	}
	c.replies <- r
	if out.submit {
		s.pub.Submit(hard, out.res, c.meta, func(err error) {
			if err != nil {
				r.failed = true
				if r.ack {
					s.m.unacked.Inc()
				}
			}
			r.ready <- struct{}{}
		})
	}
}

// writeLoop writes replies in frame order as they become ready, until the
// nil that ends the queue. After a failed write it closes the connection
// (ending the read loop) and keeps draining, so the reader never blocks on a
// full queue.
func (c *hj212Conn) writeLoop(hard context.Context) {
	s := c.s
	broken := false
	for r := range c.replies {
		if r == nil {
			return
		}
		if r.ready != nil {
			select {
			case <-r.ready:
			case <-hard.Done():
			}
		}
		if broken || hard.Err() != nil || r.frame == nil || r.failed && r.ack {
			continue
		}
		if err := c.conn.SetWriteDeadline(time.Now().Add(s.cfg.WriteTimeout)); err == nil {
			_, err = c.conn.Write(r.frame)
			if err == nil {
				if r.ack {
					s.m.ack.Observe(time.Since(r.start).Seconds())
				}
				continue
			}
			s.log.Debug("hj212 reply not written", "remote", c.remote, "err", err)
		}
		broken = true
		c.conn.Close()
	}
}

// hj212Outcome is what handling one frame (or chunk) decided.
type hj212Outcome struct {
	submit  bool   // publish res, then send reply
	res     Result // readings and rejects
	reply   []byte // frame to send back; nil for none
	ack     bool   // reply is a 9014 that needs res stored first
	cn      string // metric label: the CN, "other" or "none"
	result  string // metric label
	refusal string // refusal reason label, "" when not refused
	mn      string // for logs
	station string // for logs
	err     error  // for logs; never contains PW
	note    string // an info log message, e.g. a restart notice
	restart string // RestartTime of a 2081 notice
}

// hj212Handler is the protocol core: frame in, outcome out. It does no I/O;
// the reassembler is shared by all connections behind mu, so a transfer
// survives a reconnect between its parts.
type hj212Handler struct {
	reg    HJ212Stations
	pipe   *Pipeline
	parser hj212.Parser
	series [hj212.Daily + 1]bool
	now    func() time.Time
	// maxParts is the reassembler's part limit.
	maxParts int
	codes    map[string]string // HJ 212 code or alias → canonical key

	mu    sync.Mutex
	reasm *hj212.Reassembler
	raws  map[splitKey][]string // frames of the parts the reassembler holds
}

// splitKey mirrors how hj212.Reassembler groups the parts of a transfer.
type splitKey struct {
	mn, st, cn string
	dataTime   int64
	pnum       int
}

func splitKeyOf(p hj212.Packet) splitKey {
	k := splitKey{mn: p.MN, st: p.ST, cn: p.CN, pnum: p.PNUM}
	if !p.DataTime.IsZero() {
		k.dataTime = p.DataTime.UnixMilli()
	}
	return k
}

func newHJ212Handler(reg HJ212Stations, pipe *Pipeline, cfg HJ212Config, now func() time.Time) *hj212Handler {
	h := &hj212Handler{
		reg:      reg,
		pipe:     pipe,
		now:      now,
		codes:    map[string]string{},
		maxParts: cfg.MaxSplitParts,
		reasm:    hj212.NewReassembler(cfg.MaxSplits, cfg.MaxSplitParts, cfg.ReassemblyTimeout),
		raws:     map[splitKey][]string{},
	}
	h.parser.ModbusCRC = h.lenientCRC
	for _, s := range cfg.Series {
		if s > hj212.NoSeries && s <= hj212.Daily {
			h.series[s] = true
		}
	}
	for _, p := range registry.Params() {
		for _, c := range slices.Concat(p.HJ212, p.Aliases) {
			h.codes[c] = p.Key
		}
	}
	return h
}

// lenientCRC allows CRC-16/MODBUS for MNs whose registry CRC mode is lenient.
func (h *hj212Handler) lenientCRC(mn string) bool {
	st, ok := h.reg.ByMN(mn)
	return ok && st.HJ212 != nil && st.HJ212.CRCMode == "lenient"
}

// paramKey maps a pollutant code to its canonical key: the exact code from a
// map built once, else the registry's case-insensitive lookup.
func (h *hj212Handler) paramKey(code string) (string, bool) {
	if k, ok := h.codes[code]; ok {
		return k, true
	}
	p, ok := registry.ParamByHJ212(code)
	return p.Key, ok
}

// cnLabel bounds the cn metric label to the command codes of HJ 212-2017
// Table 9: "none" when there is no CN, "other" for the rest.
func cnLabel(cn string) string {
	switch cn {
	case "":
		return "none"
	case "1000", "1011", "1012", "1013", "1061", "1062", "1063", "1064", "1072",
		"2011", "2012", "2021", "2022", "2031", "2041", "2051", "2061", "2081",
		"3011", "3012", "3013", "3014", "3015", "3016", "3017", "3018", "3019", "3020", "3021",
		"9011", "9012", "9013", "9014":
		return cn
	}
	return "other"
}

// handle decides what one chunk from the Reader becomes. readErr is the
// Reader's recoverable error for the chunk (ErrGarbage, ErrTooLong,
// ErrTruncated) or nil for a frame. handle does not retain chunk.
func (h *hj212Handler) handle(chunk []byte, readErr error, now time.Time) hj212Outcome {
	switch {
	case errors.Is(readErr, hj212.ErrGarbage):
		return quarantineOnly("garbage", "", Reject{Code: CodeGarbage, Reason: readErr.Error(), Raw: maskPW(chunk)})
	case errors.Is(readErr, hj212.ErrTooLong):
		return h.oversize(chunk, readErr)
	}
	p, _, err := h.parser.Parse(chunk)
	if err != nil && errors.Is(readErr, hj212.ErrTruncated) {
		// A chunk the Reader calls truncated may be a whole frame from a
		// device that omits CR LF; when it is not, there is nobody to
		// answer.
		out := quarantineOnly("truncated", "", Reject{Code: CodeTruncated, Reason: readErr.Error() + ": " + err.Error(), Raw: maskPW(chunk)})
		out.err = err
		return out
	}
	st, known := h.reg.ByMN(p.MN)
	stationID := ""
	if known {
		stationID = st.ID
	}
	if err != nil {
		return h.refuse(p, stationID, err)
	}
	if !known {
		out := h.refuseWith(p, "", hj212.QnBadMN, "unknown_mn", Reject{Code: CodeUnknownStation, Field: "MN",
			Reason: fmt.Sprintf("hj212: MN %q is not in the station registry", p.MN)})
		return out
	}
	if st.HJ212 == nil || !auth.SecretEqual(p.PW, st.HJ212.Password) {
		return h.refuseWith(p, st.ID, hj212.QnBadPW, "bad_password", Reject{Code: CodeBadPassword, Field: "PW",
			Reason: fmt.Sprintf("hj212: wrong password for MN %q (station %s)", p.MN, st.ID)})
	}

	cn := cnLabel(p.CN)
	whole := p
	var raw []byte
	if p.Split() {
		var out hj212Outcome
		var done bool
		whole, raw, done, out = h.reassemble(p, st, now)
		if !done {
			return out
		}
	}

	out := hj212Outcome{cn: cn, mn: p.MN, station: st.ID}
	switch s := hj212.SeriesOf(whole.CN); {
	case s != hj212.NoSeries:
		if !h.series[s] {
			out.result = "skipped"
			out.reply = ack9014(p)
			out.ack = out.reply != nil
			return out
		}
		out.res = h.readings(whole, s, st, raw, p.Raw, now)
		out.submit = true
		out.result = "rejected"
		if len(out.res.Readings) > 0 {
			out.result = "accepted"
		}
		out.reply = ack9014(p)
		out.ack = out.reply != nil
	case whole.CN == hj212.CNTimeRequest:
		// Answer with the platform time; the device replies 9011 and 9012.
		out.result = "handled"
		if reply, err := hj212.SetTime1012(p, now); err == nil {
			out.reply = reply
		}
	case whole.CN == hj212.CNRestart:
		out.result = "handled"
		out.note = "hj212 datalogger restarted"
		out.restart, _ = whole.CP.Field("RestartTime")
		out.reply = ack9014(p)
		out.ack = out.reply != nil
	case whole.CN == hj212.CNQnRtn || whole.CN == hj212.CNExeRtn || whole.CN == hj212.CNNoticeAck || whole.CN == hj212.CNDataAck:
		out.result = "reply" // the device answering our 1012
	default:
		// Uploads Qingliu does not use (2021 running state, 3020 station
		// info …): acknowledged so the device does not resend them.
		out.result = "ignored"
		out.reply = ack9014(p)
		out.ack = out.reply != nil
	}
	return out
}

// reassemble adds a split part. done reports that whole is the joined
// transfer (raw holds its parts' frames); otherwise out is the outcome of
// this part: held (acked at once, since a device waits for each part's ack
// before sending the next), or refused.
func (h *hj212Handler) reassemble(p hj212.Packet, st *registry.Station, now time.Time) (whole hj212.Packet, raw []byte, done bool, out hj212Outcome) {
	k := splitKeyOf(p)
	var je *hj212.JoinError
	h.mu.Lock()
	joined, done, err := h.reasm.Add(p, now)
	var raws []string
	switch {
	case err == nil:
		raws = h.raws[k]
		if raws == nil {
			raws = make([]string, p.PNUM)
		}
		raws[p.PNO-1] = p.Raw
		if done {
			delete(h.raws, k)
		} else {
			h.raws[k] = raws
		}
	case errors.As(err, &je): // the reassembler dropped the transfer
		delete(h.raws, k)
	}
	h.mu.Unlock()

	out = hj212Outcome{cn: cnLabel(p.CN), mn: p.MN, station: st.ID}
	switch {
	case je != nil:
		// The transfer is complete but its parts disagree: quarantined, and
		// acked once stored, since resending cannot fix it.
		out.submit, out.result, out.err = true, "rejected", err
		out.res.Rejects = []Reject{{Code: CodeSplit, Reason: err.Error(), Station: st.ID, Index: -1, Raw: joinRaw(partsRaw(je.Parts))}}
		out.reply = ack9014(p)
		out.ack = out.reply != nil
		return hj212.Packet{}, nil, false, out
	case err != nil:
		// Too many parts, or too many transfers in progress: refused; the
		// device keeps the data and resends.
		out.result, out.refusal, out.err = "refused", "split", err
		out.reply = qnRtn(p, hj212.QnRefused)
		if p.PNUM > h.maxParts {
			// Never joinable: keep the part.
			out.submit = true
			out.res.Rejects = []Reject{{Code: CodeSplit, Reason: err.Error(), Station: st.ID, Index: -1, Raw: maskPW([]byte(p.Raw))}}
		}
		return hj212.Packet{}, nil, false, out
	case !done:
		out.result = "held"
		out.reply = ack9014(p)
		out.ack = out.reply != nil
		return hj212.Packet{}, nil, false, out
	}
	return joined, joinRaw(raws), true, out
}

// expire removes the split transfers older than the reassembly timeout (all
// of them when all is set) and returns their parts as rejects.
func (h *hj212Handler) expire(now time.Time, all bool) Result {
	h.mu.Lock()
	if all {
		now = now.Add(100 * 365 * 24 * time.Hour)
	}
	parts := h.reasm.Expire(now)
	for _, p := range parts {
		delete(h.raws, splitKeyOf(p))
	}
	h.mu.Unlock()

	var res Result
	for len(parts) > 0 {
		k := splitKeyOf(parts[0])
		n := 1
		for n < len(parts) && splitKeyOf(parts[n]) == k {
			n++
		}
		group := parts[:n]
		parts = parts[n:]
		have := make([]string, len(group))
		for i, p := range group {
			have[i] = strconv.Itoa(p.PNO)
		}
		station := ""
		if st, ok := h.reg.ByMN(k.mn); ok {
			station = st.ID
		}
		why := "not completed within the reassembly timeout"
		if all {
			why = "incomplete at shutdown"
		}
		res.Rejects = append(res.Rejects, Reject{
			Code:    CodeSplit,
			Reason:  fmt.Sprintf("hj212: split transfer MN=%s CN=%s: parts %s of %d received, %s", k.mn, k.cn, strings.Join(have, ","), k.pnum, why),
			Station: station,
			Index:   -1,
			Raw:     joinRaw(partsRaw(group)),
		})
	}
	return res
}

func (h *hj212Handler) splitsInProgress() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.reasm.Len()
}

// readings turns a data upload into a reading through the pipeline: the
// series' statistic of every code (Rtd for 2011, Avg for the aggregates)
// under its canonical key, in the station's HJ 212 unit for that key, at
// DataTime (the sampling instant for 2011, the start of the period for the
// aggregates). Codes without a canonical parameter are quarantined together
// in one reject; the good values are kept.
//
// raw is the frames of a reassembled transfer, or nil for a single frame,
// whose masked copy is made only when something is rejected.
func (h *hj212Handler) readings(p hj212.Packet, s hj212.Series, st *registry.Station, raw []byte, frame string, now time.Time) Result {
	res := h.values(p, s, st, now)
	for i := range res.Rejects {
		if raw == nil {
			raw = maskPW([]byte(frame))
		}
		res.Rejects[i].Station, res.Rejects[i].Index, res.Rejects[i].Raw = st.ID, -1, raw
	}
	return res
}

// values is readings without the quarantine bytes.
func (h *hj212Handler) values(p hj212.Packet, s hj212.Series, st *registry.Station, now time.Time) Result {
	var res Result
	if p.DataTime.IsZero() {
		res.Rejects = append(res.Rejects, Reject{Code: CodeBadTimestamp, Field: "DataTime", Reason: fmt.Sprintf("hj212: CN=%s upload has no DataTime", p.CN)})
		return res
	}
	stat := s.Stat()
	n := len(p.CP.Values)
	values := make(map[string]float64, n)
	units := make(map[string]string, n)
	flags := make(map[string]string, n)
	from := make(map[string]string, n)
	var unknown []string
	for _, v := range p.CP.Values {
		x, ok := v.Get(stat)
		if !ok {
			continue
		}
		key, ok := h.paramKey(v.Code)
		if !ok {
			unknown = append(unknown, v.Code)
			continue
		}
		if other, dup := from[key]; dup {
			res.Rejects = append(res.Rejects, Reject{Code: CodeSchema, Field: v.Code, Reason: fmt.Sprintf("hj212: codes %s and %s both map to %q; kept %s", other, v.Code, key, other)})
			continue
		}
		from[key] = v.Code
		values[key] = x
		units[key] = st.HJ212Unit(key)
		if v.Flag != "" {
			flags[key] = v.Flag
		}
	}
	if len(values) > 0 {
		r := h.pipe.Normalise(domain.SourceHJ212, st, p.DataTime, values, units, flags, nil, now)
		for i := range r.Readings {
			r.Readings[i].Interval = intervalOf(s)
		}
		res.Readings = r.Readings
		res.Rejects = append(res.Rejects, r.Rejects...)
	} else if len(unknown) == 0 && len(res.Rejects) == 0 {
		res.Rejects = append(res.Rejects, Reject{Code: CodeNoValues, Reason: fmt.Sprintf("hj212: CN=%s upload carries no %s values", p.CN, stat)})
	}
	if len(unknown) > 0 {
		res.Rejects = append(res.Rejects, Reject{Code: CodeUnknownParam, Field: unknown[0],
			Reason: fmt.Sprintf("hj212: pollutant codes %s map to no canonical parameter; their values were not stored", strings.Join(unknown, ","))})
	}
	return res
}

// refuse answers a frame that did not parse: CRC, length, or a malformed
// data segment.
func (h *hj212Handler) refuse(p hj212.Packet, station string, err error) hj212Outcome {
	code, reason := CodeMalformed, "malformed"
	switch {
	case errors.Is(err, hj212.ErrCRC):
		code, reason = CodeBadCRC, "crc"
	case errors.Is(err, hj212.ErrLength):
		code, reason = CodeBadLength, "length"
	}
	field := ""
	var fe *hj212.FieldError
	if errors.As(err, &fe) {
		field = fe.Field
	}
	return h.refuseWith(p, station, hj212.RtnFor(err), reason, Reject{Code: code, Field: field, Reason: err.Error()})
}

// refuseWith quarantines the frame with rej and answers 9011 with rtn once
// it is stored.
func (h *hj212Handler) refuseWith(p hj212.Packet, station string, rtn hj212.QnRtn, reason string, rej Reject) hj212Outcome {
	rej.Station, rej.Index, rej.Raw = station, -1, maskPW([]byte(p.Raw))
	return hj212Outcome{
		submit:  true,
		res:     Result{Rejects: []Reject{rej}},
		reply:   qnRtn(p, rtn),
		cn:      cnLabel(p.CN),
		result:  "refused",
		refusal: reason,
		mn:      p.MN,
		station: station,
		err:     errors.New(rej.Reason),
	}
}

// oversize refuses a frame longer than MaxFrame: its first chunk (the one
// with the header) is quarantined, counted as a refusal and answered with
// 9011 QnRtn=2 when the header names the device; later chunks are
// quarantined as its tail. The connection stays open.
func (h *hj212Handler) oversize(chunk []byte, readErr error) hj212Outcome {
	out := quarantineOnly("oversize", "", Reject{Code: CodeTooLarge, Reason: readErr.Error(), Raw: maskPW(chunk)})
	if p, ok := partialHeader(chunk); ok {
		out.cn, out.mn = cnLabel(p.CN), p.MN
		out.reply = qnRtn(p, hj212.QnRefused)
		out.refusal = "oversize"
		if st, known := h.reg.ByMN(p.MN); known {
			out.station = st.ID
			out.res.Rejects[0].Station = st.ID
		}
	}
	out.err = readErr
	return out
}

func quarantineOnly(result, station string, rej Reject) hj212Outcome {
	rej.Station, rej.Index = station, -1
	return hj212Outcome{submit: true, res: Result{Rejects: []Reject{rej}}, cn: "none", result: result}
}

// partialHeader reads QN, ST, CN, PW, MN and Flag from the start of a frame
// too long to parse, to address a refusal.
func partialHeader(chunk []byte) (hj212.Packet, bool) {
	var p hj212.Packet
	if len(chunk) < 6 || chunk[0] != '#' || chunk[1] != '#' {
		return p, false
	}
	head := chunk[6:]
	if i := bytes.Index(head, []byte("CP=&&")); i >= 0 {
		head = head[:i]
	}
	for _, item := range bytes.Split(head, []byte{';'}) {
		name, val, ok := bytes.Cut(item, []byte{'='})
		if !ok {
			continue
		}
		switch string(name) {
		case "QN":
			p.QN = string(val)
		case "ST":
			p.ST = string(val)
		case "CN":
			p.CN = string(val)
		case "PW":
			p.PW = string(val)
		case "MN":
			p.MN = string(val)
		case "Flag":
			if n, err := strconv.Atoi(string(val)); err == nil && n >= 0 && n <= 255 {
				p.Flag, p.HasFlag = n, true
			}
		}
	}
	return p, p.MN != ""
}

// ack9014 is the data acknowledgement when p asks for one, else nil.
func ack9014(p hj212.Packet) []byte {
	if !p.AckRequested() {
		return nil
	}
	b, err := hj212.Ack9014(p)
	if err != nil {
		return nil
	}
	return b
}

// qnRtn is a 9011 refusal, or nil when p has no MN to address it to (or
// fields that cannot be echoed).
func qnRtn(p hj212.Packet, rtn hj212.QnRtn) []byte {
	if p.MN == "" {
		return nil
	}
	b, err := hj212.QnRtn9011(p, rtn)
	if err != nil {
		return nil
	}
	return b
}

// maskPW returns a copy of frame with the value of the header's PW field
// replaced by asterisks of the same length, so that QUARANTINE never holds a
// station's password (a valid one from a device whose values were refused,
// or someone else's from a device configured with the wrong one). The CRC
// is left as received: Ql-Reason says whether it verified.
func maskPW(frame []byte) []byte {
	out := bytes.Clone(frame)
	head := out
	if i := bytes.Index(head, []byte("CP=&&")); i >= 0 {
		head = head[:i]
	}
	for off := 0; ; {
		i := bytes.Index(head[off:], []byte("PW="))
		if i < 0 {
			return out
		}
		i += off
		if i == 0 || head[i-1] == ';' || i == 6 && bytes.HasPrefix(head, []byte("##")) {
			for j := i + 3; j < len(head) && head[j] != ';'; j++ {
				head[j] = '*'
			}
		}
		off = i + 3
	}
}

func partsRaw(parts []hj212.Packet) []string {
	out := make([]string, len(parts))
	for i, p := range parts {
		out[i] = p.Raw
	}
	return out
}

// joinRaw is the frames of a split transfer, each masked, one per line.
func joinRaw(raws []string) []byte {
	var b []byte
	for _, r := range raws {
		if r == "" {
			continue
		}
		b = append(b, maskPW([]byte(r))...)
		b = append(b, '\r', '\n')
	}
	return b
}

// hj212Metrics are the listener's collectors. Labels are bounded: CN codes
// of HJ 212 Table 9 (else "other"), fixed result and reason vocabularies.
type hj212Metrics struct {
	conns       prometheus.Gauge
	frames      *prometheus.CounterVec
	refusals    *prometheus.CounterVec
	ack         prometheus.Histogram
	disconnects *prometheus.CounterVec
	throttled   prometheus.Counter
	unacked     prometheus.Counter
	splits      prometheus.Gauge
}

func newHJ212Metrics(reg prometheus.Registerer) (*hj212Metrics, error) {
	m := &hj212Metrics{
		conns: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "qingliu_hj212_connections", Help: "Open HJ 212 datalogger connections.",
		}),
		frames: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "qingliu_hj212_frames_total",
			Help: "HJ 212 frames and chunks handled, by command code and result (accepted, rejected, refused, held, skipped, handled, reply, ignored, garbage, oversize, truncated, split_expired).",
		}, []string{"cn", "result"}),
		refusals: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "qingliu_hj212_refusals_total",
			Help: "HJ 212 frames and connections refused, by reason (crc, length, malformed, unknown_mn, bad_password, oversize, split, max_conns, flood).",
		}, []string{"reason"}),
		ack: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "qingliu_hj212_ack_seconds",
			Help:    "Time from reading an HJ 212 frame to writing its 9014 acknowledgement (for a data upload: after JetStream stored what it became).",
			Buckets: []float64{0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10},
		}),
		disconnects: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "qingliu_hj212_disconnects_total",
			Help: "HJ 212 connections closed, by reason (eof, idle, flood, write, error, shutdown, tls).",
		}, []string{"reason"}),
		throttled: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "qingliu_hj212_throttled_frames_total", Help: "HJ 212 frames delayed by the per-connection rate limit.",
		}),
		unacked: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "qingliu_hj212_unacked_frames_total", Help: "HJ 212 frames that asked for an ack but were not stored (ingest stopping); the device resends.",
		}),
		splits: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "qingliu_hj212_split_transfers", Help: "HJ 212 split transfers waiting for their remaining parts.",
		}),
	}
	for _, c := range []prometheus.Collector{m.conns, m.frames, m.refusals, m.ack, m.disconnects, m.throttled, m.unacked, m.splits} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("hj212: register metrics: %w", err)
		}
	}
	return m, nil
}
