package sim

import (
	"slices"
	"strconv"
	"time"

	"github.com/qingliu/qingliu/domain"
	"github.com/qingliu/qingliu/internal/bus"
	"github.com/qingliu/qingliu/registry"
)

// cst is China Standard Time, the zone of payload timestamps. It is never
// modified.
var cst = time.FixedZone("CST", utcOffset)

// Topic returns the MQTT topic of a station's JSON payloads (DESIGN §3.1).
func Topic(station string) string { return "qingliu/v1/" + station + "/json" }

// Payload returns the JSON payload v1 of station st reporting params at t
// with sequence number seq, the values from the baseline model with seed 0,
// each sent in the unit the station's devices use.
func Payload(st *registry.Station, params []string, t time.Time, seq int64) []byte {
	return NewModel(0, nil, nil, nil).Payload(st, params, t, seq)
}

// Payload returns the JSON payload v1 of station st reporting params at t
// with sequence number seq, the values from m, each sent in the unit the
// station's devices use.
func (m *Model) Payload(st *registry.Station, params []string, t time.Time, seq int64) []byte {
	return encode(t, seq, m.fields(st, params, t))
}

// field is one entry of "values": the key and the raw JSON value.
type field struct {
	key string
	raw string
}

// fields returns the formatted values of params sorted by key.
func (m *Model) fields(st *registry.Station, params []string, t time.Time) []field {
	fs := make([]field, 0, len(params))
	for _, p := range params {
		fs = append(fs, field{p, formatValue(st, p, m.Value(st, p, t))})
	}
	slices.SortFunc(fs, func(a, b field) int {
		switch {
		case a.key < b.key:
			return -1
		case a.key > b.key:
			return 1
		}
		return 0
	})
	return fs
}

// deviceValue converts canonical value v of param to the unit station st's
// devices send it in; ok is false when the conversion is not possible.
func deviceValue(st *registry.Station, param string, v float64) (float64, bool, error) {
	to, ok := st.Units[param]
	if !ok || to == "" {
		return v, false, nil
	}
	p, ok := lookupParam(param)
	if !ok || p.Unit == to {
		return v, false, nil
	}
	out, err := convertUnit(v, p.Unit, to)
	if err != nil {
		return v, false, err
	}
	return out, true, nil
}

// formatValue renders canonical value v of param in the station's device
// unit with a resolution typical of the instrument.
func formatValue(st *registry.Station, param string, v float64) string {
	dv, converted, err := deviceValue(st, param, v)
	if err != nil || converted {
		// A converted value has no natural resolution: four significant digits.
		return strconv.FormatFloat(dv, 'g', 4, 64)
	}
	if d, ok := decimals(st, param); ok {
		return strconv.FormatFloat(v, 'f', d, 64)
	}
	return strconv.FormatFloat(v, 'g', 4, 64)
}

// decimals is the number of decimals a station reports param with, in the
// canonical unit.
func decimals(st *registry.Station, param string) (int, bool) {
	switch param {
	case "temp":
		if st.Medium == domain.Air {
			return 1, true
		}
		return 2, true
	case "ph", "do", "codmn", "tn", "bod5", "co":
		return 2, true
	case "cond", "turb", "cod", "chla", "pm25", "pm10", "o3", "no2", "so2", "air_temp", "rh", "wind_speed":
		return 1, true
	case "nh3n", "tp":
		return 3, true
	case "wind_dir":
		return 0, true
	case "pressure":
		return 2, true
	}
	return 0, false
}

// encode writes {"ts":…,"seq":…,"values":{…}}.
func encode(t time.Time, seq int64, fs []field) []byte {
	b := make([]byte, 0, 64+24*len(fs))
	b = append(b, `{"ts":"`...)
	b = t.In(cst).AppendFormat(b, time.RFC3339Nano)
	b = append(b, `","seq":`...)
	b = strconv.AppendInt(b, seq, 10)
	b = append(b, `,"values":{`...)
	for i, f := range fs {
		if i > 0 {
			b = append(b, ',')
		}
		b = bus.AppendString(b, f.key)
		b = append(b, ':')
		b = append(b, f.raw...)
	}
	return append(b, "}}"...)
}
