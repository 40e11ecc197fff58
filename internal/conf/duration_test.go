package conf

import (
	"testing"
	"time"
)

func TestDuration(t *testing.T) {
	var d Duration
	if err := d.UnmarshalText([]byte("15m")); err != nil || d.D() != 15*time.Minute {
		t.Fatalf("15m: %v %v", d.D(), err)
	}
	if b, _ := d.MarshalText(); string(b) != "15m0s" {
		t.Errorf("marshal %q", b)
	}
	err := d.UnmarshalText([]byte("7d"))
	if err == nil || err.Error() != `"7d" is not a duration like 500ms, 30s, 15m, 168h` {
		t.Fatalf("7d: %v", err)
	}
}
