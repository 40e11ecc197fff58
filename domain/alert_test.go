package domain

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
)

func TestStatusText(t *testing.T) {
	for _, s := range []Status{Pending, Firing, Resolved, Inactive} {
		b, err := s.MarshalText()
		if err != nil {
			t.Fatal(err)
		}
		var back Status
		if err := back.UnmarshalText(b); err != nil || back != s {
			t.Errorf("%s: round trip %q → %s, %v", s, b, back, err)
		}
	}
	var s Status
	if err := s.UnmarshalText([]byte("burning")); err == nil {
		t.Error("UnmarshalText(burning) succeeded")
	}
	if _, err := Status(9).MarshalText(); err == nil || Status(9).String() != "Status(9)" {
		t.Errorf("Status(9): %v %s", err, Status(9))
	}
}

// TestTransitionJSON: the ALERTS body keeps every field through JSON, with
// levels and statuses as words and the ETA only when set.
func TestTransitionJSON(t *testing.T) {
	cst := time.FixedZone("CST", 8*3600)
	at := time.Date(2026, 11, 26, 14, 0, 0, 0, cst)
	eta := at.Add(43 * time.Hour)
	in := Transition{
		AlertID: "river/joint/nh3n-high/bj-gaoqiao/nh3n", Seq: 3, At: at, Emitted: at.Add(time.Second),
		Rule: "river", Kind: "joint", Station: "bj-gaoqiao", Parameter: "nh3n", Status: Firing,
		Level: Orange, PrevLevel: Yellow, Value: 2.4, Threshold: 2, Window: "latest",
		Readings:      []Evidence{{Station: "bj-gaoqiao", Parameter: "nh3n", Time: at, Value: 2.4}},
		Jurisdictions: []string{"广州", "清远"}, Joint: true, ETA: &eta, SourceStation: "bj-gaoqiao",
		SourceAlert: "nh3n-high/bj-gaoqiao/nh3n", Confidence: ConfidenceConfirmed,
		SummaryZH: "【联合预警】", SummaryEN: "[joint]", Reason: "r",
	}
	b, err := json.Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`"status":"firing"`, `"level":"orange"`, `"prev_level":"yellow"`, `"joint":true`, `"eta":"2026-11-28T09:00:00+08:00"`} {
		if !strings.Contains(string(b), want) {
			t.Errorf("%s lacks %s", b, want)
		}
	}
	var out Transition
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	if out.AlertID != in.AlertID || out.Seq != 3 || out.Status != Firing || out.Level != Orange || out.PrevLevel != Yellow ||
		!out.ETA.Equal(eta) || !out.At.Equal(at) || len(out.Readings) != 1 || out.Jurisdictions[1] != "清远" || out.Confidence != ConfidenceConfirmed {
		t.Errorf("round trip: %+v", out)
	}
	if got := in.MsgID(); got != "river/joint/nh3n-high/bj-gaoqiao/nh3n:3" {
		t.Errorf("MsgID = %s", got)
	}
	b, _ = json.Marshal(Transition{AlertID: "a", Seq: 1, Status: Resolved})
	if strings.Contains(string(b), `"eta"`) {
		t.Errorf("eta present without a value: %s", b)
	}
}
