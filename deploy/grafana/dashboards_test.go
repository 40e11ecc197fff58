package grafana_test

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/qingliu/qingliu/internal/testenv"
)

type dsRef struct {
	Type string `json:"type"`
	UID  string `json:"uid"`
}

type target struct {
	RefID        string `json:"refId"`
	Datasource   *dsRef `json:"datasource"`
	Query        string `json:"query"`
	RawQuery     bool   `json:"rawQuery"`
	ResultFormat string `json:"resultFormat"`
}

type panel struct {
	ID         int                       `json:"id"`
	Type       string                    `json:"type"`
	Title      string                    `json:"title"`
	Datasource *dsRef                    `json:"datasource"`
	GridPos    *struct{ X, Y, W, H int } `json:"gridPos"`
	Targets    []target                  `json:"targets"`
	Panels     []panel                   `json:"panels"`
}

type variable struct {
	Name       string `json:"name"`
	Type       string `json:"type"`
	Datasource *dsRef `json:"datasource"`
	Query      string `json:"query"`
	Multi      bool   `json:"multi"`
	IncludeAll bool   `json:"includeAll"`
	Current    struct {
		Value any `json:"value"`
	} `json:"current"`
}

type annotation struct {
	Name       string  `json:"name"`
	BuiltIn    int     `json:"builtIn"`
	Datasource *dsRef  `json:"datasource"`
	Target     *target `json:"target"`
}

type dashboard struct {
	file          string
	UID           string          `json:"uid"`
	Title         string          `json:"title"`
	SchemaVersion int             `json:"schemaVersion"`
	Inputs        json.RawMessage `json:"__inputs"`
	Time          struct{ From, To string }
	Templating    struct {
		List []variable `json:"list"`
	} `json:"templating"`
	Annotations struct {
		List []annotation `json:"list"`
	} `json:"annotations"`
	Panels []panel `json:"panels"`
}

// query is one InfluxQL query of a dashboard and where it is.
type query struct {
	where string
	q     string
}

// allPanels flattens rows.
func allPanels(ps []panel) []panel {
	var out []panel
	for _, p := range ps {
		out = append(out, p)
		out = append(out, allPanels(p.Panels)...)
	}
	return out
}

// queries lists the InfluxQL of every panel target and annotation (the
// variables are resolved separately, in order).
func (d *dashboard) queries() []query {
	var out []query
	for _, p := range allPanels(d.Panels) {
		for _, t := range p.Targets {
			out = append(out, query{fmt.Sprintf("%s: panel %d %q target %s", d.file, p.ID, p.Title, t.RefID), t.Query})
		}
	}
	for _, a := range d.Annotations.List {
		if a.BuiltIn == 0 && a.Target != nil {
			out = append(out, query{fmt.Sprintf("%s: annotation %q", d.file, a.Name), a.Target.Query})
		}
	}
	return out
}

func loadDashboards(t *testing.T) []*dashboard {
	t.Helper()
	files, err := filepath.Glob(filepath.Join("dashboards", "*.json"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no dashboards: %v", err)
	}
	var out []*dashboard
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		d := &dashboard{file: filepath.Base(f)}
		dec := json.NewDecoder(strings.NewReader(string(b)))
		if err := dec.Decode(d); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		out = append(out, d)
	}
	return out
}

// datasourceUIDs reads the provisioned datasources: uid → type.
func datasourceUIDs(t *testing.T) map[string]map[string]any {
	t.Helper()
	var f struct {
		APIVersion  int              `yaml:"apiVersion"`
		Datasources []map[string]any `yaml:"datasources"`
	}
	readYAML(t, filepath.Join("provisioning", "datasources", "qingliu.yaml"), &f)
	out := map[string]map[string]any{}
	for _, ds := range f.Datasources {
		uid, _ := ds["uid"].(string)
		if uid == "" || out[uid] != nil {
			t.Fatalf("datasource %v: missing or repeated uid", ds["name"])
		}
		out[uid] = ds
	}
	return out
}

func readYAML(t *testing.T, file string, v any) {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	dec := yaml.NewDecoder(strings.NewReader(string(b)))
	dec.KnownFields(true)
	if err := dec.Decode(v); err != nil {
		t.Fatalf("%s: %v", file, err)
	}
}

// builtins are Grafana's own variables that InfluxQL dashboards use.
var builtins = map[string]bool{"timeFilter": true, "__interval": true, "__interval_ms": true, "interval": true,
	"__from": true, "__to": true}

// varRef matches $name, ${name}, ${name:format} and [[name]].
var varRef = regexp.MustCompile(`\$\{(\w+)(?::\w+)?\}|\$(\w+)|\[\[(\w+)\]\]`)

