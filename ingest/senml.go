package ingest

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"
)

// senmlRecord is one RFC 8428 SenML JSON record.
type senmlRecord struct {
	BN   string   `json:"bn"`
	BT   *float64 `json:"bt"`
	BU   string   `json:"bu"`
	BV   *float64 `json:"bv"`
	BVer *int     `json:"bver"`
	N    string   `json:"n"`
	U    string   `json:"u"`
	V    *float64 `json:"v"`
	VS   *string  `json:"vs"`
	VB   *bool    `json:"vb"`
	VD   *string  `json:"vd"`
	S    *float64 `json:"s"`
	T    *float64 `json:"t"`
	UT   *float64 `json:"ut"`
}

// senmlRelativeLimit: SenML times below 2^28 seconds are relative to now
// (RFC 8428 §4.5.3).
const senmlRelativeLimit = 1 << 28

// decodeSenML decodes an RFC 8428 SenML JSON pack. Records at the same
// resolved time form one station report. The parameter is the last segment of
// the resolved name (after ':' or '/'), so "urn:dev:…:ph" and bn "st/" + n
// "ph" both give "ph"; a string record named "<param>_flag" carries the
// HJ 212 data flag of <param>.
func decodeSenML(payload []byte, now time.Time, maxElems int) ([]rawReport, *Reject) {
	b := bytes.TrimSpace(payload)
	if len(b) == 0 {
		return nil, rejectf(CodeEmpty, "", "empty payload")
	}
	var pack []json.RawMessage
	if err := json.Unmarshal(b, &pack); err != nil {
		return nil, rejectf(CodeMalformed, "", "payload is not a SenML JSON array: %s", jsonErr(err))
	}
	if len(pack) == 0 {
		return nil, rejectf(CodeEmpty, "", "empty SenML pack")
	}
	if maxElems > 0 && len(pack) > maxElems {
		return nil, rejectf(CodeBadBatch, "", "SenML pack has %d records, more than the limit of %d", len(pack), maxElems)
	}
	var (
		bn, bu string
		bt, bv float64
		groups = map[int64]*rawReport{}
		flags  = map[int64]map[string]string{}
		order  []int64
	)
	for i, raw := range pack {
		var r senmlRecord
		if err := json.Unmarshal(raw, &r); err != nil {
			return nil, rejectf(CodeMalformed, "", "SenML record %d: %s", i, jsonErr(err))
		}
		if rej := mustUnderstand(raw, i); rej != nil {
			return nil, rej
		}
		if r.BVer != nil && *r.BVer > 10 {
			return nil, rejectf(CodeSchema, "bver", "SenML record %d: unsupported base version %d", i, *r.BVer)
		}
		if r.BN != "" {
			bn = r.BN
		}
		if r.BT != nil {
			bt = *r.BT
		}
		if r.BU != "" {
			bu = r.BU
		}
		if r.BV != nil {
			bv = *r.BV
		}
		name := bn + r.N
		if name == "" {
			return nil, rejectf(CodeSchema, "n", "SenML record %d has no name", i)
		}
		ts := bt
		if r.T != nil {
			ts += *r.T
		}
		if math.IsNaN(ts) || math.IsInf(ts, 0) {
			return nil, rejectf(CodeBadTimestamp, "t", "SenML record %d: time is not finite", i)
		}
		var at time.Time
		if math.Abs(ts) < senmlRelativeLimit {
			at = now.Add(time.Duration(ts * float64(time.Second)))
		} else {
			sec, frac := math.Modf(ts)
			at = time.Unix(int64(sec), int64(frac*1e9))
		}
		key := at.UnixNano()
		g := groups[key]
		if g == nil {
			g = &rawReport{Index: -1, Raw: b, Time: at}
			groups[key] = g
			order = append(order, key)
		}
		param := paramName(name)
		if p, ok := strings.CutSuffix(param, "_flag"); ok && r.VS != nil {
			if flags[key] == nil {
				flags[key] = map[string]string{}
			}
			flags[key][p] = *r.VS
			continue
		}
		unit := r.U
		if unit == "" {
			unit = bu
		}
		if r.V == nil {
			if r.S != nil {
				continue // a sum without a value carries nothing we store
			}
			g.ValueErrs = append(g.ValueErrs, &Reject{Code: CodeNotNumber, Field: param, Index: -1,
				Reason: fmt.Sprintf("SenML record %d (%q) has no numeric value", i, name)})
			continue
		}
		v := *r.V + bv
		if math.IsNaN(v) || math.IsInf(v, 0) {
			g.ValueErrs = append(g.ValueErrs, &Reject{Code: CodeNonFinite, Field: param, Index: -1,
				Reason: fmt.Sprintf("value of %q is not finite", param)})
			continue
		}
		g.Values = append(g.Values, rawValue{Param: param, Value: v, Unit: senmlUnit(unit)})
	}
	slices.Sort(order)
	out := make([]rawReport, 0, len(order))
	for _, k := range order {
		g := groups[k]
		for i := range g.Values {
			g.Values[i].Flag = flags[k][g.Values[i].Param]
		}
		for p := range flags[k] {
			if !slices.ContainsFunc(g.Values, func(v rawValue) bool { return v.Param == p }) {
				g.ValueErrs = append(g.ValueErrs, &Reject{Code: CodeSchema, Field: p + "_flag", Index: -1,
					Reason: fmt.Sprintf("flag for %q, which has no value", p)})
			}
		}
		if len(g.Values) == 0 && len(g.ValueErrs) == 0 {
			g.Err = rejectf(CodeNoValues, "", "SenML pack has no numeric values")
		}
		out = append(out, *g)
	}
	return out, nil
}

// mustUnderstand refuses records with labels ending in "_" (RFC 8428 §4.4).
func mustUnderstand(raw json.RawMessage, i int) *Reject {
	var m map[string]json.RawMessage
	if json.Unmarshal(raw, &m) != nil {
		return nil
	}
	for k := range m {
		if strings.HasSuffix(k, "_") {
			return rejectf(CodeSchema, k, "SenML record %d has must-understand label %q", i, k)
		}
	}
	return nil
}

func paramName(name string) string {
	if i := strings.LastIndexAny(name, ":/"); i >= 0 {
		return name[i+1:]
	}
	return name
}

// senmlUnit maps SenML registered unit symbols onto the spellings the
// parameter catalogue understands.
func senmlUnit(u string) string {
	switch u {
	case "Cel":
		return "°C"
	case "%RH":
		return "%"
	case "S/m":
		return "S/m"
	case "kg/m3":
		return "kg/m3"
	case "/":
		return "1"
	}
	return u
}

func jsonErr(err error) string {
	var se *json.SyntaxError
	if errors.As(err, &se) {
		return fmt.Sprintf("%s at byte %d", se.Error(), se.Offset)
	}
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		return fmt.Sprintf("field %q has the wrong type (%s, want %s)", te.Field, te.Value, te.Type)
	}
	return err.Error()
}
