package bus

import (
	"errors"
	"fmt"
	"hash/fnv"
	"math"
	"slices"
	"strconv"
	"time"

	"github.com/valyala/fastjson"

	"github.com/qingliu/qingliu/domain"
)

// The READINGS message body is JSON: {"station","medium","ts","seq","source",
// "values","flags","received","interval"}, with ts and received in RFC 3339
// and keys in sorted order. It is written by appending (every reading passes
// through here twice per stage, and reflection-based encoding was a tenth of
// ingest CPU).

// EncodeReading is the wire form of a READINGS message body.
func EncodeReading(r *domain.Reading) ([]byte, error) {
	return appendReading(make([]byte, 0, 96+24*len(r.Values)), r, sortedKeys(r.Values))
}

// EncodeWithID returns the message body and the dedupe id of r together,
// sorting its parameters once (ingest does both for every reading).
func EncodeWithID(r *domain.Reading) (body []byte, id string, err error) {
	keys := sortedKeys(r.Values)
	body, err = appendReading(make([]byte, 0, 96+24*len(r.Values)), r, keys)
	if err != nil {
		return nil, "", err
	}
	return body, msgID(r, keys), nil
}

// appendReading appends the wire form of r to b; keys are r's parameters in
// sorted order.
func appendReading(b []byte, r *domain.Reading, keys []string) ([]byte, error) {
	b = append(b, `{"station":`...)
	b = AppendString(b, r.Station)
	b = append(b, `,"medium":`...)
	b = AppendString(b, string(r.Medium))
	b = append(b, `,"ts":"`...)
	b = r.Time.AppendFormat(b, time.RFC3339Nano)
	b = append(b, '"')
	if r.Seq != nil {
		b = append(b, `,"seq":`...)
		b = strconv.AppendInt(b, *r.Seq, 10)
	}
	b = append(b, `,"source":`...)
	b = AppendString(b, string(r.Source))
	b = append(b, `,"values":{`...)
	for i, k := range keys {
		v := r.Values[k]
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return nil, fmt.Errorf("encode reading %s: value of %q is not finite", r.Station, k)
		}
		if i > 0 {
			b = append(b, ',')
		}
		b = AppendString(b, k)
		b = append(b, ':')
		b = strconv.AppendFloat(b, v, 'g', -1, 64)
	}
	b = append(b, '}')
	if len(r.Flags) > 0 {
		b = append(b, `,"flags":{`...)
		first := true
		for _, k := range sortedKeys(r.Flags) {
			if !first {
				b = append(b, ',')
			}
			first = false
			b = AppendString(b, k)
			b = append(b, ':')
			b = AppendString(b, string(r.Flags[k]))
		}
		b = append(b, '}')
	}
	if !r.Received.IsZero() {
		b = append(b, `,"received":"`...)
		b = r.Received.AppendFormat(b, time.RFC3339Nano)
		b = append(b, '"')
	}
	if r.Interval != domain.IntervalInstant {
		b = append(b, `,"interval":`...)
		b = AppendString(b, string(r.Interval))
	}
	return append(b, '}'), nil
}

// sortedKeys is slices.Sorted(maps.Keys(m)) with the slice allocated once:
// it runs for every reading ingest encodes.
func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// AppendString appends s as a JSON string, escaping only what JSON requires
// (the simulator writes its payloads with it too).
func AppendString(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '"' || c == '\\':
			b = append(b, '\\', c)
		case c < 0x20:
			b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
		default:
			b = append(b, c)
		}
	}
	return append(b, '"')
}

// Decoder parses READINGS message bodies. It is safe for concurrent use.
type Decoder struct {
	pp fastjson.ParserPool
}

// Decode parses a READINGS message body.
func (d *Decoder) Decode(data []byte) (domain.Reading, error) {
	var r domain.Reading
	p := d.pp.Get()
	defer d.pp.Put(p)
	v, err := p.ParseBytes(data)
	if err != nil {
		return r, fmt.Errorf("decode reading: %w", err)
	}
	r.Station = string(v.GetStringBytes("station"))
	r.Medium = domain.Medium(v.GetStringBytes("medium"))
	r.Source = domain.Source(v.GetStringBytes("source"))
	if r.Interval = domain.Interval(v.GetStringBytes("interval")); !r.Interval.Valid() {
		return r, fmt.Errorf("decode reading: interval %q: want minute, hour, day or none", r.Interval)
	}
	if r.Time, err = time.Parse(time.RFC3339Nano, string(v.GetStringBytes("ts"))); err != nil {
		return r, fmt.Errorf("decode reading: ts: %w", err)
	}
	if rec := v.GetStringBytes("received"); len(rec) > 0 {
		if r.Received, err = time.Parse(time.RFC3339Nano, string(rec)); err != nil {
			return r, fmt.Errorf("decode reading: received: %w", err)
		}
	}
	if s := v.Get("seq"); s != nil {
		n, err := s.Int64()
		if err != nil {
			return r, fmt.Errorf("decode reading: seq: %w", err)
		}
		r.Seq = &n
	}
	vals := v.GetObject("values")
	if vals == nil {
		return r, errors.New("decode reading: no values")
	}
	r.Values = make(map[string]float64, vals.Len())
	vals.Visit(func(k []byte, x *fastjson.Value) {
		if f, e := x.Float64(); e == nil {
			r.Values[string(k)] = f
		} else if err == nil {
			err = fmt.Errorf("decode reading: value of %q: %w", k, e)
		}
	})
	if err != nil {
		return r, err
	}
	if fl := v.GetObject("flags"); fl != nil {
		r.Flags = make(map[string]domain.Flag, fl.Len())
		fl.Visit(func(k []byte, x *fastjson.Value) {
			r.Flags[string(k)] = domain.Flag(x.GetStringBytes())
		})
	}
	if r.Station == "" || r.Time.IsZero() {
		return r, errors.New("decode reading: station and ts are required")
	}
	return r, nil
}

// DecodeReading parses a READINGS message body with a fresh decoder; stages
// on a hot path keep a Decoder instead.
func DecodeReading(b []byte) (domain.Reading, error) {
	var d Decoder
	return d.Decode(b)
}

// MsgID is the JetStream dedupe key of a reading: station + observation time +
// a hash of its content and interval. A resent identical report has the same
// id and is dropped by the stream; a corrected value at the same time is not.
func MsgID(r *domain.Reading) string { return msgID(r, sortedKeys(r.Values)) }

func msgID(r *domain.Reading, keys []string) string {
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
	if r.Interval != domain.IntervalInstant {
		// An hourly average equal to the sample at the same instant is
		// another report. Samples keep the ids they had before intervals.
		h.Write([]byte{0})
		h.Write([]byte(r.Interval))
	}
	b := make([]byte, 0, len(r.Station)+40)
	b = append(b, r.Station...)
	b = append(b, '|')
	b = strconv.AppendInt(b, r.Time.UnixNano(), 10)
	b = append(b, '|')
	b = strconv.AppendUint(b, h.Sum64(), 16)
	return string(b)
}