func refName(m []string) string { return m[1] + m[2] + m[3] }

// lint reports the structural problems of d against the provisioned
// datasources.
func lint(d *dashboard, uids map[string]map[string]any) []string {
	var probs []string
	bad := func(format string, a ...any) { probs = append(probs, d.file+": "+fmt.Sprintf(format, a...)) }
	if d.UID == "" || d.Title == "" {
		bad("uid and title are required")
	}
	if d.SchemaVersion < 36 {
		bad("schemaVersion %d: want a Grafana 10/11 schema (~39)", d.SchemaVersion)
	}
	if len(d.Inputs) > 0 {
		bad("__inputs present: provisioning does not resolve them")
	}
	dsOK := func(where string, ds *dsRef) {
		switch {
		case ds == nil || ds.UID == "":
			bad("%s: no datasource uid", where)
		case uids[ds.UID] == nil:
			bad("%s: datasource uid %q is not provisioned", where, ds.UID)
		case ds.Type != uids[ds.UID]["type"]:
			bad("%s: datasource type %q, provisioned as %v", where, ds.Type, uids[ds.UID]["type"])
		}
	}
	defined := map[string]bool{}
	for _, v := range d.Templating.List {
		if v.Name == "" || defined[v.Name] {
			bad("variable %q: missing or repeated name", v.Name)
		}
		defined[v.Name] = true
		if v.Type == "query" {
			dsOK("variable "+v.Name, v.Datasource)
		}
	}
	uses := func(where, q string) {
		if strings.TrimSpace(q) == "" {
			bad("%s: empty query", where)
		}
		for _, m := range varRef.FindAllStringSubmatch(q, -1) {
			if n := refName(m); !builtins[n] && !defined[n] {
				bad("%s: variable $%s is not defined", where, n)
			}
		}
	}
	for _, v := range d.Templating.List {
		if v.Type == "query" {
			uses("variable "+v.Name, v.Query)
		}
	}
	for _, a := range d.Annotations.List {
		if a.BuiltIn == 0 {
			dsOK("annotation "+a.Name, a.Datasource)
			if a.Target == nil {
				bad("annotation %q: no target", a.Name)
				continue
			}
			uses("annotation "+a.Name, a.Target.Query)
		}
	}
	ids := map[int]bool{}
	for _, p := range allPanels(d.Panels) {
		where := fmt.Sprintf("panel %d %q", p.ID, p.Title)
		if p.ID <= 0 || ids[p.ID] {
			bad("%s: missing or repeated id", where)
		}
		ids[p.ID] = true
		if strings.TrimSpace(p.Title) == "" {
			bad("%s: no title", where)
		}
		if p.GridPos == nil || p.GridPos.W <= 0 || p.GridPos.H <= 0 || p.GridPos.X+p.GridPos.W > 24 {
			bad("%s: missing or invalid gridPos", where)
		}
		if p.Type == "row" {
			continue
		}
		dsOK(where, p.Datasource)
		if len(p.Targets) == 0 {
			bad("%s: no queries", where)
		}
		for _, t := range p.Targets {
			if t.Datasource != nil {
				dsOK(where+" target "+t.RefID, t.Datasource)
			}
			if !t.RawQuery {
				bad("%s target %s: want a raw InfluxQL query", where, t.RefID)
			}
			uses(where+" target "+t.RefID, t.Query)
		}
	}
	return probs
}

func TestDashboardsAreWellFormed(t *testing.T) {
	uids := datasourceUIDs(t)
	seen := map[string]string{}
	for _, d := range loadDashboards(t) {
		for _, p := range lint(d, uids) {
			t.Error(p)
		}
		if other, ok := seen[d.UID]; ok {
			t.Errorf("%s and %s share uid %q", d.file, other, d.UID)
		}
		seen[d.UID] = d.file
	}
}

