package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	cdplog "github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/qingliu/qingliu/alert"
	"github.com/qingliu/qingliu/alert/notify"
	"github.com/qingliu/qingliu/domain"
	"github.com/qingliu/qingliu/internal/testenv"
)

// chromium finds a headless-capable Chromium. CI installs it (make deps);
// without it the browser test fails, except under -short.
func chromium(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if testing.Short() {
		t.Skip("no Chromium (chromium, chromium-browser, google-chrome) on PATH; -short")
	}
	t.Fatal("no Chromium (chromium, chromium-browser, google-chrome) on PATH: run make deps (apt-get install chromium)")
	return ""
}

// browser starts headless Chromium with a fresh profile, bounded by
// timeout, and collects the page's uncaught exceptions and console errors (a
// Content-Security-Policy violation is one).
func browser(t *testing.T, timeout time.Duration) (context.Context, func() []string) {
	t.Helper()
	opts := append(slices.Clone(chromedp.DefaultExecAllocatorOptions[:]),
		chromedp.ExecPath(chromium(t)), chromedp.Headless, chromedp.DisableGPU,
		chromedp.UserDataDir(t.TempDir()), chromedp.WindowSize(1400, 1000))
	if os.Geteuid() == 0 {
		opts = append(opts, chromedp.NoSandbox) // Chromium's sandbox does not run as root
	}
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	bctx, cancelBrowser := chromedp.NewContext(actx, chromedp.WithLogf(t.Logf))
	// The browser lives as long as the context of its first call: this one.
	ctx, cancelTimeout := context.WithTimeout(bctx, timeout)
	t.Cleanup(func() { cancelTimeout(); cancelBrowser(); cancelAlloc() })
	var mu sync.Mutex
	var problems []string
	err := chromedp.Listen(ctx, func(ev any) {
		var p string
		switch ev := ev.(type) {
		case *runtime.EventExceptionThrown:
			p = "exception: " + ev.ExceptionDetails.Text
			if ex := ev.ExceptionDetails.Exception; ex != nil && ex.Description != "" {
				p += " " + ex.Description
			}
		case *runtime.EventConsoleAPICalled:
			if ev.Type == runtime.ConsoleAPICalledTypeError {
				p = "console.error"
			}
		case *cdplog.EventEntryAdded:
			// The refused token's 401 is logged by the network layer; that is expected.
			if ev.Entry.Level == cdplog.EntryLevelError && ev.Entry.Source != cdplog.EntrySourceNetwork {
				p = fmt.Sprintf("log %s: %s", ev.Entry.Source, ev.Entry.Text)
			}
		}
		if p != "" {
			mu.Lock()
			problems = append(problems, p)
			mu.Unlock()
		}
	})
	if err != nil {
		t.Fatalf("start Chromium: %v", err)
	}
	return ctx, func() []string {
		mu.Lock()
		defer mu.Unlock()
		return slices.Clone(problems)
	}
}

