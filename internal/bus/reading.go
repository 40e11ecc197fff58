package bus

import (
	"encoding/json"
	"fmt"
	"hash/fnv"
	"math"
	"slices"
	"strconv"

	"github.com/qingliu/qingliu/domain"
)

// EncodeReading is the wire form of a READINGS message body.
func EncodeReading(r *domain.Reading) ([]byte, error) {
	b, err := json.Marshal(r)
	if err != nil {
		return nil, fmt.Errorf("encode reading %s: %w", r.Station, err)
	}
	return b, nil
}

// DecodeReading parses a READINGS message body.
func DecodeReading(b []byte) (domain.Reading, error) {
	var r domain.Reading
	if err := json.Unmarshal(b, &r); err != nil {
		return r, fmt.Errorf("decode reading: %w", err)
	}
	if r.Station == "" || r.Time.IsZero() {
		return r, fmt.Errorf("decode reading: station and ts are required")
	}
	return r, nil
}

// MsgID is the JetStream dedupe key of a reading: station + observation time +
// a hash of its content. A resent identical report has the same id and is
// dropped by the stream; a corrected value at the same time is not.
func MsgID(r *domain.Reading) string {
	keys := make([]string, 0, len(r.Values))
	for k := range r.Values {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	h := fnv.New64a()
	var buf [8]byte
	for _, k := range keys {
		h.Write([]byte(k))
		bits := math.Float64bits(r.Values[k])
		for i := range buf {
			buf[i] = byte(bits >> (8 * i))
		}
		h.Write(buf[:])
		h.Write([]byte(r.Flag(k)))
	}
	b := make([]byte, 0, len(r.Station)+40)
	b = append(b, r.Station...)
	b = append(b, '|')
	b = strconv.AppendInt(b, r.Time.UnixNano(), 10)
	b = append(b, '|')
	b = strconv.AppendUint(b, h.Sum64(), 16)
	return string(b)
}
