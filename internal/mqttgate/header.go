package mqttgate

import (
	"encoding/binary"
	"errors"
	"strings"
	"unicode/utf8"
)

// PacketType is an MQTT control packet type: the high nibble of a packet's
// first byte.
type PacketType byte

// The control packet types of MQTT 3.1.1 (§2.2.1), and AUTH of MQTT 5.
const (
	Reserved    PacketType = 0
	Connect     PacketType = 1
	Connack     PacketType = 2
	Publish     PacketType = 3
	Puback      PacketType = 4
	Pubrec      PacketType = 5
	Pubrel      PacketType = 6
	Pubcomp     PacketType = 7
	Subscribe   PacketType = 8
	Suback      PacketType = 9
	Unsubscribe PacketType = 10
	Unsuback    PacketType = 11
	Pingreq     PacketType = 12
	Pingresp    PacketType = 13
	Disconnect  PacketType = 14
	Auth        PacketType = 15
)

var typeNames = [16]string{"reserved", "connect", "connack", "publish", "puback", "pubrec", "pubrel", "pubcomp",
	"subscribe", "suback", "unsubscribe", "unsuback", "pingreq", "pingresp", "disconnect", "auth"}

// String is the type's lower-case name, as in the metrics.
func (t PacketType) String() string { return typeNames[t&0x0f] }

// MaxHeaderLen is the longest fixed header: the type byte and four bytes
// of remaining length.
const MaxHeaderLen = 5

// MaxRemaining is the largest remaining length four bytes can encode.
const MaxRemaining = 268_435_455

// Errors of ParseHeader.
var (
	// ErrMalformedLength: the fourth byte of the remaining length has its
	// continuation bit set (MQTT 3.1.1 §2.2.3 allows four bytes).
	ErrMalformedLength = errors.New("mqtt: remaining length longer than 4 bytes")
	// ErrReservedType: packet type 0 is reserved and forbidden.
	ErrReservedType = errors.New("mqtt: reserved packet type 0")
)

// Header is an MQTT fixed header.
type Header struct {
	Type  PacketType
	Flags byte // the low nibble of the first byte
	// Remaining is the remaining length: the bytes of the variable header
	// and payload that follow the fixed header.
	Remaining int
	// Len is the length of the fixed header itself, 2 to 5 bytes.
	Len int
}

// ParseHeader parses the fixed header at the start of b. complete is false
// when b is too short to hold all of it (a header may arrive split across
// reads); err is set when the bytes can never start a valid header.
func ParseHeader(b []byte) (h Header, complete bool, err error) {
	if len(b) == 0 {
		return Header{}, false, nil
	}
	h.Type, h.Flags = PacketType(b[0]>>4), b[0]&0x0f
	if h.Type == Reserved {
		return Header{}, false, ErrReservedType
	}
	shift := 0
	for i := 1; i < MaxHeaderLen; i++ {
		if i >= len(b) {
			return Header{}, false, nil
		}
		h.Remaining |= int(b[i]&0x7f) << shift
		if b[i]&0x80 == 0 {
			h.Len = i + 1
			return h, true, nil
		}
		shift += 7
	}
	return Header{}, false, ErrMalformedLength
}

// AppendHeader appends the fixed header h (Type, Flags and Remaining) to b.
func AppendHeader(b []byte, h Header) []byte {
	b = append(b, byte(h.Type)<<4|h.Flags&0x0f)
	n := h.Remaining
	for {
		c := byte(n & 0x7f)
		n >>= 7
		if n > 0 {
			c |= 0x80
		}
		b = append(b, c)
		if n == 0 {
			return b
		}
	}
}

// framer follows the packet boundaries of a byte stream without holding
// whole packets: it collects a fixed header, across reads when it comes
// split, then counts off the packet's remaining bytes.
type framer struct {
	hdr  [MaxHeaderLen]byte
	n    int // header bytes collected
	left int // bytes of the current packet still to come
}

