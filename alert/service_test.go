package alert

import (
	"bytes"
	"context"
	"encoding/json"
	"encoding/xml"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/qingliu/qingliu/alert/notify"
	"github.com/qingliu/qingliu/domain"
	"github.com/qingliu/qingliu/internal/broker"
	"github.com/qingliu/qingliu/internal/bus"
	"github.com/qingliu/qingliu/internal/testenv"
	"github.com/qingliu/qingliu/registry"
)

// hook is a webhook receiver that verifies signatures and applies each
// Webhook-Id once, as the README's recipe says.
type hook struct {
	t      testing.TB
	secret []byte
	srv    *httptest.Server
	mu     sync.Mutex
	seen   map[string]int // Webhook-Id → deliveries
	events []notify.CloudEvent
	times  []time.Time
	fail   int           // answer 503 to this many requests first
	block  chan struct{} // if set, hold each request until closed
}

func newHook(t testing.TB, secret string) *hook {
	h := &hook{t: t, secret: []byte(secret), seen: map[string]int{}}
	h.srv = httptest.NewServer(http.HandlerFunc(h.serve))
	t.Cleanup(h.srv.Close)
	return h
}

func (h *hook) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	if err := notify.Verify(h.secret, r.Header, body, time.Now(), 5*time.Minute); err != nil {
		h.t.Errorf("webhook verification: %v", err)
		http.Error(w, err.Error(), http.StatusUnauthorized)
		return
	}
	h.mu.Lock()
	h.times = append(h.times, time.Now())
	if h.fail > 0 {
		h.fail--
		h.mu.Unlock()
		w.Header().Set("Retry-After", "0")
		http.Error(w, "down", http.StatusServiceUnavailable)
		return
	}
	id := r.Header.Get(notify.HdrWebhookID)
	h.seen[id]++
	if h.seen[id] == 1 {
		var evs []notify.CloudEvent
		if strings.HasPrefix(r.Header.Get("Content-Type"), "application/cloudevents-batch+json") {
			_ = json.Unmarshal(body, &evs)
		} else {
			var ev notify.CloudEvent
			_ = json.Unmarshal(body, &ev)
			evs = append(evs, ev)
		}
		h.events = append(h.events, evs...)
	}
	block := h.block
	h.mu.Unlock()
	if block != nil {
		<-block
	}
	w.WriteHeader(http.StatusNoContent)
}

// applied returns the events applied once each; deliveries counts requests
// that carried an id.
func (h *hook) applied() []notify.CloudEvent {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]notify.CloudEvent(nil), h.events...)
}

func (h *hook) deliveries() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	n := 0
	for _, c := range h.seen {
		n += c
	}
	return n
}

// mailbox is an in-process SMTP server (emersion/go-smtp).
type mailbox struct {
	addr string
	mu   sync.Mutex
	msgs []string
}

type smtpBackend struct{ mb *mailbox }
type smtpSession struct{ mb *mailbox }

func (b smtpBackend) NewSession(*smtp.Conn) (smtp.Session, error) { return &smtpSession{b.mb}, nil }
func (s *smtpSession) Reset()                                     {}
func (s *smtpSession) Logout() error                              { return nil }
func (s *smtpSession) Mail(string, *smtp.MailOptions) error       { return nil }
func (s *smtpSession) Rcpt(string, *smtp.RcptOptions) error       { return nil }
func (s *smtpSession) Data(r io.Reader) error {
	b, err := io.ReadAll(r)
	s.mb.mu.Lock()
	s.mb.msgs = append(s.mb.msgs, string(b))
	s.mb.mu.Unlock()
	return err
}

func newMailbox(t testing.TB) *mailbox {
	mb := &mailbox{}
	srv := smtp.NewServer(smtpBackend{mb})
	srv.Domain = "localhost"
	srv.AllowInsecureAuth = true
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	mb.addr = ln.Addr().String()
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	return mb
}

func (mb *mailbox) all() []string {
	mb.mu.Lock()
	defer mb.mu.Unlock()
	return append([]string(nil), mb.msgs...)
}

