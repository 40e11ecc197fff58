package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// hj212TestMapper stands in for the registry in tests of the command's logic.
func hj212TestMapper(code string) (string, bool) {
	k, ok := map[string]string{"w01001": "ph", "w01009": "do", "w21003": "nh3n", "w01019": "codmn"}[code]
	return k, ok
}

func runHJ212Decode(t *testing.T, in string, opts hj212DecodeOptions) ([]map[string]any, error) {
	t.Helper()
	var out bytes.Buffer
	err := decodeHJ212Lines(strings.NewReader(in), &out, opts, hj212TestMapper)
	var recs []map[string]any
	for _, line := range strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n") {
		if line == "" {
			continue
		}
		var m map[string]any
		if jerr := json.Unmarshal([]byte(line), &m); jerr != nil {
			t.Fatalf("output line is not JSON: %v: %s", jerr, line)
		}
		recs = append(recs, m)
	}
	return recs, err
}

const (
	hj212Rt2011 = "##0435QN=20210301111100112;ST=21;CN=2011;PW=123456;MN=ZLDSZ20210127;Flag=8;CP=&&DataTime=20210301111100;w01001-Rtd=8.33,w01001-Flag=N;w01009-Rtd=10.15,w01009-Flag=N;w01010-Rtd=9.7,w01010-Flag=N;w01014-Rtd=1425,w01014-Flag=N;w01003-Rtd=13.10,w01003-Flag=N;w21011-Rtd=0,w21011-Flag=N;w21001-Rtd=3.563168,w21001-Flag=N;w21003-Rtd=0.09055002,w21003-Flag=N;w01019-Rtd=4.102818,w01019-Flag=N;w01008-Rtd=0,w01008-Flag=N;w23002-Rtd=0,w23002-Flag=N&&7d00"
	hj212BadCRC = "##0136ST=32;CN=2011;PW=123456;MN=LD130133000015;CP=&&DataTime=20160824003817;B01-Rtd=36.91;011-Rtd=231.0,011-Flag=N;060-Rtd=1.803,060-Flag=N&&4980"
	hj212Modbus = "##0868ST=31;CN=2011;PW=123456;MN=4201003;CP=&&DataTime=20200923111707;112-Rtd=11.285,112-Flag=N;121-Rtd=27.702,121-Flag=N;023-Rtd=4.372,023-Flag=N;802-Rtd=12.668,802-Flag=N;803-Rtd=4.314,803-Flag=N;808-Rtd=0.000,808-Flag=N;801-Rtd=2.920,801-Flag=N;811-Rtd=266.765,811-Flag=N;810-Rtd=44.881,810-Flag=N;812-Rtd=1.508,812-Flag=N;806-Rtd=10.850,806-Flag=N;039-Rtd=14.531,039-Flag=N;805-Rtd=23.591,805-Flag=N;817-Rtd=1.583,817-Flag=N;a99949-Rtd=786.913,a99949-Flag=N;a99948-Rtd=267.765,a99948-Flag=N;804-Rtd=140.124,804-Flag=N;040-Rtd=0.000,040-Flag=N;028-Rtd=0.160,028-Flag=N;029-Rtd=4.685,029-Flag=N;030-Rtd=40.235,030-Flag=N;041-Rtd=0.000,041-Flag=N;809-Rtd=1.615,809-Flag=N;814-Rtd=4.697,814-Flag=N;038-Rtd=0.881,038-Flag=N;816-Rtd=1.284,816-Flag=N;813-Rtd=2.116,813-Flag=N;033-Rtd=0.000,033-Flag=N;036-Rtd=0.000,036-Flag=N;807-Rtd=0.000,807-Flag=N;815-Rtd=0.721,815-Flag=N&&A6EC"
	hj212QnRtn  = "##0094QN=20231008125115215;ST=22;CN=9011;PW=123456;MN=010000A8900016F000169DC0;Flag=4;CP=&&QnRtn=1&&CC01"
)

func hj212JSON(t *testing.T, s string) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal([]byte(s), &m); err != nil {
		t.Fatal(err)
	}
	return m
}

