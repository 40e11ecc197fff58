package hj212

import (
	"bytes"
	"errors"
	"fmt"
	"io"
)

// DefaultMaxFrame is the frame size limit (## through CR LF) a Reader uses
// when given 0. HJ 212-2017 caps the data segment at 1024 bytes, but devices in
// the field send more (a real CEMS minute packet has 1623), so the default
// leaves room.
const DefaultMaxFrame = 4096

// minFrame is the smallest frame: ##0000, an empty data segment, CRC, CR LF.
const minFrame = 12

// readAhead is buffer space beyond MaxFrame: room to decide whether bytes at
// the limit start a header, and for reads of a useful size.
const readAhead = 4096

// maxEmptyReads is how many (0, nil) reads in a row count as no progress.
const maxEmptyReads = 100

// Reader splits a byte stream into HJ 212 frames. It is bufio-like: one
// buffer of MaxFrame plus 4 KiB, allocated once, and no allocation per frame.
//
// A frame runs from a header (## and 4 digits) through the next LF. The
// length field is not trusted to find the end, because devices send wrong
// ones; Parse checks it. Anything else is reported and skipped:
//
//   - bytes before a header: ErrGarbage (a run of only CR and LF between
//     frames is skipped silently);
//   - a frame with no LF within MaxFrame bytes: ErrTooLong, for the first
//     MaxFrame bytes and for each further chunk of the same frame up to its LF
//     or the next header;
//   - a header followed by another header before any LF (a device reset
//     mid-frame), or a partial frame at the end of the stream: ErrTruncated.
//     Such a chunk may still be a whole frame from a device that omits CR LF;
//     Parse accepts it.
//
// Every reported chunk is at most MaxFrame bytes, and the split does not
// depend on how the stream was cut into reads.
//
// A Reader is not safe for concurrent use.
type Reader struct {
	rd         io.Reader
	max        int
	buf        []byte
	r, w       int   // unread data is buf[r:w]
	err        error // read error to return once the buffer is exhausted
	eof        bool
	discarding bool // inside a frame longer than max
}

// NewReader returns a Reader over rd for frames of at most maxFrame bytes
// (## through LF); maxFrame <= 0 means DefaultMaxFrame, and values below 12
// (the shortest possible frame) are raised to 12.
func NewReader(rd io.Reader, maxFrame int) *Reader {
	if maxFrame <= 0 {
		maxFrame = DefaultMaxFrame
	}
	maxFrame = max(maxFrame, minFrame)
	return &Reader{rd: rd, max: maxFrame, buf: make([]byte, maxFrame+readAhead)}
}

// MaxFrame returns the frame size limit.
func (r *Reader) MaxFrame() int { return r.max }

// Buffered returns the number of bytes received but not yet returned: a
// listener can use it to tell an idle client from one stuck mid-frame.
func (r *Reader) Buffered() int { return r.w - r.r }

// ReadFrame returns the next frame, ## through LF. The slice is valid until
// the next call.
//
// With ErrGarbage, ErrTooLong or ErrTruncated it returns the bytes it skipped
// (for quarantine), and the next call carries on with the stream. At the end
// of the stream it returns io.EOF. Other errors come from the underlying
// reader unchanged: after a timeout from a net.Conn with a read deadline, the
// partial frame is kept and ReadFrame may be called again (an idle or slow
// client is the caller's to time out).
func (r *Reader) ReadFrame() ([]byte, error) {
	for {
		data := r.buf[r.r:r.w]
		n, kind := r.split(data, r.eof)
		if kind != kindMore {
			tok := data[:n]
			r.r += n
			switch kind {
			case kindFrame:
				return tok, nil
			case kindGarbage:
				return tok, fmt.Errorf("hj212: read: %d bytes outside a frame: %w", n, ErrGarbage)
			case kindTooLong:
				return tok, fmt.Errorf("hj212: read: frame longer than %d bytes, %d bytes skipped: %w", r.max, n, ErrTooLong)
			case kindTruncated:
				return tok, fmt.Errorf("hj212: read: %d bytes of a frame with no LF before the next header or the end: %w", n, ErrTruncated)
			case kindEOF:
				return nil, io.EOF
			}
			continue // kindSkip
		}
		if r.err != nil {
			err := r.err
			r.err = nil
			return nil, err
		}
		r.fill()
	}
}

