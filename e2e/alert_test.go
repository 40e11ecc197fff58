package e2e

import (
	"encoding/json"
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

	"github.com/qingliu/qingliu/alert/notify"
	"github.com/qingliu/qingliu/domain"
	"github.com/qingliu/qingliu/internal/bus"
	"github.com/qingliu/qingliu/internal/testenv"
)

// agencyHook is an agency's webhook endpoint: it verifies the signature and
// applies each Webhook-Id once.
type agencyHook struct {
	t      *testing.T
	secret []byte
	mu     sync.Mutex
	seen   map[string]int
	events []notify.CloudEvent
}

func (h *agencyHook) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	if err := notify.Verify(h.secret, r.Header, body, time.Now(), 5*time.Minute); err != nil {
		h.t.Errorf("webhook: %v", err)
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	id := r.Header.Get(notify.HdrWebhookID)
	if h.seen[id]++; h.seen[id] == 1 {
		var ev notify.CloudEvent
		if err := json.Unmarshal(body, &ev); err == nil {
			h.events = append(h.events, ev)
		}
	}
	w.WriteHeader(http.StatusNoContent)
}

func (h *agencyHook) applied() []notify.CloudEvent {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]notify.CloudEvent(nil), h.events...)
}

type mailCount struct {
	mu sync.Mutex
	n  int
}

type mailBackend struct{ c *mailCount }
type mailSession struct{ c *mailCount }

func (b mailBackend) NewSession(*smtp.Conn) (smtp.Session, error) { return mailSession(b), nil }
func (mailSession) Reset()                                        {}
func (mailSession) Logout() error                                 { return nil }
func (mailSession) Mail(string, *smtp.MailOptions) error          { return nil }
func (mailSession) Rcpt(string, *smtp.RcptOptions) error          { return nil }
func (s mailSession) Data(r io.Reader) error {
	_, err := io.Copy(io.Discard, r)
	s.c.mu.Lock()
	s.c.n++
	s.c.mu.Unlock()
	return err
}

func (c *mailCount) count() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n
}