func TestProvisioning(t *testing.T) {
	uids := datasourceUIDs(t)
	// The development datasource is the default of configs/qingliu.yaml.
	var cfg struct {
		InfluxDB struct {
			URL      string `yaml:"url"`
			Database string `yaml:"database"`
		} `yaml:"influxdb"`
	}
	b, err := os.ReadFile(filepath.Join(testenv.RepoRoot(t), "configs", "qingliu.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(b, &cfg); err != nil {
		t.Fatal(err)
	}
	dev := uids["qingliu-influxql"]
	if dev == nil {
		t.Fatal("no datasource qingliu-influxql")
	}
	jd, _ := dev["jsonData"].(map[string]any)
	if dev["url"] != cfg.InfluxDB.URL || jd["dbName"] != cfg.InfluxDB.Database || jd["version"] != "InfluxQL" || dev["isDefault"] != true {
		t.Errorf("qingliu-influxql: url %v, dbName %v, version %v, isDefault %v; want %s, %s, InfluxQL, true",
			dev["url"], jd["dbName"], jd["version"], dev["isDefault"], cfg.InfluxDB.URL, cfg.InfluxDB.Database)
	}
	prod := uids["qingliu-flux"]
	if jd, _ := prod["jsonData"].(map[string]any); jd["version"] != "Flux" || jd["organization"] != "qingliu" || jd["defaultBucket"] != "qingliu" {
		t.Errorf("qingliu-flux: jsonData %v, want Flux, org and bucket qingliu", jd)
	}
	// Secrets only by environment variable (optionally after a scheme word).
	envOnly := regexp.MustCompile(`^(\w+ )?\$\{[A-Z][A-Z0-9_]*\}$`)
	for uid, ds := range uids {
		for _, k := range []string{"password", "basicAuthPassword"} {
			if ds[k] != nil {
				t.Errorf("%s: %s outside secureJsonData", uid, k)
			}
		}
		sec, _ := ds["secureJsonData"].(map[string]any)
		for k, v := range sec {
			if s, _ := v.(string); !envOnly.MatchString(s) {
				t.Errorf("%s: secureJsonData.%s is not an ${ENV} reference", uid, k)
			}
		}
	}

	var prov struct {
		APIVersion int `yaml:"apiVersion"`
		Providers  []struct {
			Name                  string `yaml:"name"`
			Folder                string `yaml:"folder"`
			FolderUID             string `yaml:"folderUid"`
			Type                  string `yaml:"type"`
			OrgID                 int    `yaml:"orgId"`
			DisableDeletion       bool   `yaml:"disableDeletion"`
			AllowUIUpdates        bool   `yaml:"allowUiUpdates"`
			UpdateIntervalSeconds int    `yaml:"updateIntervalSeconds"`
			Options               struct {
				Path                      string `yaml:"path"`
				FoldersFromFilesStructure bool   `yaml:"foldersFromFilesStructure"`
			} `yaml:"options"`
		} `yaml:"providers"`
	}
	readYAML(t, filepath.Join("provisioning", "dashboards", "qingliu.yaml"), &prov)
	if len(prov.Providers) != 1 || prov.Providers[0].Type != "file" || !filepath.IsAbs(prov.Providers[0].Options.Path) {
		t.Fatalf("want one file provider with an absolute path: %+v", prov.Providers)
	}
	// The README tells where to put the dashboards for that path.
	readme, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(readme), "dashboards:"+prov.Providers[0].Options.Path) {
		t.Errorf("README.md does not mount deploy/grafana/dashboards at the provider's path %s", prov.Providers[0].Options.Path)
	}
}

// TestLintCatchesMistakes: the structural checks fail on the mistakes they
// are there for.
func TestLintCatchesMistakes(t *testing.T) {
	uids := datasourceUIDs(t)
	for _, tc := range []struct {
		name   string
		mutate func(d *dashboard)
		want   string
	}{
		{"undefined variable", func(d *dashboard) { d.Panels[1].Targets[0].Query += ` AND "x" = '$stations'` }, "$stations is not defined"},
		{"unknown datasource", func(d *dashboard) { d.Panels[1].Datasource = &dsRef{Type: "influxdb", UID: "qingliu"} }, `uid "qingliu" is not provisioned`},
		{"repeated panel id", func(d *dashboard) { d.Panels[2].ID = d.Panels[1].ID }, "repeated id"},
		{"no gridPos", func(d *dashboard) { d.Panels[1].GridPos = nil }, "gridPos"},
		{"__inputs", func(d *dashboard) { d.Inputs = json.RawMessage(`[{"name":"DS_INFLUXDB"}]`) }, "__inputs"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := loadDashboards(t)[0]
			if p := lint(d, uids); len(p) > 0 {
				t.Fatalf("unmutated dashboard has problems: %v", p)
			}
			tc.mutate(d)
			if p := lint(d, uids); !slices.ContainsFunc(p, func(s string) bool { return strings.Contains(s, tc.want) }) {
				t.Errorf("lint did not report %q: %v", tc.want, p)
			}
		})
	}
}

// grafanaEnv is what Grafana substitutes into a query: the time range, the
// interval and the variables' selected values.
type grafanaEnv struct {
	from, to time.Time
	vars     map[string][]string
	multi    map[string]bool
}

var regexSpecial = regexp.MustCompile(`[\\^$*+?.()|[\]{}/]`)

