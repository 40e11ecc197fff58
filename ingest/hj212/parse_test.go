package hj212

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"strings"
	"testing"
)

// frameOf builds a frame around seg with a correct length and Appendix A CRC.
func frameOf(seg string) string {
	return fmt.Sprintf("##%04d%s%04X\r\n", len(seg), seg, CRC([]byte(seg)))
}

func TestCRC(t *testing.T) {
	// HJ 212-2017 Appendix A's own example; MODBUS over the same bytes gives
	// 0759 (DOMAIN.md §3.5).
	seg := []byte("QN=20160801085857223;ST=32;CN=1062;PW=100000;MN=010000A8900016F000169DC0;Flag=5;CP=&&RtdInterval=30&&")
	if got := CRC(seg); got != 0x1C80 {
		t.Errorf("CRC = %04X, want 1C80", got)
	}
	if got := CRCModbus(seg); got != 0x0759 {
		t.Errorf("CRCModbus = %04X, want 0759", got)
	}
	if got := CRCModbus([]byte("123456789")); got != 0x4B37 { // the CRC-16/MODBUS check value
		t.Errorf("CRCModbus(123456789) = %04X, want 4B37", got)
	}
	if got := CRC(nil); got != 0xFFFF {
		t.Errorf("CRC(nil) = %04X, want FFFF", got)
	}
	// The tables against the bit-by-bit algorithms as the standard writes them.
	rng := rand.New(rand.NewPCG(1, 2))
	for range 1000 {
		b := make([]byte, rng.IntN(64))
		for i := range b {
			b[i] = byte(rng.UintN(256))
		}
		if got, want := CRC(b), crcBitwise(b, false); got != want {
			t.Fatalf("CRC(%x) = %04X, bitwise %04X", b, got, want)
		}
		if got, want := CRCModbus(b), crcBitwise(b, true); got != want {
			t.Fatalf("CRCModbus(%x) = %04X, bitwise %04X", b, got, want)
		}
	}
}

// crcBitwise is Appendix A's C code (modbus=false) and CRC-16/MODBUS
// (modbus=true), bit by bit.
func crcBitwise(b []byte, modbus bool) uint16 {
	crc := uint16(0xFFFF)
	for _, c := range b {
		if modbus {
			crc ^= uint16(c)
		} else {
			crc = (crc >> 8) ^ uint16(c)
		}
		for range 8 {
			lsb := crc & 1
			crc >>= 1
			if lsb == 1 {
				crc ^= 0xA001
			}
		}
	}
	return crc
}

func TestParseCRCCaseAndTerminator(t *testing.T) {
	seg := "QN=20231008125115215;ST=22;CN=9011;PW=123456;MN=010000A8900016F000169DC0;Flag=4;CP=&&QnRtn=1&&"
	upper := "##0094" + seg + "CC01"
	tests := []struct {
		name, frame string
	}{
		{"upper", upper},
		{"lower", "##0094" + seg + "cc01"},
		{"mixed", "##0094" + seg + "cC01"},
		{"crlf", upper + "\r\n"},
		{"lf", upper + "\n"},
	}
	for _, tt := range tests {
		_, v, err := ParseFrame([]byte(tt.frame))
		if err != nil || v.CRC != CRCOK || !v.LengthOK {
			t.Errorf("%s: verdict %+v, err %v", tt.name, v, err)
		}
	}
}