// rig is a NATS server with the streams and buckets, a registry, the
// endpoints and a routing config.
type rig struct {
	t       testing.TB
	srv     *broker.Server
	js      jetstream.JetStream
	reg     *registry.Registry
	rt      *Routing
	gz, qy  *hook
	joint   *hook
	mail    *mailbox
	ackWait time.Duration
	tune    func(*Options) // if set, adjusts the options of every start
}

const rigRouting = `
service:
  templates: %s
  tick: 50ms
  api: {rate_per_sec: 1000, burst: 1000, public_feeds: true}
agencies:
  - {id: gz, name: 广州市生态环境局, token: token-gz-0123456789, jurisdiction: {cities: [广州]},
     escalation: {min_level: orange, after: 1s, chain: [gz-leader]}}
  - {id: qy, name: 清远市生态环境局, token: token-qy-0123456789, jurisdiction: {cities: [清远]}}
  - {id: joint, name: 广清联合中心, token: token-joint-0123456789, jurisdiction: {cities: [广州, 清远], alerts: [joint]}}
receivers:
  - {name: gz-webhook, agency: gz, webhook: {url: %s, secret: secret-gz-0123456789}, retry: {initial: 200ms, max: 1s}}
  - {name: gz-email, agency: gz, email: {smtp: %s, tls: opportunistic, from: alerts@qingliu.example, to: [duty@gz.example]}}
  - {name: gz-leader, agency: gz, min_level: orange, email: {smtp: %s, tls: none, from: alerts@qingliu.example, to: [leader@gz.example]}}
  - {name: qy-webhook, agency: qy, webhook: {url: %s, secret: secret-qy-0123456789}}
  - {name: joint-webhook, agency: joint, webhook: {url: %s, secret: secret-joint-0123456789}}
route:
  group_wait: 0s
  repeat_interval: 1h
  routes:
    - {matchers: ['agency="gz"'], receivers: [gz-webhook, gz-email], continue: true}
    - {matchers: ['agency="qy"'], receivers: [qy-webhook], continue: true}
    - {matchers: ['joint="true"'], receivers: [joint-webhook]}
inhibit_rules:
  - {name: red-mutes-lower, source_matchers: [level=red], target_matchers: ['level<=yellow'], equal: [station]}
`

func newRig(t testing.TB) *rig {
	t.Helper()
	root := testenv.RepoRoot(t)
	reg, err := registry.Load(filepath.Join(root, "configs", "stations.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	g := &rig{t: t, srv: testenv.NATS(t), reg: reg, ackWait: 2 * time.Second,
		gz: newHook(t, "secret-gz-0123456789"), qy: newHook(t, "secret-qy-0123456789"),
		joint: newHook(t, "secret-joint-0123456789"), mail: newMailbox(t)}
	file := filepath.Join(t.TempDir(), "routing.yaml")
	cfg := fmt.Sprintf(rigRouting, filepath.Join(root, "configs", "templates"), g.gz.srv.URL, g.mail.addr, g.mail.addr, g.qy.srv.URL, g.joint.srv.URL)
	if err := os.WriteFile(file, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := LoadConfig(file)
	if err != nil {
		t.Fatal(err)
	}
	if g.rt, err = Compile(c, reg); err != nil {
		t.Fatal(err)
	}
	nc := g.conn("setup")
	g.js, _ = jetstream.New(nc)
	if err := bus.Ensure(t.Context(), g.js, bus.Config{}); err != nil {
		t.Fatal(err)
	}
	return g
}

func (g *rig) conn(name string) *nats.Conn {
	nc, err := g.srv.Connect(name)
	if err != nil {
		g.t.Fatal(err)
	}
	g.t.Cleanup(nc.Close)
	return nc
}

// testBus builds the JetStream objects the way internal/bus declares them
// for production (names and shapes mirrored here).
func testBus(ctx context.Context, t testing.TB, js jetstream.JetStream, ackWait time.Duration) Bus {
	t.Helper()
	if _, err := js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{Name: "OUTBOX", Subjects: []string{"ql.outbox.>"},
		Storage: jetstream.FileStorage, MaxAge: 7 * 24 * time.Hour, Duplicates: time.Hour}); err != nil {
		t.Fatal(err)
	}
	kv := func(name string, ttl time.Duration) jetstream.KeyValue {
		b, err := js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: name, TTL: ttl, Storage: jetstream.FileStorage})
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	cons, err := bus.Consumer(ctx, js, bus.StreamAlerts, bus.AlertConsumer())
	if err != nil {
		t.Fatal(err)
	}
	return Bus{JS: js, Transitions: cons, Records: kv("ql_alerts", 0), Silences: kv("ql_silences", 0),
		NotifyLog: kv("ql_notify_log", 7*24*time.Hour), Lease: kv("ql_alert_lease", 3*time.Second),
		OutboxSubject: func(r string) string { return "ql.outbox." + r },
		OutboxConsumer: func(ctx context.Context, r string, maxAck int) (jetstream.Consumer, error) {
			return js.CreateOrUpdateConsumer(ctx, "OUTBOX", jetstream.ConsumerConfig{Durable: "outbox_" + r,
				FilterSubject: "ql.outbox." + r, AckPolicy: jetstream.AckExplicitPolicy, AckWait: ackWait,
				MaxAckPending: maxAck, MaxDeliver: -1})
		}}
}

