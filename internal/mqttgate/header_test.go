package mqttgate

import (
	"bytes"
	"errors"
	"strings"
	"testing"
)

func TestParseHeader(t *testing.T) {
	for _, tc := range []struct {
		name     string
		in       []byte
		want     Header
		complete bool
		err      error
	}{
		{"empty", nil, Header{}, false, nil},
		{"type only", []byte{0x30}, Header{}, false, nil},
		{"pingreq", []byte{0xc0, 0x00}, Header{Type: Pingreq, Len: 2}, true, nil},
		{"publish qos1", []byte{0x32, 0x7f}, Header{Type: Publish, Flags: 2, Remaining: 127, Len: 2}, true, nil},
		{"two bytes", []byte{0x30, 0x80, 0x01}, Header{Type: Publish, Remaining: 128, Len: 3}, true, nil},
		{"two bytes max", []byte{0x30, 0xff, 0x7f}, Header{Type: Publish, Remaining: 16383, Len: 3}, true, nil},
		{"three bytes", []byte{0x30, 0x80, 0x80, 0x01}, Header{Type: Publish, Remaining: 16384, Len: 4}, true, nil},
		{"four bytes max", []byte{0x30, 0xff, 0xff, 0xff, 0x7f}, Header{Type: Publish, Remaining: MaxRemaining, Len: 5}, true, nil},
		{"trailing bytes ignored", []byte{0x10, 0x02, 0xaa, 0xbb, 0xcc}, Header{Type: Connect, Remaining: 2, Len: 2}, true, nil},
		{"length cut after one byte", []byte{0x30, 0x80}, Header{}, false, nil},
		{"length cut after three bytes", []byte{0x30, 0xff, 0xff, 0xff}, Header{}, false, nil},
		{"five length bytes", []byte{0x30, 0xff, 0xff, 0xff, 0xff, 0x01}, Header{}, false, ErrMalformedLength},
		{"fourth length byte continues", []byte{0x30, 0x80, 0x80, 0x80, 0x80}, Header{}, false, ErrMalformedLength},
		{"reserved type", []byte{0x00, 0x00}, Header{}, false, ErrReservedType},
		{"reserved type, no length yet", []byte{0x0f}, Header{}, false, ErrReservedType},
		{"mqtt 5 auth", []byte{0xf0, 0x00}, Header{Type: Auth, Len: 2}, true, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h, complete, err := ParseHeader(tc.in)
			if h != tc.want || complete != tc.complete || !errors.Is(err, tc.err) {
				t.Errorf("ParseHeader(% x) = %+v, %v, %v; want %+v, %v, %v", tc.in, h, complete, err, tc.want, tc.complete, tc.err)
			}
		})
	}
}

func TestAppendHeaderRoundTrip(t *testing.T) {
	for _, n := range []int{0, 1, 127, 128, 16383, 16384, 2097151, 2097152, MaxRemaining} {
		want := Header{Type: Publish, Flags: 3, Remaining: n}
		b := AppendHeader(nil, want)
		h, complete, err := ParseHeader(b)
		want.Len = len(b)
		if !complete || err != nil || h != want {
			t.Errorf("remaining %d: ParseHeader(% x) = %+v, %v, %v", n, b, h, complete, err)
		}
	}
}

// packet returns an MQTT packet of type t with a body of n bytes.
func packet(t PacketType, flags byte, n int) []byte {
	b := AppendHeader(nil, Header{Type: t, Flags: flags, Remaining: n})
	return append(b, bytes.Repeat([]byte{byte(n)}, n)...)
}

// scan runs the framer over chunks and returns the headers it found and
// the body bytes counted, stopping at the first error.
func scan(chunks [][]byte) (hs []Header, body int, err error) {
	var f framer
	for _, p := range chunks {
		for len(p) > 0 {
			if f.inPacket() {
				k := f.body(p)
				body += k
				p = p[k:]
				continue
			}
			h, took, complete, err := f.header(p)
			p = p[took:]
			if err != nil {
				return hs, body, err
			}
			if complete {
				hs = append(hs, h)
			}
		}
	}
	return hs, body, nil
}

