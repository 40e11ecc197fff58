package hj212

import (
	"bufio"
	"errors"
	"os"
	"strings"
	"testing"
	"time"
)

// sample is one packet of testdata/samples.txt with the line after it.
type sample struct {
	frame  string
	source string // the comment line: "# source: … | verdict"
}

func readSamples(t testing.TB) []sample {
	t.Helper()
	f, err := os.Open("testdata/samples.txt")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []sample
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "##"):
			out = append(out, sample{frame: line})
		case strings.HasPrefix(line, "# source:") && len(out) > 0 && out[len(out)-1].source == "":
			out[len(out)-1].source = line
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// verdictFromComment reads the verdict the sample file states.
func verdictFromComment(t *testing.T, c string) Verdict {
	t.Helper()
	var v Verdict
	switch {
	case strings.Contains(c, "CRC VERIFIED"):
		v.CRC = CRCOK
	case strings.Contains(c, "equals CRC-16/MODBUS") && strings.Contains(c, "LOW byte first"):
		v.CRC = CRCModbusLE
	case strings.Contains(c, "CRC does NOT verify"):
		v.CRC = CRCBad
	default:
		t.Fatalf("no CRC verdict in %q", c)
	}
	switch {
	case strings.Contains(c, "length field OK"):
		v.LengthOK = true
	case strings.Contains(c, "LENGTH FIELD WRONG"):
	default:
		t.Fatalf("no length verdict in %q", c)
	}
	return v
}

func bj(y int, mo time.Month, d, h, mi, s, ms int) time.Time {
	return time.Date(y, mo, d, h, mi, s, ms*int(time.Millisecond), beijing)
}

type valCheck struct {
	code string
	stat Stat
	x    float64
	flag string
}

