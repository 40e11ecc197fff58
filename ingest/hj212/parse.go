package hj212

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// beijing is UTC+8, the zone of every time in the protocol. Asia/Shanghai has
// had no daylight saving since 1991, so a fixed zone is exact and needs no
// tzdata. It is never modified.
var beijing = time.FixedZone("CST", 8*60*60)

// Verdict is what a frame's two integrity fields say, checked independently.
type Verdict struct {
	CRC CRCResult
	// LengthOK reports whether the 4-digit length field equals the number of
	// bytes in the data segment. It is false when the frame is malformed.
	LengthOK bool
}

// Parser decodes frames. The zero value is strict: only the Appendix A CRC is
// accepted. A Parser is safe for concurrent use if ModbusCRC is.
type Parser struct {
	// ModbusCRC reports whether the device with this MN may send
	// CRC-16/MODBUS low byte first instead of the Appendix A checksum (the
	// registry's CRC mode "lenient"). Nil allows no device.
	ModbusCRC func(mn string) bool
}

// ParseFrame is Parser{}.Parse: a strict parse of one frame.
func ParseFrame(frame []byte) (Packet, Verdict, error) { return Parser{}.Parse(frame) }

// Parse decodes one frame, ##dddd<data segment><CRC>, with or without its
// trailing CR LF. It checks the length field and the CRC separately and
// reports both in the Verdict; a mismatch is an error wrapping ErrLength or
// ErrCRC. The data segment is parsed whatever the verdict, so that on a CRC or
// field error the returned Packet still has the QN, ST, PW and MN a 9011
// reply needs (when they could be read). Errors from several checks are
// joined; test them with errors.Is. Parse does not retain frame.
func (ps Parser) Parse(frame []byte) (Packet, Verdict, error) {
	var v Verdict
	f := frame
	if n := len(f); n > 0 && f[n-1] == '\n' {
		f = f[:n-1]
	}
	if n := len(f); n > 0 && f[n-1] == '\r' {
		f = f[:n-1]
	}
	if len(f) < 10 || f[0] != '#' || f[1] != '#' || !isDigits(f[2:6]) {
		return Packet{}, v, fmt.Errorf("hj212: parse frame: want ##, 4-digit length, data segment, 4-digit CRC: %w", ErrFrame)
	}
	declared := int(f[2]-'0')*1000 + int(f[3]-'0')*100 + int(f[4]-'0')*10 + int(f[5]-'0')
	data, crcField := f[6:len(f)-4], f[len(f)-4:]
	v.LengthOK = declared == len(data)
	v.CRC = checkCRC(data, crcField)

	raw := string(f)
	p, segErr := parseSegment(raw[6 : len(raw)-4])
	p.Raw = raw

	var lenErr, crcErr error
	if !v.LengthOK {
		lenErr = fmt.Errorf("hj212: length field says %d bytes, data segment has %d: %w", declared, len(data), ErrLength)
	}
	switch v.CRC {
	case CRCBad:
		crcErr = fmt.Errorf("hj212: CRC field %q, want %04X (HJ 212 Appendix A): %w", crcField, CRC(data), ErrCRC)
	case CRCModbusLE:
		if ps.ModbusCRC == nil || !ps.ModbusCRC(p.MN) {
			crcErr = fmt.Errorf("hj212: CRC field %q is CRC-16/MODBUS low byte first, want %04X (HJ 212 Appendix A) from a device not in lenient CRC mode: %w", crcField, CRC(data), ErrCRC)
		}
	}
	if lenErr == nil && crcErr == nil && segErr == nil {
		return p, v, nil
	}
	return p, v, errors.Join(lenErr, crcErr, segErr)
}