// running is one alert service instance ("process").
type running struct {
	s      *Service
	nc     *nats.Conn
	cancel context.CancelFunc
	done   chan error
	http   *httptest.Server
}

func (g *rig) start(name string, override map[string]Notifier) *running {
	g.t.Helper()
	nc := g.conn(name)
	js, _ := jetstream.New(nc)
	o := Options{Routing: g.rt, Registry: g.reg, Bus: testBus(g.t.Context(), g.t, js, g.ackWait), NATS: nc,
		Notifiers: override, Instance: name, LeaseTTL: 3 * time.Second, Prom: prometheus.NewRegistry(),
		Log: testenv.Logger(g.t).With("component", "alert", "instance", name)}
	if g.tune != nil {
		g.tune(&o)
	}
	s, err := New(o)
	if err != nil {
		g.t.Fatal(err)
	}
	mux := http.NewServeMux()
	s.Mount(mux)
	p := &running{s: s, nc: nc, done: make(chan error, 1), http: httptest.NewServer(mux)}
	ctx, cancel := context.WithCancel(context.Background())
	p.cancel = cancel
	go func() { p.done <- s.Run(ctx) }()
	g.t.Cleanup(func() { p.stop(g.t) })
	testenv.Eventually(g.t, 10*time.Second, "alert service ready", func() bool { return s.Ready() == nil })
	return p
}

func (p *running) stop(t testing.TB) {
	if p.cancel == nil {
		return
	}
	p.cancel()
	p.cancel = nil
	select {
	case err := <-p.done:
		if err != nil {
			t.Errorf("alert service: %v", err)
		}
	case <-time.After(20 * time.Second):
		t.Error("alert service did not stop")
	}
	p.http.Close()
}

// crash cuts the connection first, as a killed process: nothing more is
// acked, logged or stored.
func (p *running) crash(t testing.TB) {
	p.nc.Close()
	p.stop(t)
}

func (g *rig) publish(tr *domain.Transition) {
	g.t.Helper()
	b, _ := json.Marshal(tr)
	msg := nats.NewMsg(bus.AlertSubject(tr.Station, tr.Rule))
	msg.Header.Set(bus.HdrMsgID, tr.MsgID())
	msg.Data = b
	if _, err := g.js.PublishMsg(g.t.Context(), msg); err != nil {
		g.t.Fatal(err)
	}
}

func (p *running) call(t testing.TB, method, path, token string, body any) (int, []byte) {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, p.http.URL+path, rd)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

const jointID = "river/joint/nh3n-high/bj-gaoqiao/nh3n"

func jointTr(seq uint64, st domain.Status, lvl domain.Level) *domain.Transition {
	tr := trans(jointID, seq, "bj-shijiao", st, lvl, "广州", "清远")
	tr.Rule, tr.Kind = "river", "joint"
	return tr
}

