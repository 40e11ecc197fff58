package e2e

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/qingliu/qingliu/domain"
	"github.com/qingliu/qingliu/internal/testenv"
)

const maintRules = `jurisdictions: [广州, 清远]
rules:
  - name: nh3n-high
    kind: threshold
    select: {medium: water}
    parameter: nh3n
    direction: above
    levels: {orange: 2.0}
    clear: {orange: 1.8}
`

// The reloaded file keeps nh3n-high as it was and adds tp-high.
const maintRulesReloaded = maintRules + `  - name: tp-high
    kind: threshold
    select: {medium: water}
    parameter: tp
    direction: above
    levels: {orange: 0.4}
    clear: {orange: 0.3}
`

// transitionLog collects the transitions on the ALERTS stream's subjects.
type transitionLog struct {
	mu  sync.Mutex
	all []domain.Transition
}

func (l *transitionLog) find(rule, station string, st domain.Status) []domain.Transition {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []domain.Transition
	for _, tr := range l.all {
		if tr.Rule == rule && tr.Station == station && tr.Status == st {
			out = append(out, tr)
		}
	}
	return out
}

// A duty officer puts a station into maintenance through the alert API:
// the rules engine stops evaluating its readings (not only the
// notifications), other stations are evaluated as before, and expiring the
// window brings the station back. An operator then reloads rules.yaml
// through the API: the new rule applies at once, a firing alert of an
// unchanged rule keeps its state, and a broken file or a wrong token
// changes nothing.
func TestMaintenanceFromAPIAndRulesReload(t *testing.T) {
	influx := testenv.StartInflux(t)
	rulesFile := filepath.Join(t.TempDir(), "rules.yaml")
	if err := os.WriteFile(rulesFile, []byte(maintRules), 0o600); err != nil {
		t.Fatal(err)
	}
	s := newStack(t, influx, stackOptions{rules: rulesFile})
	p := s.start("up")

	nc, err := nats.Connect(fmt.Sprintf("nats://127.0.0.1:%d", s.ports.NATS))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	var log transitionLog
	sub, err := nc.Subscribe("ql.alerts.>", func(m *nats.Msg) {
		var tr domain.Transition
		if json.Unmarshal(m.Data, &tr) == nil {
			log.mu.Lock()
			log.all = append(log.all, tr)
			log.mu.Unlock()
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sub.Unsubscribe() })

	api := func(method, path, token string, body any) (int, string) {
		t.Helper()
		return apiCall(t, p, method, path, token, body)
	}
	dev := publisher(t, s.mqttURL(), "maint-dev")
	send := func(station, param string, v float64) {
		t.Helper()
		payload := fmt.Sprintf(`{"ts":%q,"values":{%q:%g}}`, time.Now().Format(time.RFC3339Nano), param, v)
		if !publish(dev, "qingliu/v1/"+station+"/json", []byte(payload)) {
			t.Fatalf("publish %s", station)
		}
	}
	const gz = "dev-token-guangzhou-0001"
	updates := func() float64 { return metricValue(p.http, "qingliu_rules_maintenance_updates_total") }

	// A maintenance window selects stations only.
	if code, body := api("POST", "/api/v1/silences", gz, map[string]any{"matchers": []string{`station="lx-yagang"`, `parameter="nh3n"`},
		"duration": "2h", "comment": "校准", "maintenance": true}); code != 400 || !strings.Contains(body, "selects stations only") || !strings.Contains(body, `not by \"parameter\"`) {
		t.Fatalf("maintenance by parameter: %d %s", code, body)
	}
	code, body := api("POST", "/api/v1/silences", gz, map[string]any{"matchers": []string{`station="lx-yagang"`},
		"duration": "2h", "by": "王工", "comment": "更换氨氮电极", "maintenance": true})
	if code != 201 {
		t.Fatalf("maintenance window: %d %s", code, body)
	}
	var win struct {
		ID          string   `json:"id"`
		Maintenance bool     `json:"maintenance"`
		Stations    []string `json:"stations"`
	}
	if err := json.Unmarshal([]byte(body), &win); err != nil || !win.Maintenance || len(win.Stations) != 1 || win.Stations[0] != "lx-yagang" {
		t.Fatalf("maintenance window body: %s", body)
	}
	testenv.Eventually(t, 20*time.Second, "the engine applying the window", func() bool {
		return metricValue(p.http, "qingliu_rules_maintenance_windows") == 1
	})

	// Readings are evaluated in stream order: once lx-jiekou's alert is out,
	// lx-yagang's reading (published first) has been skipped.
	send("lx-yagang", "nh3n", 2.5)
	send("lx-jiekou", "nh3n", 2.5)
	testenv.Eventually(t, 20*time.Second, "lx-jiekou firing", func() bool {
		return len(log.find("nh3n-high", "lx-jiekou", domain.Firing)) == 1
	})
	if got := log.find("nh3n-high", "lx-yagang", domain.Firing); len(got) != 0 {
		t.Fatalf("a station in maintenance was evaluated: %+v", got)
	}

	// Expiring the window brings the station back.
	before := updates()
	if code, body := api("DELETE", "/api/v1/silences/"+win.ID, gz, nil); code != 200 {
		t.Fatalf("expire: %d %s", code, body)
	}
	testenv.Eventually(t, 20*time.Second, "the engine applying the expiry", func() bool { return updates() > before })
	send("lx-yagang", "nh3n", 2.5)
	testenv.Eventually(t, 20*time.Second, "lx-yagang firing after maintenance", func() bool {
		return len(log.find("nh3n-high", "lx-yagang", domain.Firing)) == 1
	})

	// Reload through the API.
	if err := os.WriteFile(rulesFile, []byte(maintRulesReloaded), 0o600); err != nil {
		t.Fatal(err)
	}
	if code, body := api("POST", "/api/v1/rules/reload", "", nil); code != 401 {
		t.Fatalf("reload without a token: %d %s", code, body)
	}
	if code, body := api("POST", "/api/v1/rules/reload", gz, nil); code != 401 {
		t.Fatalf("reload with an agency token: %d %s", code, body)
	}
	code, body = api("POST", "/api/v1/rules/reload", e2eAdminToken, nil)
	if code != 200 || !strings.Contains(body, `"rules":2`) {
		t.Fatalf("reload: %d %s", code, body)
	}
	send("lx-jiekou", "tp", 0.5)
	send("lx-jiekou", "nh3n", 1.0)
	testenv.Eventually(t, 20*time.Second, "the new rule firing and the kept alert resolving", func() bool {
		return len(log.find("tp-high", "lx-jiekou", domain.Firing)) == 1 &&
			len(log.find("nh3n-high", "lx-jiekou", domain.Resolved)) == 1
	})
	// The resolution continues the alert that fired before the reload.
	if r := log.find("nh3n-high", "lx-jiekou", domain.Resolved)[0]; r.Seq != 2 {
		t.Errorf("resolution after reload has seq %d, want 2 (state kept)", r.Seq)
	}

	// A broken file is refused with its reason; the running rules stay.
	if err := os.WriteFile(rulesFile, []byte(maintRulesReloaded+"  - name: bad\n    kind: no-such-kind\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	code, body = api("POST", "/api/v1/rules/reload", e2eAdminToken, nil)
	if code != 400 || !strings.Contains(body, "no-such-kind") || !strings.Contains(body, "running rules stay") {
		t.Fatalf("broken reload: %d %s", code, body)
	}
	send("lx-liangkou", "tp", 0.5)
	testenv.Eventually(t, 20*time.Second, "tp-high still evaluated", func() bool {
		return len(log.find("tp-high", "lx-liangkou", domain.Firing)) == 1
	})
}
