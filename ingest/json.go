package ingest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"
)

// jsonPayload is DESIGN §3.1 JSON payload v1.
type jsonPayload struct {
	TS     json.RawMessage            `json:"ts"`
	Seq    *int64                     `json:"seq"`
	Values map[string]json.RawMessage `json:"values"`
	Flags  map[string]string          `json:"flags"`
}

// decodeJSON decodes one JSON v1 object or a list of them. maxElems bounds a
// batch. A payload that is not JSON at all is one reject for the whole
// payload; a bad element is refused alone and the others go on.
func decodeJSON(payload []byte, maxElems int) ([]rawReport, *Reject) {
	b := bytes.TrimSpace(payload)
	if len(b) == 0 {
		return nil, rejectf(CodeEmpty, "", "empty payload")
	}
	if b[0] == '[' {
		var elems []json.RawMessage
		if err := json.Unmarshal(b, &elems); err != nil {
			return nil, rejectf(CodeMalformed, "", "payload is not valid JSON: %s", jsonErr(err))
		}
		if len(elems) == 0 {
			return nil, rejectf(CodeEmpty, "", "empty list")
		}
		if maxElems > 0 && len(elems) > maxElems {
			return nil, rejectf(CodeBadBatch, "", "batch has %d elements, more than the limit of %d", len(elems), maxElems)
		}
		out := make([]rawReport, len(elems))
		for i, e := range elems {
			out[i] = decodeJSONObject(e, i)
		}
		return out, nil
	}
	if b[0] != '{' {
		return nil, rejectf(CodeMalformed, "", "payload is not a JSON object or list")
	}
	r := decodeJSONObject(b, -1)
	return []rawReport{r}, nil
}

func decodeJSONObject(b []byte, idx int) rawReport {
	rr := rawReport{Index: idx, Raw: b}
	fail := func(rej *Reject) rawReport {
		rej.Index = idx
		rr.Err = rej
		return rr
	}
	var p jsonPayload
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&p); err != nil {
		if f, ok := strings.CutPrefix(err.Error(), "json: unknown field "); ok {
			return fail(rejectf(CodeSchema, strings.Trim(f, `"`), "unknown field %s (want ts, seq, values, flags)", f))
		}
		return fail(rejectf(CodeMalformed, "", "not a valid JSON v1 object: %s", jsonErr(err)))
	}
	if dec.More() {
		return fail(rejectf(CodeMalformed, "", "trailing data after the JSON object"))
	}
	t, rej := parseTS(p.TS)
	if rej != nil {
		return fail(rej)
	}
	rr.Time = t
	rr.Seq = p.Seq
	if len(p.Values) == 0 {
		return fail(rejectf(CodeNoValues, "values", `no "values" in the report`))
	}
	for k := range p.Flags {
		if _, ok := p.Values[k]; !ok {
			return fail(rejectf(CodeSchema, "flags."+k, "flag for %q, which has no value", k))
		}
	}
	keys := make([]string, 0, len(p.Values))
	for k := range p.Values {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		v, err := parseJSONNumber(p.Values[k])
		if err != nil {
			rr.ValueErrs = append(rr.ValueErrs, &Reject{Code: CodeNotNumber, Field: k, Index: idx,
				Reason: fmt.Sprintf("value of %q is %s, not a number", k, clip(p.Values[k]))})
			continue
		}
		rr.Values = append(rr.Values, rawValue{Param: k, Value: v, Flag: p.Flags[k]})
	}
	return rr
}

func parseJSONNumber(m json.RawMessage) (float64, error) {
	s := string(bytes.TrimSpace(m))
	if s == "" || s[0] == '"' || s == "null" || s == "true" || s == "false" || s[0] == '{' || s[0] == '[' {
		return 0, fmt.Errorf("not a number")
	}
	v, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return 0, err
	}
	if math.IsInf(v, 0) || math.IsNaN(v) {
		return 0, fmt.Errorf("not finite")
	}
	return v, nil
}

// parseTS accepts RFC 3339 (with a zone) or epoch milliseconds.
func parseTS(m json.RawMessage) (time.Time, *Reject) {
	s := string(bytes.TrimSpace(m))
	if s == "" || s == "null" {
		return time.Time{}, rejectf(CodeBadTimestamp, "ts", `missing "ts" (RFC 3339 or epoch milliseconds)`)
	}
	if s[0] == '"' {
		var str string
		if err := json.Unmarshal(m, &str); err != nil {
			return time.Time{}, rejectf(CodeBadTimestamp, "ts", "ts is not a valid string")
		}
		t, err := time.Parse(time.RFC3339Nano, str)
		if err != nil {
			return time.Time{}, rejectf(CodeBadTimestamp, "ts", "ts %q is not RFC 3339 with a time zone", clipS(str))
		}
		return t, nil
	}
	ms, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return time.Time{}, rejectf(CodeBadTimestamp, "ts", "ts %s is neither an RFC 3339 string nor integer epoch milliseconds", clipS(s))
	}
	if ms < 0 || ms > 1e14 {
		return time.Time{}, rejectf(CodeBadTimestamp, "ts", "ts %d is not plausible epoch milliseconds", ms)
	}
	return time.UnixMilli(ms), nil
}

func jsonErr(err error) string {
	var se *json.SyntaxError
	if e, ok := err.(*json.SyntaxError); ok {
		se = e
		return fmt.Sprintf("%s at byte %d", se.Error(), se.Offset)
	}
	if te, ok := err.(*json.UnmarshalTypeError); ok {
		return fmt.Sprintf("field %q has the wrong type (%s, want %s)", te.Field, te.Value, te.Type)
	}
	return err.Error()
}

func clip(m json.RawMessage) string { return clipS(string(m)) }

func clipS(s string) string {
	const n = 40
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}
