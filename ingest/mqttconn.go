package ingest

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/url"
	"sync"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
)

// openBuffered is paho's connection opener with buffered I/O. paho reads a
// packet's fixed header a byte at a time and writes each PUBACK on its own,
// straight on the socket: under load that was three or four system calls
// per message, a quarter of the ingest stage's CPU. Reads here come from a
// 64 KiB buffer and writes are coalesced by a flusher goroutine (as the NATS
// client does), so a busy connection moves many packets per call.
func openBuffered(uri *url.URL, o mqtt.ClientOptions) (net.Conn, error) {
	var conn net.Conn
	var err error
	d := &net.Dialer{Timeout: o.ConnectTimeout}
	switch uri.Scheme {
	case "tcp", "mqtt":
		conn, err = d.Dial("tcp", uri.Host)
	case "ssl", "tls", "mqtts":
		td := &tls.Dialer{NetDialer: d, Config: o.TLSConfig}
		conn, err = td.DialContext(context.Background(), "tcp", uri.Host)
	case "ws", "wss":
		// WebSocket frames are buffered by the WebSocket library.
		u := *uri
		u.User = nil
		return mqtt.NewWebsocket(u.String(), o.TLSConfig, o.ConnectTimeout, o.HTTPHeaders, o.WebsocketOptions)
	default:
		return nil, fmt.Errorf("mqtt broker scheme %q: want tcp, ssl, tls, mqtt, mqtts, ws or wss", uri.Scheme)
	}
	if err != nil {
		return nil, err
	}
	return newBufConn(conn), nil
}

// bufConn is a net.Conn with a read buffer and coalesced writes.
type bufConn struct {
	net.Conn
	r *bufio.Reader

	mu     sync.Mutex
	w      *bufio.Writer
	err    error         // the first write error; later writes return it
	kick   chan struct{} // a write is waiting for the flusher
	closed chan struct{}
	once   sync.Once
}

func newBufConn(c net.Conn) *bufConn {
	b := &bufConn{Conn: c, r: bufio.NewReaderSize(c, 64<<10), w: bufio.NewWriterSize(c, 32<<10),
		kick: make(chan struct{}, 1), closed: make(chan struct{})}
	go b.flusher()
	return b
}

func (b *bufConn) Read(p []byte) (int, error) { return b.r.Read(p) }

// Write queues p for the flusher. A write error (the deadline paho sets, a
// reset) is reported by the next Write, as with any buffered connection;
// paho then sees the connection lost and reconnects, and the unacknowledged
// messages stay with the broker's session.
func (b *bufConn) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.err != nil {
		return 0, b.err
	}
	n, err := b.w.Write(p)
	if err != nil {
		b.err = err
		return n, err
	}
	select {
	case b.kick <- struct{}{}:
	default:
	}
	return n, nil
}

func (b *bufConn) flusher() {
	for {
		select {
		case <-b.kick:
		case <-b.closed:
			return
		}
		b.mu.Lock()
		if b.err == nil && b.w.Buffered() > 0 {
			if err := b.w.Flush(); err != nil {
				b.err = err
				// Unblock paho's reader too: the connection is gone.
				_ = b.Conn.Close()
			}
		}
		b.mu.Unlock()
	}
}

// Close flushes what is queued (paho's DISCONNECT) and closes.
func (b *bufConn) Close() error {
	// A broker that stopped reading must not hold the close.
	_ = b.Conn.SetWriteDeadline(time.Now().Add(time.Second))
	b.mu.Lock()
	if b.err == nil {
		_ = b.w.Flush()
		b.err = net.ErrClosed
	}
	b.mu.Unlock()
	b.once.Do(func() { close(b.closed) })
	err := b.Conn.Close()
	if errors.Is(err, net.ErrClosed) {
		return nil
	}
	return err
}
