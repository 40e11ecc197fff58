package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/emersion/go-smtp"
	"github.com/nats-io/nats.go"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/spf13/cobra"

	"github.com/qingliu/qingliu/alert"
	"github.com/qingliu/qingliu/alert/console"
	"github.com/qingliu/qingliu/alert/notify"
	"github.com/qingliu/qingliu/registry"
)

// loadRouting loads and compiles routing.yaml against the registry.
func loadRouting(path string, reg *registry.Registry) (*alert.Routing, error) {
	c, err := alert.LoadConfig(path)
	if err != nil {
		return nil, err
	}
	return alert.Compile(c, reg)
}

// newAlertService builds the alert service over the JetStream objects b, on
// connection nc (for receivers of kind nats), and mounts its API and the
// console on the admin server.
func newAlertService(e *env, nc *nats.Conn, b alert.Bus, prom prometheus.Registerer) (*alert.Service, error) {
	path := e.cfg.Path(e.cfg.Files.Routing)
	rt, err := loadRouting(path, e.reg)
	if err != nil {
		return nil, badInput(fmt.Errorf("alert routing:\n%w", err))
	}
	host, _ := os.Hostname()
	svc, err := alert.New(alert.Options{Routing: rt, Registry: e.reg, Bus: b, NATS: nc,
		Instance: host + "/" + e.admin.Addr(), Prom: prom, Log: e.log.With("component", "alert")})
	if err != nil {
		return nil, badInput(fmt.Errorf("alert receivers: %w", err))
	}
	svc.Mount(e.admin)
	// The duty officers' console calls this API from the same origin.
	console.New().Mount(e.admin)
	e.admin.AddCheck("alert", true, svc.Ready)
	return svc, nil
}

