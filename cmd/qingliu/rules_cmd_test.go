package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/qingliu/qingliu/internal/config"
)

var updateGolden = flag.Bool("update", false, "rewrite the golden files of rules test")

const (
	testRules    = "../../configs/rules.yaml"
	testStations = "../../configs/stations.yaml"
	rulesData    = "../../rules/testdata"
)

func runRulesTestCmd(t *testing.T, args ...string) (string, string, error) {
	t.Helper()
	cmd := newRulesCmd()
	var out, errOut bytes.Buffer
	cmd.SetOut(&out)
	cmd.SetErr(&errOut)
	cmd.SetArgs(append([]string{"test", "--stations", testStations, "--standards", testStandards, "--rules", testRules}, args...))
	err := cmd.Execute()
	return out.String(), errOut.String(), err
}

// TestRulesTestGolden runs every rules/testdata/*.jsonl through
// `qingliu rules test` (with the rules file named on its first line as
// "# rules: FILE", default configs/rules.yaml) and compares with the .golden
// file beside it. go test -run RulesTestGolden -update rewrites them.
func TestRulesTestGolden(t *testing.T) {
	files, err := filepath.Glob(filepath.Join(rulesData, "*.jsonl"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no golden inputs in %s: %v", rulesData, err)
	}
	for _, in := range files {
		name := strings.TrimSuffix(filepath.Base(in), ".jsonl")
		t.Run(name, func(t *testing.T) {
			rulesFile := testRules
			data, err := os.ReadFile(in)
			if err != nil {
				t.Fatal(err)
			}
			if first, _, _ := strings.Cut(string(data), "\n"); strings.HasPrefix(first, "# rules: ") {
				rulesFile = filepath.Join(rulesData, strings.TrimSpace(strings.TrimPrefix(first, "# rules: ")))
			}
			out, errOut, err := runRulesTestCmd(t, "--rules", rulesFile, in)
			if err != nil {
				t.Fatalf("rules test: %v\n%s", err, errOut)
			}
			for i, line := range strings.Split(strings.TrimSpace(out), "\n") {
				if line == "" {
					continue
				}
				var v map[string]any
				if err := json.Unmarshal([]byte(line), &v); err != nil {
					t.Fatalf("output line %d is not JSON: %v\n%s", i+1, err, line)
				}
			}
			golden := strings.TrimSuffix(in, ".jsonl") + ".golden"
			if *updateGolden {
				if err := os.WriteFile(golden, []byte(out), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run with -update to create it)", err)
			}
			if out != string(want) {
				t.Errorf("output differs from %s (run with -update after checking):\n--- got\n%s\n--- want\n%s", golden, out, want)
			}
		})
	}
}

func TestRulesTestBadInput(t *testing.T) {
	dir := t.TempDir()
	write := func(name, s string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(s), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"not JSON", []string{write("a.jsonl", "{nope\n")}, "line 1: not a JSON object"},
		{"no station", []string{write("b.jsonl", `{"ts":"2026-11-26T08:00:00+08:00","values":{"ph":7}}`+"\n")}, "line 1: want \"station\""},
		{"unknown station", []string{write("c.jsonl", `{"station":"nowhere","ts":"2026-11-26T08:00:00+08:00","values":{"ph":7}}`+"\n")}, "unknown station"},
		{"missing file", []string{filepath.Join(dir, "none.jsonl")}, "open readings"},
		{"bad rules", []string{"--rules", write("r.yaml", "rules:\n  - name: x\n    kind: nope\n"), write("d.jsonl", "")}, "load rules:"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := runRulesTestCmd(t, tt.args...)
			if err == nil || exitCode(err) != 2 || !strings.Contains(err.Error(), tt.want) || strings.Contains(err.Error(), "\n") {
				t.Errorf("err = %v (exit %d), want a one-line exit-2 error containing %q", err, exitCode(err), tt.want)
			}
		})
	}
}

// TestRulesTestQuarantinedValue: a value ingest would quarantine is reported
// on stderr and skipped; the rest of the reading is evaluated.
func TestRulesTestQuarantinedValue(t *testing.T) {
	p := filepath.Join(t.TempDir(), "q.jsonl")
	line := `{"station":"bj-lixi","ts":"2026-11-26T08:00:00+08:00","values":{"ph":99,"nh3n":2.2}}` + "\n"
	if err := os.WriteFile(p, []byte(line), 0o600); err != nil {
		t.Fatal(err)
	}
	out, errOut, err := runRulesTestCmd(t, p)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(errOut, "line 1: quarantined") || !strings.Contains(out, `"alert_id":"nh3n-high/bj-lixi/nh3n"`) {
		t.Errorf("stderr %q, stdout %q", errOut, out)
	}
}

func TestCheckRules(t *testing.T) {
	cfg := &config.Config{Files: config.Defaults().Files, Dir: "../../configs"}
	if skipped, err := checkRules(cfg); skipped || err != nil {
		t.Fatalf("shipped rules: skipped %v, %v", skipped, err)
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "rules.yaml"), []byte("rules:\n  - {name: a, kind: deadman, factor: 0.5}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg.Files.Rules = filepath.Join(dir, "rules.yaml")
	if _, err := checkRules(cfg); err == nil || !strings.Contains(err.Error(), "rules[0].factor") {
		t.Errorf("bad rules: %v", err)
	}
	cfg.Files.Stations = filepath.Join(dir, "missing.yaml")
	if skipped, _ := checkRules(cfg); !skipped {
		t.Error("a missing registry does not skip the rules check")
	}
}
