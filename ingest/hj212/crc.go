package hj212

import "math/bits"

// crcTable[k][x] is the effect of byte x on the Appendix A register k+1
// bytes later. The step crc = table[(crc>>8)^b] (eight shift-and-xor rounds
// of a value that is at most 0xFF) is linear over GF(2), so the register after
// eight bytes is the xor of one lookup per byte, of which only the first
// depends on the register: slicing-by-8. crcTable[0] is the one-byte step,
// which CRCModbus shares. The tables are never modified.
var crcTable = func() (t [8][256]uint16) {
	for i := range t[0] {
		c := uint16(i)
		for range 8 {
			lsb := c & 1
			c >>= 1
			if lsb == 1 {
				c ^= 0xA001
			}
		}
		t[0][i] = c
	}
	for k := 1; k < len(t); k++ {
		for i := range t[k] {
			t[k][i] = t[0][t[k-1][i]>>8]
		}
	}
	return t
}()

// CRC returns the HJ 212-2017 Appendix A checksum of data (the data segment
// only, from QN= or ST= through the closing &&). It is not CRC-16/MODBUS: the
// standard folds each byte in with crc = (crc>>8) ^ byte. The frame carries it
// as four hex digits, high byte first.
func CRC(data []byte) uint16 {
	crc := uint16(0xFFFF)
	for len(data) >= 8 {
		crc = crcTable[7][byte(crc>>8)^data[0]] ^ crcTable[6][data[1]] ^
			crcTable[5][data[2]] ^ crcTable[4][data[3]] ^
			crcTable[3][data[4]] ^ crcTable[2][data[5]] ^
			crcTable[1][data[6]] ^ crcTable[0][data[7]]
		data = data[8:]
	}
	for _, b := range data {
		crc = crcTable[0][byte(crc>>8)^b]
	}
	return crc
}

// CRCModbus returns CRC-16/MODBUS (crc ^= byte, polynomial 0xA001 reflected,
// initial 0xFFFF) of data. Some field devices send it instead of the Appendix A
// checksum, written low byte first.
func CRCModbus(data []byte) uint16 {
	crc := uint16(0xFFFF)
	for _, b := range data {
		crc = (crc >> 8) ^ crcTable[0][byte(crc)^b]
	}
	return crc
}

// CRCResult is the verdict on a frame's checksum.
type CRCResult uint8

// The CRC verdicts. CRCUnchecked is the zero value: the frame was too
// malformed for its checksum to be located.
const (
	CRCUnchecked CRCResult = iota
	CRCOK                  // matches HJ 212 Appendix A
	CRCModbusLE            // matches CRC-16/MODBUS written low byte first
	CRCBad                 // matches neither, or is not four hex digits
)

// String returns "unchecked", "ok", "modbus-le" or "bad".
func (c CRCResult) String() string {
	switch c {
	case CRCOK:
		return "ok"
	case CRCModbusLE:
		return "modbus-le"
	case CRCBad:
		return "bad"
	}
	return "unchecked"
}

// MarshalText encodes c as its String.
func (c CRCResult) MarshalText() ([]byte, error) { return []byte(c.String()), nil }

// checkCRC compares the four hex digits in field with the checksums of data.
func checkCRC(data, field []byte) CRCResult {
	got, ok := parseHex16(field)
	if !ok {
		return CRCBad
	}
	if got == CRC(data) {
		return CRCOK
	}
	if bits.ReverseBytes16(got) == CRCModbus(data) {
		return CRCModbusLE
	}
	return CRCBad
}

// parseHex16 parses exactly four upper- or lower-case hex digits.
func parseHex16(b []byte) (uint16, bool) {
	if len(b) != 4 {
		return 0, false
	}
	var v uint16
	for _, c := range b {
		var d byte
		switch {
		case '0' <= c && c <= '9':
			d = c - '0'
		case 'a' <= c && c <= 'f':
			d = c - 'a' + 10
		case 'A' <= c && c <= 'F':
			d = c - 'A' + 10
		default:
			return 0, false
		}
		v = v<<4 | uint16(d)
	}
	return v, true
}

// appendHex16 appends v as four upper-case hex digits.
func appendHex16(dst []byte, v uint16) []byte {
	const digits = "0123456789ABCDEF"
	return append(dst, digits[v>>12], digits[v>>8&0xF], digits[v>>4&0xF], digits[v&0xF])
}
