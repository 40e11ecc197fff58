package hj212

import (
	"errors"
	"fmt"
	"math"
	"testing"
	"time"
)

func mustParse(t *testing.T, frame string) Packet {
	t.Helper()
	p, _, err := ParseFrame([]byte(frame))
	if err != nil {
		t.Fatalf("parse %q: %v", frame, err)
	}
	return p
}

// The expected frames below were computed independently (Python, the
// Appendix A loop written out) from the data segments shown.
func TestReplies(t *testing.T) {
	rt := mustParse(t, "##0162QN=20231008132300648;ST=22;CN=2011;PW=123456;MN=010000A8900016F000169DC0;Flag=5;CP=&&DataTime=20231008132300;w01008-SampleTime=20231008132300,w01008-Rtd=123.456&&2800")
	legacy := mustParse(t, "##0136ST=32;CN=2011;PW=123456;MN=LD130133000015;CP=&&DataTime=20160824003817;B01-Rtd=36.91;011-Rtd=231.0,011-Flag=N;060-Rtd=1.803,060-Flag=N&&3C00")
	timeReq := mustParse(t, frameOf("QN=20160801085857223;ST=32;CN=1013;PW=123456;MN=010000A8900016F000169DC0;Flag=5;CP=&&PolId=w01018&&"))
	now := time.Date(2026, 7, 6, 2, 35, 12, 345_678_000, time.UTC) // 10:35:12.345 in UTC+8

	tests := []struct {
		name  string
		build func() ([]byte, error)
		want  string
	}{
		{"9014 for a 2011 with A=1", func() ([]byte, error) { return Ack9014(rt) },
			"##0087QN=20231008132300648;ST=91;CN=9014;PW=123456;MN=010000A8900016F000169DC0;Flag=4;CP=&&&&E381\r\n"},
		{"9011 QnRtn=9", func() ([]byte, error) { return QnRtn9011(rt, QnBadCRC) },
			"##0094QN=20231008132300648;ST=91;CN=9011;PW=123456;MN=010000A8900016F000169DC0;Flag=4;CP=&&QnRtn=9&&DBC1\r\n"},
		{"9014 for a 2005-style packet: no QN, no Flag", func() ([]byte, error) { return Ack9014(legacy) },
			"##0049ST=91;CN=9014;PW=123456;MN=LD130133000015;CP=&&&&7C40\r\n"},
		{"1012 answering 1013", func() ([]byte, error) { return SetTime1012(timeReq, now) },
			"##0125QN=20260706103512345;ST=32;CN=1012;PW=123456;MN=010000A8900016F000169DC0;Flag=5;CP=&&PolId=w01018;SystemTime=20260706103512&&4C80\r\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.build()
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != tt.want {
				t.Errorf("got  %q\nwant %q", got, tt.want)
			}
			if _, v, err := ParseFrame(got); err != nil || v.CRC != CRCOK || !v.LengthOK {
				t.Errorf("reply does not parse back: %+v %v", v, err)
			}
		})
	}
	// The standard's own 9014 example (Table C.14) for its 1062 example.
	req := mustParse(t, "##0101QN=20160801085857223;ST=32;CN=1062;PW=100000;MN=010000A8900016F000169DC0;Flag=5;CP=&&RtdInterval=30&&1C80")
	req.PW = "123456"
	ack, err := Ack9014(req)
	if err != nil {
		t.Fatal(err)
	}
	if p := mustParse(t, string(ack)); p.String() != "QN=20160801085857223;ST=91;CN=9014;PW=***;MN=010000A8900016F000169DC0;Flag=4;CP=(0 fields, 0 values)" {
		t.Errorf("ack = %s", p)
	}
}

