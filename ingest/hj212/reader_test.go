package hj212

import (
	"errors"
	"io"
	"strings"
	"testing"
	"testing/iotest"
)

// event is one ReadFrame result: the bytes and the error kind.
type event struct {
	kind string // "frame", "garbage", "toolong", "truncated"
	data string
}

func (e event) String() string { return e.kind + ":" + e.data }

// readAll drains r into events until io.EOF; other errors stop it too.
func readAll(t testing.TB, r *Reader) ([]event, error) {
	t.Helper()
	var out []event
	for range 100000 {
		b, err := r.ReadFrame()
		switch {
		case err == nil:
			out = append(out, event{"frame", string(b)})
		case errors.Is(err, ErrGarbage):
			out = append(out, event{"garbage", string(b)})
		case errors.Is(err, ErrTooLong):
			out = append(out, event{"toolong", string(b)})
		case errors.Is(err, ErrTruncated):
			out = append(out, event{"truncated", string(b)})
		case err == io.EOF:
			return out, nil
		default:
			return out, err
		}
		if len(b) > r.MaxFrame() {
			t.Fatalf("chunk of %d bytes exceeds MaxFrame %d", len(b), r.MaxFrame())
		}
	}
	t.Fatal("ReadFrame does not reach EOF")
	return nil, nil
}

func TestReader(t *testing.T) {
	a := frameOf("ST=21;CN=2011;PW=1;MN=A;CP=&&&&")                        // 45 bytes
	b := frameOf("ST=21;CN=2011;PW=1;MN=B;CP=&&DataTime=20210301111100&&") // 68 bytes
	long := frameOf("ST=21;CN=2011;PW=1;MN=L;CP=&&" + strings.Repeat("x", 80) + "&&")
	tests := []struct {
		name  string
		in    string
		max   int
		want  []event
		parse bool // every frame parses
	}{
		{name: "two frames", in: a + b, want: []event{{"frame", a}, {"frame", b}}, parse: true},
		{name: "garbage before and between", in: "AT+OK\r\n" + a + "junk#" + b, want: []event{
			{"garbage", "AT+OK\r\n"}, {"frame", a}, {"garbage", "junk#"}, {"frame", b}}, parse: true},
		{name: "blank lines between frames are skipped", in: "\r\n" + a + "\r\n\r\n" + b + "\n", want: []event{
			{"frame", a}, {"frame", b}}},
		{name: "# that is not a header", in: "##12x" + a + "###" + b, want: []event{
			{"garbage", "##12x"}, {"frame", a}, {"garbage", "###"}, {"frame", b}}},
		{name: "frame cut by a new header", in: a[:20] + b, want: []event{{"truncated", a[:20]}, {"frame", b}}},
		{name: "frame without CR LF before the next", in: a[:len(a)-2] + b, want: []event{
			{"truncated", a[:len(a)-2]}, {"frame", b}}},
		{name: "partial frame at EOF", in: a + b[:30], want: []event{{"frame", a}, {"truncated", b[:30]}}},
		{name: "partial header at EOF", in: a + "##01", want: []event{{"frame", a}, {"garbage", "##01"}}},
		{name: "LF only", in: strings.TrimSuffix(a, "\r\n") + "\n" + b, want: []event{
			{"frame", strings.TrimSuffix(a, "\r\n") + "\n"}, {"frame", b}}, parse: true},
		{name: "too long, then a frame", in: long + b, max: 80, want: []event{
			{"toolong", long[:80]}, {"toolong", long[80:]}, {"frame", b}}},
		{name: "too long, interrupted by a header", in: long[:100] + b, max: 80, want: []event{
			{"toolong", long[:80]}, {"toolong", long[80:100]}, {"frame", b}}},
		{name: "too long over several chunks", in: "##0000" + strings.Repeat("y", 200) + "\r\n" + a, max: 80, want: []event{
			{"toolong", "##0000" + strings.Repeat("y", 74)}, {"toolong", strings.Repeat("y", 80)},
			{"toolong", strings.Repeat("y", 46) + "\r\n"}, {"frame", a}}},
		{name: "too long at EOF", in: "##0000" + strings.Repeat("y", 100), max: 80, want: []event{
			{"toolong", "##0000" + strings.Repeat("y", 74)}, {"toolong", strings.Repeat("y", 26)}}},
		{name: "endless garbage in chunks", in: strings.Repeat("z", 170) + a, max: 80, want: []event{
			{"garbage", strings.Repeat("z", 80)}, {"garbage", strings.Repeat("z", 80)}, {"garbage", strings.Repeat("z", 10)}, {"frame", a}}},
		{name: "frame of exactly MaxFrame", in: b + a, max: len(b), want: []event{{"frame", b}, {"frame", a}}},
		{name: "frame one byte over MaxFrame", in: b + a, max: len(b) - 1, want: []event{
			{"toolong", b[:len(b)-1]}, {"toolong", "\n"}, {"frame", a}}},
		{name: "empty", in: "", want: nil},
	}
	readers := []struct {
		name string
		wrap func(io.Reader) io.Reader
	}{
		{"whole", func(r io.Reader) io.Reader { return r }},
		{"byte by byte", iotest.OneByteReader},
		{"half", iotest.HalfReader},
		{"data with EOF", iotest.DataErrReader},
	}
	for _, tt := range tests {
		for _, rd := range readers {
			t.Run(tt.name+"/"+rd.name, func(t *testing.T) {
				r := NewReader(rd.wrap(strings.NewReader(tt.in)), tt.max)
				got, err := readAll(t, r)
				if err != nil {
					t.Fatal(err)
				}
				if len(got) != len(tt.want) {
					t.Fatalf("got %q\nwant %q", got, tt.want)
				}
				for i := range got {
					if got[i] != tt.want[i] {
						t.Errorf("event %d = %q, want %q", i, got[i], tt.want[i])
					}
					if tt.parse && got[i].kind == "frame" {
						if _, _, err := ParseFrame([]byte(got[i].data)); err != nil {
							t.Errorf("parse %q: %v", got[i].data, err)
						}
					}
				}
			})
		}
	}
}

