// Package mqttgate is a TCP proxy for device MQTT connections that limits
// each connection: it sits in front of an MQTT broker (the embedded NATS
// server's MQTT listener in `qingliu up`, or Mosquitto) because neither
// limits one client's message rate.
//
// The gate follows the packet boundaries of what a device sends (MQTT
// fixed headers) and passes the bytes through unchanged: the broker still
// authenticates and authorises. It disconnects a device that sends a packet
// over the size limit, reads a device that publishes faster than its token
// bucket allows only as fast as the bucket refills (TCP then slows the
// device; a QoS 1 client, which waits for its PUBACKs, paces itself), and
// disconnects one that stays throttled for too long. What the broker sends
// back is copied as it is.
package mqttgate

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/time/rate"

	"github.com/qingliu/qingliu/internal/netx"
)

// Defaults of Config.
const (
	DefaultMaxConns         = 1024
	DefaultMaxPacketBytes   = 512 << 10
	DefaultRatePerSec       = 50
	DefaultBurst            = 200
	DefaultFloodTimeout     = time.Minute
	DefaultDialTimeout      = 5 * time.Second
	DefaultHandshakeTimeout = 10 * time.Second
	DefaultConnectTimeout   = 10 * time.Second
)

// lingerTimeout bounds how long a closing connection waits for the other
// side to finish: the broker to read what was forwarded, the device to read
// the broker's last packet (a CONNACK refusing a login).
const lingerTimeout = 2 * time.Second

// Config configures a Gate. Zero values take the defaults above.
type Config struct {
	// Listen is the device-facing TCP address, host:port.
	Listen string
	// Upstream is the broker's plain TCP MQTT address, host:port. Keep it on
	// loopback or a private network: the hop is not encrypted.
	Upstream string
	// TLS, when set, makes the gate speak TLS to devices (and plain TCP to
	// the broker).
	TLS *tls.Config
	// MaxConns bounds concurrent device connections; one more is accepted
	// and closed at once (counted as max_conns).
	MaxConns int
	// MaxPacketBytes bounds a packet's remaining length (variable header
	// and payload): a device that sends more is disconnected.
	MaxPacketBytes int
	// RatePerSec and Burst are each connection's token bucket. PUBLISH,
	// SUBSCRIBE, UNSUBSCRIBE and PINGREQ take a token each; acks of what
	// the broker sent, paced by the broker, take none.
	RatePerSec float64
	Burst      int
	// BytesPerSec, when > 0, is a second bucket for the bytes of PUBLISH
	// packets; its burst is the larger of BytesPerSec and one largest
	// packet.
	BytesPerSec float64
	// FloodTimeout: a connection throttled on every limited packet for this
	// long is disconnected (counted as rate_limited).
	FloodTimeout time.Duration
	// DialTimeout bounds connecting to the broker; HandshakeTimeout the TLS
	// handshake with a device; ConnectTimeout the wait for a device's
	// CONNECT packet, so that silent connections do not hold slots.
	DialTimeout      time.Duration
	HandshakeTimeout time.Duration
	ConnectTimeout   time.Duration
}

func (c Config) withDefaults() Config {
	if c.MaxConns <= 0 {
		c.MaxConns = DefaultMaxConns
	}
	if c.MaxPacketBytes <= 0 {
		c.MaxPacketBytes = DefaultMaxPacketBytes
	}
	if c.RatePerSec <= 0 {
		c.RatePerSec = DefaultRatePerSec
	}
	if c.Burst <= 0 {
		c.Burst = DefaultBurst
	}
	if c.FloodTimeout <= 0 {
		c.FloodTimeout = DefaultFloodTimeout
	}
	if c.DialTimeout <= 0 {
		c.DialTimeout = DefaultDialTimeout
	}
	if c.HandshakeTimeout <= 0 {
		c.HandshakeTimeout = DefaultHandshakeTimeout
	}
	if c.ConnectTimeout <= 0 {
		c.ConnectTimeout = DefaultConnectTimeout
	}
	return c
}

