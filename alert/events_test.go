package alert

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/qingliu/qingliu/domain"
	"github.com/qingliu/qingliu/internal/testenv"
)

// frame is one server-sent event.
type frame struct {
	id, event, data string
	retry           bool
}

// stream is an open GET /api/v1/events, read by a goroutine that ends with
// the response body.
type stream struct {
	t      *testing.T
	frames chan frame
	cancel context.CancelFunc
	done   chan struct{}
	// startReading starts the reader of a stream opened without one.
	startReading func()
}

// openStream opens the event stream at url and returns after its first frame (the
// retry hint), which the server writes once the stream is subscribed.
func openStream(t *testing.T, url, token string, client *http.Client, read bool) *stream {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	req, _ := http.NewRequestWithContext(ctx, "GET", url, nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := client.Do(req)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
		cancel()
		t.Fatalf("events: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	s := &stream{t: t, frames: make(chan frame, 4096), cancel: cancel, done: make(chan struct{})}
	br := bufio.NewReader(resp.Body)
	first := readFrame(br)
	if first == nil || !first.retry {
		t.Fatalf("first frame %+v, want the retry hint", first)
	}
	start := func() {
		go func() {
			defer close(s.done)
			defer close(s.frames)
			for f := readFrame(br); f != nil; f = readFrame(br) {
				s.frames <- *f
			}
		}()
	}
	started := read
	if read {
		start()
	} else {
		// The slow client: reading starts only when the test says so.
		s.startReading = func() { started = true; start() }
	}
	t.Cleanup(func() {
		cancel()
		resp.Body.Close()
		if started {
			<-s.done
		}
	})
	return s
}

// readFrame reads up to a blank line; comments (the heartbeat) are skipped,
// nil at the end of the stream.
func readFrame(br *bufio.Reader) *frame {
	var f frame
	seen := false
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			return nil
		}
		line = strings.TrimSuffix(line, "\n")
		switch k, v, _ := strings.Cut(line, ": "); {
		case line == "":
			if seen {
				return &f
			}
		case strings.HasPrefix(line, ":"):
		case k == "id":
			f.id, seen = v, true
		case k == "event":
			f.event, seen = v, true
		case k == "data":
			f.data, seen = v, true
		case k == "retry":
			f.retry, seen = true, true
		}
	}
}

// next is the next frame, within 10 s.
func (s *stream) next(what string) frame {
	s.t.Helper()
	select {
	case f, ok := <-s.frames:
		if !ok {
			s.t.Fatalf("%s: the stream ended", what)
		}
		return f
	case <-time.After(10 * time.Second):
		s.t.Fatalf("%s: no event within 10 s", what)
	}
	return frame{}
}

func (s *stream) nextEvent(what string) Event {
	s.t.Helper()
	f := s.next(what)
	var ev Event
	if f.event != "alert" || f.id == "" || json.Unmarshal([]byte(f.data), &ev) != nil {
		s.t.Fatalf("%s: frame %+v", what, f)
	}
	return ev
}

func gzTr(id string, seq uint64, lvl domain.Level) *domain.Transition {
	return &domain.Transition{AlertID: id, Seq: seq, Rule: "nh3n", Kind: "threshold", Station: "lx-jiekou",
		Status: domain.Firing, Level: lvl, Jurisdictions: []string{"广州"}, At: time.Now(), SummaryZH: "x", SummaryEN: "x"}
}

