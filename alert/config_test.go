package alert

import (
	"path/filepath"
	"testing"

	"github.com/qingliu/qingliu/internal/testenv"
	"github.com/qingliu/qingliu/registry"
)

// TestShippedRoutingCompiles loads configs/routing.yaml against the shipped
// registry: what `qingliu check` and `qingliu up` do.
func TestShippedRoutingCompiles(t *testing.T) {
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
	if len(rt.Agencies()) != 5 || len(rt.Receivers()) != 12 {
		t.Fatalf("agencies %d receivers %d", len(rt.Agencies()), len(rt.Receivers()))
	}
}