// Gate accepts device connections and proxies each to the broker.
type Gate struct {
	cfg  Config
	m    *metrics
	log  *slog.Logger
	ln   net.Listener
	addr string

	running      atomic.Bool
	started      atomic.Bool
	upstreamDown atomic.Bool
	// warn bounds the warnings about misbehaving devices, per reason: a
	// device that is cut off reconnects and does it again.
	warn map[string]*rate.Sometimes
}

// New builds a gate; Listen binds it and Run serves. It fails when the
// configuration is incomplete or the metrics cannot be registered with reg.
func New(cfg Config, reg prometheus.Registerer, log *slog.Logger) (*Gate, error) {
	cfg = cfg.withDefaults()
	if cfg.Listen == "" || cfg.Upstream == "" {
		return nil, errors.New("mqtt gate: give a listen and an upstream address")
	}
	if cfg.MaxPacketBytes > MaxRemaining {
		return nil, fmt.Errorf("mqtt gate: max packet bytes %d is over MQTT's %d", cfg.MaxPacketBytes, MaxRemaining)
	}
	m, err := newMetrics(reg)
	if err != nil {
		return nil, err
	}
	warn := map[string]*rate.Sometimes{}
	for _, r := range []string{ReasonPacketTooLarge, ReasonRateLimited, ReasonMalformed} {
		warn[r] = &rate.Sometimes{First: 10, Interval: 10 * time.Second}
	}
	return &Gate{cfg: cfg, m: m, log: log, addr: cfg.Listen, warn: warn}, nil
}

// Listen binds the listening socket, so that a port in use is one clear
// error at start-up. Run calls it when it has not been called.
func (g *Gate) Listen() error {
	if g.ln != nil {
		return nil
	}
	ln, err := net.Listen("tcp", g.cfg.Listen)
	if err != nil {
		return fmt.Errorf("mqtt gate: listen on %s: %w", g.cfg.Listen, err)
	}
	g.ln, g.addr = ln, ln.Addr().String()
	return nil
}

// Addr is the bound address once Listen succeeded, else the configured one.
func (g *Gate) Addr() string { return g.addr }

// Ready reports whether the gate is accepting connections.
func (g *Gate) Ready() error {
	if g.running.Load() {
		return nil
	}
	return fmt.Errorf("mqtt gate %s: not accepting connections", g.addr)
}

// Run accepts connections until ctx is done, then stops accepting, closes
// every connection and returns after every goroutine it started has
// exited. Run may be called once.
func (g *Gate) Run(ctx context.Context) error {
	if !g.started.CompareAndSwap(false, true) {
		return errors.New("mqtt gate: Run called twice")
	}
	if err := g.Listen(); err != nil {
		return err
	}
	var wg sync.WaitGroup
	g.running.Store(true)
	g.log.Info("mqtt gate listening", "addr", g.addr, "upstream", g.cfg.Upstream, "tls", g.cfg.TLS != nil,
		"rate_per_sec", g.cfg.RatePerSec, "burst", g.cfg.Burst, "max_packet_bytes", g.cfg.MaxPacketBytes)
	err := g.accept(ctx, &wg)
	g.running.Store(false)
	wg.Wait()
	return err
}

func (g *Gate) accept(ctx context.Context, wg *sync.WaitGroup) error {
	l := netx.Limited{Name: "mqtt gate", MaxConns: g.cfg.MaxConns, Log: g.log,
		Refused: func() { g.m.disconnects.WithLabelValues(ReasonMaxConns).Inc() }}
	return l.Accept(ctx, g.ln, wg, func(conn net.Conn, _ func()) { g.serve(ctx, conn) })
}