func TestParseErrors(t *testing.T) {
	const hdr = "QN=20210301111100112;ST=21;CN=2011;PW=secret;MN=M1;Flag=5;"
	tests := []struct {
		name   string
		frame  string
		is     error
		field  string // FieldError.Field, if any
		qnRtn  QnRtn
		keepMN bool // the packet still has MN (and QN) for a reply
	}{
		{"empty", "", ErrFrame, "", QnUnknown, false},
		{"no header", "QN=1;ST=21&&ABCD\r\n", ErrFrame, "", QnUnknown, false},
		{"letters in length", "##01a2ST=21;CP=&&&&ABCD", ErrFrame, "", QnUnknown, false},
		{"too short", "##0000AB", ErrFrame, "", QnUnknown, false},
		{"crc not hex", "##0032" + "ST=21;CN=2011;PW=1;MN=M1;CP=&&&&" + "XYZW", ErrCRC, "", QnBadCRC, true},
		{"bad crc", "##0066" + hdr + "CP=&&&&0000", ErrCRC, "", QnBadCRC, true},
		{"bad length", "##0001" + frameOf(hdr + "CP=&&&&")[6:], ErrLength, "", QnUnknown, true},
		{"missing CP", frameOf(hdr), ErrSegment, "CP", QnUnknown, true},
		{"CP not closed", frameOf(hdr + "CP=&&DataTime=20210301111100"), ErrSegment, "CP", QnUnknown, true},
		{"missing MN", frameOf("QN=1;ST=21;CN=2011;PW=1;CP=&&&&"), ErrSegment, "MN", QnBadMN, false},
		{"missing ST", frameOf("QN=1;CN=2011;PW=1;MN=M1;CP=&&&&"), ErrSegment, "ST", QnBadST, true},
		{"missing PW", frameOf("QN=1;ST=21;CN=2011;MN=M1;CP=&&&&"), ErrSegment, "PW", QnBadPW, true},
		{"bad QN", frameOf("QN=2021-03-01;ST=21;CN=2011;PW=1;MN=M1;CP=&&&&"), ErrSegment, "QN", QnBadQN, true},
		{"bad CN", frameOf("QN=1;ST=21;CN=20111;PW=1;MN=M1;CP=&&&&"), ErrSegment, "CN", QnBadCN, true},
		{"bad ST", frameOf("QN=1;ST=2 1;CN=2011;PW=1;MN=M1;CP=&&&&"), ErrSegment, "ST", QnBadST, true},
		{"bad Flag", frameOf("QN=1;ST=21;CN=2011;PW=1;MN=M1;Flag=256;CP=&&&&"), ErrSegment, "Flag", QnBadFlag, true},
		{"repeated MN", frameOf("QN=1;ST=21;CN=2011;PW=1;MN=M1;MN=M2;CP=&&&&"), ErrSegment, "MN", QnBadMN, true},
		{"PNO > PNUM", frameOf(hdr + "PNUM=2;PNO=3;CP=&&&&"), ErrSegment, "PNO", QnBadFlag, true},
		{"PNUM alone", frameOf(hdr + "PNUM=2;CP=&&&&"), ErrSegment, "PNO", QnBadFlag, true},
		{"PNO zero", frameOf(hdr + "PNUM=2;PNO=0;CP=&&&&"), ErrSegment, "PNO", QnBadFlag, true},
		{"item without =", frameOf("QN=1;ST=21;CN=2011;PW=1;MN=M1;oops;CP=&&&&"), ErrSegment, "header item", QnUnknown, true},
		{"bad number", frameOf(hdr + "CP=&&w01001-Rtd=7,2&&"), ErrSegment, "2", QnUnknown, true},
		{"NaN", frameOf(hdr + "CP=&&w01001-Rtd=NaN&&"), ErrSegment, "w01001-Rtd", QnUnknown, true},
		{"exponent", frameOf(hdr + "CP=&&w01001-Rtd=1e3&&"), ErrSegment, "w01001-Rtd", QnUnknown, true},
		{"empty value", frameOf(hdr + "CP=&&w01001-Rtd=&&"), ErrSegment, "w01001-Rtd", QnUnknown, true},
		{"repeated Rtd", frameOf(hdr + "CP=&&w01001-Rtd=1;w01001-Rtd=2&&"), ErrSegment, "w01001-Rtd", QnUnknown, true},
		{"repeated DataTime", frameOf(hdr + "CP=&&DataTime=20210301111100;DataTime=20210301111100&&"), ErrSegment, "DataTime", QnUnknown, true},
		{"31 April", frameOf(hdr + "CP=&&DataTime=20210431000000&&"), ErrSegment, "DataTime", QnUnknown, true},
		{"hour 24", frameOf(hdr + "CP=&&DataTime=20210401240000&&"), ErrSegment, "DataTime", QnUnknown, true},
		{"short DataTime", frameOf(hdr + "CP=&&DataTime=202104010000&&"), ErrSegment, "DataTime", QnUnknown, true},
		{"bad SampleTime", frameOf(hdr + "CP=&&w01001-SampleTime=2021&&"), ErrSegment, "w01001-SampleTime", QnUnknown, true},
		{"empty flag", frameOf(hdr + "CP=&&w01001-Flag=&&"), ErrSegment, "w01001-Flag", QnUnknown, true},
		{"no code", frameOf(hdr + "CP=&&-Rtd=1&&"), ErrSegment, "-Rtd", QnUnknown, true},
		{"control byte", frameOf(hdr + "CP=&&RtdInterval=3\x000&&"), ErrSegment, "CP", QnUnknown, true},
		{"CRC and field", "##0055QN=1;ST=21;CN=20111;PW=1;MN=M1;CP=&&&&0000", ErrCRC, "CN", QnBadCRC, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, _, err := ParseFrame([]byte(tt.frame))
			if !errors.Is(err, tt.is) {
				t.Fatalf("err = %v, want %v", err, tt.is)
			}
			var fe *FieldError
			if errors.As(err, &fe) != (tt.field != "") || tt.field != "" && fe.Field != tt.field {
				t.Errorf("err = %v, want a FieldError for %q", err, tt.field)
			}
			if got := RtnFor(err); got != tt.qnRtn {
				t.Errorf("RtnFor = %d, want %d", got, tt.qnRtn)
			}
			if (p.MN != "") != tt.keepMN {
				t.Errorf("MN = %q, want kept=%v", p.MN, tt.keepMN)
			}
			if strings.Contains(err.Error(), "secret") {
				t.Errorf("error %q shows the password", err)
			}
		})
	}
}

