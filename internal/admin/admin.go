// Package admin is the HTTP listener every Qingliu process has: /metrics,
// /healthz, /readyz, plus whatever API handlers the process mounts.
package admin

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Check is one readiness dependency. A failing critical check makes /readyz
// answer 503; a failing non-critical one is reported as degraded.
type Check struct {
	Name     string
	Critical bool
	Fn       func() error
}

// Server is the admin/API HTTP server.
type Server struct {
	addr   string
	mux    *http.ServeMux
	log    *slog.Logger
	mu     sync.Mutex
	checks []Check
	ln     net.Listener
}

// New builds the server; gatherer serves /metrics.
func New(addr string, gatherer prometheus.Gatherer, log *slog.Logger) *Server {
	s := &Server{addr: addr, mux: http.NewServeMux(), log: log}
	s.mux.Handle("GET /metrics", promhttp.HandlerFor(gatherer, promhttp.HandlerOpts{}))
	s.mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"status":"ok"}` + "\n"))
	})
	s.mux.HandleFunc("GET /readyz", s.ready)
	// Profiles for an operator on call; the listener is loopback by default.
	s.mux.HandleFunc("GET /debug/pprof/", pprof.Index)
	s.mux.HandleFunc("GET /debug/pprof/profile", pprof.Profile)
	s.mux.HandleFunc("GET /debug/pprof/trace", pprof.Trace)
	return s
}

// AddCheck registers a readiness check.
func (s *Server) AddCheck(name string, critical bool, fn func() error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.checks = append(s.checks, Check{Name: name, Critical: critical, Fn: fn})
}

// Handle mounts an API handler.
func (s *Server) Handle(pattern string, h http.Handler) { s.mux.Handle(pattern, h) }

// Listen binds the address now, so that a port in use is one clear error at
// start-up rather than a failure later.
func (s *Server) Listen() error {
	ln, err := net.Listen("tcp", s.addr)
	if err != nil {
		return fmt.Errorf("http listener %s: port in use or not allowed (%w); set http.listen in configs/qingliu.yaml", s.addr, err)
	}
	s.ln = ln
	return nil
}

// Addr is the bound address (after Listen).
func (s *Server) Addr() string {
	if s.ln == nil {
		return s.addr
	}
	return s.ln.Addr().String()
}

// Run serves until ctx is done, then shuts down within 5 s.
func (s *Server) Run(ctx context.Context) error {
	if s.ln == nil {
		if err := s.Listen(); err != nil {
			return err
		}
	}
	srv := &http.Server{Handler: s.mux, ReadHeaderTimeout: 10 * time.Second}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(s.ln) }()
	s.log.Info("http listening", "addr", s.Addr())
	select {
	case err := <-errc:
		return fmt.Errorf("http server: %w", err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil && !errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("http shutdown: %w", err)
	}
	return nil
}

type checkResult struct {
	Status string `json:"status"`
	Error  string `json:"error,omitempty"`
}

func (s *Server) ready(w http.ResponseWriter, _ *http.Request) {
	s.mu.Lock()
	checks := append([]Check(nil), s.checks...)
	s.mu.Unlock()
	out := struct {
		Status string                 `json:"status"`
		Checks map[string]checkResult `json:"checks"`
	}{Status: "ready", Checks: map[string]checkResult{}}
	code := http.StatusOK
	for _, c := range checks {
		r := checkResult{Status: "ok"}
		if err := c.Fn(); err != nil {
			r = checkResult{Status: "failing", Error: err.Error()}
			if c.Critical {
				code = http.StatusServiceUnavailable
				out.Status = "not_ready"
			} else if out.Status == "ready" {
				out.Status = "degraded"
			}
		}
		out.Checks[c.Name] = r
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(out)
}