// serve proxies one device connection until either side ends it.
func (g *Gate) serve(ctx context.Context, raw net.Conn) {
	g.m.accepted.Inc()
	g.m.conns.Inc()
	defer g.m.conns.Dec()
	c := &conn{g: g, dev: raw, remote: raw.RemoteAddr().String(), opened: time.Now()}
	reason := c.run(ctx)
	g.m.disconnects.WithLabelValues(reason).Inc()
	g.log.Debug("mqtt connection closed", "remote", c.remote, "client_id", c.info.ClientID, "username", c.info.Username,
		"reason", reason, "duration", time.Since(c.opened).Round(time.Millisecond))
}

// dial connects to the broker, logging when that starts and stops failing.
func (g *Gate) dial(ctx context.Context) (net.Conn, error) {
	d := net.Dialer{Timeout: g.cfg.DialTimeout}
	up, err := d.DialContext(ctx, "tcp", g.cfg.Upstream)
	if err != nil {
		if ctx.Err() == nil && g.upstreamDown.CompareAndSwap(false, true) {
			g.log.Warn("mqtt gate cannot reach the broker; devices are turned away", "upstream", g.cfg.Upstream, "err", err)
		}
		return nil, err
	}
	if g.upstreamDown.CompareAndSwap(true, false) {
		g.log.Info("mqtt gate reaches the broker again", "upstream", g.cfg.Upstream)
	}
	return up, nil
}

// conn is one proxied device connection.
type conn struct {
	g      *Gate
	dev    net.Conn // the device side (TLS once the handshake is done)
	up     net.Conn // the broker side
	remote string
	opened time.Time
	info   ConnectInfo

	reason atomic.Pointer[string] // the first reason the connection ends

	// deadlineMu orders the device's read deadlines: the CONNECT deadline
	// is lifted only while the connection is not closing.
	deadlineMu sync.Mutex
	closing    bool
	connected  bool // the CONNECT packet has been read

	msgs, bytes    *rate.Limiter
	throttledSince time.Time
	timer          *time.Timer
	// connect collects the start of the first packet's body (a CONNECT)
	// until it is complete; nil afterwards.
	connect []byte
	// packets counts the packets seen; the first must be a CONNECT.
	packets int
}

// maxConnectCapture bounds the bytes of a CONNECT kept to find the client
// id and user name; what lies beyond (a large will message) is not logged.
const maxConnectCapture = 1024

// end records why the connection ends, if no reason was recorded before.
func (c *conn) end(reason string) { c.reason.CompareAndSwap(nil, &reason) }

// run serves the connection and returns why it ended.
func (c *conn) run(ctx context.Context) string {
	if c.g.cfg.TLS != nil {
		tc := tls.Server(c.dev, c.g.cfg.TLS)
		hs, cancel := context.WithTimeout(ctx, c.g.cfg.HandshakeTimeout)
		err := tc.HandshakeContext(hs)
		cancel()
		if err != nil {
			c.dev.Close()
			if ctx.Err() != nil {
				return ReasonShutdown
			}
			c.g.log.Debug("mqtt tls handshake failed", "remote", c.remote, "err", err)
			return ReasonTLS
		}
		c.dev = tc
	}
	up, err := c.g.dial(ctx)
	if err != nil {
		c.dev.Close()
		if ctx.Err() != nil {
			return ReasonShutdown
		}
		return ReasonUpstreamUnreachable
	}
	c.up = up
	stop := context.AfterFunc(ctx, func() {
		c.end(ReasonShutdown)
		c.dev.Close()
		c.up.Close()
	})
	defer stop()

	// Broker → device: a plain copy. When the broker ends the connection,
	// the device gets its last bytes, then the close.
	copied := make(chan struct{})
	go func() {
		defer close(copied)
		_, _ = io.Copy(c.dev, c.up)
		c.end(ReasonUpstreamClosed)
		closeWrite(c.dev)
		c.deadlineMu.Lock()
		c.closing = true
		_ = c.dev.SetReadDeadline(time.Now().Add(lingerTimeout))
		c.deadlineMu.Unlock()
	}()

	c.end(c.forward(ctx))
	reason := *c.reason.Load()
	// The broker gets what was forwarded, then the end of the stream; it
	// closes its side and the copy above returns.
	closeWrite(c.up)
	if reason != ReasonEOF && reason != ReasonUpstreamClosed {
		c.dev.Close() // cut off at once
	}
	linger := time.AfterFunc(lingerTimeout, func() {
		c.up.Close()
		c.dev.Close()
	})
	<-copied
	linger.Stop()
	c.up.Close()
	c.dev.Close()
	if c.timer != nil {
		c.timer.Stop()
	}
	return reason
}