// header takes bytes of p while the framer is between packets. It returns
// how many it took and, once the fixed header is complete, the header; its
// bytes are then f.hdr[:h.Len] until the next call.
func (f *framer) header(p []byte) (h Header, took int, complete bool, err error) {
	for took < len(p) {
		f.hdr[f.n] = p[took]
		f.n++
		took++
		h, complete, err = ParseHeader(f.hdr[:f.n])
		if err != nil {
			return Header{}, took, false, err
		}
		if complete {
			f.n = 0
			f.left = h.Remaining
			return h, took, true, nil
		}
	}
	return Header{}, took, false, nil
}

// body takes up to the rest of the current packet from p and reports how
// many bytes it took.
func (f *framer) body(p []byte) int {
	k := min(f.left, len(p))
	f.left -= k
	return k
}

// inPacket reports whether the framer is inside a packet's body.
func (f *framer) inPacket() bool { return f.left > 0 }

// ConnectInfo is what the gate reads from a CONNECT packet, for its logs.
type ConnectInfo struct {
	// Level is the protocol level: 3 (MQTT 3.1), 4 (3.1.1) or 5.
	Level    byte
	ClientID string
	Username string
}

var errShortConnect = errors.New("mqtt: connect packet cut short")

// ParseConnect reads the protocol level, client id and user name from the
// body of a CONNECT packet (what follows the fixed header). body may be a
// prefix of it: what lies beyond is left empty and the error says so.
// Strings are clipped to maxLogString bytes of valid UTF-8.
func ParseConnect(body []byte) (ConnectInfo, error) {
	var ci ConnectInfo
	r := reader{b: body}
	if _, ok := r.str(); !ok { // protocol name: MQTT or MQIsdp
		return ci, errShortConnect
	}
	level, ok1 := r.byte()
	flags, ok2 := r.byte()
	_, ok3 := r.bytes(2) // keep alive
	if !ok1 || !ok2 || !ok3 {
		return ci, errShortConnect
	}
	ci.Level = level
	if level == 5 && !r.properties() {
		return ci, errShortConnect
	}
	id, ok := r.str()
	if !ok {
		return ci, errShortConnect
	}
	ci.ClientID = logString(id)
	if flags&0x04 != 0 { // will flag: will properties (5), topic, payload
		if level == 5 && !r.properties() {
			return ci, errShortConnect
		}
		if _, ok := r.str(); !ok {
			return ci, errShortConnect
		}
		if _, ok := r.str(); !ok {
			return ci, errShortConnect
		}
	}
	if flags&0x80 != 0 {
		user, ok := r.str()
		if !ok {
			return ci, errShortConnect
		}
		ci.Username = logString(user)
	}
	return ci, nil
}

// maxLogString bounds a device-chosen string in a log line.
const maxLogString = 64

func logString(b []byte) string {
	if len(b) > maxLogString {
		b = b[:maxLogString]
	}
	return strings.ToValidUTF8(string(b), string(utf8.RuneError))
}

// reader reads MQTT's encoded fields from a byte slice.
type reader struct{ b []byte }

func (r *reader) bytes(n int) ([]byte, bool) {
	if n < 0 || len(r.b) < n {
		return nil, false
	}
	v := r.b[:n]
	r.b = r.b[n:]
	return v, true
}

func (r *reader) byte() (byte, bool) {
	v, ok := r.bytes(1)
	if !ok {
		return 0, false
	}
	return v[0], true
}

// str reads a two-byte length and that many bytes (UTF-8 string or binary
// data).
func (r *reader) str() ([]byte, bool) {
	l, ok := r.bytes(2)
	if !ok {
		return nil, false
	}
	return r.bytes(int(binary.BigEndian.Uint16(l)))
}

// properties skips MQTT 5 properties: a variable byte integer length and
// that many bytes.
func (r *reader) properties() bool {
	n, shift := 0, 0
	for i := 0; ; i++ {
		if i == 4 {
			return false
		}
		c, ok := r.byte()
		if !ok {
			return false
		}
		n |= int(c&0x7f) << shift
		if c&0x80 == 0 {
			break
		}
		shift += 7
	}
	_, ok := r.bytes(n)
	return ok
}