func TestAlertEventsReachTheAgency(t *testing.T) {
	g := newRig(t)
	p := g.start("a1", nil)
	if code, _ := p.call(t, "GET", "/api/v1/events", "", nil); code != 401 {
		t.Fatalf("no token: %d", code)
	}
	const gz = "token-gz-0123456789"
	mine := openStream(t, p.http.URL+"/api/v1/events?agency=gz", gz, http.DefaultClient, true)
	all := openStream(t, p.http.URL+"/api/v1/events", gz, http.DefaultClient, true)

	// 清远's alert first, then 广州's: the stream filtered to gz's alerts
	// (as GET /api/v1/alerts?agency=gz) starts with gz's; the unfiltered
	// one, like the list, has both in order.
	qy := &domain.Transition{AlertID: "nh3n/bj-lixi/nh3n", Seq: 1, Rule: "nh3n", Kind: "threshold", Station: "bj-lixi",
		Status: domain.Firing, Level: domain.Orange, Jurisdictions: []string{"清远"}, At: time.Now(), SummaryZH: "x", SummaryEN: "x"}
	g.publish(qy)
	testenv.Eventually(t, 10*time.Second, "qy alert stored", func() bool {
		code, _ := p.call(t, "GET", "/api/v1/alerts/"+RefOf(qy.AlertID), gz, nil)
		return code == 200
	})
	const id = "nh3n/lx-jiekou/nh3n"
	g.publish(gzTr(id, 1, domain.Yellow))
	ev := mine.nextEvent("gz transition")
	want := Event{Ref: RefOf(id), AlertID: id, Status: "firing", Level: "yellow", Seq: 1, What: "transition"}
	if fmt.Sprintf("%+v", ev) != fmt.Sprintf("%+v", want) {
		t.Fatalf("first event of gz's stream %+v, want %+v", ev, want)
	}
	if ev := all.nextEvent("qy transition"); ev.AlertID != qy.AlertID || ev.What != "transition" || ev.Level != "orange" {
		t.Fatalf("unfiltered stream: %+v, want qy's alert first", ev)
	}
	if ev := all.nextEvent("gz transition"); ev.AlertID != id {
		t.Fatalf("unfiltered stream: %+v", ev)
	}

	// An acknowledgement, its withdrawal and a comment through the API.
	for _, step := range []struct{ path, what string }{{"/ack", "ack"}, {"/unack", "unack"}, {"/comments", "comment"}} {
		code, b := p.call(t, "POST", "/api/v1/alerts/"+RefOf(id)+step.path, gz, map[string]string{"by": "王", "text": "已到场"})
		if code != 200 {
			t.Fatalf("%s: %d %s", step.what, code, b)
		}
		if ev := mine.nextEvent(step.what); ev.What != step.what || ev.Ref != RefOf(id) || ev.Seq != 1 {
			t.Fatalf("after %s: %+v", step.what, ev)
		}
	}
	// A new transition of the same alert.
	g.publish(gzTr(id, 2, domain.Orange))
	if ev := mine.nextEvent("escalation"); ev.What != "transition" || ev.Seq != 2 || ev.Level != "orange" {
		t.Fatalf("escalation: %+v", ev)
	}
	// Service shutdown ends the stream with a resync, and the handler returns.
	p.stop(t)
	if f := mine.next("shutdown"); f.event != "resync" || !strings.Contains(f.data, "shutdown") {
		t.Fatalf("at shutdown: %+v", f)
	}
}

// TestAlertEventsDropASlowClient: a client that stops reading is dropped
// (told to resync, counted) while the service and a reading client go on;
// streams beyond the cap get 503.
func TestAlertEventsDropASlowClient(t *testing.T) {
	g := newRig(t)
	reg := prometheus.NewRegistry()
	g.tune = func(o *Options) { o.Prom, o.EventBuffer, o.MaxBatch, o.MaxEventStreams = reg, 64, 16, 2 }
	p := g.start("a1", nil)
	// Small socket buffers, so that the slow client's backlog reaches the
	// hub in a few hundred events instead of megabytes.
	mux := http.NewServeMux()
	p.s.Mount(mux)
	srv := httptest.NewUnstartedServer(mux)
	srv.Listener = smallBuffers{srv.Listener}
	srv.Start()
	t.Cleanup(srv.Close)
	slowClient := &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := (&net.Dialer{}).DialContext(ctx, network, addr)
		if err == nil {
			_ = c.(*net.TCPConn).SetReadBuffer(4096)
		}
		return c, err
	}}}
	const gz = "token-gz-0123456789"
	good := openStream(t, srv.URL+"/api/v1/events", gz, http.DefaultClient, true)
	slow := openStream(t, srv.URL+"/api/v1/events", gz, slowClient, false)
	code, b := p.call(t, "GET", "/api/v1/events", gz, nil) // third: over the cap of 2
	if code != 503 || !strings.Contains(string(b), "too many event streams") {
		t.Fatalf("third stream: %d %s", code, b)
	}

	const n = 600
	for i := range n {
		g.publish(gzTr(fmt.Sprintf("r%d/lx-jiekou/nh3n", i), 1, domain.Yellow))
	}
	seen := map[string]bool{}
	for len(seen) < n {
		ev := good.nextEvent(fmt.Sprintf("event %d of %d", len(seen)+1, n))
		seen[ev.AlertID] = true
	}
	if v := gauge(t, reg, "qingliu_alert_sse_dropped_total"); v != 1 {
		t.Fatalf("dropped %v streams, want 1 (the slow one)", v)
	}
	if v := gauge(t, reg, "qingliu_alert_sse_clients"); v != 1 {
		t.Fatalf("%v clients, want 1", v)
	}
	// When the slow client reads at last, its stream ends with a resync.
	slow.startReading()
	var last frame
	for f := range slow.frames {
		last = f
	}
	if last.event != "resync" || !strings.Contains(last.data, "overflow") {
		t.Fatalf("the slow stream ended with %+v, want a resync", last)
	}
}

func gauge(t *testing.T, reg *prometheus.Registry, name string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name {
			m := mf.GetMetric()[0]
			return m.GetGauge().GetValue() + m.GetCounter().GetValue()
		}
	}
	t.Fatalf("no metric %s", name)
	return 0
}

// smallBuffers gives every accepted connection a small send buffer.
type smallBuffers struct{ net.Listener }

func (l smallBuffers) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if tc, ok := c.(*net.TCPConn); ok {
		_ = tc.SetWriteBuffer(4096)
	}
	return c, err
}