// closeWrite ends the stream towards c's peer, keeping the other direction
// open: a FIN for TCP, close_notify for TLS.
func closeWrite(c net.Conn) {
	if cw, ok := c.(interface{ CloseWrite() error }); ok {
		_ = cw.CloseWrite()
		return
	}
	_ = c.Close()
}

// forward copies device → broker, packet-aware, until one side fails or
// the device is cut off, and returns the reason.
func (c *conn) forward(ctx context.Context) string {
	cfg := c.g.cfg
	c.msgs = rate.NewLimiter(rate.Limit(cfg.RatePerSec), cfg.Burst)
	if cfg.BytesPerSec > 0 {
		c.bytes = rate.NewLimiter(rate.Limit(cfg.BytesPerSec), max(int(cfg.BytesPerSec), cfg.MaxPacketBytes+MaxHeaderLen))
	}
	// Devices send little; a small buffer keeps a thousand idle
	// connections cheap.
	buf := make([]byte, 8<<10)
	out := make([]byte, 0, len(buf)+MaxHeaderLen)
	var f framer
	c.deadlineMu.Lock()
	if !c.closing {
		_ = c.dev.SetReadDeadline(time.Now().Add(cfg.ConnectTimeout))
	}
	c.deadlineMu.Unlock()
	for {
		n, err := c.dev.Read(buf)
		if n > 0 {
			c.g.m.bytes.Add(float64(n))
			if reason := c.feed(ctx, &f, buf[:n], out); reason != "" {
				return reason
			}
		}
		if err != nil {
			var ne net.Error
			switch {
			case ctx.Err() != nil:
				return ReasonShutdown
			case errors.Is(err, io.EOF):
				return ReasonEOF
			case errors.As(err, &ne) && ne.Timeout() && !c.connected:
				return ReasonConnectTimeout
			case errors.Is(err, net.ErrClosed), errors.As(err, &ne) && ne.Timeout():
				// Closed or timed out by the other direction, which
				// recorded its reason first.
				return ReasonUpstreamClosed
			}
			c.g.log.Debug("mqtt device read failed", "remote", c.remote, "err", err)
			return ReasonError
		}
	}
}

// feed forwards the packets in p, one read from the device, collecting
// them in out (a buffer reused across calls) and writing out before a
// wait. It returns a reason when the connection must end.
func (c *conn) feed(ctx context.Context, f *framer, p, out []byte) string {
	out = out[:0]
	flush := func() bool {
		if len(out) == 0 {
			return true
		}
		_, err := c.up.Write(out)
		out = out[:0]
		return err == nil
	}
	for len(p) > 0 {
		if f.inPacket() {
			k := f.body(p)
			if c.connect != nil {
				c.connect = append(c.connect, p[:min(k, cap(c.connect)-len(c.connect))]...)
			}
			out = append(out, p[:k]...)
			p = p[k:]
			if !f.inPacket() {
				c.packetDone()
			}
			continue
		}
		h, took, complete, err := f.header(p)
		p = p[took:]
		if err != nil {
			flush()
			c.warn(ReasonMalformed, "mqtt connection closed: not mqtt", "err", err)
			return ReasonMalformed
		}
		if !complete {
			break
		}
		c.packets++
		if c.packets == 1 && h.Type != Connect {
			flush()
			c.warn(ReasonMalformed, "mqtt connection closed: not mqtt", "err", fmt.Errorf("first packet is %s, not connect", h.Type))
			return ReasonMalformed
		}
		if h.Remaining > c.g.cfg.MaxPacketBytes {
			flush()
			c.warn(ReasonPacketTooLarge, "mqtt connection closed: packet too large", "packet_type", h.Type.String(),
				"remaining_length", h.Remaining, "max_packet_bytes", c.g.cfg.MaxPacketBytes)
			return ReasonPacketTooLarge
		}
		if limited(h.Type) {
			if d, reason := c.throttle(h); reason != "" {
				flush()
				return reason
			} else if d > 0 {
				if !flush() {
					return ReasonUpstreamClosed
				}
				if !c.wait(ctx, d) {
					return ReasonShutdown
				}
			}
		}
		c.g.m.packets[h.Type].Inc()
		if h.Type == Disconnect {
			// A clean close, whichever side then closes the socket first.
			c.end(ReasonEOF)
		}
		out = append(out, f.hdr[:h.Len]...)
		if h.Type == Connect && c.packets == 1 {
			c.connect = make([]byte, 0, min(h.Remaining, maxConnectCapture))
		}
		if !f.inPacket() {
			c.packetDone()
		}
	}
	if !flush() {
		return ReasonUpstreamClosed
	}
	return ""
}

