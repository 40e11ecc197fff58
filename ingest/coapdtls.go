package ingest

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync/atomic"
	"time"

	piondtls "github.com/pion/dtls/v3"
	dtlsServer "github.com/plgd-dev/go-coap/v3/dtls/server"
	coapNet "github.com/plgd-dev/go-coap/v3/net"
	udpClient "github.com/plgd-dev/go-coap/v3/udp/client"
)

// CoAPCipherSuites are the DTLS 1.2 suites of the CoAP endpoint: RFC 7925
// §4.2's mandatory PSK suite for constrained devices first, then the GCM one
// that general-purpose stacks (mbed TLS, OpenSSL) offer.
var CoAPCipherSuites = []piondtls.CipherSuiteID{
	piondtls.TLS_PSK_WITH_AES_128_CCM_8,
	piondtls.TLS_PSK_WITH_AES_128_GCM_SHA256,
}

// Results of a DTLS handshake (qingliu_coap_dtls_handshakes_total{result}).
const (
	dtlsOK              = "ok"
	dtlsUnknownIdentity = "unknown_identity"
	dtlsRateLimited     = "rate_limited"
	dtlsOverload        = "overload"
	dtlsTimeout         = "timeout"
	dtlsFailed          = "failed"
)

var (
	errUnknownIdentity = errors.New("coap: unknown dtls psk identity")
	errRateLimited     = errors.New("coap: dtls handshakes from this address are rate limited")
	errHandshakes      = errors.New("coap: too many dtls handshakes in progress")
)

// dtlsOption sets fields of the go-coap DTLS server configuration.
type dtlsOption func(*dtlsServer.Config)

func (o dtlsOption) DTLSServerApply(c *dtlsServer.Config) { o(c) }

// newDTLSServer is the go-coap DTLS server with the same hooks as the UDP
// one: the handshake sits in front, the request path is shared.
func (s *CoAPSource) newDTLSServer() *dtlsServer.Server {
	return dtlsServer.New(dtlsOption(func(c *dtlsServer.Config) {
		c.Handler = s.handle
		c.Errors = func(err error) { s.log.Debug("coap dtls error", "err", err) }
		c.MaxMessageSize = uint32(s.cfg.MaxPayload + 1024)
		c.RequestMonitor = s.admitDatagram
		c.ProcessReceivedMessage = s.process
		c.ReceivedMessageQueueSize = 2*s.cfg.MaxPending + 4
		c.OnNewConn = func(cc *udpClient.Conn) {
			// serveConnection calls this only after a successful handshake.
			id := ""
			if dc, ok := cc.NetConn().(*dtlsConn); ok {
				id = dc.identity
			}
			s.newPeer(cc, id)
		}
		c.PeriodicRunner = s.periodic
		c.HandshakeTimeout = s.cfg.HandshakeTimeout
	}))
}

// listenDTLS binds the DTLS socket. The PSK callback receives the
// client's PSK identity (ClientKeyExchange, RFC 4279 §2) and answers the
// station's key.
func (s *CoAPSource) listenDTLS() (*coapNet.DTLSListener, error) {
	opts := coapNet.NewDTLSServerOptions(
		piondtls.WithPSK(func(identity []byte) ([]byte, error) {
			if key, ok := s.cfg.PSKs[string(identity)]; ok {
				return key, nil
			}
			return nil, errUnknownIdentity
		}),
		piondtls.WithCipherSuites(CoAPCipherSuites...),
		piondtls.WithOnConnectionAttempt(func(addr net.Addr) error {
			host := addr.String()
			if ua, ok := addr.(*net.UDPAddr); ok {
				host = ua.IP.String()
			}
			// A handshake takes a token of the address's request bucket.
			if ok, _ := s.lim.allow(host, time.Now()); !ok {
				s.m.handshakes.WithLabelValues(dtlsRateLimited).Inc()
				return errRateLimited
			}
			return nil
		}),
	)
	ln, err := coapNet.NewDTLSListener("udp", s.cfg.DTLSListen, opts)
	if err != nil {
		return nil, fmt.Errorf("coap: listen on dtls %s: %w", s.cfg.DTLSListen, err)
	}
	return ln, nil
}

// dtlsListener hands the go-coap server connections that count their
// handshakes and remember the identity they authenticated.
type dtlsListener struct {
	*coapNet.DTLSListener
	s *CoAPSource
}

func (l dtlsListener) AcceptWithContext(ctx context.Context) (net.Conn, error) {
	c, err := l.DTLSListener.AcceptWithContext(ctx)
	if err != nil {
		return nil, err
	}
	dc, ok := c.(*piondtls.Conn)
	if !ok {
		_ = c.Close()
		return nil, fmt.Errorf("coap: dtls listener returned a %T", c)
	}
	return &dtlsConn{Conn: dc, s: l.s}, nil
}

// dtlsConn is a server-side DTLS connection. identity is set once the
// handshake succeeded, before go-coap reads from the connection.
type dtlsConn struct {
	*piondtls.Conn
	s        *CoAPSource
	identity string
	// tried is set by the first handshake: go-coap's connection calls
	// HandshakeContext again before reads and writes.
	tried atomic.Bool
}

// HandshakeContext runs the handshake within MaxHandshakes, counts its
// result and keeps the PSK identity the client proved it has the key of.
func (c *dtlsConn) HandshakeContext(ctx context.Context) error {
	if c.tried.Swap(true) {
		return c.Conn.HandshakeContext(ctx)
	}
	select {
	case c.s.handshakes <- struct{}{}:
	default:
		c.s.m.handshakes.WithLabelValues(dtlsOverload).Inc()
		return errHandshakes
	}
	err := c.Conn.HandshakeContext(ctx)
	<-c.s.handshakes
	result := dtlsOK
	switch {
	case errors.Is(err, errUnknownIdentity):
		result = dtlsUnknownIdentity
	case errors.Is(err, context.DeadlineExceeded):
		result = dtlsTimeout
	case err != nil:
		result = dtlsFailed
	default:
		// State.IdentityHint is, on the server side, the identity of the
		// client's ClientKeyExchange (pion/dtls v3 flight4handler.go).
		st, ok := c.Conn.ConnectionState()
		if !ok || len(st.IdentityHint) == 0 {
			result, err = dtlsFailed, errors.New("coap: dtls handshake finished without a psk identity")
			break
		}
		c.identity = string(st.IdentityHint)
	}
	c.s.m.handshakes.WithLabelValues(result).Inc()
	return err
}

// identity is the station a request's peer authenticated as over DTLS;
// secure is false for plain UDP.
func (s *CoAPSource) identity(cc *udpClient.Conn) (id string, secure bool) {
	if p := s.peer(cc); p != nil {
		return p.identity, p.identity != ""
	}
	_, secure = cc.NetConn().(*dtlsConn)
	return "", secure
}
