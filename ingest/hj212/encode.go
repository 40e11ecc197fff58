package hj212

import (
	"fmt"
	"math"
	"strconv"
	"time"
)

// Encode returns the complete frame for p: ##, the 4-digit length, the data
// segment, the Appendix A CRC (upper-case hex) and CR LF. It fails, with an
// error wrapping ErrEncode, when a required header field (ST, CN, MN) is
// missing or malformed, when a name or value contains a byte that would
// change how the frame parses (';' ',' control bytes; '-' or '=' in names), when a number is
// not finite, or when the data segment exceeds 9999 bytes. p.Raw is ignored.
func Encode(p Packet) ([]byte, error) { return AppendFrame(make([]byte, 0, 128), p) }

// AppendFrame is Encode appending to dst, for callers that reuse a buffer. On
// error dst is returned unchanged.
func AppendFrame(dst []byte, p Packet) ([]byte, error) {
	start := len(dst)
	dst = append(dst, "##0000"...)
	seg := len(dst)
	dst, err := appendSegment(dst, p)
	if err != nil {
		return dst[:start], fmt.Errorf("hj212: encode CN=%s: %w", p.CN, err)
	}
	n := len(dst) - seg
	if n > 9999 {
		return dst[:start], fmt.Errorf("hj212: encode CN=%s: data segment of %d bytes exceeds 9999: %w", p.CN, n, ErrEncode)
	}
	dst[start+2] = byte('0' + n/1000)
	dst[start+3] = byte('0' + n/100%10)
	dst[start+4] = byte('0' + n/10%10)
	dst[start+5] = byte('0' + n%10)
	dst = appendHex16(dst, CRC(dst[seg:]))
	return append(dst, '\r', '\n'), nil
}

type encodeError struct{ field, reason string }

func (e *encodeError) Error() string { return "field " + strconv.Quote(e.field) + ": " + e.reason }
func (e *encodeError) Unwrap() error { return ErrEncode }

