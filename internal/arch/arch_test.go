// Package arch checks the import rules that keep the picture in the README
// true. The rules:
//
//   - domain imports only the standard library.
//   - registry and standards import only domain, internal/conf and YAML.
//   - the stages (ingest, writer, rules, alert) never import each other; they
//     share only domain, registry, standards and internal/bus.
//   - report (the analysts' reports) is pure: it imports only domain,
//     registry and standards, never a stage, the bus or an InfluxDB client;
//     the command fetches the points.
//   - only cmd/qingliu wires stages together; nothing imports cmd/ or e2e.
package arch

import (
	"encoding/json"
	"os/exec"
	"strings"
	"testing"
)

const mod = "github.com/qingliu/qingliu"

type pkg struct {
	ImportPath string
	Imports    []string
	Standard   bool
}

func listPackages(t *testing.T) []pkg {
	t.Helper()
	out, err := exec.Command("go", "list", "-json", mod+"/...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	dec := json.NewDecoder(strings.NewReader(string(out)))
	var pkgs []pkg
	for dec.More() {
		var p pkg
		if err := dec.Decode(&p); err != nil {
			t.Fatal(err)
		}
		pkgs = append(pkgs, p)
	}
	return pkgs
}

// stage returns the stage a package belongs to, or "".
func stage(path string) string {
	rel := strings.TrimPrefix(path, mod+"/")
	for _, s := range []string{"ingest", "writer", "rules", "alert", "sim"} {
		if rel == s || strings.HasPrefix(rel, s+"/") {
			return s
		}
	}
	return ""
}

func TestImportRules(t *testing.T) {
	for _, p := range listPackages(t) {
		rel := strings.TrimPrefix(p.ImportPath, mod+"/")
		for _, imp := range p.Imports {
			own := strings.HasPrefix(imp, mod+"/") || imp == mod
			irel := strings.TrimPrefix(imp, mod+"/")
			switch {
			case rel == "domain":
				if strings.Contains(strings.SplitN(imp, "/", 2)[0], ".") {
					t.Errorf("domain imports %s: domain must use only the standard library", imp)
				}
			case rel == "registry" || strings.HasPrefix(rel, "standards"):
				if own && irel != "domain" && irel != "internal/conf" && !strings.HasPrefix(irel, "standards") {
					t.Errorf("%s imports %s: registry and standards may import only domain and internal/conf", rel, irel)
				}
			case rel == "report":
				if own && irel != "domain" && irel != "registry" && !strings.HasPrefix(irel, "standards") {
					t.Errorf("report imports %s: report may import only domain, registry and standards", irel)
				}
				if strings.Contains(imp, "influxdb") {
					t.Errorf("report imports %s: the InfluxDB query belongs to the command", imp)
				}
			}
			if own && (strings.HasPrefix(irel, "cmd/") || irel == "e2e") {
				t.Errorf("%s imports %s: nothing imports commands or tests", rel, irel)
			}
			if s, is := stage(p.ImportPath), stage(imp); own && s != "" && is != "" && s != is {
				t.Errorf("%s imports %s: stages never import each other; share domain and the bus", rel, irel)
			}
		}
	}
}