// fill reads once into the buffer, after moving unread data to the front.
func (r *Reader) fill() {
	if r.r > 0 {
		copy(r.buf, r.buf[r.r:r.w])
		r.w -= r.r
		r.r = 0
	}
	for range maxEmptyReads {
		n, err := r.rd.Read(r.buf[r.w:])
		if n < 0 || n > len(r.buf)-r.w {
			r.err = errors.New("hj212: read: reader returned an invalid count")
			return
		}
		r.w += n
		if err == io.EOF {
			r.eof = true
			return
		}
		if err != nil {
			r.err = err
			return
		}
		if n > 0 {
			return
		}
	}
	r.err = io.ErrNoProgress
}

type tokenKind uint8

const (
	kindMore      tokenKind = iota // need more data
	kindFrame                      // a frame
	kindSkip                       // bytes to drop silently (or a state change)
	kindGarbage                    // bytes before a header
	kindTooLong                    // a chunk of an oversize frame
	kindTruncated                  // a frame cut short
	kindEOF                        // nothing left
)

// split decides what the front of data is. It is a pure function of data,
// atEOF and r.discarding (which it updates), so the result does not depend on
// how the stream arrived. The buffer always has room for r.max+6 bytes, so
// kindMore is only returned while fewer are buffered.
func (r *Reader) split(data []byte, atEOF bool) (int, tokenKind) {
	if len(data) == 0 {
		if atEOF {
			r.discarding = false
			return 0, kindEOF
		}
		return 0, kindMore
	}
	limit := min(len(data), r.max)

	if r.discarding {
		e := bytes.IndexByte(data[:limit], '\n')
		hl := limit
		if e >= 0 {
			hl = e
		}
		h, undecided := nextHeader(data, 0, hl, atEOF)
		switch {
		case undecided:
			return 0, kindMore
		case h == 0:
			r.discarding = false
			return 0, kindSkip
		case h > 0:
			r.discarding = false
			return h, kindTooLong
		case e >= 0:
			r.discarding = false
			return e + 1, kindTooLong
		case len(data) >= r.max:
			return r.max, kindTooLong
		case atEOF:
			r.discarding = false
			return len(data), kindTooLong
		}
		return 0, kindMore
	}

	h, undecided := nextHeader(data, 0, len(data), atEOF)
	if h != 0 || undecided {
		g := len(data) // garbage run so far
		if h >= 0 {
			g = h
		}
		switch {
		case g >= r.max:
			return r.max, garbage(data[:r.max])
		case h > 0 && !undecided:
			return h, garbage(data[:h])
		case atEOF:
			return len(data), garbage(data)
		}
		return 0, kindMore
	}

	// data starts with a header.
	e := bytes.IndexByte(data[6:limit], '\n')
	hl := limit
	if e >= 0 {
		e += 6
		hl = e
	}
	h, undecided = nextHeader(data, 6, hl, atEOF)
	switch {
	case undecided:
		return 0, kindMore
	case h > 0:
		return h, kindTruncated
	case e >= 0:
		return e + 1, kindFrame
	case len(data) >= r.max:
		r.discarding = true
		return r.max, kindTooLong
	case atEOF:
		return len(data), kindTruncated
	}
	return 0, kindMore
}

// garbage classifies bytes outside a frame: CR and LF alone are skipped.
func garbage(b []byte) tokenKind {
	for _, c := range b {
		if c != '\r' && c != '\n' {
			return kindGarbage
		}
	}
	return kindSkip
}

// nextHeader returns the position of the first header (## and 4 digits)
// starting in data[from:limit], or -1. Bytes beyond limit may be read to
// decide. undecided is true when data ends before a candidate at the returned
// position can be decided (never when atEOF).
func nextHeader(data []byte, from, limit int, atEOF bool) (pos int, undecided bool) {
	for i := from; i < limit; i++ {
		j := bytes.IndexByte(data[i:limit], '#')
		if j < 0 {
			return -1, false
		}
		i += j
		switch headerAt(data, i) {
		case yes:
			return i, false
		case unknown:
			if !atEOF {
				return i, true
			}
		}
	}
	return -1, false
}

type tri uint8

const (
	no tri = iota
	yes
	unknown
)

// headerAt reports whether data[i:] starts with ## and 4 digits.
func headerAt(data []byte, i int) tri {
	for k := range 6 {
		if i+k >= len(data) {
			return unknown
		}
		c := data[i+k]
		if k < 2 && c != '#' || k >= 2 && (c < '0' || c > '9') {
			return no
		}
	}
	return yes
}
