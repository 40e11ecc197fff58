package hj212

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"
	"testing/iotest"
	"time"
)

// FuzzReader checks the Reader's promises on any stream: it never panics,
// never returns more than MaxFrame bytes, returns frames that start with a
// header and end at their first LF, accounts for every byte (only CR and LF
// between frames may be dropped), and splits the stream the same way however
// the reads are cut.
func FuzzReader(f *testing.F) {
	a := frameOf("ST=21;CN=2011;PW=1;MN=A;CP=&&&&")
	for _, s := range readSamples(f) {
		f.Add([]byte(s.frame+"\r\n"+s.frame+"\r\n"), uint8(0), uint8(7))
	}
	f.Add([]byte("junk"+a+"\r\n##0012"+a[:20]+a), uint8(40), uint8(3))
	f.Add([]byte("##0000"+strings.Repeat("y", 100)+"\r\n"+a), uint8(20), uint8(1))
	f.Add([]byte("##1234##12##"), uint8(0), uint8(2))
	f.Fuzz(func(t *testing.T, in []byte, maxByte, chunk uint8) {
		maxFrame := minFrame + int(maxByte)
		whole, err := readAll(t, NewReader(bytes.NewReader(in), maxFrame))
		if err != nil {
			t.Fatal(err)
		}
		// Accounting: the chunks, in order, are the input minus some CR/LF.
		var out []byte
		for _, e := range whole {
			out = append(out, e.data...)
			if len(e.data) == 0 {
				t.Fatalf("empty %s chunk", e.kind)
			}
			if e.kind == "frame" {
				if headerAt([]byte(e.data), 0) != yes || strings.IndexByte(e.data, '\n') != len(e.data)-1 {
					t.Fatalf("frame %q", e.data)
				}
				ParseFrame([]byte(e.data)) // must not panic
			}
		}
		i := 0
		for _, c := range in {
			if i < len(out) && out[i] == c {
				i++
			} else if c != '\r' && c != '\n' {
				t.Fatalf("byte %q of the input is missing from the output", c)
			}
		}
		if i != len(out) {
			t.Fatalf("output has %d bytes not in the input", len(out)-i)
		}
		// The same split whatever the read sizes.
		n := 1 + int(chunk)%17
		for _, rd := range []io.Reader{
			iotest.OneByteReader(bytes.NewReader(in)),
			&chunkReader{in: in, n: n},
			iotest.DataErrReader(&chunkReader{in: in, n: n + 3}),
		} {
			got, err := readAll(t, NewReader(rd, maxFrame))
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(whole) {
				t.Fatalf("%d events with partial reads, %d whole", len(got), len(whole))
			}
			for j := range got {
				if got[j] != whole[j] {
					t.Fatalf("event %d = %q with partial reads, %q whole", j, got[j], whole[j])
				}
			}
		}
	})
}

// chunkReader returns at most n bytes per Read.
type chunkReader struct {
	in []byte
	n  int
}

func (r *chunkReader) Read(p []byte) (int, error) {
	if len(r.in) == 0 {
		return 0, io.EOF
	}
	k := copy(p[:min(len(p), r.n)], r.in)
	r.in = r.in[k:]
	return k, nil
}

// FuzzParse checks that Parse never panics, that what it accepts encodes
// back to a frame that parses to the same packet, and that the replies to it
// can always be built.
func FuzzParse(f *testing.F) {
	for _, s := range readSamples(f) {
		f.Add([]byte(s.frame))
	}
	f.Add([]byte(frameOf("QN=;ST=21;CN=2011;PW=a=b;MN=M;Flag=007;PNUM=0002;PNO=1;CP=&&DataTime=20210301111100000;x=a&&b&;w-1-Rtd=-0,w-1-Min=.5,w-1-ZsRtd=;w-1-Flag=N&&")))
	f.Add([]byte(frameOf("ST=21;CN=1013;PW=1;MN=M;Flag=5;CP=&&PolId=w01018&&")))
	now := time.Date(2026, 7, 6, 2, 35, 12, 0, time.UTC)
	f.Fuzz(func(t *testing.T, in []byte) {
		p, v, err := ParseFrame(in)
		p.Reading(func(string) (string, bool) { return "k", true }) // must not panic
		if err != nil {
			if errors.Is(err, ErrFrame) && v != (Verdict{}) {
				t.Fatalf("verdict %+v for a malformed frame", v)
			}
			return
		}
		if v.CRC != CRCOK || !v.LengthOK {
			t.Fatalf("no error with verdict %+v", v)
		}
		enc, err := Encode(p)
		if err != nil {
			if errors.Is(err, ErrEncode) && len(p.Raw) > 9000 {
				return // re-encoding may lengthen numbers (.5 → 0.5) past 9999 bytes
			}
			t.Fatalf("Encode(%q): %v", p.Raw, err)
		}
		q, _, err := ParseFrame(enc)
		if err != nil {
			t.Fatalf("parse %q (encoded from %q): %v", enc, p.Raw, err)
		}
		p.Raw, q.Raw = "", ""
		if !packetsEqual(p, q) {
			t.Fatalf("round trip differs:\n in  %q\n enc %q", in, enc)
		}
		for _, reply := range []func() ([]byte, error){
			func() ([]byte, error) { return Ack9014(p) },
			func() ([]byte, error) { return Ack9013(p) },
			func() ([]byte, error) { return QnRtn9011(p, QnBadPW) },
			func() ([]byte, error) { return SetTime1012(p, now) },
		} {
			b, err := reply()
			if err != nil {
				t.Fatalf("reply to %q: %v", in, err)
			}
			if _, _, err := ParseFrame(b); err != nil {
				t.Fatalf("reply %q does not parse: %v", b, err)
			}
		}
	})
}