func TestJointWarningReachesEachAgencyOnce(t *testing.T) {
	g := newRig(t)
	p := g.start("a1", nil)
	g.publish(jointTr(1, domain.Firing, domain.Red))
	for name, h := range map[string]*hook{"gz": g.gz, "qy": g.qy, "joint": g.joint} {
		testenv.Eventually(t, 10*time.Second, name+" webhook", func() bool { return len(h.applied()) == 1 })
		ev := h.applied()[0]
		if ev.Type != "cn.qingliu.alert.firing" || ev.SpecVersion != "1.0" || ev.Data.ID != jointID || ev.Data.Level != domain.Red ||
			len(ev.Data.Agencies) != 3 || !strings.HasPrefix(ev.ID, jointID+":1:") {
			t.Fatalf("%s event %+v", name, ev)
		}
	}
	testenv.Eventually(t, 10*time.Second, "email", func() bool { return len(g.mail.all()) == 1 })
	if m := g.mail.all()[0]; !strings.Contains(m, "=?UTF-8?q?") || !strings.Contains(m, "Message-ID: <") {
		t.Fatalf("email headers:\n%s", m[:min(len(m), 600)])
	}

	// CAP 1.2 parses with its namespace and carries the severity.
	ref := RefOf(jointID)
	code, b := p.call(t, "GET", "/cap/"+ref+".xml", "", nil)
	var capDoc notify.CAP
	if code != 200 || xml.Unmarshal(b, &capDoc) != nil || capDoc.XMLName.Space != notify.CAPNamespace ||
		capDoc.Info[0].Severity != "Extreme" || capDoc.MsgType != "Alert" || len(capDoc.Info[0].Area[0].Circle) != 1 {
		t.Fatalf("cap %d %+v\n%s", code, capDoc, b)
	}
	// The joint warning lists both agencies; one acknowledges, the other
	// agency's token cannot act for it on an alert not routed to it.
	code, b = p.call(t, "POST", "/api/v1/alerts/"+ref+"/ack", "token-qy-0123456789", map[string]string{"by": "清远值班 李", "comment": "已派员"})
	if code != 200 {
		t.Fatalf("ack: %d %s", code, b)
	}
	g.publish(&domain.Transition{AlertID: "nh3n/lx-jiekou/nh3n", Seq: 1, Rule: "nh3n", Kind: "threshold", Station: "lx-jiekou",
		Status: domain.Firing, Level: domain.Yellow, Jurisdictions: []string{"广州"}, At: time.Now(), SummaryZH: "x", SummaryEN: "x"})
	testenv.Eventually(t, 10*time.Second, "gz-only alert", func() bool { return len(g.gz.applied()) == 2 })
	if code, b = p.call(t, "POST", "/api/v1/alerts/"+RefOf("nh3n/lx-jiekou/nh3n")+"/ack", "token-qy-0123456789", map[string]string{}); code != 403 {
		t.Fatalf("qy acking a gz alert: %d %s", code, b)
	}
	if code, _ = p.call(t, "GET", "/api/v1/alerts", "", nil); code != 401 {
		t.Fatalf("no token: %d", code)
	}
	code, b = p.call(t, "GET", "/api/v1/alerts/"+ref, "token-gz-0123456789", nil)
	var d struct {
		Alert      notify.Alert `json:"alert"`
		Deliveries []LogEntry   `json:"deliveries"`
	}
	if code != 200 || json.Unmarshal(b, &d) != nil {
		t.Fatalf("get: %d %s", code, b)
	}
	acked := map[string]bool{}
	for _, a := range d.Alert.Agencies {
		acked[a.Agency] = a.Acked
	}
	if len(acked) != 3 || !acked["qy"] || acked["gz"] || acked["joint"] {
		t.Fatalf("acks %v", acked)
	}
	// Resolution arrives as an update of the same alert.
	g.publish(jointTr(2, domain.Resolved, domain.None))
	testenv.Eventually(t, 10*time.Second, "resolution", func() bool { return len(g.qy.applied()) == 2 })
	if ev := g.qy.applied()[1]; ev.Type != "cn.qingliu.alert.resolved" || ev.Data.ID != jointID {
		t.Fatalf("resolution %+v", ev)
	}
	if n := g.joint.deliveries(); n != 2 {
		t.Fatalf("joint centre got %d deliveries, want 2", n)
	}
}

