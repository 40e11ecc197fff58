package alert

import (
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/qingliu/qingliu/alert/notify"
	"github.com/qingliu/qingliu/domain"
	"github.com/qingliu/qingliu/internal/testenv"
	"github.com/qingliu/qingliu/registry"
)

// core drives the pure core (apply, route, plan) with the shipped
// routing.yaml and registry and a clock the test sets.
type core struct {
	t    *testing.T
	rt   *Routing
	reg  *registry.Registry
	recs map[string]*Record
	sils []*Silence
	now  time.Time
}

func newCore(t *testing.T) *core {
	t.Helper()
	root := testenv.RepoRoot(t)
	reg, err := registry.Load(filepath.Join(root, "configs", "stations.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	c, err := LoadConfig(filepath.Join(root, "configs", "routing.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	rt, err := Compile(c, reg)
	if err != nil {
		t.Fatal(err)
	}
	// 10:00 China time: outside the quiet hours.
	return &core{t: t, rt: rt, reg: reg, recs: map[string]*Record{}, now: time.Date(2026, 11, 26, 10, 0, 0, 0, chinaTime)}
}

// trans is a transition for the tests.
func trans(id string, seq uint64, station string, st domain.Status, lvl domain.Level, jur ...string) *domain.Transition {
	return &domain.Transition{AlertID: id, Seq: seq, At: time.Date(2026, 11, 26, 9, 0, 0, 0, chinaTime), Rule: strings.Split(id, "/")[0],
		Kind: "threshold", Station: station, Parameter: "nh3n", Status: st, Level: lvl, Value: 2.5, Jurisdictions: jur,
		Joint: len(jur) > 1, SummaryZH: station + " 氨氮", SummaryEN: station + " ammonia"}
}

// send applies transitions, then plans; it returns receiver → message.
func (c *core) send(trs ...*domain.Transition) map[string]*notify.Message {
	c.t.Helper()
	for _, tr := range trs {
		ref := RefOf(tr.AlertID)
		r := c.recs[ref]
		if r == nil {
			r = newRecord(tr.AlertID)
		}
		st, _ := c.reg.Station(tr.Station)
		if ev, ok := r.apply(tr, st, c.now); ok {
			c.rt.route(r, ev, c.now)
		}
		c.recs[ref] = r
	}
	return c.plan()
}

func (c *core) plan() map[string]*notify.Message {
	c.t.Helper()
	msgs, changed := c.rt.plan(c.recs, c.sils, c.now)
	for ref, r := range changed {
		c.recs[ref] = r
	}
	out := map[string]*notify.Message{}
	for _, m := range msgs {
		if _, dup := out[m.Receiver]; !dup {
			out[m.Receiver] = m
		}
	}
	return out
}

func receivers(ms map[string]*notify.Message) []string {
	var out []string
	for k := range ms {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

func (c *core) rec(id string) *Record { return c.recs[RefOf(id)] }

func TestJointRedGoesToEveryAgencyOnce(t *testing.T) {
	c := newCore(t)
	const id = "river/joint/nh3n-high/bj-gaoqiao/nh3n"
	got := c.send(trans(id, 1, "bj-shijiao", domain.Firing, domain.Red, "广州", "清远"))
	want := []string{"bus-nats", "gz-email", "gz-sms", "gz-webhook", "joint-email", "joint-webhook", "qy-email", "qy-sms", "qy-webhook"}
	if r := receivers(got); !slices.Equal(r, want) {
		t.Fatalf("receivers %v, want %v", r, want)
	}
	m := got["gz-webhook"]
	if m.ID != id+":1:gz-webhook" || m.Items[0].Event != notify.EventFiring || len(m.Items[0].Alert.Agencies) != 4 {
		t.Fatalf("message %+v", m)
	}
	// A redelivery of the same transition and a plan later send nothing.
	if got := c.send(trans(id, 1, "bj-shijiao", domain.Firing, domain.Red, "广州", "清远")); len(got) != 0 {
		t.Fatalf("redelivery sent %v", receivers(got))
	}
	// De-escalation then resolution arrive as updates of the same alert.
	c.now = c.now.Add(time.Minute)
	got = c.send(trans(id, 2, "bj-shijiao", domain.Firing, domain.Orange, "广州", "清远"))
	if got["gz-webhook"].Items[0].Event != notify.EventDeescalated || got["gz-webhook"].ID != id+":2:gz-webhook" {
		t.Fatalf("deescalation %+v", got["gz-webhook"])
	}
	c.now = c.now.Add(time.Minute)
	got = c.send(trans(id, 3, "bj-shijiao", domain.Resolved, domain.None, "广州", "清远"))
	if len(got) != 9 || got["qy-sms"].Items[0].Event != notify.EventResolved {
		t.Fatalf("resolution to %v", receivers(got))
	}
}

func TestGroupWaitSendsOneEventTogether(t *testing.T) {
	c := newCore(t)
	src := "nh3n-high/lp-huadu/nh3n"
	a := trans(src, 1, "lp-huadu", domain.Firing, domain.Yellow, "广州")
	b := trans("river/bn-chini/"+src, 1, "bn-chini", domain.Firing, domain.Yellow, "广州")
	b.SourceAlert, b.Kind = src, "propagation"
	if got := c.send(a); got["gz-webhook"] != nil {
		t.Fatal("yellow went out before the group wait")
	}
	c.now = c.now.Add(5 * time.Second)
	if got := c.send(b); got["gz-webhook"] != nil {
		t.Fatal("group flushed early")
	}
	if h := c.rec(src).receiver("gz-webhook").Held; h != "group_wait" {
		t.Fatalf("held %q", h)
	}
	c.now = c.now.Add(5 * time.Second)
	got := c.plan()
	m := got["gz-webhook"]
	if m == nil || len(m.Items) != 2 || !strings.HasPrefix(m.ID, "gz-webhook:g:") {
		t.Fatalf("grouped message %+v", m)
	}
}

func TestQuietHoursHoldOnlyBelowOrange(t *testing.T) {
	c := newCore(t)
	c.now = time.Date(2026, 11, 26, 23, 0, 0, 0, chinaTime)
	c.send(trans("a/lx-jiekou/nh3n", 1, "lx-jiekou", domain.Firing, domain.Yellow, "广州"))
	c.now = c.now.Add(10 * time.Second)
	got := c.plan()
	if got["gz-webhook"] == nil || got["gz-email"] != nil {
		t.Fatalf("at 23:00 yellow went to %v; want the webhook, the email held", receivers(got))
	}
	if h := c.rec("a/lx-jiekou/nh3n").receiver("gz-email").Held; h != "quiet_hours" {
		t.Fatalf("held %q", h)
	}
	got = c.send(trans("b/lx-yagang/nh3n", 1, "lx-yagang", domain.Firing, domain.Red, "广州"))
	if got["gz-email"] == nil || got["gz-sms"] == nil {
		t.Fatalf("red at night went to %v", receivers(got))
	}
	c.now = time.Date(2026, 11, 27, 7, 0, 0, 0, chinaTime)
	if got := c.plan(); got["gz-email"] == nil || got["gz-email"].Items[0].Alert.ID != "a/lx-jiekou/nh3n" {
		t.Fatalf("held yellow not sent at 07:00: %v", receivers(got))
	}
}

func TestInhibitionAndSilences(t *testing.T) {
	c := newCore(t)
	c.send(trans("red/lx-jiekou/nh3n", 1, "lx-jiekou", domain.Firing, domain.Red, "广州"))
	c.send(trans("wq/lx-jiekou", 1, "lx-jiekou", domain.Firing, domain.Yellow, "广州"))
	c.now = c.now.Add(time.Minute)
	c.plan()
	if h := c.rec("wq/lx-jiekou").receiver("gz-webhook").Held; h != "inhibited:red-mutes-lower-at-section" {
		t.Fatalf("yellow under red: held %q", h)
	}
	// A yellow elsewhere is not inhibited.
	c.send(trans("wq/lx-yagang", 1, "lx-yagang", domain.Firing, domain.Yellow, "广州"))
	c.now = c.now.Add(time.Minute)
	if got := c.plan(); got["gz-webhook"] == nil || got["gz-webhook"].Items[0].Alert.Station != "lx-yagang" {
		t.Fatalf("unrelated yellow: %v", receivers(got))
	}
	// A silent station mutes its value alerts.
	dead := trans("silent/bn-tanbu", 1, "bn-tanbu", domain.Firing, domain.None, "广州")
	dead.Kind, dead.Technical = "deadman", true
	c.send(dead, trans("nh3n/bn-tanbu/nh3n", 1, "bn-tanbu", domain.Firing, domain.Orange, "广州"))
	if h := c.rec("nh3n/bn-tanbu/nh3n").receiver("gz-webhook").Held; h != "inhibited:silent-station-mutes-values" {
		t.Fatalf("value alert of a silent station: held %q", h)
	}
	// A silence mutes exactly its station until it ends.
	ms, _ := ParseMatchers([]string{`station="lx-liangkou"`})
	c.sils = []*Silence{{ID: "s1", Matchers: ms, StartsAt: c.now, EndsAt: c.now.Add(time.Hour)}}
	got := c.send(trans("o/lx-liangkou/nh3n", 1, "lx-liangkou", domain.Firing, domain.Orange, "广州"),
		trans("o/lx-zhongluotan/nh3n", 1, "lx-zhongluotan", domain.Firing, domain.Orange, "广州"))
	if m := got["gz-webhook"]; m == nil || len(m.Items) != 1 || m.Items[0].Alert.Station != "lx-zhongluotan" {
		t.Fatalf("silence: %+v", got["gz-webhook"])
	}
	c.now = c.now.Add(time.Hour)
	if got := c.plan(); got["gz-webhook"] == nil || got["gz-webhook"].Items[0].Alert.Station != "lx-liangkou" {
		t.Fatalf("after the silence: %v", receivers(got))
	}
}

func TestEscalationOfUnacknowledgedRed(t *testing.T) {
	c := newCore(t)
	const id = "red/bj-shijiao/nh3n"
	c.send(trans(id, 1, "bj-shijiao", domain.Firing, domain.Red, "广州", "清远"))
	c.recs[RefOf(id)].agency("qy").Ack = &Ack{By: "李", At: c.now}
	c.now = c.now.Add(14 * time.Minute)
	if got := c.plan(); len(got) != 0 {
		t.Fatalf("escalated early: %v", receivers(got))
	}
	c.now = c.now.Add(time.Minute)
	got := c.plan()
	want := []string{"gz-email", "gz-leader-email", "gz-sms", "gz-webhook"}
	if r := receivers(got); !slices.Equal(r, want) {
		t.Fatalf("escalation to %v, want %v (qy acknowledged; joint's policy is 30m)", r, want)
	}
	if m := got["gz-leader-email"]; m.Items[0].Event != notify.EventOverdue || m.ID != id+":1:gz-leader-email:o1" {
		t.Fatalf("overdue message %+v", m)
	}
	c.now = c.now.Add(15 * time.Minute)
	got = c.plan()
	if got["joint-webhook"] == nil || got["gz-webhook"] != nil {
		t.Fatalf("at 30m: %v (gz chain exhausted; joint escalates)", receivers(got))
	}
	// Repeat interval (1h for orange+) reminds the unacknowledged agencies only.
	c.now = c.now.Add(61 * time.Minute)
	got = c.plan()
	if got["gz-webhook"] == nil || got["gz-webhook"].Items[0].Event != notify.EventReminder || got["qy-webhook"] != nil {
		t.Fatalf("reminders to %v", receivers(got))
	}
}