// timeoutReader returns its data in two parts with a timeout error between,
// like a net.Conn whose read deadline passed while a client was slow.
type timeoutReader struct {
	parts []string
	fail  bool
}

var errTimeout = errors.New("i/o timeout")

func (r *timeoutReader) Read(p []byte) (int, error) {
	if r.fail {
		r.fail = false
		return 0, errTimeout
	}
	if len(r.parts) == 0 {
		return 0, io.EOF
	}
	n := copy(p, r.parts[0])
	r.parts[0] = r.parts[0][n:]
	if r.parts[0] == "" {
		r.parts = r.parts[1:]
		r.fail = true
	}
	return n, nil
}

func TestReaderKeepsPartialFrameAcrossTimeout(t *testing.T) {
	a := frameOf("ST=21;CN=2011;PW=1;MN=A;CP=&&&&")
	r := NewReader(&timeoutReader{parts: []string{a[:10], a[10:]}}, 0)
	if _, err := r.ReadFrame(); !errors.Is(err, errTimeout) {
		t.Fatalf("err = %v, want the timeout", err)
	}
	if r.Buffered() != 10 {
		t.Errorf("Buffered = %d, want 10", r.Buffered())
	}
	b, err := r.ReadFrame()
	if err != nil || string(b) != a {
		t.Fatalf("ReadFrame = %q, %v; want %q", b, err, a)
	}
	if _, err := r.ReadFrame(); !errors.Is(err, errTimeout) {
		t.Fatalf("err = %v, want the second timeout", err)
	}
	if _, err := r.ReadFrame(); err != io.EOF {
		t.Fatalf("err = %v, want EOF", err)
	}
}

type emptyReader struct{}

func (emptyReader) Read([]byte) (int, error) { return 0, nil }

func TestReaderNoProgress(t *testing.T) {
	if _, err := NewReader(emptyReader{}, 0).ReadFrame(); err != io.ErrNoProgress {
		t.Errorf("err = %v, want io.ErrNoProgress", err)
	}
}

// TestReaderFrameSizes checks that a frame just under the default limit is
// read whole and the limit is 12 bytes at least.
func TestReaderFrameSizes(t *testing.T) {
	big := frameOf("ST=21;CN=2011;PW=1;MN=A;CP=&&x=" + strings.Repeat("9", DefaultMaxFrame-50) + "&&")
	if len(big) > DefaultMaxFrame {
		t.Fatalf("test frame is %d bytes", len(big))
	}
	got, err := readAll(t, NewReader(strings.NewReader(big+big), 0))
	if err != nil || len(got) != 2 || got[0].kind != "frame" || got[1].data != big {
		t.Errorf("got %d events, err %v", len(got), err)
	}
	if m := NewReader(strings.NewReader(""), 3).MaxFrame(); m != 12 {
		t.Errorf("MaxFrame = %d, want 12", m)
	}
}
