package rules

import (
	"testing"
	"time"
)

func TestDecodeMaintenance(t *testing.T) {
	from := time.Date(2026, 11, 26, 8, 0, 0, 0, time.UTC)
	to := from.Add(2 * time.Hour)
	ws, err := decodeMaintenance([]byte(`{"id":"a1","matchers":["river=\"流溪河\""],"starts_at":"2026-11-26T08:00:00Z",
		"ends_at":"2026-11-26T10:00:00Z","comment":"更换电极","maintenance":true,"stations":["lx-jiekou","lx-yagang"]}`))
	if err != nil {
		t.Fatal(err)
	}
	want := []Maintenance{{Station: "lx-jiekou", From: from, To: to, Reason: "更换电极"}, {Station: "lx-yagang", From: from, To: to, Reason: "更换电极"}}
	if len(ws) != len(want) {
		t.Fatalf("got %+v", ws)
	}
	for i := range want {
		if ws[i].Station != want[i].Station || !ws[i].From.Equal(want[i].From) || !ws[i].To.Equal(want[i].To) || ws[i].Reason != want[i].Reason {
			t.Errorf("window %d = %+v, want %+v", i, ws[i], want[i])
		}
	}
	// A plain silence mutes notifications only; an expired-at-creation
	// record has no window.
	for _, b := range []string{
		`{"matchers":["station=\"lx-jiekou\""],"starts_at":"2026-11-26T08:00:00Z","ends_at":"2026-11-26T10:00:00Z","stations":["lx-jiekou"]}`,
		`{"maintenance":true,"stations":["lx-jiekou"],"starts_at":"2026-11-26T08:00:00Z","ends_at":"2026-11-26T08:00:00Z"}`,
	} {
		if ws, err := decodeMaintenance([]byte(b)); err != nil || len(ws) != 0 {
			t.Errorf("%s: %+v %v, want no window", b, ws, err)
		}
	}
	if _, err := decodeMaintenance([]byte(`{"maintenance":"yes"}`)); err == nil {
		t.Error("a record of the wrong shape decoded")
	}
}
