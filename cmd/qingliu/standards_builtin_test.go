package main

import (
	"bytes"
	"path/filepath"
	"testing"

	"github.com/spf13/cobra"
)

// The analyst commands answer from any working directory with the tables
// built into the binary, and those answers are the ones the repository's
// configs/standards gives.
func TestStandardsBuiltInMatchesRepository(t *testing.T) {
	repo, err := filepath.Abs(testStandards)
	if err != nil {
		t.Fatal(err)
	}
	t.Chdir(t.TempDir())
	cases := []struct {
		newCmd func() *cobra.Command
		args   []string
	}{
		{newAQICmd, []string{"--time", "2025-06-01T12:00:00+08:00", "--period", "24h", "pm25=45", "pm10=60", "so2=10", "no2=30", "co=0.8", "o3_8h=90"}},
		{newAQICmd, []string{"--time", "2026-06-01T12:00:00+08:00", "pm25=75", "pm10=150", "so2=500", "no2=200", "co=10", "o3_1h=200"}},
		{newWaterClassCmd, []string{"--target", "II", "nh3n=1.2", "do=4.5", "tp=0.15", "codmn=5"}},
		{newLevelCmd, []string{"--source", "aqi-daily", "--days", "231,250,310"}},
	}
	run := func(newCmd func() *cobra.Command, args []string) string {
		t.Helper()
		cmd := newCmd()
		var out, errOut bytes.Buffer
		cmd.SetOut(&out)
		cmd.SetErr(&errOut)
		cmd.SetArgs(args)
		if err := cmd.Execute(); err != nil {
			t.Fatalf("%v: %v", args, err)
		}
		return out.String()
	}
	for _, c := range cases {
		builtIn := run(c.newCmd, c.args)
		fromDisk := run(c.newCmd, append([]string{"--standards", repo}, c.args...))
		if builtIn != fromDisk {
			t.Errorf("%v:\nbuilt-in:  %s\nfrom disk: %s", c.args, builtIn, fromDisk)
		}
		if len(builtIn) < 20 {
			t.Errorf("%v: output %q is too short to be an answer", c.args, builtIn)
		}
	}
	cmd := newAQICmd()
	cmd.SetOut(new(bytes.Buffer))
	cmd.SetErr(new(bytes.Buffer))
	cmd.SetArgs([]string{"--standards", "configs/standards", "--time", "2025-06-01T12:00:00+08:00", "pm25=45"})
	if err := cmd.Execute(); err == nil {
		t.Error("--standards naming a missing directory: no error")
	}
}
