// Package netx holds the accept loop that Qingliu's TCP listeners share
// (the HJ 212 listener and the MQTT gate).
package netx

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"time"
)

// Limited describes a listener whose connections are capped.
type Limited struct {
	// Name prefixes errors and logs, e.g. "hj212".
	Name string
	// MaxConns bounds the connections served at once; one more is closed
	// at once.
	MaxConns int
	Log      *slog.Logger
	// Refused, if set, is called for each connection closed at the limit
	// (to count it).
	Refused func()
}

// Accept accepts on ln until ctx is done (it then closes ln and returns
// nil) or accepting fails for good. Each connection is served by serve in a
// goroutine tracked by wg; serve calls release once when the connection no
// longer counts against MaxConns. Transient accept errors (out of file
// descriptors and the like) are retried with backoff, as net/http does.
func (l Limited) Accept(ctx context.Context, ln net.Listener, wg *sync.WaitGroup, serve func(conn net.Conn, release func())) error {
	stop := context.AfterFunc(ctx, func() { ln.Close() })
	defer stop()
	defer ln.Close()
	slots := make(chan struct{}, l.MaxConns)
	var backoff time.Duration
	full := false
	for {
		conn, err := ln.Accept()
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			if errors.Is(err, net.ErrClosed) {
				return fmt.Errorf("%s: accept on %s: %w", l.Name, ln.Addr(), err)
			}
			if backoff == 0 {
				l.Log.Warn(l.Name+" accept failing, retrying", "err", err)
			}
			backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
			t := time.NewTimer(backoff)
			select {
			case <-t.C:
			case <-ctx.Done():
				t.Stop()
				return nil
			}
			continue
		}
		backoff = 0
		select {
		case slots <- struct{}{}:
			full = false
		default:
			if l.Refused != nil {
				l.Refused()
			}
			if !full {
				// Once until a connection is served again.
				full = true
				l.Log.Warn(l.Name+" connections refused: at the limit", "remote", conn.RemoteAddr().String(), "max_conns", l.MaxConns)
			}
			conn.Close()
			continue
		}
		var once sync.Once
		release := func() { once.Do(func() { <-slots }) }
		wg.Go(func() {
			defer release()
			serve(conn, release)
		})
	}
}