// TestSamples parses every packet of testdata/samples.txt and checks it
// against what the file says (CRC and length verdicts) and against what the
// packet says (fields and values).
func TestSamples(t *testing.T) {
	samples := readSamples(t)
	tests := []struct {
		source   string // unique part of the source line
		crc      CRCResult
		lengthOK bool
		// errors expected from a strict parse
		errIs      []error
		badField   string // FieldError.Field when ErrSegment is expected
		qn, st, cn string
		pw, mn     string
		flag       int
		hasFlag    bool
		ack        bool
		version    int
		pnum, pno  int
		dataTime   time.Time
		fields     []Field
		nValues    int
		vals       []valCheck
	}{
		{
			source: "Appendix A (normative) example", crc: CRCOK, lengthOK: true,
			qn: "20160801085857223", st: "32", cn: "1062", pw: "100000", mn: "010000A8900016F000169DC0",
			flag: 5, hasFlag: true, ack: true, version: 1,
			fields: []Field{{"RtdInterval", "30"}},
		},
		{
			source: "ApplicationTest.java:26", crc: CRCOK, lengthOK: true,
			qn: "20191012133710130", st: "22", cn: "2011", pw: "123456", mn: "Y80110010000010",
			flag: 4, hasFlag: true, version: 1, dataTime: bj(2019, 10, 12, 13, 37, 10, 0),
			nValues: 7,
			vals:    []valCheck{{"a21005", Rtd, 0, "N"}, {"a21007", Rtd, 0.033, "N"}, {"a21003", Rtd, 101.94, "N"}, {"a21002", Rtd, 49.2, "N"}},
		},
		{
			source: "ApplicationTest.java:28", crc: CRCBad, lengthOK: true, errIs: []error{ErrCRC},
			st: "32", cn: "2011", pw: "123456", mn: "LD130133000015",
			dataTime: bj(2016, 8, 24, 0, 38, 17, 0), nValues: 3,
			vals: []valCheck{{"B01", Rtd, 36.91, ""}, {"011", Rtd, 231, "N"}, {"060", Rtd, 1.803, "N"}},
		},
		{
			// a21-Rtd twice: a segment error as well as a bad CRC.
			source: "ApplicationTest.java:29", crc: CRCBad, lengthOK: true, errIs: []error{ErrCRC, ErrSegment}, badField: "a21-Rtd",
			qn: "20191012133710130", st: "22", cn: "2011", pw: "123456", mn: "Y80110010000010",
			flag: 4, hasFlag: true, version: 1, dataTime: bj(2019, 10, 12, 13, 37, 10, 0),
			nValues: 1, vals: []valCheck{{"a21", Rtd, 0, ""}},
		},
		{
			source: "ApplicationTest.java:30", crc: CRCOK, lengthOK: true,
			qn: "20191012133710130", st: "22", cn: "2011", pw: "123456", mn: "Y80110010000010",
			flag: 4, hasFlag: true, version: 1, dataTime: bj(2019, 10, 12, 13, 37, 10, 0),
			nValues: 7, vals: []valCheck{{"a2106", Rtd, 0.036, "N"}, {"a2101", Rtd, 25.4, "N"}},
		},
		{
			// PNO before PNUM, no Flag.
			source: "ApplicationTest.java:32", crc: CRCBad, lengthOK: true, errIs: []error{ErrCRC},
			qn: "20191112091100598", st: "31", cn: "2051", pw: "123456", mn: "14513567846884",
			pnum: 2, pno: 2, dataTime: bj(2023, 3, 27, 9, 0, 0, 0),
			nValues: 1, vals: []valCheck{{"a01006", Avg, 101.85, ""}, {"a01006", Min, 101.84, ""}, {"a01006", Max, 101.87, ""}},
		},
		{
			// Flag=8: version bits 000010, not defined by HJ 212-2017.
			source: "alltobs-hj212:README.md:49", crc: CRCOK, lengthOK: true,
			qn: "20210301111100112", st: "21", cn: "2011", pw: "123456", mn: "ZLDSZ20210127",
			flag: 8, hasFlag: true, version: 2, dataTime: bj(2021, 3, 1, 11, 11, 0, 0),
			nValues: 11,
			vals: []valCheck{
				{"w01001", Rtd, 8.33, "N"}, {"w01009", Rtd, 10.15, "N"}, {"w01010", Rtd, 9.7, "N"},
				{"w01014", Rtd, 1425, "N"}, {"w01003", Rtd, 13.10, "N"}, {"w21011", Rtd, 0, "N"},
				{"w21001", Rtd, 3.563168, "N"}, {"w21003", Rtd, 0.09055002, "N"}, {"w01019", Rtd, 4.102818, "N"},
			},
		},
		{
			// 17-digit DataTime (with milliseconds).
			source: "alltobs-hj212:README.md:468", crc: CRCOK, lengthOK: true,
			st: "32", cn: "2011", pw: "123456", mn: "NJGDKYYC202101q0001w0001",
			dataTime: bj(2021, 3, 5, 0, 38, 17, 0), nValues: 2,
			vals: []valCheck{{"ele01", Rtd, 1, ""}, {"ele02", Rtd, 0, ""}},
		},
		{
			source: "HJ212Interpreter:README.md:69", crc: CRCOK, lengthOK: true,
			qn: "20231008125115215", st: "22", cn: "9011", pw: "123456", mn: "010000A8900016F000169DC0",
			flag: 4, hasFlag: true, version: 1, fields: []Field{{"QnRtn", "1"}},
		},
		{
			source: "HJ212Interpreter:README.md:114", crc: CRCOK, lengthOK: true,
			qn: "20231008132300648", st: "22", cn: "2011", pw: "123456", mn: "010000A8900016F000169DC0",
			flag: 5, hasFlag: true, ack: true, version: 1, dataTime: bj(2023, 10, 8, 13, 23, 0, 0),
			nValues: 1, vals: []valCheck{{"w01008", Rtd, 123.456, ""}},
		},
		{
			source: "rx.log:2 ", crc: CRCOK, lengthOK: true,
			st: "31", cn: "2011", pw: "123456", mn: "88888880000001", dataTime: bj(2020, 9, 21, 17, 40, 57, 0),
			nValues: 31, vals: []valCheck{{"831", Rtd, 3.128, "N"}, {"a99948", Rtd, 452.341, "N"}, {"815", Rtd, 0, "N"}},
		},
		{
			source: "rx.log:4 ", crc: CRCOK, lengthOK: true,
			st: "101", cn: "2011", pw: "123456", mn: "41050022000017", dataTime: bj(2020, 9, 22, 11, 0, 0, 0),
			nValues: 5, vals: []valCheck{{"a34010", Rtd, 2.017, "N"}, {"ua19003", Rtd, 2.539, "N"}},
		},
		{
			source: "rx.log:14 ", crc: CRCModbusLE, lengthOK: true, errIs: []error{ErrCRC},
			st: "31", cn: "2011", pw: "123456", mn: "4201003", dataTime: bj(2020, 9, 23, 11, 17, 7, 0),
			nValues: 31, vals: []valCheck{{"112", Rtd, 11.285, "N"}, {"815", Rtd, 0.721, "N"}},
		},
		{
			source: "rx.log:8872 ", crc: CRCModbusLE, lengthOK: true, errIs: []error{ErrCRC},
			qn: "20200924101500117", st: "31", cn: "2051", pw: "123456", mn: "88888880000001",
			dataTime: bj(2020, 9, 24, 10, 10, 0, 0),
			nValues:  36, vals: []valCheck{{"112", Avg, 0, ""}, {"815", Max, 0, ""}},
		},
		{
			// A bare Flag=N item in CP, kept as a plain field.
			source: "scada-distribute.log:761", crc: CRCOK, lengthOK: true,
			qn: "20250131202809340", st: "39", cn: "2011", pw: "123456", mn: "0507A010003242",
			flag: 4, hasFlag: true, version: 1, dataTime: bj(2025, 1, 31, 20, 28, 9, 0),
			fields: []Field{{"Flag", "N"}}, nValues: 1, vals: []valCheck{{"a34001", Rtd, 92, ""}},
		},
		{
			source: "WWDBTest/util/tcpClient.py:13", crc: CRCOK, lengthOK: true,
			st: "32", cn: "2011", pw: "123456", mn: "DM000001", dataTime: bj(2019, 12, 23, 16, 51, 0, 0),
			nValues: 8, vals: []valCheck{{"w01001", Rtd, 15.294, "N"}, {"w01003", Rtd, 3.262, "N"}},
		},
		{
			source: "DATA1.log:8", crc: CRCOK, lengthOK: true,
			st: "21", cn: "2011", pw: "123456", mn: "DM000003", dataTime: bj(2019, 12, 30, 14, 46, 0, 0),
			nValues: 8, vals: []valCheck{{"w01001", Rtd, 66.587, "N"}, {"w21011", Rtd, 44.78, "N"}},
		},
		{
			source: "fuwu/tcpClient.py:33", crc: CRCOK, lengthOK: false, errIs: []error{ErrLength},
			st: "32", cn: "2011", pw: "123456", mn: "DM000001", dataTime: bj(2019, 12, 23, 16, 51, 0, 0),
			nValues: 8, vals: []valCheck{{"w01001", Rtd, 15.294, "N"}},
		},
		{
			// Flag=9: version 2 with the A bit.
			source: "RAW_PACKET", crc: CRCOK, lengthOK: true,
			qn: "20260706103512345", st: "21", cn: "2011", pw: "123456", mn: "A110000_0001",
			flag: 9, hasFlag: true, ack: true, version: 2, dataTime: bj(2026, 7, 6, 10, 30, 0, 0),
			nValues: 5, vals: []valCheck{{"w01010", Rtd, 28.6, "N"}, {"w01019", Rtd, 1.023, "N"}},
		},
	}
	if len(samples) != len(tests) {
		t.Fatalf("testdata/samples.txt has %d packets, the table %d", len(samples), len(tests))
	}
	for i, tt := range tests {
		s := samples[i]
		t.Run(tt.source, func(t *testing.T) {
			if !strings.Contains(s.source, tt.source) {
				t.Fatalf("packet %d has source %q, table expects %q", i, s.source, tt.source)
			}
			want := verdictFromComment(t, s.source)
			if want.CRC != tt.crc || want.LengthOK != tt.lengthOK {
				t.Fatalf("table says %v/%v, file says %v/%v", tt.crc, tt.lengthOK, want.CRC, want.LengthOK)
			}
			// The file shows packets without CR LF; the wire has it.
			for _, frame := range []string{s.frame, s.frame + "\r\n"} {
				p, v, err := ParseFrame([]byte(frame))
				if v != want {
					t.Errorf("verdict = %+v, want %+v", v, want)
				}
				if len(tt.errIs) == 0 && err != nil {
					t.Errorf("err = %v, want nil", err)
				}
				for _, target := range tt.errIs {
					if !errors.Is(err, target) {
						t.Errorf("err = %v, want one wrapping %v", err, target)
					}
				}
				var fe *FieldError
				if errors.As(err, &fe) != (tt.badField != "") || tt.badField != "" && fe.Field != tt.badField {
					t.Errorf("err = %v, want FieldError for %q", err, tt.badField)
				}
				checkPacket(t, p, tt.qn, tt.st, tt.cn, tt.pw, tt.mn)
				if p.Flag != tt.flag || p.HasFlag != tt.hasFlag || p.AckRequested() != tt.ack || p.Version() != tt.version {
					t.Errorf("Flag = %d/%v ack=%v version=%d, want %d/%v ack=%v version=%d",
						p.Flag, p.HasFlag, p.AckRequested(), p.Version(), tt.flag, tt.hasFlag, tt.ack, tt.version)
				}
				if p.PNUM != tt.pnum || p.PNO != tt.pno || p.Split() != (tt.pnum > 0) {
					t.Errorf("PNUM/PNO = %d/%d, want %d/%d", p.PNUM, p.PNO, tt.pnum, tt.pno)
				}
				if !p.DataTime.Equal(tt.dataTime) || p.DataTime.IsZero() != tt.dataTime.IsZero() {
					t.Errorf("DataTime = %v, want %v", p.DataTime, tt.dataTime)
				}
				if got, want := fieldsString(p.CP.Fields), fieldsString(tt.fields); got != want {
					t.Errorf("Fields = %s, want %s", got, want)
				}
				if len(p.CP.Values) != tt.nValues {
					t.Errorf("%d values, want %d", len(p.CP.Values), tt.nValues)
				}
				for _, c := range tt.vals {
					checkValue(t, p, c)
				}
				if p.Raw != strings.TrimSuffix(frame, "\r\n") {
					t.Errorf("Raw = %q", p.Raw)
				}
			}
		})
	}
}