func appendSegment(b []byte, p Packet) ([]byte, error) {
	if p.QN != "" {
		if len(p.QN) > 20 || !isDigitsStr(p.QN) {
			return b, &encodeError{"QN", "want up to 20 digits"}
		}
		b = append(b, "QN="...)
		b = append(b, p.QN...)
		b = append(b, ';')
	}
	if p.ST == "" || len(p.ST) > 5 || !isAlnum(p.ST) {
		return b, &encodeError{"ST", "want 1 to 5 letters or digits"}
	}
	if len(p.CN) != 4 || !isDigitsStr(p.CN) {
		return b, &encodeError{"CN", "want 4 digits"}
	}
	if len(p.PW) > 64 || !isPrintable(p.PW) || containsRune(p.PW, ';') {
		return b, &encodeError{"PW", "want up to 64 printable characters other than ;"}
	}
	if p.MN == "" || len(p.MN) > 64 || !isPrintable(p.MN) || containsRune(p.MN, ';') {
		return b, &encodeError{"MN", "want 1 to 64 printable characters other than ;"}
	}
	b = append(b, "ST="...)
	b = append(b, p.ST...)
	b = append(b, ";CN="...)
	b = append(b, p.CN...)
	b = append(b, ";PW="...)
	b = append(b, p.PW...)
	b = append(b, ";MN="...)
	b = append(b, p.MN...)
	b = append(b, ';')
	if p.HasFlag {
		if p.Flag < 0 || p.Flag > 255 {
			return b, &encodeError{"Flag", "want 0 to 255"}
		}
		b = append(b, "Flag="...)
		b = strconv.AppendInt(b, int64(p.Flag), 10)
		b = append(b, ';')
	}
	if p.PNUM != 0 || p.PNO != 0 {
		if p.PNUM < 1 || p.PNUM > 9999 || p.PNO < 1 || p.PNO > p.PNUM {
			return b, &encodeError{"PNO", "want 1 <= PNO <= PNUM <= 9999"}
		}
		b = append(b, "PNUM="...)
		b = strconv.AppendInt(b, int64(p.PNUM), 10)
		b = append(b, ";PNO="...)
		b = strconv.AppendInt(b, int64(p.PNO), 10)
		b = append(b, ';')
	}
	b = append(b, "CP=&&"...)
	sep := false
	item := func() {
		if sep {
			b = append(b, ';')
		}
		sep = true
	}
	if !p.DataTime.IsZero() {
		if !encodable(p.DataTime) {
			return b, &encodeError{"DataTime", "year outside 0000-9999"}
		}
		item()
		b = append(b, "DataTime="...)
		b = appendTime(b, p.DataTime, someMillis)
	}
	for _, f := range p.CP.Fields {
		if f.Name == "DataTime" {
			return b, &encodeError{f.Name, "set Packet.DataTime instead"}
		}
		if !validName(f.Name) || containsRune(f.Name, '-') {
			return b, &encodeError{f.Name, "name must be non-empty without - ; , = or control bytes"}
		}
		if !validValue(f.Value) {
			return b, &encodeError{f.Name, "value must not contain ; , or control bytes"}
		}
		item()
		b = append(b, f.Name...)
		b = append(b, '=')
		b = append(b, f.Value...)
	}
	for i := range p.CP.Values {
		v := &p.CP.Values[i]
		if !validName(v.Code) {
			return b, &encodeError{v.Code, "code must be non-empty without ; , = or control bytes"}
		}
		for j := range i {
			if p.CP.Values[j].Code == v.Code {
				return b, &encodeError{v.Code, "code appears twice in Values"}
			}
		}
		item()
		n := 0
		field := func(suffix string) {
			if n > 0 {
				b = append(b, ',')
			}
			n++
			b = append(b, v.Code...)
			b = append(b, '-')
			b = append(b, suffix...)
			b = append(b, '=')
		}
		if !v.SampleTime.IsZero() {
			if !encodable(v.SampleTime) {
				return b, &encodeError{v.Code + "-SampleTime", "year outside 0000-9999"}
			}
			field("SampleTime")
			b = appendTime(b, v.SampleTime, someMillis)
		}
		for s := Rtd; s < numStats; s++ {
			x, ok := v.Get(s)
			if !ok {
				continue
			}
			if math.IsNaN(x) || math.IsInf(x, 0) {
				return b, &encodeError{v.Code + "-" + s.String(), "not a finite number"}
			}
			field(s.String())
			b = strconv.AppendFloat(b, x, 'f', -1, 64)
		}
		for _, f := range v.Extra {
			switch f.Name {
			case "Rtd", "Avg", "Min", "Max", "Cou", "Flag", "EFlag", "SampleTime":
				return b, &encodeError{v.Code + "-" + f.Name, "extra field shadows a known suffix"}
			}
			if !validName(f.Name) || containsRune(f.Name, '-') {
				return b, &encodeError{v.Code + "-" + f.Name, "name must be non-empty without - ; , = or control bytes"}
			}
			if !validValue(f.Value) {
				return b, &encodeError{v.Code + "-" + f.Name, "value must not contain ; , or control bytes"}
			}
			field(f.Name)
			b = append(b, f.Value...)
		}
		for _, f := range [...]Field{{"Flag", v.Flag}, {"EFlag", v.EFlag}} {
			if f.Value == "" {
				continue
			}
			if !validValue(f.Value) {
				return b, &encodeError{v.Code + "-" + f.Name, "value must not contain ; , or control bytes"}
			}
			field(f.Name)
			b = append(b, f.Value...)
		}
		if n == 0 {
			return b, &encodeError{v.Code, "value carries no field"}
		}
	}
	return append(b, "&&"...), nil
}

func validName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c < 0x20 || c == 0x7f, c == ';', c == ',', c == '=':
			return false
		}
	}
	return true
}

func validValue(s string) bool {
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c < 0x20 || c == 0x7f, c == ';', c == ',':
			return false
		}
	}
	return true
}

func containsRune(s string, r byte) bool {
	for i := 0; i < len(s); i++ {
		if s[i] == r {
			return true
		}
	}
	return false
}

// Millisecond modes of appendTime.
const (
	noMillis     = iota // YYYYMMDDhhmmss
	someMillis          // …zzz when the milliseconds are not zero
	alwaysMillis        // …zzz (a QN)
)

