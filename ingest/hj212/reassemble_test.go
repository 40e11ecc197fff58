package hj212

import (
	"errors"
	"fmt"
	"testing"
	"time"
)

func part(t *testing.T, mn, dataTime string, pnum, pno int, cp string) Packet {
	t.Helper()
	qn := fmt.Sprintf("20201029122005%03d", 354+pno) // each part has its own QN
	return mustParse(t, frameOf(fmt.Sprintf("QN=%s;ST=31;CN=2051;PW=123456;MN=%s;Flag=7;PNUM=%d;PNO=%d;CP=&&DataTime=%s;%s&&", qn, mn, pnum, pno, dataTime, cp)))
}

func TestReassembler(t *testing.T) {
	t0 := time.Date(2020, 10, 29, 4, 20, 5, 0, time.UTC)
	const dt = "20201029121000"

	t.Run("not split passes through", func(t *testing.T) {
		r := NewReassembler(4, 8, time.Minute)
		p := mustParse(t, frameOf("ST=21;CN=2011;PW=1;MN=A;CP=&&&&"))
		got, done, err := r.Add(p, t0)
		if err != nil || !done || got.MN != "A" || r.Len() != 0 {
			t.Errorf("Add = %v, %v, %v; Len %d", got, done, err, r.Len())
		}
	})

	t.Run("parts out of order, resent, and interleaved with another transfer", func(t *testing.T) {
		r := NewReassembler(4, 8, time.Minute)
		steps := []struct {
			p    Packet
			done bool
		}{
			{part(t, "M1", dt, 3, 3, "a21002-Avg=3,a21002-Flag=N"), false},
			{part(t, "M2", dt, 2, 1, "a21002-Avg=9"), false},
			{part(t, "M1", dt, 3, 1, "a21001-Avg=1,a21001-Flag=N"), false},
			{part(t, "M1", dt, 3, 1, "a21001-Avg=1,a21001-Flag=N"), false}, // resent
			{part(t, "M1", dt, 3, 2, "a21001-Max=1.5;a21003-Avg=2"), true},
		}
		var joined Packet
		for i, s := range steps {
			got, done, err := r.Add(s.p, t0.Add(time.Duration(i)*time.Second))
			if err != nil || done != s.done {
				t.Fatalf("step %d: done %v err %v, want done %v", i, done, err, s.done)
			}
			joined = got
		}
		if r.Len() != 1 {
			t.Errorf("Len = %d, want 1 (M2 still open)", r.Len())
		}
		if joined.QN != "20201029122005355" || joined.PNUM != 0 || joined.PNO != 0 || joined.Split() ||
			joined.Flag != 5 || !joined.AckRequested() || joined.Raw != "" {
			t.Errorf("joined header = %s, Raw %q", joined, joined.Raw)
		}
		if !joined.DataTime.Equal(bj(2020, 10, 29, 12, 10, 0, 0)) {
			t.Errorf("DataTime = %v", joined.DataTime)
		}
		var codes string
		for _, v := range joined.CP.Values {
			codes += v.Code + " "
		}
		if codes != "a21001 a21003 a21002 " {
			t.Errorf("codes = %q, want in PNO order", codes)
		}
		checkValue(t, joined, valCheck{"a21001", Avg, 1, "N"})
		checkValue(t, joined, valCheck{"a21001", Max, 1.5, "N"})
		checkValue(t, joined, valCheck{"a21002", Avg, 3, "N"})
	})

	t.Run("different DataTime is a different transfer", func(t *testing.T) {
		r := NewReassembler(4, 8, time.Minute)
		r.Add(part(t, "M1", dt, 2, 1, "a-Avg=1"), t0)
		_, done, _ := r.Add(part(t, "M1", "20201029122000", 2, 2, "b-Avg=1"), t0)
		if done || r.Len() != 2 {
			t.Errorf("done %v, Len %d; want two open transfers", done, r.Len())
		}
	})

	t.Run("expiry returns the parts for quarantine", func(t *testing.T) {
		r := NewReassembler(4, 8, time.Minute)
		r.Add(part(t, "M2", dt, 3, 2, "a-Avg=1"), t0.Add(time.Second))
		r.Add(part(t, "M1", dt, 2, 1, "a-Avg=1"), t0)
		r.Add(part(t, "M3", dt, 2, 1, "a-Avg=1"), t0.Add(59*time.Second))
		if got := r.Expire(t0.Add(59 * time.Second)); len(got) != 0 {
			t.Errorf("expired %d parts too early", len(got))
		}
		got := r.Expire(t0.Add(61 * time.Second))
		if len(got) != 2 || got[0].MN != "M1" || got[1].MN != "M2" || got[1].PNO != 2 {
			t.Errorf("expired %v, want M1 then M2", got)
		}
		if r.Len() != 1 {
			t.Errorf("Len = %d, want 1", r.Len())
		}
	})

	t.Run("bounded", func(t *testing.T) {
		r := NewReassembler(2, 3, time.Minute)
		if _, _, err := r.Add(part(t, "M1", dt, 4, 1, "a-Avg=1"), t0); !errors.Is(err, ErrSplit) {
			t.Errorf("PNUM 4 > 3 parts: err = %v", err)
		}
		r.Add(part(t, "M1", dt, 2, 1, "a-Avg=1"), t0)
		r.Add(part(t, "M2", dt, 2, 1, "a-Avg=1"), t0)
		if _, _, err := r.Add(part(t, "M3", dt, 2, 1, "a-Avg=1"), t0); !errors.Is(err, ErrSplit) {
			t.Errorf("third transfer: err = %v", err)
		}
		if _, done, err := r.Add(part(t, "M2", dt, 2, 2, "b-Avg=1"), t0); !done || err != nil {
			t.Errorf("completing an open transfer when full: done %v err %v", done, err)
		}
	})

	t.Run("conflicting parts", func(t *testing.T) {
		r := NewReassembler(2, 3, time.Minute)
		r.Add(part(t, "M1", dt, 2, 1, "a-Avg=1"), t0)
		_, done, err := r.Add(part(t, "M1", dt, 2, 2, "a-Avg=2"), t0)
		var je *JoinError
		if done || !errors.As(err, &je) || len(je.Parts) != 2 || !errors.Is(err, ErrSegment) {
			t.Errorf("done %v err %v", done, err)
		}
		if r.Len() != 0 {
			t.Errorf("Len = %d, want the transfer dropped", r.Len())
		}
	})
}
