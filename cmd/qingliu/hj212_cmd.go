package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/qingliu/qingliu/ingest/hj212"
	"github.com/qingliu/qingliu/registry"
)

// newHJ212Cmd returns `qingliu hj212`, the HJ 212-2017 tools for integrators
// checking a vendor's datalogger: `decode [FILE]`.
func newHJ212Cmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:           "hj212",
		Short:         "HJ 212-2017 tools: decode frames a datalogger sends",
		Args:          cobra.NoArgs,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	cmd.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return badInput(err) })
	cmd.AddCommand(newHJ212DecodeCmd(canonicalCode))
	return cmd
}

// canonicalCode maps an HJ 212 pollutant code to a canonical parameter key
// through the registry's parameter catalogue.
func canonicalCode(code string) (string, bool) {
	p, ok := registry.ParamByHJ212(code)
	if !ok {
		return "", false
	}
	return p.Key, true
}

// hj212DecodeOptions are the flags of `hj212 decode`.
type hj212DecodeOptions struct {
	modbusCRC bool // accept CRC-16/MODBUS low byte first from any MN
	strict    bool // a CRC or length mismatch also makes the exit status 2
}

func newHJ212DecodeCmd(canonical func(code string) (string, bool)) *cobra.Command {
	var opts hj212DecodeOptions
	cmd := &cobra.Command{
		Use:   "decode [FILE]",
		Short: "Decode HJ 212 frames, one per line, into one JSON object per line",
		Long: `Decode reads HJ 212 frames from FILE (or stdin, or "-"), one per line, with or
without the trailing CR LF, and prints one JSON object per frame: the CRC and
length verdicts, the header fields, DataTime, the CP values per pollutant code
and, for data uploads (2011, 2051, 2061, 2031) that decode cleanly, the readings
under canonical parameter keys (Rtd for 2011, Avg for the aggregates). Blank
lines and lines starting with a single '#' are skipped.

A line that cannot be decoded gets an "error" and decoding goes on. The exit
status is 0 when every frame decoded: a CRC or length mismatch is a verdict on
the device, reported in "crc"/"length" and "error", not a failure of the tool
(use --strict to make it one). It is 2 when a line was not a frame, had a
malformed data segment or CP, or had values that cannot become readings.`,
		Args: func(cmd *cobra.Command, args []string) error {
			if err := cobra.MaximumNArgs(1)(cmd, args); err != nil {
				return badInput(err)
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			in := cmd.InOrStdin()
			if len(args) == 1 && args[0] != "-" {
				f, err := os.Open(args[0])
				if err != nil {
					return badInputf("hj212 decode: %w", err)
				}
				defer f.Close()
				in = f
			}
			return decodeHJ212Lines(in, cmd.OutOrStdout(), opts, canonical)
		},
	}
	cmd.Flags().BoolVar(&opts.modbusCRC, "modbus-crc", false, "accept CRC-16/MODBUS written low byte first (the registry's lenient CRC mode) from any device")
	cmd.Flags().BoolVar(&opts.strict, "strict", false, "exit 2 also when a CRC or length field does not verify")
	return cmd
}

// hj212MaxLine bounds a line: the longest frame is ## + 4 + 9999 + 4 + CR LF.
const hj212MaxLine = 16 << 10

// decodeHJ212Lines decodes every line of in and writes JSON lines to out. It
// returns a badInput error when a line could not be decoded (or, with
// opts.strict, did not verify).
func decodeHJ212Lines(in io.Reader, out io.Writer, opts hj212DecodeOptions, canonical func(code string) (string, bool)) error {
	parser := hj212.Parser{}
	if opts.modbusCRC {
		parser.ModbusCRC = func(string) bool { return true }
	}
	br := bufio.NewReaderSize(in, hj212MaxLine)
	bw := bufio.NewWriter(out)
	enc := json.NewEncoder(bw)
	enc.SetEscapeHTML(false)
	var frames, failed, unverified int
	for lineNo := 1; ; lineNo++ {
		line, tooLong, err := readHJ212Line(br)
		if err != nil && err != io.EOF {
			return fmt.Errorf("hj212 decode: read line %d: %w", lineNo, err)
		}
		line = bytes.TrimSpace(line)
		comment := len(line) > 0 && line[0] == '#' && !bytes.HasPrefix(line, []byte("##"))
		if tooLong || len(line) > 0 && !comment {
			rec := hj212Record{Line: lineNo}
			if tooLong {
				rec.Error, rec.failed = fmt.Sprintf("line longer than %d bytes", hj212MaxLine), true
			} else {
				rec.decode(parser, line, canonical)
			}
			frames++
			switch {
			case rec.failed:
				failed++
			case rec.Error != "":
				unverified++
			}
			if werr := enc.Encode(&rec); werr != nil {
				return fmt.Errorf("hj212 decode: write: %w", werr)
			}
		}
		if err == io.EOF {
			break
		}
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("hj212 decode: write: %w", err)
	}
	switch {
	case failed > 0:
		return badInputf("hj212 decode: %d of %d frames could not be decoded", failed, frames)
	case opts.strict && unverified > 0:
		return badInputf("hj212 decode: %d of %d frames failed the CRC or length check", unverified, frames)
	}
	return nil
}

// readHJ212Line returns the next line without its LF. A line longer than the
// buffer is skipped to its end and reported with tooLong.
func readHJ212Line(br *bufio.Reader) (line []byte, tooLong bool, err error) {
	line, err = br.ReadSlice('\n')
	for errors.Is(err, bufio.ErrBufferFull) {
		tooLong = true
		_, err = br.ReadSlice('\n')
	}
	if tooLong {
		line = nil
		if err == io.EOF {
			err = nil // report the long line; the next call sees EOF
		}
	}
	return bytes.TrimSuffix(line, []byte("\n")), tooLong, err
}

// hj212Record is one output line.
type hj212Record struct {
	Line         int                       `json:"line"`
	CRC          string                    `json:"crc,omitempty"`
	Length       string                    `json:"length,omitempty"`
	QN           string                    `json:"qn,omitempty"`
	ST           string                    `json:"st,omitempty"`
	CN           string                    `json:"cn,omitempty"`
	PW           string                    `json:"pw,omitempty"`
	MN           string                    `json:"mn,omitempty"`
	Flag         *int                      `json:"flag,omitempty"`
	AckRequested *bool                     `json:"ack_requested,omitempty"`
	PNUM         int                       `json:"pnum,omitempty"`
	PNO          int                       `json:"pno,omitempty"`
	DataTime     string                    `json:"data_time,omitempty"`
	Fields       map[string]any            `json:"fields,omitempty"`
	Values       map[string]hj212ValueJSON `json:"values,omitempty"`
	Readings     map[string]float64        `json:"readings,omitempty"`
	Error        string                    `json:"error,omitempty"`
	failed       bool                      // not decodable (as opposed to not verified)
}

type hj212ValueJSON struct {
	Rtd        *float64          `json:"rtd,omitempty"`
	Avg        *float64          `json:"avg,omitempty"`
	Min        *float64          `json:"min,omitempty"`
	Max        *float64          `json:"max,omitempty"`
	Cou        *float64          `json:"cou,omitempty"`
	Flag       string            `json:"flag,omitempty"`
	EFlag      string            `json:"eflag,omitempty"`
	SampleTime string            `json:"sample_time,omitempty"`
	Extra      map[string]string `json:"extra,omitempty"`
}

func (rec *hj212Record) decode(parser hj212.Parser, frame []byte, canonical func(string) (string, bool)) {
	p, v, err := parser.Parse(frame)
	if err != nil {
		rec.Error = oneLineHJ212(err)
		// A CRC or length mismatch alone is a verdict; anything else means
		// the line could not be decoded.
		rec.failed = errors.Is(err, hj212.ErrFrame) || errors.Is(err, hj212.ErrSegment)
	}
	if errors.Is(err, hj212.ErrFrame) {
		return
	}
	rec.CRC = v.CRC.String()
	rec.Length = "bad"
	if v.LengthOK {
		rec.Length = "ok"
	}
	rec.QN, rec.ST, rec.CN, rec.PW, rec.MN = p.QN, p.ST, p.CN, p.PW, p.MN
	if p.HasFlag {
		rec.Flag = &p.Flag
	}
	ack := p.AckRequested()
	rec.AckRequested = &ack
	rec.PNUM, rec.PNO = p.PNUM, p.PNO
	rec.DataTime = formatHJ212Time(p.DataTime)
	for _, f := range p.CP.Fields {
		if rec.Fields == nil {
			rec.Fields = make(map[string]any)
		}
		switch prev := rec.Fields[f.Name].(type) {
		case nil:
			rec.Fields[f.Name] = f.Value
		case string:
			rec.Fields[f.Name] = []string{prev, f.Value}
		case []string:
			rec.Fields[f.Name] = append(prev, f.Value)
		}
	}
	for _, val := range p.CP.Values {
		if rec.Values == nil {
			rec.Values = make(map[string]hj212ValueJSON, len(p.CP.Values))
		}
		j := hj212ValueJSON{Flag: val.Flag, EFlag: val.EFlag, SampleTime: formatHJ212Time(val.SampleTime)}
		for _, sd := range [...]struct {
			stat hj212.Stat
			dst  **float64
		}{{hj212.Rtd, &j.Rtd}, {hj212.Avg, &j.Avg}, {hj212.Min, &j.Min}, {hj212.Max, &j.Max}, {hj212.Cou, &j.Cou}} {
			if x, ok := val.Get(sd.stat); ok {
				*sd.dst = &x
			}
		}
		for _, f := range val.Extra {
			if j.Extra == nil {
				j.Extra = make(map[string]string)
			}
			j.Extra[f.Name] = f.Value
		}
		rec.Values[val.Code] = j
	}
	if err != nil || hj212.SeriesOf(p.CN) == hj212.NoSeries {
		return
	}
	rd, rerr := p.Reading(canonical)
	if rerr != nil {
		rec.Error = oneLineHJ212(rerr)
		rec.failed = true
		return
	}
	if len(rd.Values) > 0 {
		rec.Readings = rd.Values
	}
}

func formatHJ212Time(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.Format(time.RFC3339Nano)
}

// oneLineHJ212 joins the lines of a joined error.
func oneLineHJ212(err error) string { return strings.ReplaceAll(err.Error(), "\n", "; ") }