func TestParseLeniencies(t *testing.T) {
	tests := []struct {
		name string
		seg  string
		chk  func(t *testing.T, p Packet)
	}{
		{"2005 style: no QN, no Flag", "ST=32;CN=2011;PW=1;MN=M1;CP=&&DataTime=20160824003817;w01001-Rtd=7&&", func(t *testing.T, p Packet) {
			if p.QN != "" || p.HasFlag || p.Version() != Version2005 || p.AckRequested() {
				t.Errorf("QN=%q HasFlag=%v", p.QN, p.HasFlag)
			}
		}},
		{"header order free, vendor field ignored", "MN=M1;CmdFlag=1;PW=1;CN=2011;ST=21;QN=20210301111100112;CP=&&&&", func(t *testing.T, p Packet) {
			checkPacket(t, p, "20210301111100112", "21", "2011", "1", "M1")
		}},
		{"empty CP", "ST=91;CN=9014;PW=1;MN=M1;CP=&&&&", func(t *testing.T, p Packet) {
			if len(p.CP.Fields)+len(p.CP.Values) != 0 || !p.DataTime.IsZero() {
				t.Errorf("CP = %+v", p.CP)
			}
		}},
		{"empty items, trailing ;", "ST=21;CN=2011;PW=1;MN=M1;CP=&&;DataTime=20210301111100;;w01001-Rtd=7;&&", func(t *testing.T, p Packet) {
			checkValue(t, p, valCheck{"w01001", Rtd, 7, ""})
		}},
		{"signs and bare dot", "ST=21;CN=2011;PW=1;MN=M1;CP=&&a01001-Rtd=-3.5,a01001-Min=+.5,a01001-Max=2.&&", func(t *testing.T, p Packet) {
			checkValue(t, p, valCheck{"a01001", Rtd, -3.5, ""})
			checkValue(t, p, valCheck{"a01001", Min, 0.5, ""})
			checkValue(t, p, valCheck{"a01001", Max, 2, ""})
		}},
		{"extras, EFlag, SampleTime", "ST=31;CN=2051;PW=1;MN=M1;CP=&&DataTime=20230327090000;a01006-ZsAvg=1.5,a01006-ValidNum=10,a01006-EFlag=A01,a01006-SampleTime=20230327085959123&&", func(t *testing.T, p Packet) {
			v, _ := p.CP.Value("a01006")
			if fieldsString(v.Extra) != "ZsAvg=1.5;ValidNum=10;" || v.EFlag != "A01" || !v.SampleTime.Equal(bj(2023, 3, 27, 8, 59, 59, 123)) {
				t.Errorf("value = %+v", v)
			}
		}},
		{"repeated plain fields kept", "ST=32;CN=3020;PW=1;MN=M1;CP=&&PolId=w01018;PolId=w21003&&", func(t *testing.T, p Packet) {
			if fieldsString(p.CP.Fields) != "PolId=w01018;PolId=w21003;" {
				t.Errorf("Fields = %v", p.CP.Fields)
			}
		}},
		{"value with =", "ST=32;CN=1072;PW=1;MN=M1;CP=&&PW=a=b&&", func(t *testing.T, p Packet) {
			if v, _ := p.CP.Field("PW"); v != "a=b" {
				t.Errorf("PW = %q", v)
			}
		}},
		{"Chinese in CP, length in bytes", "ST=32;CN=3020;PW=1;MN=M1;CP=&&i12001-Info=清远&&", func(t *testing.T, p Packet) {
			v, _ := p.CP.Value("i12001")
			if fieldsString(v.Extra) != "Info=清远;" {
				t.Errorf("Extra = %v", v.Extra)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, v, err := ParseFrame([]byte(frameOf(tt.seg)))
			if err != nil || v.CRC != CRCOK || !v.LengthOK {
				t.Fatalf("verdict %+v, err %v", v, err)
			}
			tt.chk(t, p)
		})
	}
}

func TestPacketRedactsPW(t *testing.T) {
	p, _, err := ParseFrame([]byte(frameOf("QN=20210301111100112;ST=21;CN=2011;PW=s3cr3t;MN=M1;Flag=5;PNUM=2;PNO=1;CP=&&DataTime=20210301111100;w01001-Rtd=7&&")))
	if err != nil {
		t.Fatal(err)
	}
	var logged bytes.Buffer
	slog.New(slog.NewTextHandler(&logged, nil)).Info("packet", "packet", p)
	for _, s := range []string{p.String(), fmt.Sprint(p), fmt.Sprintf("%+v", p), fmt.Sprintf("%#v", p), logged.String()} {
		if strings.Contains(s, "s3cr3t") {
			t.Errorf("%q shows the password", s)
		}
		if !strings.Contains(s, "M1") {
			t.Errorf("%q does not show the MN", s)
		}
	}
	if want := "QN=20210301111100112;ST=21;CN=2011;PW=***;MN=M1;Flag=5;PNUM=2;PNO=1;CP=(0 fields, 1 values)"; p.String() != want {
		t.Errorf("String = %q, want %q", p.String(), want)
	}
}

func TestParseTime(t *testing.T) {
	tests := []struct {
		in   string
		want string // RFC 3339 with milliseconds, "" for an error
	}{
		{"20210301111100", "2021-03-01T11:11:00.000+08:00"},
		{"20210305003817123", "2021-03-05T00:38:17.123+08:00"},
		{"20240229235959", "2024-02-29T23:59:59.000+08:00"},
		{"20230229000000", ""},
		{"20211301000000", ""},
		{"20210100000000", ""},
		{"2021030111110", ""},
		{"2021030111110x", ""},
		{"20210301116000", ""},
	}
	for _, tt := range tests {
		got, err := ParseTime(tt.in)
		s := ""
		if err == nil {
			s = got.Format("2006-01-02T15:04:05.000Z07:00")
		}
		if s != tt.want {
			t.Errorf("ParseTime(%q) = %q, %v; want %q", tt.in, s, err, tt.want)
		}
	}
}
