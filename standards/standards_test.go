package standards

import (
	"errors"
	"flag"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/qingliu/qingliu/internal/conf"
	"github.com/qingliu/qingliu/standards/aqi"
)

var update = flag.Bool("update", false, "rewrite testdata/bad/*.golden")

const shipped = "../configs/standards"

func TestLoadShipped(t *testing.T) {
	set, err := Load(shipped)
	if err != nil {
		t.Fatal(err)
	}
	if set.Water == nil || set.AQI == nil || set.Severity == nil {
		t.Fatalf("incomplete set: %+v", set)
	}
	if got := len(set.Tables); got != 5 {
		t.Errorf("loaded %d tables, want 5: %s", got, set)
	}
	for _, info := range set.Tables {
		if _, off := info.EffectiveFrom.Zone(); off != 8*3600 {
			t.Errorf("%s %s effective_from %s is not +08:00", info.Kind, info.Standard, info.EffectiveFrom)
		}
	}
	switchover := time.Date(2026, 3, 1, 0, 0, 0, 0, time.FixedZone("CST", 8*3600))
	if v := set.AQI.For(switchover); v == nil || v.ID() != "HJ633-2026" {
		t.Errorf("For(2026-03-01 00:00 +08:00) = %v, want HJ633-2026", v)
	}
	if v := set.AQI.For(switchover.Add(-time.Nanosecond)); v == nil || v.ID() != "HJ633-2012" {
		t.Errorf("For(just before 2026-03-01) = %v, want HJ633-2012", v)
	}
	if set.Water.Standard() != "GB 3838-2002" {
		t.Errorf("water standard = %q", set.Water.Standard())
	}
}

func TestLoadDirProblems(t *testing.T) {
	_, err := Load("testdata/nowhere")
	var ce *conf.Error
	if !errors.As(err, &ce) || !strings.Contains(err.Error(), "testdata/nowhere: not a readable directory") {
		t.Errorf("Load(missing dir) = %v", err)
	}
	_, err = Load(t.TempDir())
	if err == nil || strings.Count(err.Error(), "\n") != 3 {
		t.Errorf("Load(empty dir) = %v, want the four missing kinds", err)
	}
}

var reReplaces = regexp.MustCompile(`(?m)^# replaces: (\S+)$`)

// TestBadTablesGolden loads the shipped tables with one file replaced by (or
// added from) testdata/bad/NAME.yaml and compares the full error text with
// testdata/bad/NAME.golden. Run with -update to rewrite the golden files.
func TestBadTablesGolden(t *testing.T) {
	cases, err := filepath.Glob("testdata/bad/*.yaml")
	if err != nil || len(cases) == 0 {
		t.Fatalf("no golden cases: %v", err)
	}
	shippedFiles, err := filepath.Glob(filepath.Join(shipped, "*.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range cases {
		name := strings.TrimSuffix(filepath.Base(c), ".yaml")
		t.Run(name, func(t *testing.T) {
			bad, err := os.ReadFile(c)
			if err != nil {
				t.Fatal(err)
			}
			replaced := ""
			if g := reReplaces.FindSubmatch(bad); g != nil {
				replaced = string(g[1])
			}
			dir := t.TempDir()
			for _, f := range shippedFiles {
				if filepath.Base(f) == replaced {
					continue
				}
				data, err := os.ReadFile(f)
				if err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(filepath.Join(dir, filepath.Base(f)), data, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			if err := os.WriteFile(filepath.Join(dir, filepath.Base(c)), bad, 0o644); err != nil {
				t.Fatal(err)
			}

			_, err = Load(dir)
			var ce *conf.Error
			if !errors.As(err, &ce) {
				t.Fatalf("Load = %v, want a *conf.Error", err)
			}
			for _, p := range ce.Problems {
				if p.File == "" || p.Msg == "" {
					t.Errorf("problem without file or reason: %+v", p)
				}
			}
			got := strings.ReplaceAll(err.Error(), dir+string(filepath.Separator), "")
			got = strings.ReplaceAll(got, dir, "<dir>") + "\n"
			golden := strings.TrimSuffix(c, ".yaml") + ".golden"
			if *update {
				if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run go test -update to create it)", err)
			}
			if got != string(want) {
				t.Errorf("errors differ from %s\n--- got\n%s--- want\n%s", golden, got, want)
			}
		})
	}
}

// TestShippedTablesAreStrict guards the loaders' strictness: any unknown key
// in a shipped table is an error naming the file and line.
func TestShippedTablesAreStrict(t *testing.T) {
	data, err := os.ReadFile(filepath.Join(shipped, "hj633-2026.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	_, err = aqi.ParseVersion("hj633-2026.yaml", append(data, []byte("\nprimary_abve: 50\n")...))
	if err == nil || !strings.Contains(err.Error(), "unknown key primary_abve") {
		t.Errorf("ParseVersion with a typo = %v, want unknown key", err)
	}
}