// newAlertSinkCmd is `qingliu alert sink`: a development endpoint for the
// shipped routing.yaml, which points every receiver at loopback. It
// verifies and prints webhooks (signature, replay window, Webhook-Id
// dedupe), SMS gateway calls and email.
func newAlertSinkCmd() *cobra.Command {
	var httpAddr, smtpAddr string
	var secrets []string
	var window time.Duration
	cmd := &cobra.Command{
		Use:   "sink",
		Short: "Receive and print the dev receivers' webhooks, SMS gateway calls and email (loopback only)",
		Long: `Sink listens where configs/routing.yaml sends by default: webhooks on
http://127.0.0.1:9099/hooks/<agency> (signatures verified with --secret
agency=secret, default the dev secrets), the SMS gateway on /sms (answers
{"code":0}), and SMTP on 127.0.0.1:2525. Each arrival is printed as one
JSON line; a repeated Webhook-Id is reported as a duplicate, not applied.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			keys := map[string][]byte{}
			for _, a := range []string{"gz", "qy", "joint", "ops"} {
				keys[a] = []byte("dev-webhook-secret-" + a + map[bool]string{true: "-01", false: "-0001"}[a == "joint"])
			}
			for _, s := range secrets {
				k, v, ok := strings.Cut(s, "=")
				if !ok {
					return badInputf("--secret %q: want agency=secret", s)
				}
				keys[k] = []byte(v)
			}
			return runSink(cmd.Context(), cmd.OutOrStdout(), httpAddr, smtpAddr, keys, window)
		},
	}
	cmd.Flags().StringVar(&httpAddr, "http", "127.0.0.1:9099", "webhook and SMS listener")
	cmd.Flags().StringVar(&smtpAddr, "smtp", "127.0.0.1:2525", "SMTP listener")
	cmd.Flags().StringArrayVar(&secrets, "secret", nil, "agency=webhook secret (repeatable)")
	cmd.Flags().DurationVar(&window, "window", 5*time.Minute, "replay window for Webhook-Timestamp")
	return cmd
}

type sinkOut struct {
	mu  sync.Mutex
	enc *json.Encoder
}

func (o *sinkOut) print(v any) {
	o.mu.Lock()
	defer o.mu.Unlock()
	_ = o.enc.Encode(v)
}

func runSink(ctx context.Context, w io.Writer, httpAddr, smtpAddr string, keys map[string][]byte, window time.Duration) error {
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	out := &sinkOut{enc: enc}
	var mu sync.Mutex
	seen := map[string]time.Time{}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /hooks/{agency}", func(rw http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(http.MaxBytesReader(rw, r.Body, 4<<20))
		if err != nil {
			http.Error(rw, "too large", http.StatusRequestEntityTooLarge)
			return
		}
		ag := r.PathValue("agency")
		now := time.Now()
		if err := notify.Verify(keys[ag], r.Header, body, now, window); err != nil {
			out.print(map[string]any{"webhook": ag, "rejected": err.Error()})
			http.Error(rw, "signature", http.StatusUnauthorized)
			return
		}
		id := r.Header.Get(notify.HdrWebhookID)
		mu.Lock()
		for k, t := range seen {
			if now.Sub(t) > 2*window {
				delete(seen, k)
			}
		}
		_, dup := seen[id]
		seen[id] = now
		mu.Unlock()
		if dup {
			out.print(map[string]any{"webhook": ag, "duplicate": id})
			rw.WriteHeader(http.StatusNoContent)
			return
		}
		var evs []notify.CloudEvent
		if json.Unmarshal(body, &evs) != nil {
			var ev notify.CloudEvent
			_ = json.Unmarshal(body, &ev)
			evs = []notify.CloudEvent{ev}
		}
		for _, ev := range evs {
			out.print(map[string]any{"webhook": ag, "verified": true, "type": ev.Type, "id": ev.ID, "level": ev.Data.Level,
				"status": ev.Data.Status, "station": ev.Data.Station, "summary": ev.Data.SummaryZH, "agencies": ev.Data.Agencies})
		}
		rw.WriteHeader(http.StatusNoContent)
	})
	mux.HandleFunc("/sms", func(rw http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(io.LimitReader(r.Body, 64<<10))
		out.print(map[string]any{"sms": string(body), "content_type": r.Header.Get("Content-Type")})
		rw.Header().Set("Content-Type", "application/json")
		_, _ = rw.Write([]byte(`{"code":0,"msg":"ok"}`))
	})
	hl, err := net.Listen("tcp", httpAddr)
	if err != nil {
		return fmt.Errorf("sink http listener: %w", err)
	}
	sl, err := net.Listen("tcp", smtpAddr)
	if err != nil {
		hl.Close()
		return fmt.Errorf("sink smtp listener: %w", err)
	}
	hs := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	ss := smtp.NewServer(sinkBackend{out})
	ss.Domain, ss.AllowInsecureAuth, ss.ReadTimeout, ss.WriteTimeout = "localhost", true, time.Minute, time.Minute
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); _ = hs.Serve(hl) }()
	go func() { defer wg.Done(); _ = ss.Serve(sl) }()
	fmt.Fprintf(os.Stderr, "qingliu alert sink: webhooks on http://%s/hooks/<agency>, SMS on http://%s/sms, SMTP on %s\n", hl.Addr(), hl.Addr(), sl.Addr())
	<-ctx.Done()
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = hs.Shutdown(sctx)
	_ = ss.Close()
	wg.Wait()
	return nil
}

type sinkBackend struct{ out *sinkOut }

type sinkSession struct {
	out  *sinkOut
	from string
	to   []string
}

func (b sinkBackend) NewSession(*smtp.Conn) (smtp.Session, error) {
	return &sinkSession{out: b.out}, nil
}
func (s *sinkSession) Reset()        { s.from, s.to = "", nil }
func (s *sinkSession) Logout() error { return nil }
func (s *sinkSession) Mail(from string, _ *smtp.MailOptions) error {
	s.from = from
	return nil
}
func (s *sinkSession) Rcpt(to string, _ *smtp.RcptOptions) error {
	s.to = append(s.to, to)
	return nil
}
func (s *sinkSession) Data(r io.Reader) error {
	b, err := io.ReadAll(io.LimitReader(r, 4<<20))
	if err != nil {
		return err
	}
	subject := ""
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "X-Qingliu-Delivery: "); ok {
			subject = strings.TrimSpace(v)
		}
	}
	s.out.print(map[string]any{"email": map[string]any{"from": s.from, "to": s.to, "delivery": subject, "bytes": len(b)}})
	return nil
}