func TestCrashBeforeAndAfterSendDeliversOnce(t *testing.T) {
	g := newRig(t)
	// Before send: the first process stores the outbox entry, but its
	// notifier never completes; it is killed.
	stuck := notifierFunc(func(ctx context.Context, _ *notify.Message) error { <-ctx.Done(); return ctx.Err() })
	p1 := g.start("a1", map[string]Notifier{"qy-webhook": stuck, "joint-webhook": stuck})
	// Yellow: below gz's escalation level, whose 1 s timer would otherwise
	// (rightly) re-notify while a slow run (-race) is still restarting.
	g.publish(jointTr(1, domain.Firing, domain.Yellow))
	testenv.Eventually(t, 10*time.Second, "gz webhook", func() bool { return len(g.gz.applied()) == 1 })
	p1.crash(t)
	if n := len(g.qy.applied()) + g.joint.deliveries(); n != 0 {
		t.Fatalf("qy and joint got %d before the restart", n)
	}
	// After send: the second process sends to joint but is killed before it
	// can ack or log.
	g.joint.mu.Lock()
	g.joint.block = make(chan struct{})
	g.joint.mu.Unlock()
	p2 := g.start("a2", nil)
	testenv.Eventually(t, 10*time.Second, "qy webhook after restart", func() bool { return len(g.qy.applied()) == 1 })
	testenv.Eventually(t, 10*time.Second, "joint request", func() bool { return g.joint.deliveries() >= 1 })
	p2.crash(t)
	g.joint.mu.Lock()
	close(g.joint.block)
	g.joint.block = nil
	g.joint.mu.Unlock()
	g.start("a3", nil)
	testenv.Eventually(t, 15*time.Second, "joint redelivery", func() bool { return g.joint.deliveries() >= 2 })
	if n := len(g.joint.applied()); n != 1 {
		t.Fatalf("joint applied %d, want 1 (same Webhook-Id)", n)
	}
	for name, h := range map[string]*hook{"gz": g.gz, "qy": g.qy} {
		if n := len(h.applied()); n != 1 {
			t.Fatalf("%s applied %d", name, n)
		}
	}
	if n := len(g.mail.all()); n != 1 {
		t.Fatalf("%d emails", n)
	}
}

type notifierFunc func(ctx context.Context, m *notify.Message) error

func (f notifierFunc) Notify(ctx context.Context, m *notify.Message) error { return f(ctx, m) }

func TestFailingWebhookRetriesWhileEmailGoesOut(t *testing.T) {
	g := newRig(t)
	g.gz.fail = 3
	g.start("a1", nil)
	g.publish(&domain.Transition{AlertID: "nh3n/lx-jiekou/nh3n", Seq: 1, Rule: "nh3n", Kind: "threshold", Station: "lx-jiekou",
		Status: domain.Firing, Level: domain.Orange, Jurisdictions: []string{"广州"}, At: time.Now(), SummaryZH: "x", SummaryEN: "x"})
	testenv.Eventually(t, 10*time.Second, "email", func() bool { return len(g.mail.all()) == 1 })
	if len(g.gz.applied()) != 0 {
		t.Fatal("webhook succeeded before its failures")
	}
	testenv.Eventually(t, 15*time.Second, "webhook after retries", func() bool { return len(g.gz.applied()) == 1 })
	g.gz.mu.Lock()
	ts := append([]time.Time(nil), g.gz.times...)
	g.gz.mu.Unlock()
	if len(ts) != 4 {
		t.Fatalf("%d attempts, want 4", len(ts))
	}
	// Backoff 200ms, 400ms, 800ms (±20 %): every retry waited.
	for i := 1; i < len(ts); i++ {
		if ts[i].Sub(ts[i-1]) < 150*time.Millisecond {
			t.Fatalf("retry without backoff: %v", ts)
		}
	}
}