// limited reports whether packets of type t take a token: what a device
// starts, not its acks of what the broker sent.
func limited(t PacketType) bool {
	switch t {
	case Publish, Subscribe, Unsubscribe, Pingreq:
		return true
	}
	return false
}

// packetDone is called at the end of each packet.
func (c *conn) packetDone() {
	if c.connect == nil {
		return
	}
	info, err := ParseConnect(c.connect)
	c.info, c.connect = info, nil
	c.deadlineMu.Lock()
	c.connected = true
	if !c.closing {
		_ = c.dev.SetReadDeadline(time.Time{})
	}
	c.deadlineMu.Unlock()
	c.g.log.Debug("mqtt connection opened", "remote", c.remote, "client_id", info.ClientID, "username", info.Username,
		"protocol_level", info.Level, "parse_err", err)
}

// throttle takes the tokens of a packet with header h and returns how long
// to wait before forwarding it, or ReasonRateLimited when the connection has
// been throttled on every packet for FloodTimeout.
func (c *conn) throttle(h Header) (time.Duration, string) {
	now := time.Now()
	d := c.msgs.ReserveN(now, 1).DelayFrom(now)
	if c.bytes != nil && h.Type == Publish {
		d = max(d, c.bytes.ReserveN(now, h.Len+h.Remaining).DelayFrom(now))
	}
	if d <= 0 {
		c.throttledSince = time.Time{}
		return 0, ""
	}
	c.g.m.throttled.Inc()
	if c.throttledSince.IsZero() {
		c.throttledSince = now
	} else if now.Sub(c.throttledSince) >= c.g.cfg.FloodTimeout {
		c.warn(ReasonRateLimited, "mqtt connection closed: sustained flood", "rate_per_sec", c.g.cfg.RatePerSec,
			"throttled_for", now.Sub(c.throttledSince).Round(time.Millisecond))
		return 0, ReasonRateLimited
	}
	return d, ""
}

// wait sleeps d, not reading the device meanwhile, and reports false when
// ctx ended it.
func (c *conn) wait(ctx context.Context, d time.Duration) bool {
	if c.timer == nil {
		c.timer = time.NewTimer(d)
	} else {
		c.timer.Reset(d)
	}
	start := time.Now()
	defer func() { c.g.m.throttleWait.Add(time.Since(start).Seconds()) }()
	select {
	case <-c.timer.C:
		return true
	case <-ctx.Done():
		c.timer.Stop()
		return false
	}
}

// warn logs why a device is cut off, bounded per reason.
func (c *conn) warn(reason, msg string, args ...any) {
	c.g.warn[reason].Do(func() {
		c.g.log.Warn(msg, append([]any{"remote", c.remote, "client_id", c.info.ClientID, "username", c.info.Username}, args...)...)
	})
}