// parseSegment decodes a data segment, QN=…;ST=…;…;CP=&&…&&. On error the
// packet holds the header fields that were valid.
func parseSegment(s string) (Packet, error) {
	var p Packet
	head, rest, found := cutCP(s)
	if err := parseHeader(&p, head); err != nil {
		return p, fmt.Errorf("hj212: parse header: %w", err)
	}
	if !found {
		return p, fmt.Errorf("hj212: parse header: %w", fieldErr("CP", "", "missing (want CP=&&…&&)"))
	}
	if len(rest) < 2 || rest[len(rest)-2:] != "&&" {
		return p, fmt.Errorf("hj212: parse CP: %w", fieldErr("CP", "", "does not end with &&"))
	}
	if err := parseCP(&p, rest[:len(rest)-2]); err != nil {
		return p, fmt.Errorf("hj212: parse CP: %w", err)
	}
	return p, nil
}

// cutCP splits s at the CP item: head is everything before ";CP=&&" (or
// empty when s starts with CP=&&), rest everything after "CP=&&".
func cutCP(s string) (head, rest string, found bool) {
	if strings.HasPrefix(s, "CP=&&") {
		return "", s[len("CP=&&"):], true
	}
	if i := strings.Index(s, ";CP=&&"); i >= 0 {
		return s[:i], s[i+len(";CP=&&"):], true
	}
	return s, "", false
}

// parseHeader reads the ;-separated items before CP. It reads every item
// even after an error, so that QN and MN are kept for a reply, and returns
// the first error.
func parseHeader(p *Packet, head string) error {
	var first error
	fail := func(err error) {
		if first == nil {
			first = err
		}
	}
	var seen uint8
	const (
		sQN = 1 << iota
		sST
		sCN
		sPW
		sMN
		sFlag
		sPNUM
		sPNO
	)
	for head != "" {
		var item string
		item, head, _ = strings.Cut(head, ";")
		if item == "" {
			continue
		}
		name, val, ok := strings.Cut(item, "=")
		if !ok {
			// Not quoted: it may be a password sent without its name.
			fail(fieldErr("header item", "", "no '='"))
			continue
		}
		var bit uint8
		switch name {
		case "QN":
			bit = sQN
		case "ST":
			bit = sST
		case "CN":
			bit = sCN
		case "PW":
			bit = sPW
		case "MN":
			bit = sMN
		case "Flag":
			bit = sFlag
		case "PNUM":
			bit = sPNUM
		case "PNO":
			bit = sPNO
		default:
			continue // vendor additions (e.g. CmdFlag) carry nothing we use
		}
		if seen&bit != 0 {
			fail(fieldErr(name, val, "repeated"))
			continue
		}
		seen |= bit
		switch name {
		case "QN":
			// HJ 212-2017 says 17 digits (YYYYMMDDhhmmsszzz); accept any
			// digits up to the field's 20-character budget, since it is
			// only echoed back.
			if len(val) > 20 || !isDigitsStr(val) {
				fail(fieldErr(name, val, "want up to 20 digits (YYYYMMDDhhmmsszzz)"))
				continue
			}
			p.QN = val
		case "ST":
			if val == "" || len(val) > 5 || !isAlnum(val) {
				fail(fieldErr(name, val, "want 1 to 5 letters or digits"))
				continue
			}
			p.ST = val
		case "CN":
			if len(val) != 4 || !isDigitsStr(val) {
				fail(fieldErr(name, val, "want 4 digits"))
				continue
			}
			p.CN = val
		case "PW":
			if len(val) > 64 || !isPrintable(val) {
				fail(fieldErr(name, "", "want up to 64 printable characters"))
				continue
			}
			p.PW = val
		case "MN":
			if val == "" || len(val) > 64 || !isPrintable(val) {
				fail(fieldErr(name, val, "want 1 to 64 printable characters"))
				continue
			}
			p.MN = val
		case "Flag":
			n, ok := smallUint(val, 3)
			if !ok || n > 255 {
				fail(fieldErr(name, val, "want a number 0 to 255"))
				continue
			}
			p.Flag, p.HasFlag = n, true
		case "PNUM", "PNO":
			n, ok := smallUint(val, 4)
			if !ok || n == 0 {
				fail(fieldErr(name, val, "want a number 1 to 9999"))
				continue
			}
			if name == "PNUM" {
				p.PNUM = n
			} else {
				p.PNO = n
			}
		}
	}
	for _, req := range [...]struct {
		bit  uint8
		name string
	}{{sST, "ST"}, {sCN, "CN"}, {sPW, "PW"}, {sMN, "MN"}} {
		if seen&req.bit == 0 {
			fail(fieldErr(req.name, "", "missing"))
		}
	}
	switch {
	case p.PNUM > 0 && p.PNO > 0:
		if p.PNO > p.PNUM {
			fail(fieldErr("PNO", strconv.Itoa(p.PNO), "greater than PNUM="+strconv.Itoa(p.PNUM)))
			p.PNUM, p.PNO = 0, 0
		}
	case seen&sPNUM != 0 && seen&sPNO == 0:
		fail(fieldErr("PNO", "", "missing (PNUM is present)"))
		p.PNUM = 0
	case seen&sPNO != 0 && seen&sPNUM == 0:
		fail(fieldErr("PNUM", "", "missing (PNO is present)"))
		p.PNO = 0
	default: // one of them was invalid and is reported already
		p.PNUM, p.PNO = 0, 0
	}
	return first
}