func TestEncodeRoundTrip(t *testing.T) {
	var v1, v2 Value
	v1.Code, v1.Flag = "w01001", "N"
	v1.Set(Rtd, 7.21)
	v2.Code, v2.Flag, v2.EFlag = "w21003", "M", "E1"
	v2.Set(Avg, 0.42)
	v2.Set(Min, -0.5)
	v2.Set(Max, 1e6)
	v2.Set(Cou, 0)
	v2.SampleTime = bj(2026, 11, 26, 13, 59, 0, 250)
	v2.Extra = []Field{{"ZsAvg", "0.40"}}
	p := Packet{
		QN: "20261126140000123", ST: "21", CN: "2061", PW: "pw", MN: "QY-001",
		Flag: 7, HasFlag: true, PNUM: 3, PNO: 2,
		DataTime: bj(2026, 11, 26, 13, 0, 0, 0),
		CP:       CP{Fields: []Field{{"RtdInterval", "30"}}, Values: []Value{v1, v2}},
	}
	frame, err := Encode(p)
	if err != nil {
		t.Fatal(err)
	}
	const want = "QN=20261126140000123;ST=21;CN=2061;PW=pw;MN=QY-001;Flag=7;PNUM=3;PNO=2;CP=&&DataTime=20261126130000;RtdInterval=30;" +
		"w01001-Rtd=7.21,w01001-Flag=N;w21003-SampleTime=20261126135900250,w21003-Avg=0.42,w21003-Min=-0.5,w21003-Max=1000000,w21003-Cou=0,w21003-ZsAvg=0.40,w21003-Flag=M,w21003-EFlag=E1&&"
	if got := string(frame[6 : len(frame)-6]); got != want {
		t.Errorf("segment\n got %s\nwant %s", got, want)
	}
	q := mustParse(t, string(frame))
	q.Raw = ""
	if !packetsEqual(p, q) {
		t.Errorf("round trip:\n got %#v %+v\nwant %#v %+v", q, q.CP, p, p.CP)
	}
}

func TestEncodeErrors(t *testing.T) {
	base := Packet{ST: "21", CN: "2011", PW: "1", MN: "M1"}
	tests := []struct {
		name string
		edit func(p *Packet)
	}{
		{"no ST", func(p *Packet) { p.ST = "" }},
		{"CN of 3 digits", func(p *Packet) { p.CN = "201" }},
		{"no MN", func(p *Packet) { p.MN = "" }},
		{"; in MN", func(p *Packet) { p.MN = "a;b" }},
		{"QN letters", func(p *Packet) { p.QN = "abc" }},
		{"Flag 256", func(p *Packet) { p.Flag, p.HasFlag = 256, true }},
		{"PNO without PNUM", func(p *Packet) { p.PNO = 1 }},
		{"field with ;", func(p *Packet) { p.CP.Fields = []Field{{"SystemTime", "1;2"}} }},
		{"field name with -", func(p *Packet) { p.CP.Fields = []Field{{"a-b", "1"}} }},
		{"DataTime as a field", func(p *Packet) { p.CP.Fields = []Field{{"DataTime", "20210301000000"}} }},
		{"CR in a flag", func(p *Packet) {
			v := Value{Code: "w01001", Flag: "N\r"}
			p.CP.Values = []Value{v}
		}},
		{"NaN", func(p *Packet) {
			v := Value{Code: "w01001"}
			v.Set(Rtd, math.NaN())
			p.CP.Values = []Value{v}
		}},
		{"empty value", func(p *Packet) { p.CP.Values = []Value{{Code: "w01001"}} }},
		{"code twice", func(p *Packet) { p.CP.Values = []Value{{Code: "w01001", Flag: "N"}, {Code: "w01001", Flag: "N"}} }},
		{"extra shadows Rtd", func(p *Packet) { p.CP.Values = []Value{{Code: "w01001", Extra: []Field{{"Rtd", "1"}}}} }},
		{"year 10000", func(p *Packet) { p.DataTime = time.Date(10000, 1, 1, 0, 0, 0, 0, beijing) }},
		{"too long", func(p *Packet) {
			for i := range 1200 {
				v := Value{Code: fmt.Sprintf("w%05d", i)}
				v.Set(Rtd, float64(i))
				p.CP.Values = append(p.CP.Values, v)
			}
		}},
	}
	for _, tt := range tests {
		p := base
		tt.edit(&p)
		dst := []byte("keep")
		out, err := AppendFrame(dst, p)
		if !errors.Is(err, ErrEncode) {
			t.Errorf("%s: err = %v, want ErrEncode", tt.name, err)
		}
		if string(out) != "keep" {
			t.Errorf("%s: dst has %d bytes, want it unchanged", tt.name, len(out))
		}
	}
	if _, err := Encode(base); err != nil {
		t.Errorf("base: %v", err)
	}
}