func TestHJ212Decode(t *testing.T) {
	recs, err := runHJ212Decode(t, "# a comment\n\n"+hj212Rt2011+"\r\n"+hj212QnRtn, hj212DecodeOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 2 {
		t.Fatalf("%d records, want 2", len(recs))
	}
	want := []string{
		`{"line":3,"crc":"ok","length":"ok","qn":"20210301111100112","st":"21","cn":"2011","pw":"123456","mn":"ZLDSZ20210127",
		  "flag":8,"ack_requested":false,"data_time":"2021-03-01T11:11:00+08:00",
		  "values":{"w01001":{"rtd":8.33,"flag":"N"},"w01009":{"rtd":10.15,"flag":"N"},"w01010":{"rtd":9.7,"flag":"N"},
		    "w01014":{"rtd":1425,"flag":"N"},"w01003":{"rtd":13.1,"flag":"N"},"w21011":{"rtd":0,"flag":"N"},
		    "w21001":{"rtd":3.563168,"flag":"N"},"w21003":{"rtd":0.09055002,"flag":"N"},"w01019":{"rtd":4.102818,"flag":"N"},
		    "w01008":{"rtd":0,"flag":"N"},"w23002":{"rtd":0,"flag":"N"}},
		  "readings":{"ph":8.33,"do":10.15,"nh3n":0.09055002,"codmn":4.102818}}`,
		`{"line":4,"crc":"ok","length":"ok","qn":"20231008125115215","st":"22","cn":"9011","pw":"123456","mn":"010000A8900016F000169DC0",
		  "flag":4,"ack_requested":false,"fields":{"QnRtn":"1"}}`,
	}
	for i, w := range want {
		if got, wantRec := mustJSONString(t, recs[i]), mustJSONString(t, hj212JSON(t, w)); got != wantRec {
			t.Errorf("record %d\n got %s\nwant %s", i, got, wantRec)
		}
	}
}

func mustJSONString(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v) // map keys sorted: a canonical form
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestHJ212DecodeVerdictsAndExitStatus(t *testing.T) {
	tests := []struct {
		name      string
		in        string
		opts      hj212DecodeOptions
		exit      int
		crc       []string // per record; "" when absent
		hasErr    []bool
		readings  []bool
		mustMatch string // a substring of the first error
	}{
		{name: "bad CRC is a verdict", in: hj212BadCRC + "\n" + hj212Rt2011 + "\n",
			exit: 0, crc: []string{"bad", "ok"}, hasErr: []bool{true, false}, readings: []bool{false, true}, mustMatch: "want 3C00"},
		{name: "strict", in: hj212BadCRC + "\n" + hj212Rt2011 + "\n", opts: hj212DecodeOptions{strict: true},
			exit: 2, crc: []string{"bad", "ok"}, hasErr: []bool{true, false}, readings: []bool{false, true}},
		{name: "MODBUS refused by default", in: hj212Modbus, exit: 0, crc: []string{"modbus-le"}, hasErr: []bool{true}, readings: []bool{false}},
		{name: "MODBUS accepted with --modbus-crc", in: hj212Modbus, opts: hj212DecodeOptions{modbusCRC: true}, exit: 0,
			crc: []string{"modbus-le"}, hasErr: []bool{false}, readings: []bool{false}},
		{name: "not a frame, output goes on", in: "hello\n" + hj212Rt2011, exit: 2,
			crc: []string{"", "ok"}, hasErr: []bool{true, false}, readings: []bool{false, true}, mustMatch: "malformed frame"},
		{name: "malformed CP", in: "##0053ST=21;CN=2011;PW=1;MN=M;CP=&&w01001-Rtd=x&&0000\n", exit: 2,
			crc: []string{"bad"}, hasErr: []bool{true}, readings: []bool{false}, mustMatch: `field "w01001-Rtd"`},
		{name: "unknown data flag", in: "##0081ST=21;CN=2011;PW=1;MN=M;CP=&&DataTime=20210301111100;w01001-Rtd=7,w01001-Flag=X&&30C0\n", exit: 2,
			crc: []string{"ok"}, hasErr: []bool{true}, readings: []bool{false}, mustMatch: "w01001-Flag"},
		{name: "line too long", in: "##" + strings.Repeat("9", hj212MaxLine+10) + "\n" + hj212QnRtn, exit: 2,
			crc: []string{"", "ok"}, hasErr: []bool{true, false}, readings: []bool{false, false}, mustMatch: "longer than"},
		{name: "empty input", in: "", exit: 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			recs, err := runHJ212Decode(t, tt.in, tt.opts)
			if got := exitCode(err); got != tt.exit {
				t.Errorf("exit %d (%v), want %d", got, err, tt.exit)
			}
			if len(recs) != len(tt.crc) {
				t.Fatalf("%d records, want %d", len(recs), len(tt.crc))
			}
			for i, r := range recs {
				crc, _ := r["crc"].(string)
				errMsg, hasErr := r["error"].(string)
				_, hasReadings := r["readings"]
				if crc != tt.crc[i] || hasErr != tt.hasErr[i] || hasReadings != tt.readings[i] {
					t.Errorf("record %d: crc %q error %q readings %v; want %q %v %v", i, crc, errMsg, hasReadings, tt.crc[i], tt.hasErr[i], tt.readings[i])
				}
				if i == 0 && tt.mustMatch != "" && !strings.Contains(errMsg, tt.mustMatch) {
					t.Errorf("error %q does not mention %q", errMsg, tt.mustMatch)
				}
			}
		})
	}
}