// TestConsoleDutyOfficer drives the web console of `qingliu up` in headless
// Chromium against the real alert service on the embedded NATS server: a
// joint warning published on ALERTS appears with its colour and both
// agencies, the page says it is live, and a warning published after
// sign-in arrives by the event stream; 清远's duty officer acknowledges the
// joint warning (the API then says 清远 acknowledged and 广州 did not), opens
// its detail, makes and expires a maintenance window; a wrong token gets the
// API's refusal in the banner.
func TestConsoleDutyOfficer(t *testing.T) {
	start := time.Now()
	// Receivers go to a local sink, not to whatever listens on the shipped
	// loopback ports.
	sink := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/sms" {
			_, _ = w.Write([]byte(`{"code":0}`)) // the gateway's success
			return
		}
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(sink.Close)
	for _, a := range []string{"GZ", "QY", "JOINT", "OPS"} {
		t.Setenv("QL_"+a+"_WEBHOOK_URL", sink.URL+"/hooks/"+a)
	}
	t.Setenv("QL_SMS_URL", sink.URL+"/sms")
	t.Setenv("QL_SMTP_ADDR", "127.0.0.1:1") // nothing listens: email retries in the background
	s := newStack(t, testenv.StartInflux(t), stackOptions{})
	p := s.start("up")
	ctx, problems := browser(t, 2*time.Minute)

	nc, err := nats.Connect(fmt.Sprintf("nats://127.0.0.1:%d", s.ports.NATS))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, _ := jetstream.New(nc)
	now := time.Now()
	// The summary carries markup: the console must show it as text.
	const summary = `北江石角氨氮橙色预警 <img src=x id=injected>`
	tr := domain.Transition{AlertID: "river/joint/nh3n-high/bj-gaoqiao/nh3n", Seq: 1, At: now, Emitted: now, Rule: "river",
		Kind: "joint", Station: "bj-shijiao", Parameter: "nh3n", Status: domain.Firing, Level: domain.Orange, Value: 2.4,
		Jurisdictions: []string{"广州", "清远"}, Joint: true, SummaryZH: summary,
		SummaryEN: "Beijiang Shijiao ammonia orange warning, owned jointly by Guangzhou and Qingyuan"}
	publishTransition(t, js, tr)
	ref := alert.RefOf(tr.AlertID)
	row := `#alert-rows tr[data-ref="` + ref + `"]`
	const qy = "dev-token-qingyuan-0001"

	// / sends the browser to the console; sign in as 清远.
	css := func(sel string) chromedp.CSS { return chromedp.CSS(sel) }
	do(t, ctx, "open /", chromedp.Navigate("http://"+p.http+"/"), chromedp.WaitVisible(css("#token")))
	if url := value(t, ctx, "location", chromedp.Location()); url != "http://"+p.http+"/console/" {
		t.Errorf("/ led to %s", url)
	}
	// Polling every 10 minutes: within this test only the event stream
	// brings changes that the page did not make itself.
	do(t, ctx, "sign in and see the joint warning, live",
		chromedp.Navigate("http://"+p.http+"/console/?poll=600"),
		chromedp.WaitVisible(css("#token")),
		chromedp.SendKeys(css("#token"), qy),
		chromedp.Click(css("#signin-submit")),
		chromedp.WaitVisible(css(row+` .badge.lvl-orange`)),
		chromedp.WaitVisible(css(row+` li[data-agency="gz"].unacked`)),
		chromedp.WaitVisible(css(row+` li[data-agency="qy"].unacked.mine`)),
		chromedp.WaitVisible(css(`#live[data-mode="live"]`)),
		// Going live starts one refresh (changes made while the stream was
		// down): once it is done, only an event can bring the next alert.
		chromedp.WaitVisible(css(`#updated[data-busy="false"]`)),
	)
	if live := value(t, ctx, "live indicator", chromedp.Text(css("#live"))); !strings.Contains(live, "live") {
		t.Fatalf("indicator %q, want live", live)
	}
	// A transition published now reaches the page by the stream.
	later := tr
	later.AlertID, later.Station, later.Level, later.Joint, later.Jurisdictions = "nh3n/bj-lixi/nh3n", "bj-lixi", domain.Yellow, false, []string{"清远"}
	later.SummaryZH, later.SummaryEN = "黎溪氨氮黄色预警", "Lixi ammonia yellow warning"
	publishTransition(t, js, later)
	do(t, ctx, "the second transition appears",
		chromedp.WaitVisible(css(`#alert-rows tr[data-ref="`+alert.RefOf(later.AlertID)+`"] .badge.lvl-yellow`)))
	who := value(t, ctx, "agency", chromedp.Text(css("#who-name")))
	badge := value(t, ctx, "badge", chromedp.Text(css(row+" .badge")))
	colour := value(t, ctx, "colour", chromedp.Evaluate[string](`getComputedStyle(document.querySelector('`+row+` .badge')).backgroundColor`))
	if who != "清远市生态环境局" || !strings.Contains(badge, "橙色预警") || colour != "rgb(255, 126, 0)" {
		t.Fatalf("signed in as %q; badge %q in %s, want 橙色预警 in %s", who, badge, colour, domain.Orange.Color())
	}
	summaryText := value(t, ctx, "summary", chromedp.Text(css(row+" .summary-zh")))
	injected := value(t, ctx, "injected", chromedp.Evaluate[int](`document.querySelectorAll('#injected').length`))
	if summaryText != summary || injected != 0 {
		t.Fatalf("summary shown as %q with %d injected elements; want the markup as text", summaryText, injected)
	}

	// Acknowledge with a comment; the row shows it at once.
	do(t, ctx, "acknowledge",
		chromedp.Click(css(row+" button.ack")),
		chromedp.WaitVisible(css("#ack-dialog")),
		chromedp.SendKeys(css("#ack-by"), "清远值班 李"),
		chromedp.SendKeys(css("#ack-comment"), "已派员到场"),
		chromedp.Click(css("#ack-submit")),
		chromedp.WaitVisible(css(row+` li[data-agency="qy"].acked`)),
		chromedp.WaitNotVisible(css("#ack-dialog")),
	)
	qyAck := value(t, ctx, "qy acknowledgement", chromedp.Text(css(row+` li[data-agency="qy"]`)))
	gzAck := value(t, ctx, "gz acknowledgement", chromedp.Text(css(row+` li[data-agency="gz"]`)))
	if !strings.Contains(qyAck, "已确认") || !strings.Contains(qyAck, "清远值班 李") || !strings.Contains(gzAck, "未确认") {
		t.Fatalf("page shows qy %q, gz %q", qyAck, gzAck)
	}
	code, body := apiCall(t, p, "GET", "/api/v1/alerts/"+ref, qy, nil)
	var d struct {
		Alert notify.Alert `json:"alert"`
	}
	if code != 200 || json.Unmarshal([]byte(body), &d) != nil {
		t.Fatalf("get alert: %d %s", code, body)
	}
	acks := map[string]notify.AgencyAck{}
	for _, a := range d.Alert.Agencies {
		acks[a.Agency] = a
	}
	if a := acks["qy"]; !a.Acked || a.By != "清远值班 李" || a.Comment != "已派员到场" || acks["gz"].Acked || len(acks) < 2 {
		t.Fatalf("API acknowledgements %+v", acks)
	}

	// The detail has the audit trail and links the CAP document.
	do(t, ctx, "open the detail",
		chromedp.Click(css(row+" button.detail")),
		chromedp.WaitVisible(css("#detail-dialog a.cap-link")),
	)
	capHref := value(t, ctx, "CAP link", chromedp.AttributeValue(css("#detail-dialog a.cap-link"), "href"))
	detail := value(t, ctx, "detail", chromedp.Text(css("#detail-body")))
	if capHref.Value != "/cap/"+ref+".xml" || !strings.Contains(detail, "已派员到场") || !strings.Contains(detail, "ack") {
		t.Fatalf("detail: cap %q, body %q", capHref.Value, detail)
	}
	do(t, ctx, "close the detail", chromedp.Click(css("#detail-close")), chromedp.WaitNotVisible(css("#detail-dialog")))

	// A maintenance window for a Qingyuan station, made in the form.
	do(t, ctx, "create a maintenance window",
		chromedp.SendKeys(css("#sl-station"), "bj-lixi"),
		chromedp.SendKeys(css("#sl-comment"), "更换氨氮电极"),
		chromedp.Click(css("#sl-submit")),
		chromedp.WaitVisible(css(`#silence-rows tr.state-active`)),
	)
	code, body = apiCall(t, p, "GET", "/api/v1/silences", qy, nil)
	type silence struct {
		ID          string    `json:"id"`
		State       string    `json:"state"`
		Maintenance bool      `json:"maintenance"`
		Stations    []string  `json:"stations"`
		CreatedBy   string    `json:"created_by"`
		Author      string    `json:"author"`
		Comment     string    `json:"comment"`
		EndsAt      time.Time `json:"ends_at"`
		FromConfig  bool      `json:"from_config"`
	}
	var sl struct {
		Silences []silence `json:"silences"`
	}
	if code != 200 || json.Unmarshal([]byte(body), &sl) != nil {
		t.Fatalf("silences: %d %s", code, body)
	}
	// routing.yaml's example window is listed too.
	sl.Silences = slices.DeleteFunc(sl.Silences, func(s silence) bool { return s.FromConfig })
	if len(sl.Silences) != 1 {
		t.Fatalf("silences: %s", body)
	}
	w := sl.Silences[0]
	if !w.Maintenance || !slices.Equal(w.Stations, []string{"bj-lixi"}) || w.CreatedBy != "qy" || w.Author != "清远值班 李" ||
		w.Comment != "更换氨氮电极" || w.State != "active" || time.Until(w.EndsAt) < 110*time.Minute {
		t.Fatalf("maintenance window %+v", w)
	}
	// Expire it from the page.
	srow := `#silence-rows tr[data-silence="` + w.ID + `"]`
	do(t, ctx, "expire the window", chromedp.Click(css(srow+" button.expire")), chromedp.WaitNotPresent(css(srow)))
	if code, body = apiCall(t, p, "GET", "/api/v1/silences?state=expired", qy, nil); code != 200 || !strings.Contains(body, w.ID) {
		t.Fatalf("expired silences: %d %s", code, body)
	}

	// Sign out, then a wrong token: the API's refusal is in the banner and
	// nothing is kept.
	do(t, ctx, "wrong token",
		chromedp.Click(css("#signout")),
		chromedp.WaitVisible(css("#token")),
		chromedp.SendKeys(css("#token"), "dev-token-wrong-0000"),
		chromedp.Click(css("#signin-submit")),
		chromedp.WaitVisible(css("#banner")),
	)
	banner := value(t, ctx, "banner", chromedp.Text(css("#banner")))
	stored := value(t, ctx, "stored token", chromedp.Evaluate[*string](`sessionStorage.getItem('qingliu.token')`))
	if banner != "令牌被拒绝 Token refused (401): missing or unknown bearer token" || stored != nil {
		t.Fatalf("banner %q, stored token %v", banner, stored)
	}
	if hidden := value(t, ctx, "app hidden", chromedp.Evaluate[bool](`document.getElementById('app').hidden`)); !hidden {
		t.Fatal("the console shows the alerts after a refused token")
	}
	if pr := problems(); len(pr) > 0 {
		t.Fatalf("the page reported problems:\n%s", strings.Join(pr, "\n"))
	}
	t.Logf("console test took %s", time.Since(start).Round(time.Millisecond))
}

// do runs browser steps, naming them and showing the page on failure.
func do(t *testing.T, ctx context.Context, step string, steps ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	if err := chromedp.Do(ctx, steps...); err != nil {
		t.Fatalf("%s: %v\npage:\n%s", step, err, page(ctx))
	}
}

// value runs one browser action that reads something.
func value[T any](t *testing.T, ctx context.Context, what string, a chromedp.Action[T]) T {
	t.Helper()
	v, err := chromedp.Run(ctx, a)
	if err != nil {
		t.Fatalf("%s: %v\npage:\n%s", what, err, page(ctx))
	}
	return v
}

func page(ctx context.Context) string {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	html, _ := chromedp.Run(ctx, chromedp.OuterHTML(chromedp.CSS("body")))
	return lastLines(html, 80)
}