// expand substitutes like Grafana's InfluxDB datasource: $timeFilter as an
// epoch-ms range, $__interval 1m, and a multi-value or All variable inside
// a regex as (a|b), regex-escaped. Anything left undefined is an error.
func (e *grafanaEnv) expand(q string) (string, error) {
	var b strings.Builder
	last := 0
	for _, loc := range varRef.FindAllStringSubmatchIndex(q, -1) {
		b.WriteString(q[last:loc[0]])
		last = loc[1]
		m := varRef.FindStringSubmatch(q[loc[0]:loc[1]])
		v, err := e.value(refName(m), strings.Count(q[:loc[0]], "/")%2 == 1)
		if err != nil {
			return "", err
		}
		b.WriteString(v)
	}
	b.WriteString(q[last:])
	return b.String(), nil
}

// value is what Grafana puts for the variable name, inRegex when it stands
// between the slashes of a regex literal.
func (e *grafanaEnv) value(name string, inRegex bool) (string, error) {
	switch name {
	case "timeFilter":
		return fmt.Sprintf("time >= %dms and time <= %dms", e.from.UnixMilli(), e.to.UnixMilli()), nil
	case "__interval", "interval":
		return "1m", nil
	case "__interval_ms":
		return "60000", nil
	case "__from":
		return strconv.FormatInt(e.from.UnixMilli(), 10), nil
	case "__to":
		return strconv.FormatInt(e.to.UnixMilli(), 10), nil
	}
	vs, ok := e.vars[name]
	switch {
	case !ok || len(vs) == 0:
		return "", fmt.Errorf("variable $%s has no value", name)
	case !inRegex && (e.multi[name] || len(vs) > 1):
		return "", fmt.Errorf("multi-value variable $%s used outside a regex", name)
	case !inRegex:
		return vs[0], nil
	}
	esc := make([]string, len(vs))
	for i, v := range vs {
		esc[i] = regexSpecial.ReplaceAllString(v, `\$0`)
	}
	if len(esc) == 1 {
		return esc[0], nil
	}
	return "(" + strings.Join(esc, "|") + ")", nil
}

// check runs an expanded query and requires at least one series, and in
// the result a non-null value in every column: a misspelt measurement, tag
// or field gives no series, or a column of nulls, in InfluxDB 1.8 rather
// than an error.
func check(in *testenv.Influx, q string) error {
	series, err := in.Query(db, q)
	if err != nil {
		return err
	}
	if len(series) == 0 {
		return fmt.Errorf("no series: %s", q)
	}
	cols := map[string]bool{}
	for _, s := range series {
		for i, c := range s.Columns {
			if c == "time" {
				continue
			}
			for _, row := range s.Values {
				if i < len(row) && row[i] != nil {
					cols[c] = true
				}
			}
			if !cols[c] {
				cols[c] = false
			}
		}
	}
	for c, ok := range cols {
		if !ok {
			return fmt.Errorf("column %q is null in every row: %s", c, q)
		}
	}
	if len(cols) == 0 {
		return fmt.Errorf("no columns: %s", q)
	}
	return nil
}

// preferred are the single values chosen for the one-value run, where the
// scenario guarantees data: a Qingyuan section below the spike and a
// Qingyuan air station that keeps reporting.
var preferred = map[string]string{"river": "北江", "city": "清远", "station": "bj-lixi|aq-qingcheng-fengcheng",
	"jurisdiction": "清远", "level": "orange", "class_rule": "wq-latest"}

// resolve computes the variables of d in order, running each query
// variable against InfluxDB: all its values (what Grafana's All sends when
// there is no custom all value) or one preferred value.
func resolve(in *testenv.Influx, d *dashboard, env *grafanaEnv, all bool) error {
	env.vars, env.multi = map[string][]string{}, map[string]bool{}
	for _, v := range d.Templating.List {
		var vals []string
		switch v.Type {
		case "custom":
			for _, s := range strings.Split(v.Query, ",") {
				vals = append(vals, strings.TrimSpace(s))
			}
		case "query":
			q, err := env.expand(v.Query)
			if err != nil {
				return fmt.Errorf("variable %s: %w", v.Name, err)
			}
			if err := check(in, q); err != nil {
				return fmt.Errorf("variable %s: %w", v.Name, err)
			}
			series, _ := in.Query(db, q)
			for _, s := range series {
				for _, row := range s.Values {
					vals = append(vals, fmt.Sprint(row[1]))
				}
			}
		default:
			return fmt.Errorf("variable %s: type %s not checked", v.Name, v.Type)
		}
		env.multi[v.Name] = v.Multi || v.IncludeAll
		if !all || !env.multi[v.Name] {
			pick := vals[0]
			if cur, ok := v.Current.Value.(string); ok && slices.Contains(vals, cur) {
				pick = cur
			}
			for _, p := range strings.Split(preferred[v.Name], "|") {
				if slices.Contains(vals, p) {
					pick = p
				}
			}
			vals = []string{pick}
		}
		env.vars[v.Name] = vals
	}
	return nil
}