// parseCP reads the CP body: items separated by ';', fields within an item by
// ','. Fields named code-Suffix go to Values, the others to Fields (DataTime
// to p.DataTime).
func parseCP(p *Packet, body string) error {
	cp := &p.CP
	hasDataTime := false
	for off := 0; body != ""; {
		// One pass finds the end of the field and rejects control bytes.
		// Splitting on both separators gives the same fields: a value
		// contains neither.
		end := len(body)
		for i := 0; i < len(body); i++ {
			c := body[i]
			if c == ';' || c == ',' {
				end = i
				break
			}
			if c < 0x20 || c == 0x7f {
				return fieldErr("CP", "", fmt.Sprintf("control byte 0x%02X at offset %d", c, off+i))
			}
		}
		item := body[:end]
		if end < len(body) {
			end++
		}
		body, off = body[end:], off+end
		if item == "" {
			continue
		}
		name, val, ok := strings.Cut(item, "=")
		if !ok {
			return fieldErr(cut(item, 32), "", "no '='")
		}
		if name == "" {
			return fieldErr(name, val, "empty name")
		}
		dash := strings.LastIndexByte(name, '-')
		if dash < 0 {
			if name == "DataTime" {
				if hasDataTime {
					return fieldErr(name, val, "repeated")
				}
				t, ok := parseTime(val)
				if !ok {
					return fieldErr(name, val, "want YYYYMMDDhhmmss[zzz]")
				}
				p.DataTime, hasDataTime = t, true
				continue
			}
			cp.Fields = append(cp.Fields, Field{Name: name, Value: val})
			continue
		}
		code, suffix := name[:dash], name[dash+1:]
		if code == "" || suffix == "" {
			return fieldErr(name, val, "want code-Suffix")
		}
		v := cp.value(code, body)
		switch suffix {
		case "Rtd", "Avg", "Min", "Max", "Cou":
			s := statOf(suffix)
			if v.Has(s) {
				return fieldErr(name, val, "repeated")
			}
			x, ok := parseNumber(val)
			if !ok {
				return fieldErr(name, val, "not a finite decimal number")
			}
			v.Set(s, x)
		case "Flag":
			if v.Flag != "" {
				return fieldErr(name, val, "repeated")
			}
			if val == "" {
				return fieldErr(name, val, "empty")
			}
			v.Flag = val
		case "EFlag":
			if v.EFlag != "" {
				return fieldErr(name, val, "repeated")
			}
			if val == "" {
				return fieldErr(name, val, "empty")
			}
			v.EFlag = val
		case "SampleTime":
			if !v.SampleTime.IsZero() {
				return fieldErr(name, val, "repeated")
			}
			t, ok := parseTime(val)
			if !ok {
				return fieldErr(name, val, "want YYYYMMDDhhmmss[zzz]")
			}
			v.SampleTime = t
		default:
			v.Extra = append(v.Extra, Field{Name: suffix, Value: val})
		}
	}
	return nil
}

