package hj212

import (
	"errors"
	"strconv"
)

// Errors returned by the Reader, the Parser, the encoders and the Reassembler.
// They are compared with errors.Is; most arrive wrapped with context.
var (
	// ErrGarbage: bytes outside any frame (before a ## header, or a header
	// without a frame). Recoverable: the Reader resynchronises on the next ##.
	ErrGarbage = errors.New("hj212: bytes outside a frame")
	// ErrTooLong: a frame longer than the Reader's maximum. Recoverable.
	ErrTooLong = errors.New("hj212: frame too long")
	// ErrTruncated: a frame cut short by the next ## header or by the end of
	// the stream. Recoverable.
	ErrTruncated = errors.New("hj212: truncated frame")
	// ErrFrame: not a frame at all (no ##dddd header, too short, bytes after
	// the CRC).
	ErrFrame = errors.New("hj212: malformed frame")
	// ErrLength: the 4-digit length field does not match the data segment.
	ErrLength = errors.New("hj212: length field does not match the data segment")
	// ErrCRC: the checksum does not verify (or verifies only as
	// CRC-16/MODBUS for a device that is not allowed to send it).
	ErrCRC = errors.New("hj212: CRC mismatch")
	// ErrSegment: the data segment or its CP is malformed. Most errors of
	// this kind are a *FieldError (errors.As) naming the field.
	ErrSegment = errors.New("hj212: malformed data segment")
	// ErrEncode: a Packet cannot be encoded (a value would break the framing,
	// a required field is missing, a number is not finite).
	ErrEncode = errors.New("hj212: cannot encode packet")
	// ErrNoReadings: the packet is not a data upload (2011, 2051, 2061, 2031)
	// or has no DataTime.
	ErrNoReadings = errors.New("hj212: packet carries no readings")
	// ErrSplit: a split packet cannot be reassembled (too many parts, no room).
	ErrSplit = errors.New("hj212: cannot reassemble split packet")
)

// FieldError is a malformed or missing field of the data segment. Field is the
// name as it appears on the wire ("QN", "Flag", "DataTime", "w01001-Rtd"). It
// unwraps to ErrSegment. The value of PW is never recorded.
type FieldError struct {
	Field  string
	Value  string // the offending value, cut to 32 bytes; empty for PW
	Reason string
}

// Error implements error.
func (e *FieldError) Error() string {
	s := "field " + strconv.Quote(e.Field)
	if e.Value != "" {
		s += "=" + strconv.Quote(e.Value)
	}
	return s + ": " + e.Reason
}

// Unwrap returns ErrSegment.
func (e *FieldError) Unwrap() error { return ErrSegment }

func fieldErr(field, value, reason string) *FieldError {
	if field == "PW" {
		value = ""
	}
	if len(value) > 32 {
		value = value[:32]
	}
	return &FieldError{Field: field, Value: value, Reason: reason}
}

// QnRtn is a request-reply code of HJ 212-2017 Table 7, sent in a 9011 reply.
type QnRtn int

// The QnRtn codes.
const (
	QnReady   QnRtn = 1   // 准备执行请求
	QnRefused QnRtn = 2   // 请求被拒绝
	QnBadPW   QnRtn = 3   // PW 错误
	QnBadMN   QnRtn = 4   // MN 错误
	QnBadST   QnRtn = 5   // ST 错误
	QnBadFlag QnRtn = 6   // Flag 错误
	QnBadQN   QnRtn = 7   // QN 错误
	QnBadCN   QnRtn = 8   // CN 错误
	QnBadCRC  QnRtn = 9   // CRC 校验错误
	QnUnknown QnRtn = 100 // 未知错误
)

// RtnFor maps an error from Parser.Parse to the QnRtn code a platform returns
// for it: ErrCRC → 9 (whatever else is wrong, since a bad checksum makes the
// rest suspect), a bad QN, ST, CN, PW, MN or Flag/PNUM/PNO → its own code,
// anything else (length, CP content, framing) → 100. A nil error gives 1.
// Wrong credentials (3, 4) are decided by the caller, which knows the station
// registry.
func RtnFor(err error) QnRtn {
	if err == nil {
		return QnReady
	}
	if errors.Is(err, ErrCRC) {
		return QnBadCRC
	}
	var fe *FieldError
	if errors.As(err, &fe) {
		switch fe.Field {
		case "QN":
			return QnBadQN
		case "ST":
			return QnBadST
		case "CN":
			return QnBadCN
		case "PW":
			return QnBadPW
		case "MN":
			return QnBadMN
		case "Flag", "PNUM", "PNO":
			return QnBadFlag
		}
	}
	return QnUnknown
}
