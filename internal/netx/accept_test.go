package netx

import (
	"context"
	"io"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// At the limit a connection is closed at once and counted; once a served
// connection releases its slot, the next one is served; cancelling stops the
// loop and closes the listener.
func TestAcceptLimit(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var refused atomic.Int64
	served := make(chan net.Conn, 4)
	l := Limited{Name: "test", MaxConns: 1, Log: slog.New(slog.NewTextHandler(io.Discard, nil)), Refused: func() { refused.Add(1) }}
	ctx, cancel := context.WithCancel(t.Context())
	var wg sync.WaitGroup
	done := make(chan error, 1)
	// Each connection is served until its client closes it.
	go func() {
		done <- l.Accept(ctx, ln, &wg, func(c net.Conn, _ func()) {
			served <- c
			_, _ = io.Copy(io.Discard, c)
			c.Close()
		})
	}()

	dial := func() net.Conn {
		t.Helper()
		c, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c
	}
	first := dial()
	select {
	case <-served:
	case <-time.After(5 * time.Second):
		t.Fatal("first connection not served")
	}
	second := dial()
	_ = second.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := second.Read(make([]byte, 1)); err != io.EOF {
		t.Fatalf("second connection over the limit: read %v, want EOF (closed)", err)
	}
	if refused.Load() != 1 {
		t.Fatalf("refused %d, want 1", refused.Load())
	}
	// The slot frees when the first connection's serve returns, a moment
	// after its client closes: until then a new one is still refused.
	first.Close()
	deadline := time.Now().Add(5 * time.Second)
	for {
		c := dial()
		select {
		case <-served:
			c.Close()
		case <-time.After(50 * time.Millisecond):
			if time.Now().After(deadline) {
				t.Fatal("no connection served after the first closed")
			}
			continue
		}
		break
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Accept after cancel: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Accept did not return after cancel")
	}
	wg.Wait()
	if _, err := net.Dial("tcp", ln.Addr().String()); err == nil {
		t.Fatal("listener still open after cancel")
	}
}
