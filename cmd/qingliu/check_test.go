package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// copyConfigs copies the shipped configs/ into a temporary directory and
// returns the path of its qingliu.yaml.
func copyConfigs(t *testing.T) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "configs")
	if err := os.CopyFS(dir, os.DirFS("../../configs")); err != nil {
		t.Fatal(err)
	}
	return filepath.Join(dir, "qingliu.yaml")
}

func TestCheckShipped(t *testing.T) {
	var out bytes.Buffer
	if n := runCheck(&out, copyConfigs(t)); n != 0 {
		t.Fatalf("runCheck found %d problem(s) in the shipped configuration:\n%s", n, &out)
	}
	if !strings.Contains(out.String(), "(standards and severity mappings)") {
		t.Errorf("the standards were not checked:\n%s", &out)
	}
}

// TestCheckSeverityMappings: `qingliu check` validates the severity mappings
// (issue 3 §3) and reports every problem with its file and path, not only the
// first, and goes on to the other files.
func TestCheckSeverityMappings(t *testing.T) {
	cfg := copyConfigs(t)
	sev := filepath.Join(filepath.Dir(cfg), "standards", "severity.yaml")
	data, err := os.ReadFile(sev)
	if err != nil {
		t.Fatal(err)
	}
	bad := string(data)
	for _, r := range [][2]string{
		{"{range: [151, 200], level: blue}", "{range: [140, 200], level: blue}"},                      // overlap
		{"{range: [201, 300], level: yellow}", "{range: [210, 300], level: yellow}"},                  // gap
		{"{range: [301, 500], level: orange}", "{range: [301, 500], level: blue}"},                    // not monotone
		{"{from: 1, to: 3, level: yellow}", "{from: 1, to: 3, level: amber}"},                         // unknown level
		{"{level: red, min_days: 1, min_peak: 500}", "{level: red, min_days: 5, min_severe_days: 2}"}, // shadowed
	} {
		if !strings.Contains(bad, r[0]) {
			t.Fatalf("severity.yaml no longer contains %q", r[0])
		}
		bad = strings.Replace(bad, r[0], r[1], 1)
	}
	if err := os.WriteFile(sev, []byte(bad), 0o644); err != nil {
		t.Fatal(err)
	}

	var out bytes.Buffer
	n := runCheck(&out, cfg)
	for _, want := range []string{
		sev + ": aqi_hourly[1].range: overlap: 140..200",
		sev + ": aqi_hourly[2].range: gap: 210..300 leaves 201..209 unmapped",
		sev + ": aqi_hourly[3].level: not monotone: blue after yellow",
		sev + `: water.multiple[1].level: parse level "amber"`,
		sev + ": aqi_daily_persistence.rules[4]: shadowed: the red rule rules[3]",
		"ok   " + filepath.Join(filepath.Dir(cfg), "routing.yaml"),
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("check output lacks %q:\n%s", want, &out)
		}
	}
	if n != 5 {
		t.Errorf("runCheck = %d problem(s), want 5:\n%s", n, &out)
	}

	cmd := newCheckCmd()
	cmd.SetOut(&bytes.Buffer{})
	cmd.SetErr(&bytes.Buffer{})
	cmd.SetArgs([]string{"--config", cfg})
	if err := cmd.Execute(); exitCode(err) != 2 || strings.Contains(err.Error(), "\n") {
		t.Errorf("check exit = %d, %v; want 2 with a one-line error", exitCode(err), err)
	}
}