func TestEscalationTimerAndSilenceAndReplicas(t *testing.T) {
	g := newRig(t)
	a := g.start("a1", nil)
	b := g.start("a2", nil) // a second replica: must not double anything
	// A silence on lx-liangkou by gz: allowed; by qy: forbidden.
	code, body := b.call(t, "POST", "/api/v1/silences", "token-qy-0123456789",
		map[string]any{"matchers": []string{`station="lx-liangkou"`}, "duration": "1h", "comment": "维护"})
	if code != 403 {
		t.Fatalf("qy silencing a Guangzhou station: %d %s", code, body)
	}
	code, body = b.call(t, "POST", "/api/v1/silences", "token-gz-0123456789",
		map[string]any{"matchers": []string{`station="lx-liangkou"`}, "duration": "1h", "by": "王工", "comment": "仪器维护"})
	if code != 201 {
		t.Fatalf("silence: %d %s", code, body)
	}
	// Replicas share silences through a KV watch: the leader sees one made
	// on another replica milliseconds later. Publish once it has.
	testenv.Eventually(t, 5*time.Second, "silence visible to the leader", func() bool {
		_, body := a.call(t, "GET", "/api/v1/silences", "token-gz-0123456789", nil)
		return strings.Contains(string(body), "lx-liangkou")
	})
	mk := func(id, st string, lvl domain.Level) *domain.Transition {
		return &domain.Transition{AlertID: id, Seq: 1, Rule: "r", Kind: "threshold", Station: st, Status: domain.Firing, Level: lvl,
			Jurisdictions: []string{"广州"}, At: time.Now(), SummaryZH: "x", SummaryEN: "x"}
	}
	g.publish(mk("red/lx-yagang", "lx-yagang", domain.Red))
	g.publish(mk("yellow/lx-yagang", "lx-yagang", domain.Yellow)) // inhibited by the red
	g.publish(mk("red/lx-liangkou", "lx-liangkou", domain.Red))   // silenced
	// The red is not acknowledged: after 1s it escalates to gz-leader.
	testenv.Eventually(t, 15*time.Second, "escalation email", func() bool {
		for _, m := range g.mail.all() {
			if strings.Contains(m, "leader@gz.example") {
				return true
			}
		}
		return false
	})
	code, body = a.call(t, "GET", "/api/v1/alerts/"+RefOf("yellow/lx-yagang"), "token-gz-0123456789", nil)
	if code != 200 || !strings.Contains(string(body), "inhibited:red-mutes-lower") {
		t.Fatalf("inhibited alert: %d %s", code, body)
	}
	testenv.Eventually(t, 5*time.Second, "silence visible on the leader", func() bool {
		_, body := a.call(t, "GET", "/api/v1/alerts/"+RefOf("red/lx-liangkou"), "token-gz-0123456789", nil)
		return strings.Contains(string(body), "silenced:")
	})
	ids := map[string]int{}
	for _, ev := range g.gz.applied() {
		ids[ev.Data.ID]++
		if ev.Data.Station != "lx-yagang" {
			t.Fatalf("silenced or inhibited alert sent: %+v", ev.Data.ID)
		}
	}
	if g.gz.deliveries() != len(g.gz.applied()) {
		t.Fatalf("replicas doubled a delivery: %d requests for %d ids", g.gz.deliveries(), len(g.gz.applied()))
	}
	if ids["red/lx-yagang"] < 2 || ids["yellow/lx-yagang"] != 0 {
		t.Fatalf("gz webhook got %v (want the red and its overdue re-notification)", ids)
	}
}

func TestWhoamiNamesTheTokensAgency(t *testing.T) {
	g := newRig(t)
	p := g.start("a1", nil)
	code, b := p.call(t, "GET", "/api/v1/whoami", "token-qy-0123456789", nil)
	var w Whoami
	if code != 200 || json.Unmarshal(b, &w) != nil || w.Agency != "qy" || w.Name != "清远市生态环境局" {
		t.Fatalf("whoami: %d %s", code, b)
	}
	for _, tok := range []string{"", "token-qy-wrong"} {
		if code, b := p.call(t, "GET", "/api/v1/whoami", tok, nil); code != 401 || !strings.Contains(string(b), "missing or unknown bearer token") {
			t.Fatalf("whoami with %q: %d %s", tok, code, b)
		}
	}
}