func checkPacket(t *testing.T, p Packet, qn, st, cn, pw, mn string) {
	t.Helper()
	if p.QN != qn || p.ST != st || p.CN != cn || p.PW != pw || p.MN != mn {
		t.Errorf("header = QN=%q ST=%q CN=%q PW=%q MN=%q, want QN=%q ST=%q CN=%q PW=%q MN=%q",
			p.QN, p.ST, p.CN, p.PW, p.MN, qn, st, cn, pw, mn)
	}
}

func checkValue(t *testing.T, p Packet, c valCheck) {
	t.Helper()
	v, ok := p.CP.Value(c.code)
	if !ok {
		t.Errorf("no value for %s", c.code)
		return
	}
	if x, ok := v.Get(c.stat); !ok || x != c.x {
		t.Errorf("%s-%s = %v (present %v), want %v", c.code, c.stat, x, ok, c.x)
	}
	if v.Flag != c.flag {
		t.Errorf("%s-Flag = %q, want %q", c.code, v.Flag, c.flag)
	}
}

func fieldsString(fs []Field) string {
	var b strings.Builder
	for _, f := range fs {
		b.WriteString(f.Name + "=" + f.Value + ";")
	}
	return b.String()
}

// TestSamplesLenientCRC: the two CEMS packets that carry CRC-16/MODBUS low
// byte first parse without error for a device in lenient mode, and still fail
// for any other MN.
func TestSamplesLenientCRC(t *testing.T) {
	lenient := map[string]bool{"4201003": true, "88888880000001": true}
	ps := Parser{ModbusCRC: func(mn string) bool { return lenient[mn] }}
	for _, s := range readSamples(t) {
		p, v, err := ps.Parse([]byte(s.frame))
		if v.CRC != CRCModbusLE {
			continue
		}
		if err != nil {
			t.Errorf("%s: lenient parse: %v", p.MN, err)
		}
		delete(lenient, p.MN)
		p, _, err = Parser{ModbusCRC: func(mn string) bool { return mn == "other" }}.Parse([]byte(s.frame))
		if !errors.Is(err, ErrCRC) {
			t.Errorf("%s: strict parse err = %v, want ErrCRC", p.MN, err)
		}
	}
	if len(lenient) != 0 {
		t.Errorf("no MODBUS packet seen for %v", lenient)
	}
}