// appendTime appends t in UTC+8 as YYYYMMDDhhmmss with milliseconds per
// mode.
func appendTime(b []byte, t time.Time, mode int) []byte {
	t = t.In(beijing)
	y, mo, d := t.Date()
	h, mi, s := t.Clock()
	b = appendDigits(b, y, 4)
	b = appendDigits(b, int(mo), 2)
	b = appendDigits(b, d, 2)
	b = appendDigits(b, h, 2)
	b = appendDigits(b, mi, 2)
	b = appendDigits(b, s, 2)
	if ms := t.Nanosecond() / int(time.Millisecond); mode == alwaysMillis || mode == someMillis && ms != 0 {
		b = appendDigits(b, ms, 3)
	}
	return b
}

// encodable reports whether t has a 4-digit year in UTC+8.
func encodable(t time.Time) bool {
	y := t.In(beijing).Year()
	return 0 <= y && y <= 9999
}

// appendDigits appends x (0 <= x) as exactly n <= 8 decimal digits.
func appendDigits(b []byte, x, n int) []byte {
	var buf [8]byte
	for i := n - 1; i >= 0; i-- {
		buf[i] = byte('0' + x%10)
		x /= 10
	}
	return append(b, buf[:n]...)
}

// reply is the header of a platform reply to req: ST=91, the same QN, PW and
// MN, and a Flag with req's version bits and no A or D bit (Flag=4 for an
// HJ 212-2017 device, as in Appendix C); no Flag when req had none.
func reply(req Packet, cn string) Packet {
	r := Packet{QN: req.QN, ST: STInteraction, CN: cn, PW: req.PW, MN: req.MN}
	if req.HasFlag {
		r.Flag, r.HasFlag = req.Version()<<2, true
	}
	return r
}

// Ack9014 returns the 数据应答 (data acknowledgement) frame for req, sent when
// a data upload's A bit asks for one: ST=91, CN=9014, req's QN, PW and MN,
// Flag=4 (req's version bits) and an empty CP. Each part of a split upload has
// its own QN and gets its own 9014.
func Ack9014(req Packet) ([]byte, error) { return Encode(reply(req, CNDataAck)) }

// Ack9013 returns the 通知应答 (notice acknowledgement) frame for req, shaped
// like Ack9014 with CN=9013; HJ 212-2017 uses it for notice commands.
func Ack9013(req Packet) ([]byte, error) { return Encode(reply(req, CNNoticeAck)) }

// QnRtn9011 returns the 请求应答 frame refusing (or accepting) req with code:
// ST=91, CN=9011, req's QN, PW and MN, CP=&&QnRtn=code&&.
func QnRtn9011(req Packet, code QnRtn) ([]byte, error) {
	r := reply(req, CNQnRtn)
	r.CP.Fields = []Field{{Name: "QnRtn", Value: strconv.Itoa(int(code))}}
	return Encode(r)
}

// SetTime1012 returns the 设置现场机时间 command that answers a 1013 time
// calibration request: a new QN made from now, req's ST, PW and MN, CN=1012,
// Flag with the A bit (Flag=5 for an HJ 212-2017 device) so that the
// datalogger replies, and CP=&&PolId=…;SystemTime=YYYYMMDDhhmmss&& with
// req's PolId when it named one. now is the platform time; it is written in
// UTC+8.
func SetTime1012(req Packet, now time.Time) ([]byte, error) {
	r := Packet{ST: req.ST, CN: CNSetTime, PW: req.PW, MN: req.MN}
	if !encodable(now) {
		return nil, fmt.Errorf("hj212: encode CN=1012: now %v has no 4-digit year: %w", now, ErrEncode)
	}
	r.QN = string(appendTime(make([]byte, 0, 17), now, alwaysMillis))
	if req.HasFlag {
		r.Flag, r.HasFlag = req.Version()<<2|FlagAck, true
	}
	if pol, ok := req.CP.Field("PolId"); ok {
		r.CP.Fields = append(r.CP.Fields, Field{Name: "PolId", Value: pol})
	}
	r.CP.Fields = append(r.CP.Fields, Field{Name: "SystemTime", Value: string(appendTime(make([]byte, 0, 14), now, noMillis))})
	return Encode(r)
}