// lookback turns the dashboard's default range (now-24h) into a duration.
func lookback(t *testing.T, d *dashboard) time.Duration {
	t.Helper()
	s, ok := strings.CutPrefix(d.Time.From, "now-")
	if !ok || d.Time.To != "now" {
		t.Fatalf("%s: time %s to %s: want now-<d> to now", d.file, d.Time.From, d.Time.To)
	}
	if n, ok := strings.CutSuffix(s, "d"); ok {
		days, _ := strconv.Atoi(n)
		s = strconv.Itoa(days*24) + "h"
	}
	dur, err := time.ParseDuration(s)
	if err != nil {
		t.Fatalf("%s: %v", d.file, err)
	}
	return dur
}

// TestQueriesAgainstInfluxDB runs every query of every dashboard — each
// panel target, annotation and variable — against InfluxDB 1.8.10 loaded
// by the real pipeline, once with every multi-value variable at All and
// once with one value each, as Grafana would send them.
func TestQueriesAgainstInfluxDB(t *testing.T) {
	l := loadPipeline(t)
	dashboards := loadDashboards(t)
	n := 0
	for _, d := range dashboards {
		for _, mode := range []string{"all", "one"} {
			t.Run(strings.TrimSuffix(d.file, ".json")+"/"+mode, func(t *testing.T) {
				now := time.Now()
				env := &grafanaEnv{from: now.Add(-lookback(t, d)), to: now}
				if err := resolve(l.influx, d, env, mode == "all"); err != nil {
					t.Fatalf("%s: %v", d.file, err)
				}
				for _, q := range d.queries() {
					x, err := env.expand(q.q)
					if err == nil {
						err = check(l.influx, x)
					}
					if err != nil {
						t.Errorf("%s (variables %v): %v", q.where, env.vars, err)
					}
					n++
				}
			})
		}
	}
	t.Logf("%d queries of %d dashboards ran with data", n, len(dashboards))

	// The checks above fail on a misspelt name: each mutation of a real
	// query must be reported.
	t.Run("mistakes are caught", func(t *testing.T) {
		byFile := map[string]*dashboard{}
		for _, d := range dashboards {
			byFile[d.file] = d
		}
		for _, tc := range []struct {
			name, file, contains, from, to string
		}{
			{"field", "qingliu-water.json", `mean("nh3n")`, `"nh3n"`, `"nh3_n"`},
			{"measurement", "qingliu-water.json", `"water_class"`, `FROM "water_class"`, `FROM "waterclass"`},
			{"tag", "qingliu-air.json", `last("aqi")`, `"period" = '1h'`, `"periods" = '1h'`},
			{"tag value", "qingliu-alerts.json", `"technical" = 'true'`, `'true'`, `'yes'`},
			{"one column of several", "qingliu-water.json", `"meets_target"`, `"meets_target"`, `"meet_target"`},
			{"variable query", "qingliu-air.json", `SHOW TAG VALUES`, `KEY = "city"`, `KEY = "cities"`},
		} {
			t.Run(tc.name, func(t *testing.T) {
				d := byFile[tc.file]
				env := &grafanaEnv{from: time.Now().Add(-lookback(t, d)), to: time.Now()}
				if err := resolve(l.influx, d, env, true); err != nil {
					t.Fatal(err)
				}
				qs := d.queries()
				for _, v := range d.Templating.List {
					qs = append(qs, query{"variable " + v.Name, v.Query})
				}
				i := slices.IndexFunc(qs, func(q query) bool { return strings.Contains(q.q, tc.contains) })
				if i < 0 {
					t.Fatalf("no query of %s contains %s", tc.file, tc.contains)
				}
				good, err := env.expand(qs[i].q)
				if err != nil {
					t.Fatal(err)
				}
				if err := check(l.influx, good); err != nil {
					t.Fatalf("unmutated %s: %v", qs[i].where, err)
				}
				bad := strings.Replace(good, tc.from, tc.to, 1)
				if bad == good {
					t.Fatalf("%s does not contain %s", qs[i].where, tc.from)
				}
				if err := check(l.influx, bad); err == nil {
					t.Errorf("%s with %s → %s passed the check", qs[i].where, tc.from, tc.to)
				} else {
					t.Logf("caught: %v", err)
				}
			})
		}
	})
}