// Headers split at every possible place across reads give the same packets
// as one read.
func TestFramerSplitAnywhere(t *testing.T) {
	var stream []byte
	for _, p := range [][]byte{
		packet(Connect, 0, 30), packet(Publish, 2, 200), packet(Pingreq, 0, 0),
		packet(Publish, 0, 20000), packet(Puback, 0, 2), packet(Disconnect, 0, 0),
	} {
		stream = append(stream, p...)
	}
	want, wantBody, err := scan([][]byte{stream})
	if err != nil || len(want) != 6 || want[3].Remaining != 20000 || want[3].Len != 4 {
		t.Fatalf("one read: %+v, %v", want, err)
	}
	for i := range len(stream) + 1 {
		for _, j := range []int{i, i + 1, i + 2, i + 3, len(stream)} {
			if j < i || j > len(stream) {
				continue
			}
			got, body, err := scan([][]byte{stream[:i], stream[i:j], stream[j:]})
			if err != nil || body != wantBody || len(got) != len(want) {
				t.Fatalf("split at %d, %d: %d headers, %d body bytes, %v", i, j, len(got), body, err)
			}
			for k := range got {
				if got[k] != want[k] {
					t.Fatalf("split at %d, %d: header %d = %+v, want %+v", i, j, k, got[k], want[k])
				}
			}
		}
	}
	// Byte by byte.
	var chunks [][]byte
	for i := range stream {
		chunks = append(chunks, stream[i:i+1])
	}
	if got, body, err := scan(chunks); err != nil || len(got) != len(want) || body != wantBody {
		t.Errorf("byte by byte: %d headers, %d body bytes, %v", len(got), body, err)
	}
}

func TestFramerMalformedAcrossReads(t *testing.T) {
	good := packet(Publish, 0, 5)
	bad := []byte{0x30, 0xff, 0xff, 0xff, 0xff, 0x7f}
	hs, _, err := scan([][]byte{append(good, bad[:2]...), bad[2:4], bad[4:]})
	if len(hs) != 1 || !errors.Is(err, ErrMalformedLength) {
		t.Errorf("headers %+v, err %v; want one header then ErrMalformedLength", hs, err)
	}
	hs, _, err = scan([][]byte{good, {0x02, 0x00}})
	if len(hs) != 1 || !errors.Is(err, ErrReservedType) {
		t.Errorf("headers %+v, err %v; want one header then ErrReservedType", hs, err)
	}
}

// connectBody builds a CONNECT body: level 4 unless level says otherwise.
func connectBody(level byte, clientID, user string, will bool) []byte {
	str := func(b []byte, s string) []byte { return append(append(b, byte(len(s)>>8), byte(len(s))), s...) }
	b := str(nil, "MQTT")
	flags := byte(0x02)
	if user != "" {
		flags |= 0xc0
	}
	if will {
		flags |= 0x04
	}
	b = append(b, level, flags, 0, 30)
	if level == 5 {
		b = append(b, 3, 0x21, 0x00, 0x10) // properties: receive maximum 16
	}
	b = str(b, clientID)
	if will {
		if level == 5 {
			b = append(b, 0)
		}
		b = str(b, "qingliu/v1/x/status")
		b = str(b, "offline")
	}
	if user != "" {
		b = str(b, user)
		b = str(b, "secret")
	}
	return b
}

func TestParseConnect(t *testing.T) {
	long := strings.Repeat("x", 100)
	for _, tc := range []struct {
		name string
		body []byte
		want ConnectInfo
		ok   bool
	}{
		{"3.1.1 with login", connectBody(4, "dev-1", "bj-gaoqiao", false), ConnectInfo{4, "dev-1", "bj-gaoqiao"}, true},
		{"3.1.1 anonymous", connectBody(4, "dev-2", "", false), ConnectInfo{4, "dev-2", ""}, true},
		{"3.1.1 with will", connectBody(4, "dev-3", "st", true), ConnectInfo{4, "dev-3", "st"}, true},
		{"5 with properties and will", connectBody(5, "dev-4", "st", true), ConnectInfo{5, "dev-4", "st"}, true},
		{"long client id clipped", connectBody(4, long, "st", false), ConnectInfo{4, long[:maxLogString], "st"}, true},
		{"cut before the user name", connectBody(4, "dev-5", "st", false)[:19], ConnectInfo{4, "dev-5", ""}, false},
		{"cut in the header", connectBody(4, "dev-6", "st", false)[:5], ConnectInfo{}, false},
		{"empty", nil, ConnectInfo{}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseConnect(tc.body)
			if got != tc.want || (err == nil) != tc.ok {
				t.Errorf("ParseConnect = %+v, %v; want %+v, ok %v", got, err, tc.want, tc.ok)
			}
		})
	}
}
