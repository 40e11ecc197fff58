package alert

import (
	"encoding/json"
	"slices"
	"testing"
	"time"

	"github.com/qingliu/qingliu/internal/bus"
)

// The rules stage reads maintenance windows from the silences bucket as
// bus.MaintenanceRecord: what the alert service stores must decode to it.
func TestSilenceRecordIsAMaintenanceRecord(t *testing.T) {
	ms, err := ParseMatchers([]string{`river="流溪河"`})
	if err != nil {
		t.Fatal(err)
	}
	from := time.Date(2026, 11, 26, 8, 0, 0, 0, time.UTC)
	sl := &Silence{ID: "a1", Matchers: ms, StartsAt: from, EndsAt: from.Add(time.Hour), CreatedBy: "gz",
		Comment: "更换电极", Maintenance: true, Stations: []string{"lx-jiekou", "lx-yagang"}}
	b, err := json.Marshal(sl)
	if err != nil {
		t.Fatal(err)
	}
	var r bus.MaintenanceRecord
	if err := json.Unmarshal(b, &r); err != nil {
		t.Fatal(err)
	}
	if !r.Maintenance || !slices.Equal(r.Stations, sl.Stations) || !r.StartsAt.Equal(sl.StartsAt) || !r.EndsAt.Equal(sl.EndsAt) || r.Comment != sl.Comment {
		t.Fatalf("record %+v from %s", r, b)
	}
}