// value returns the Value for code, adding it if needed. rest is the unparsed
// remainder of the CP body, used to size the slice once.
func (c *CP) value(code, rest string) *Value {
	if n := len(c.Values); n > 0 && c.Values[n-1].Code == code {
		return &c.Values[n-1]
	}
	if i := c.index(code); i >= 0 {
		return &c.Values[i]
	}
	if c.Values == nil {
		// One code per ;-item is the norm: size for the items left.
		c.Values = make([]Value, 0, strings.Count(rest, ";")+1)
	}
	c.Values = append(c.Values, Value{Code: code})
	return &c.Values[len(c.Values)-1]
}

func statOf(suffix string) Stat {
	switch suffix {
	case "Avg":
		return Avg
	case "Min":
		return Min
	case "Max":
		return Max
	case "Cou":
		return Cou
	}
	return Rtd
}

// ParseTime parses a protocol time, YYYYMMDDhhmmss or YYYYMMDDhhmmsszzz, in
// UTC+8 (Asia/Shanghai).
func ParseTime(s string) (time.Time, error) {
	t, ok := parseTime(s)
	if !ok {
		return time.Time{}, fmt.Errorf("hj212: parse time %q: want YYYYMMDDhhmmss[zzz]", s)
	}
	return t, nil
}

func parseTime(s string) (time.Time, bool) {
	if (len(s) != 14 && len(s) != 17) || !isDigitsStr(s) {
		return time.Time{}, false
	}
	num := func(i, n int) int {
		x := 0
		for _, c := range []byte(s[i : i+n]) {
			x = x*10 + int(c-'0')
		}
		return x
	}
	y, mo, d := num(0, 4), num(4, 2), num(6, 2)
	h, mi, sec := num(8, 2), num(10, 2), num(12, 2)
	ms := 0
	if len(s) == 17 {
		ms = num(14, 3)
	}
	if mo < 1 || mo > 12 || d < 1 || h > 23 || mi > 59 || sec > 59 {
		return time.Time{}, false
	}
	t := time.Date(y, time.Month(mo), d, h, mi, sec, ms*int(time.Millisecond), beijing)
	if t.Day() != d { // 31 April, 29 February in a common year …
		return time.Time{}, false
	}
	return t, true
}

// parseNumber accepts [+-]digits[.digits] (or .digits, digits.) and nothing
// else: no exponent, hex, NaN or Inf, which HJ 212's N-types do not have.
func parseNumber(s string) (float64, bool) {
	i, digits, dot := 0, 0, false
	if i < len(s) && (s[i] == '-' || s[i] == '+') {
		i++
	}
	for ; i < len(s); i++ {
		switch c := s[i]; {
		case '0' <= c && c <= '9':
			digits++
		case c == '.' && !dot:
			dot = true
		default:
			return 0, false
		}
	}
	if digits == 0 {
		return 0, false
	}
	x, err := strconv.ParseFloat(s, 64)
	if err != nil { // out of range
		return 0, false
	}
	return x, true
}

func smallUint(s string, maxDigits int) (int, bool) {
	if s == "" || len(s) > maxDigits || !isDigitsStr(s) {
		return 0, false
	}
	n := 0
	for _, c := range []byte(s) {
		n = n*10 + int(c-'0')
	}
	return n, true
}

func isDigits(b []byte) bool {
	for _, c := range b {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

func isDigitsStr(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < '0' || c > '9' {
			return false
		}
	}
	return true
}

func isAlnum(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z') {
			return false
		}
	}
	return true
}

// isPrintable reports whether s is visible ASCII (no space, no control).
func isPrintable(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c <= ' ' || c >= 0x7f {
			return false
		}
	}
	return true
}

func cut(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}
