package ingest

import (
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/valyala/fastjson"
)

// decodeJSON decodes one DESIGN §3.1 JSON v1 object or a list of them.
// maxElems bounds a batch. A payload that is not JSON at all is one reject
// for the whole payload; a bad element is refused alone and the others go on.
// It uses fastjson: this runs once per MQTT message, and reflection-based
// decoding was a quarter of the ingest CPU.
func decodeJSON(pp *fastjson.ParserPool, payload []byte, maxElems int) ([]rawReport, *Reject) {
	if len(strings.TrimSpace(string(payload))) == 0 {
		return nil, rejectf(CodeEmpty, "", "empty payload")
	}
	p := pp.Get()
	defer pp.Put(p)
	v, err := p.ParseBytes(payload)
	if err != nil {
		return nil, rejectf(CodeMalformed, "", "payload is not valid JSON: %s", clipS(err.Error()))
	}
	switch v.Type() {
	case fastjson.TypeArray:
		elems, _ := v.Array()
		if len(elems) == 0 {
			return nil, rejectf(CodeEmpty, "", "empty list")
		}
		if maxElems > 0 && len(elems) > maxElems {
			return nil, rejectf(CodeBadBatch, "", "batch has %d elements, more than the limit of %d", len(elems), maxElems)
		}
		out := make([]rawReport, len(elems))
		for i, e := range elems {
			out[i] = decodeJSONObject(e, e.MarshalTo(nil), i)
		}
		return out, nil
	case fastjson.TypeObject:
		return []rawReport{decodeJSONObject(v, payload, -1)}, nil
	}
	return nil, rejectf(CodeMalformed, "", "payload is not a JSON object or list")
}

func decodeJSONObject(v *fastjson.Value, raw []byte, idx int) rawReport {
	rr := rawReport{Index: idx, Raw: raw}
	fail := func(rej *Reject) rawReport {
		rej.Index = idx
		rr.Err = rej
		return rr
	}
	obj, err := v.Object()
	if err != nil {
		return fail(rejectf(CodeMalformed, "", "element is not a JSON object"))
	}
	var ts, seq, values, flags *fastjson.Value
	var unknown string
	obj.Visit(func(k []byte, v *fastjson.Value) {
		switch string(k) {
		case "ts":
			ts = v
		case "seq":
			seq = v
		case "values":
			values = v
		case "flags":
			flags = v
		default:
			if unknown == "" {
				unknown = string(k)
			}
		}
	})
	if unknown != "" {
		return fail(rejectf(CodeSchema, clipS(unknown), "unknown field %q (want ts, seq, values, flags)", clipS(unknown)))
	}
	t, rej := parseTS(ts)
	if rej != nil {
		return fail(rej)
	}
	rr.Time = t
	if seq != nil && seq.Type() != fastjson.TypeNull {
		n, err := seq.Int64()
		if err != nil {
			return fail(rejectf(CodeSchema, "seq", "seq is %s, not an integer", clipS(seq.String())))
		}
		rr.Seq = &n
	}
	if values == nil || values.Type() == fastjson.TypeNull {
		return fail(rejectf(CodeNoValues, "values", `no "values" in the report`))
	}
	vobj, err := values.Object()
	if err != nil {
		return fail(rejectf(CodeSchema, "values", `"values" is not an object of parameter: number`))
	}
	if vobj.Len() == 0 {
		return fail(rejectf(CodeNoValues, "values", `no "values" in the report`))
	}
	var fobj *fastjson.Object
	if flags != nil && flags.Type() != fastjson.TypeNull {
		if fobj, err = flags.Object(); err != nil {
			return fail(rejectf(CodeSchema, "flags", `"flags" is not an object of parameter: flag`))
		}
		var bad *Reject
		fobj.Visit(func(k []byte, f *fastjson.Value) {
			if bad != nil {
				return
			}
			if vobj.Get(string(k)) == nil {
				bad = rejectf(CodeSchema, "flags."+clipS(string(k)), "flag for %q, which has no value", clipS(string(k)))
			} else if f.Type() != fastjson.TypeString {
				bad = rejectf(CodeBadFlag, clipS(string(k)), "flag of %q is %s, not a string", clipS(string(k)), clipS(f.String()))
			}
		})
		if bad != nil {
			return fail(bad)
		}
	}
	rr.Values = make([]rawValue, 0, vobj.Len())
	vobj.Visit(func(k []byte, v *fastjson.Value) {
		key := string(k)
		f, ok := number(v)
		if !ok {
			rr.ValueErrs = append(rr.ValueErrs, &Reject{Code: CodeNotNumber, Field: clipS(key), Index: idx,
				Reason: fmt.Sprintf("value of %q is %s, not a number", clipS(key), clipS(v.String()))})
			return
		}
		rv := rawValue{Param: key, Value: f}
		if fobj != nil {
			if fv := fobj.Get(key); fv != nil {
				b, _ := fv.StringBytes()
				rv.Flag = string(b)
			}
		}
		rr.Values = append(rr.Values, rv)
	})
	// Keys in a stable order, so quarantine records and readings do not
	// depend on the sender's key order.
	slices.SortFunc(rr.Values, func(a, b rawValue) int { return strings.Compare(a.Param, b.Param) })
	return rr
}

func number(v *fastjson.Value) (float64, bool) {
	if v.Type() != fastjson.TypeNumber {
		return 0, false
	}
	f, err := v.Float64()
	if err != nil || math.IsInf(f, 0) || math.IsNaN(f) {
		return 0, false
	}
	return f, true
}

// parseTS accepts RFC 3339 (with a zone) or epoch milliseconds.
func parseTS(v *fastjson.Value) (time.Time, *Reject) {
	if v == nil || v.Type() == fastjson.TypeNull {
		return time.Time{}, rejectf(CodeBadTimestamp, "ts", `missing "ts" (RFC 3339 or epoch milliseconds)`)
	}
	switch v.Type() {
	case fastjson.TypeString:
		b, _ := v.StringBytes()
		t, err := time.Parse(time.RFC3339Nano, string(b))
		if err != nil {
			return time.Time{}, rejectf(CodeBadTimestamp, "ts", "ts %q is not RFC 3339 with a time zone", clipS(string(b)))
		}
		return t, nil
	case fastjson.TypeNumber:
		ms, err := strconv.ParseInt(v.String(), 10, 64)
		if err != nil {
			return time.Time{}, rejectf(CodeBadTimestamp, "ts", "ts %s is neither an RFC 3339 string nor integer epoch milliseconds", clipS(v.String()))
		}
		if ms < 0 || ms > 1e14 {
			return time.Time{}, rejectf(CodeBadTimestamp, "ts", "ts %d is not plausible epoch milliseconds", ms)
		}
		return time.UnixMilli(ms), nil
	}
	return time.Time{}, rejectf(CodeBadTimestamp, "ts", "ts is %s, neither an RFC 3339 string nor epoch milliseconds", clipS(v.String()))
}

func clipS(s string) string {
	const n = 40
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}