// TestHJ212DecodeCmd runs the cobra command on the shared sample file and on
// a missing file, with the registry's real mapping.
func TestHJ212DecodeCmd(t *testing.T) {
	samples := filepath.Join("..", "..", "ingest", "hj212", "testdata", "samples.txt")
	cmd := newHJ212Cmd()
	var out bytes.Buffer
	cmd.SetOut(&out)
	cmd.SetArgs([]string{"decode", samples})
	err := cmd.Execute()
	// Every sample decodes except one parser-test packet that repeats
	// a21-Rtd, a malformed CP: exit 2, with output for all 19 lines.
	if got := exitCode(err); got != 2 {
		t.Errorf("exit %d (%v), want 2 for the duplicate a21-Rtd sample", got, err)
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) != 19 {
		t.Fatalf("%d output lines, want 19", len(lines))
	}
	var rec map[string]any
	if err := json.Unmarshal([]byte(lines[6]), &rec); err != nil {
		t.Fatal(err)
	}
	readings, _ := rec["readings"].(map[string]any)
	// The registry maps the ST=21 packet's codes (pH, DO, temperature,
	// conductivity, turbidity, TP, TN, NH3-N, CODMn) to canonical keys.
	for _, k := range []string{"ph", "do", "nh3n", "tp"} {
		if _, ok := readings[k]; !ok {
			t.Errorf("readings %v lack %q", readings, k)
		}
	}

	missing := newHJ212Cmd()
	missing.SetOut(&bytes.Buffer{})
	missing.SetArgs([]string{"decode", filepath.Join(t.TempDir(), "nope.txt")})
	if err := missing.Execute(); exitCode(err) != 2 || !os.IsNotExist(unwrapAll(err)) {
		t.Errorf("missing file: exit %d, %v", exitCode(err), err)
	}
}

func unwrapAll(err error) error {
	for {
		u, ok := err.(interface{ Unwrap() error })
		if !ok {
			return err
		}
		err = u.Unwrap()
	}
}

func TestHJ212DecodeFlags(t *testing.T) {
	tests := []struct {
		name string
		args []string
		in   string
		exit int
	}{
		{"stdin by default", []string{"decode"}, hj212BadCRC, 0},
		{"- is stdin, --strict", []string{"decode", "--strict", "-"}, hj212BadCRC, 2},
		{"--modbus-crc", []string{"decode", "--strict", "--modbus-crc"}, hj212Modbus, 0},
		{"unknown flag", []string{"decode", "--nope"}, "", 2},
		{"two files", []string{"decode", "a", "b"}, "", 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cmd := newHJ212Cmd()
			var out bytes.Buffer
			cmd.SetOut(&out)
			cmd.SetErr(&bytes.Buffer{})
			cmd.SetIn(strings.NewReader(tt.in))
			cmd.SetArgs(tt.args)
			if got := exitCode(cmd.Execute()); got != tt.exit {
				t.Errorf("exit %d, want %d; output %s", got, tt.exit, out.String())
			}
		})
	}
}