// TestAlertServiceUserStory runs `qingliu up` with the shipped routing.yaml
// (receivers pointed at the test's webhook endpoints and SMTP server through
// the environment), publishes a cross-border transition as the rules engine
// does, and walks the duty officers' story: both agencies and the joint
// centre are told once, the API lists the alert, one agency acknowledges,
// the other cannot act for it on a Guangzhou-only alert, a station is
// silenced, and a SIGKILL and restart re-send nothing.
func TestAlertServiceUserStory(t *testing.T) {
	influx := testenv.StartInflux(t)
	hooks := map[string]*agencyHook{}
	for _, a := range []string{"gz", "qy", "joint"} {
		hooks[a] = &agencyHook{t: t, secret: []byte("e2e-secret-" + a + "-0123456789"), seen: map[string]int{}}
		srv := httptest.NewServer(hooks[a])
		t.Cleanup(srv.Close)
		t.Setenv("QL_"+strings.ToUpper(a)+"_WEBHOOK_URL", srv.URL)
		t.Setenv("QL_"+strings.ToUpper(a)+"_WEBHOOK_SECRET", string(hooks[a].secret))
	}
	mails := &mailCount{}
	ms := smtp.NewServer(mailBackend{mails})
	ms.Domain, ms.AllowInsecureAuth = "localhost", true
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = ms.Serve(ln) }()
	t.Cleanup(func() { _ = ms.Close() })
	t.Setenv("QL_SMTP_ADDR", ln.Addr().String())
	t.Setenv("QL_SMS_URL", "http://127.0.0.1:1/sms") // nothing listens: SMS retries, the others are not held up

	s := newStack(t, influx, stackOptions{})
	root := testenv.RepoRoot(t)
	for _, f := range []string{"routing.yaml", "stations.yaml"} {
		b, err := os.ReadFile(filepath.Join(root, "configs", f))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(s.dir, f), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Symlink(filepath.Join(root, "configs", "templates"), filepath.Join(s.dir, "templates")); err != nil {
		t.Fatal(err)
	}
	p := s.start("up")
	nc, err := nats.Connect(fmt.Sprintf("nats://127.0.0.1:%d", s.ports.NATS))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, _ := jetstream.New(nc)
	publish := func(tr domain.Transition) { t.Helper(); publishTransition(t, js, tr) }
	now := time.Now()
	joint := domain.Transition{AlertID: "river/joint/nh3n-high/bj-gaoqiao/nh3n", Seq: 1, At: now, Emitted: now, Rule: "river",
		Kind: "joint", Station: "bj-shijiao", Parameter: "nh3n", Status: domain.Firing, Level: domain.Red, Value: 3.2,
		Jurisdictions: []string{"广州", "清远"}, Joint: true, SummaryZH: "北江石角氨氮红色预警，广州、清远联合处置",
		SummaryEN: "Beijiang Shijiao ammonia red warning, owned jointly by 广州 and 清远"}
	publish(joint)
	for a, h := range hooks {
		testenv.Eventually(t, 20*time.Second, a+" webhook", func() bool { return len(h.applied()) == 1 })
	}
	// gz-email, gz-leader? no: qy-email, joint-email and gz-email (orange+ ignores quiet hours).
	testenv.Eventually(t, 20*time.Second, "three emails", func() bool { return mails.count() == 3 })

	api := func(method, path, token string, body any) (int, string) {
		t.Helper()
		return apiCall(t, p, method, path, token, body)
	}
	const gz, qy = "dev-token-guangzhou-0001", "dev-token-qingyuan-0001"
	code, body := api("GET", "/api/v1/alerts?level=red", gz, nil)
	if code != 200 || !strings.Contains(body, `"joint": true`) || !strings.Contains(body, "广清联合中心") {
		t.Fatalf("list: %d %s", code, body)
	}
	ref := hooks["gz"].applied()[0].Data.Ref
	if code, body = api("POST", "/api/v1/alerts/"+ref+"/ack", qy, map[string]string{"by": "清远值班", "comment": "已到场"}); code != 200 {
		t.Fatalf("ack: %d %s", code, body)
	}
	gzOnly := domain.Transition{AlertID: "nh3n-high/lx-jiekou/nh3n", Seq: 1, At: now, Emitted: now, Rule: "nh3n-high",
		Kind: "threshold", Station: "lx-jiekou", Parameter: "nh3n", Status: domain.Firing, Level: domain.Orange,
		Jurisdictions: []string{"广州"}, SummaryZH: "流溪河街口氨氮橙色预警", SummaryEN: "Liuxi Jiekou ammonia orange"}
	publish(gzOnly)
	testenv.Eventually(t, 20*time.Second, "gz-only alert", func() bool { return len(hooks["gz"].applied()) == 2 })
	if code, body = api("POST", "/api/v1/alerts/nh3n-high%2Flx-jiekou%2Fnh3n/ack", qy, map[string]string{}); code != 403 {
		t.Fatalf("qy acking a Guangzhou alert: %d %s", code, body)
	}
	if code, body = api("POST", "/api/v1/silences", gz, map[string]any{"matchers": []string{`station="lx-yagang"`},
		"duration": "2h", "by": "王工", "comment": "仪器维护"}); code != 201 {
		t.Fatalf("silence: %d %s", code, body)
	}
	if code, body = api("GET", "/cap/"+ref+".xml", "", nil); code != 200 || !strings.Contains(body, "<severity>Extreme</severity>") {
		t.Fatalf("cap: %d %s", code, body)
	}
	// SIGKILL and restart: the records and the outbox survive; nothing is
	// sent again.
	p.kill()
	p = s.start("up")
	publish(joint) // a redelivery by the rules engine is a duplicate too
	joint.Seq, joint.Status, joint.Level = 2, domain.Resolved, domain.None
	publish(joint)
	testenv.Eventually(t, 20*time.Second, "resolution", func() bool { return len(hooks["qy"].applied()) == 2 })
	if ev := hooks["qy"].applied()[1]; ev.Type != "cn.qingliu.alert.resolved" {
		t.Fatalf("second qy event %s", ev.Type)
	}
	for a, h := range hooks {
		h.mu.Lock()
		for id, n := range h.seen {
			if n != 1 && !strings.Contains(id, ":2:") {
				t.Errorf("%s received %s %d times", a, id, n)
			}
		}
		h.mu.Unlock()
	}
	// The transitions are in InfluxDB's alerts measurement.
	// InfluxDB's alerts measurement: see alert.TestHistoryWritesOnePointPerTransition
	// (in-process); its end-to-end check here is left open (see the report).
	_ = influx
}

// publishTransition stores tr on ALERTS as the rules stage does: its
// subject, and alert_id:seq as the message id.
func publishTransition(t *testing.T, js jetstream.JetStream, tr domain.Transition) {
	t.Helper()
	b, err := json.Marshal(tr)
	if err != nil {
		t.Fatal(err)
	}
	m := nats.NewMsg(bus.AlertSubject(tr.Station, tr.Rule))
	m.Header.Set(bus.HdrMsgID, tr.MsgID())
	m.Data = b
	if _, err := js.PublishMsg(t.Context(), m); err != nil {
		t.Fatal(err)
	}
}
