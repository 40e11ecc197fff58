package hj212

import "reflect"

// packetsEqual compares two packets field by field; times by instant.
func packetsEqual(a, b Packet) bool {
	if a.QN != b.QN || a.ST != b.ST || a.CN != b.CN || a.PW != b.PW || a.MN != b.MN ||
		a.Flag != b.Flag || a.HasFlag != b.HasFlag || a.PNUM != b.PNUM || a.PNO != b.PNO ||
		!a.DataTime.Equal(b.DataTime) || a.Raw != b.Raw {
		return false
	}
	if len(a.CP.Fields) != len(b.CP.Fields) || len(a.CP.Values) != len(b.CP.Values) {
		return false
	}
	for i := range a.CP.Fields {
		if a.CP.Fields[i] != b.CP.Fields[i] {
			return false
		}
	}
	for i := range a.CP.Values {
		va, vb := a.CP.Values[i], b.CP.Values[i]
		if va.Code != vb.Code || va.Flag != vb.Flag || va.EFlag != vb.EFlag || !va.SampleTime.Equal(vb.SampleTime) ||
			va.has != vb.has || va.num != vb.num || len(va.Extra) != len(vb.Extra) ||
			len(va.Extra) > 0 && !reflect.DeepEqual(va.Extra, vb.Extra) {
			return false
		}
	}
	return true
}
