package mqttgate

import (
	"testing"
	"unicode/utf8"
)

// FuzzFramer feeds arbitrary bytes to the framer, split into reads at the
// places cuts names: it never panics, and the packets it finds and where it
// fails do not depend on how the stream was split.
func FuzzFramer(f *testing.F) {
	f.Add(packet(Connect, 0, 12), []byte{1})
	f.Add(append(packet(Publish, 2, 300), packet(Pingreq, 0, 0)...), []byte{2, 1, 0})
	f.Add([]byte{0x30, 0xff, 0xff, 0xff, 0xff, 0x7f}, []byte{3})
	f.Add([]byte{0x30, 0x80, 0x80, 0x80, 0x01, 0x00}, []byte{1, 1, 1})
	f.Add([]byte{0x00, 0x00}, []byte{})
	f.Fuzz(func(t *testing.T, data, cuts []byte) {
		want, wantBody, wantErr := scan([][]byte{data})
		var chunks [][]byte
		rest := data
		for _, c := range cuts {
			n := min(int(c), len(rest))
			chunks = append(chunks, rest[:n])
			rest = rest[n:]
		}
		chunks = append(chunks, rest)
		got, body, err := scan(chunks)
		if len(got) != len(want) || err != wantErr || (err == nil && body != wantBody) {
			t.Fatalf("split %v: %d headers, %d body bytes, err %v; one read: %d, %d, %v", cuts, len(got), body, err, len(want), wantBody, wantErr)
		}
		for i := range got {
			if got[i] != want[i] {
				t.Fatalf("header %d = %+v, want %+v", i, got[i], want[i])
			}
			h := got[i]
			if h.Type == Reserved || h.Len < 2 || h.Len > MaxHeaderLen || h.Remaining < 0 || h.Remaining > MaxRemaining {
				t.Fatalf("header %d out of range: %+v", i, h)
			}
		}
	})
}

// FuzzParseConnect: any body, whole or cut, parses without panicking into
// short valid UTF-8 strings.
func FuzzParseConnect(f *testing.F) {
	f.Add(connectBody(4, "dev-1", "bj-gaoqiao", false))
	f.Add(connectBody(5, "dev-4", "st", true))
	f.Add(connectBody(3, "", "", true))
	f.Fuzz(func(t *testing.T, body []byte) {
		ci, _ := ParseConnect(body)
		for _, s := range []string{ci.ClientID, ci.Username} {
			if len(s) > maxLogString*3 || !utf8.ValidString(s) {
				t.Fatalf("ParseConnect(% x) = %+v: want short valid UTF-8", body, ci)
			}
		}
	})
}
