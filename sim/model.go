package sim

import (
	"math"
	"math/rand/v2"
	"time"

	"github.com/qingliu/qingliu/domain"
	"github.com/qingliu/qingliu/registry"
)

// utcOffset is China Standard Time (+08:00), in which diurnal cycles,
// reporting alignment and payload timestamps are expressed.
const utcOffset = 8 * 3600

// Model computes simulated readings: a baseline that is a pure function of
// (station, parameter, time, seed), plus the overlays of pollution events and
// stuck sensors. A Model is immutable and safe for concurrent use.
type Model struct {
	seed   uint64
	pulses map[stationParam][]pulse
	stuck  map[stationParam]time.Time
}

type stationParam struct{ station, param string }

// pulse is a pollution event as seen at one station: a trapezoid that starts
// when the front arrives, rises over rise to factor × the source excess, and
// falls back to the baseline at start+duration.
type pulse struct {
	start    time.Time
	rise     time.Duration
	duration time.Duration
	peak     float64 // canonical peak at the source section
	factor   float64 // attenuation at this station: attenuation^hops
}

// NewModel returns a model with the given seed, the pollution events resolved
// along the river by downstream (which may be nil for no propagation), and
// the stuck sensors. Events and stuck sensors are taken as already validated.
func NewModel(seed uint64, events []Event, stuck []Stuck, downstream func(station string) []registry.Hop) *Model {
	m := &Model{seed: seed, pulses: map[stationParam][]pulse{}, stuck: map[stationParam]time.Time{}}
	for _, e := range events {
		p := pulse{start: e.Start, rise: e.Rise, duration: e.Duration, peak: e.Peak, factor: 1}
		if p.rise > p.duration/2 {
			p.rise = p.duration / 2
		}
		k := stationParam{e.Station, e.Param}
		m.pulses[k] = append(m.pulses[k], p)
		if downstream == nil {
			continue
		}
		att := e.Attenuation
		if att == 0 {
			att = DefaultAttenuation
		}
		for i, h := range downstream(e.Station) {
			q := p
			q.start = e.Start.Add(h.ETA)
			q.factor = math.Pow(att, float64(i+1))
			k := stationParam{h.Station, e.Param}
			m.pulses[k] = append(m.pulses[k], q)
		}
	}
	for _, s := range stuck {
		k := stationParam{s.Station, s.Param}
		if old, ok := m.stuck[k]; !ok || s.After.Before(old) {
			m.stuck[k] = s.After
		}
	}
	return m
}

// Value returns the reading of param at station st at simulated time t, in
// the parameter's canonical unit, with events and stuck sensors applied.
func (m *Model) Value(st *registry.Station, param string, t time.Time) float64 {
	if after, ok := m.stuck[stationParam{st.ID, param}]; ok && !t.Before(after) {
		t = lastDue(after, st.Params[param])
	}
	return m.value(st, param, t)
}

func (m *Model) value(st *registry.Station, param string, t time.Time) float64 {
	s := sampleAt(st, param, t, m.seed)
	v := s.draw(noise(m.seed, st.ID, param, t))
	for _, p := range m.pulses[stationParam{st.ID, param}] {
		if f := p.shape(t); f > 0 {
			// The excess is taken over the noise-free baseline, so the
			// source section reads peak ± noise at the plateau.
			v += f * p.factor * (p.peak - s.mean)
		}
	}
	return v
}

// Baseline is the pure value model without events or stuck sensors: the
// reading of param at station st at time t for seed, in the canonical unit.
// Unknown parameters get a steady value near the low end of their catalogue
// range (or near 1 without one).
func Baseline(st *registry.Station, param string, t time.Time, seed uint64) float64 {
	s := sampleAt(st, param, t, seed)
	return s.draw(noise(seed, st.ID, param, t))
}

// shape is the pulse's fraction of its full excess at t, in [0,1].
func (p pulse) shape(t time.Time) float64 {
	d := t.Sub(p.start)
	if d < 0 || d >= p.duration {
		return 0
	}
	switch {
	case p.rise <= 0:
		return 1
	case d < p.rise:
		return float64(d) / float64(p.rise)
	case d > p.duration-p.rise:
		return float64(p.duration-d) / float64(p.rise)
	}
	return 1
}

// lastDue is the last reporting instant of a parameter with interval every at
// or before t.
func lastDue(t time.Time, every time.Duration) time.Time {
	if every <= 0 {
		return t
	}
	local := t.UnixNano() + utcOffset*int64(time.Second)
	r := local % int64(every)
	if r < 0 {
		r += int64(every)
	}
	return t.Add(-time.Duration(r))
}

// sample describes the distribution of one reading.
type sample struct {
	mean, sd float64
	lo, hi   float64 // soft bounds; none when lo >= hi
	wrap     float64 // > 0: the value wraps modulo wrap (wind direction)
	nonNeg   bool
}

// draw returns mean + sd·z, kept inside the soft bounds.
func (s sample) draw(z float64) float64 {
	v := s.mean + s.sd*z
	switch {
	case s.wrap > 0:
		v = math.Mod(v, s.wrap)
		if v < 0 {
			v += s.wrap
		}
		return v
	case s.lo < s.hi:
		v = softLimit(v, s.lo, s.hi)
	}
	if s.nonNeg && v < 0 {
		v = 0
	}
	return v
}

// softLimit keeps v inside [lo,hi]: unchanged in the middle 80 % of the range
// and compressed smoothly (tanh) in the outer 10 % on each side, so values
// near a bound still vary instead of sticking to it.
func softLimit(v, lo, hi float64) float64 {
	m := 0.1 * (hi - lo)
	switch {
	case v > hi-m:
		return hi - m + m*math.Tanh((v-(hi-m))/m)
	case v < lo+m:
		return lo + m - m*math.Tanh((lo+m-v)/m)
	}
	return v
}

// clock holds the cyclic drivers of the model at one instant.
type clock struct {
	hour   float64 // local hour of day, [0,24)
	days   float64 // days since the Unix epoch, local
	season float64 // -1 in late January … +1 in late July (temperature)
	wet    float64 // 0 mid-December … 1 mid-June (flood season)
	autumn float64 // -1 … +1 in early October (the Pearl River delta ozone season)
}

func clockAt(t time.Time) clock {
	local := float64(t.UnixNano())/1e9 + utcOffset
	days := local / 86400
	yf := math.Mod(days, 365.2425) / 365.2425
	return clock{
		hour:   math.Mod(local, 86400) / 3600,
		days:   days,
		season: -math.Cos(2 * math.Pi * (yf - 25.0/365)),
		wet:    0.5 + 0.5*math.Cos(2*math.Pi*(yf-165.0/365)),
		autumn: math.Cos(2 * math.Pi * (yf - 278.0/365)),
	}
}

// diurnal is a daily cosine that is +1 at hour peak and -1 twelve hours later.
func (c clock) diurnal(peak float64) float64 { return math.Cos(2 * math.Pi * (c.hour - peak) / 24) }

// bell is a daily gaussian bump of height 1 centred on hour centre.
func (c clock) bell(centre, width float64) float64 {
	d := math.Mod(c.hour-centre+36, 24) - 12
	return math.Exp(-0.5 * (d / width) * (d / width))
}

// traits are a station's fixed deviations for one parameter: offsets in
// [-1,1] and the phases of its slow "weather" variation.
type traits struct {
	u1, u2     float64
	phi1, phi2 float64
}

func traitsOf(seed uint64, station, param string) traits {
	h := mix(seed ^ fnv(station) ^ mix(fnv(param)))
	var r rand.PCG
	r.Seed(h, mix(h))
	return traits{
		u1: 2*unit(&r) - 1, u2: 2*unit(&r) - 1,
		phi1: 2 * math.Pi * unit(&r), phi2: 2 * math.Pi * unit(&r),
	}
}

// unit draws a float64 uniform in [0,1) from r.
func unit(r *rand.PCG) float64 { return float64(r.Uint64()>>11) / (1 << 53) }

// weather is a slow, smooth variation in [-1,1] over several days.
func (tr traits) weather(c clock) float64 {
	return 0.6*math.Sin(2*math.Pi*c.days/3.7+tr.phi1) + 0.4*math.Sin(2*math.Pi*c.days/9.3+tr.phi2)
}

// noise is the standard normal draw for (seed, station, param, t): a PCG
// seeded from them, through the Box–Muller transform. It allocates nothing,
// which matters at hundreds of thousands of readings per second.
func noise(seed uint64, station, param string, t time.Time) float64 {
	h := mix(seed ^ fnv(station) ^ mix(fnv(param)))
	var r rand.PCG
	r.Seed(h, mix(uint64(t.UnixNano())^h))
	u1 := 1 - unit(&r) // (0,1]: the logarithm stays finite
	return math.Sqrt(-2*math.Log(u1)) * math.Cos(2*math.Pi*unit(&r))
}

func sampleAt(st *registry.Station, param string, t time.Time, seed uint64) sample {
	c := clockAt(t)
	tr := traitsOf(seed, st.ID, param)
	if s, ok := shape(st, param, c, tr, seed); ok {
		return s
	}
	// Unknown to the model: a steady value near the low end of the range.
	if p, ok := lookupParam(param); ok && p.Max > p.Min {
		base := p.Min + 0.05*(p.Max-p.Min)*(1+0.3*tr.u1)
		return sample{mean: base, sd: 0.02 * base, lo: p.Min, hi: p.Max}
	}
	return sample{mean: 1 + 0.2*tr.u1, sd: 0.02, nonNeg: true}
}

// shape is the distribution of one known parameter: baselines for a class
// II–III river and the air of the Pearl River delta's northern edge.
func shape(st *registry.Station, param string, c clock, tr traits, seed uint64) (sample, bool) {
	u, u2, w := tr.u1, tr.u2, tr.weather(c)
	if st.Medium == domain.Air {
		return airShape(st, param, c, tr, seed)
	}
	switch param {
	case "temp":
		return sample{mean: 24 + 4.5*c.season + 0.5*c.diurnal(15) + 0.5*u + 0.3*w, sd: 0.08, lo: 18, hi: 30}, true
	case "ph":
		// Photosynthesis draws down CO2 in daylight: pH peaks late afternoon.
		return sample{mean: 7.3 + 0.12*c.diurnal(16) + 0.15*u + 0.08*w, sd: 0.02, lo: 6.8, hi: 7.8}, true
	case "do":
		// Saturation falls with temperature; photosynthesis lifts DO in the
		// afternoon and respiration lowers it before dawn.
		ts, _ := shape(st, "temp", c, traitsOf(seed, st.ID, "temp"), seed)
		f := 0.88 + 0.06*c.diurnal(15) + 0.02*u + 0.015*w
		return sample{mean: doSaturation(ts.mean) * f, sd: 0.05, lo: 6, hi: 9}, true
	case "cond":
		// Flood-season runoff dilutes.
		return sample{mean: 225 - 30*c.wet + 35*u + 12*w, sd: 2, lo: 150, hi: 300}, true
	case "turb":
		m := 9 + 14*c.wet + 6*math.Max(0, w)*(1+c.wet) + 3*u
		return sample{mean: m, sd: 0.05 * m, lo: 5, hi: 40}, true
	case "codmn":
		return sample{mean: 2.4 + 0.4*c.wet + 0.4*u + 0.2*w + 0.1*c.diurnal(10), sd: 0.06, lo: 1.5, hi: 4}, true
	case "cod":
		return sample{mean: 11 + 2*c.wet + 2*u + w, sd: 0.3, lo: 6, hi: 20}, true
	case "bod5":
		return sample{mean: 2 + 0.3*c.wet + 0.4*u + 0.2*w, sd: 0.08, lo: 1, hi: 4}, true
	case "nh3n":
		// Less dilution in the dry season; a morning sewage peak.
		return sample{mean: 0.26 + 0.06*(1-c.wet) + 0.07*u + 0.03*w + 0.03*c.diurnal(9), sd: 0.012, lo: 0.1, hi: 0.5}, true
	case "tp":
		return sample{mean: 0.075 + 0.02*c.wet + 0.02*u + 0.01*w, sd: 0.004, lo: 0.03, hi: 0.15}, true
	case "tn":
		return sample{mean: 1.25 + 0.1*(1-c.wet) + 0.2*u + 0.1*w, sd: 0.03, lo: 0.8, hi: 1.8}, true
	case "chla":
		return sample{mean: 5 + 3*c.season + 1.5*c.diurnal(15) + 1.5*u + u2, sd: 0.3, lo: 1, hi: 20}, true
	}
	if typ, ok := traceTypical(param); ok {
		m := typ * (1 + 0.3*u + 0.15*w)
		return sample{mean: m, sd: 0.08 * m, lo: 0.2 * typ, hi: 3 * typ}, true
	}
	return sample{}, false
}

func airShape(st *registry.Station, param string, c clock, tr traits, seed uint64) (sample, bool) {
	u, u2, w := tr.u1, tr.u2, tr.weather(c)
	switch param {
	case "pm25":
		// Winter stagnation; morning and evening traffic and cooking peaks.
		m := (30 + 5*u) * (1 - 0.25*c.season) * (1 + 0.2*w) * (0.85 + 0.25*c.bell(8, 1.5) + 0.3*c.bell(20.5, 2))
		return sample{mean: m, sd: 1.5, lo: 15, hi: 60}, true
	case "pm10":
		p, _ := airShape(st, "pm25", c, traitsOf(seed, st.ID, "pm25"), seed)
		return sample{mean: p.mean * (1.6 + 0.1*u), sd: 2, lo: 24, hi: 100}, true
	case "o3":
		a := (80 + 10*u) * (0.85 + 0.15*c.autumn) * (1 + 0.15*w)
		return sample{mean: 50 + 4*u2 + a*c.bell(15, 3), sd: 3, lo: 40, hi: 160}, true
	case "no2":
		m := (20+3*u)*(1-0.2*c.season) + 22*c.bell(8.5, 1.3) + 25*c.bell(18.5, 1.8)
		return sample{mean: m * (1 + 0.15*w), sd: 1.5, lo: 15, hi: 60}, true
	case "so2":
		return sample{mean: 9 + 2*u + 1.5*c.bell(11, 3) + w, sd: 0.5, lo: 5, hi: 15}, true
	case "co":
		m := (0.75+0.1*u)*(1-0.1*c.season) + 0.15*c.bell(8.5, 1.5) + 0.15*c.bell(19, 2) + 0.05*w
		return sample{mean: m, sd: 0.03, lo: 0.5, hi: 1.2}, true
	case "air_temp", "temp":
		return sample{mean: 22 + 7*c.season + 4*c.diurnal(14.5) + u + 2*w, sd: 0.2, lo: 2, hi: 39}, true
	case "rh":
		return sample{mean: 76 + 5*c.wet - 12*c.diurnal(14.5) + 3*u + 5*w, sd: 1.5, lo: 30, hi: 100}, true
	case "wind_speed":
		m := 2 + 0.8*c.diurnal(14) + w + 0.5*u
		return sample{mean: m, sd: 0.15 * math.Abs(m), lo: 0.1, hi: 10}, true
	case "wind_dir":
		// North-east monsoon in winter, southerly in summer.
		return sample{mean: 105 - 75*c.season + 40*w + 10*u, sd: 25, wrap: 360}, true
	case "pressure":
		// kPa: winter highs and the semi-diurnal atmospheric tide.
		return sample{mean: 101.0 - 0.8*c.season + 0.12*math.Cos(4*math.Pi*(c.hour-10)/24) + 0.3*w + 0.1*u,
			sd: 0.02, lo: 98.5, hi: 103.5}, true
	}
	return sample{}, false
}

// traceTypical returns a typical concentration (mg/L; fcoli 个/L) of the
// GB 3838 items beyond the nine standard ones, well inside class II.
func traceTypical(param string) (float64, bool) {
	switch param {
	case "cu":
		return 0.004, true
	case "zn":
		return 0.02, true
	case "f":
		return 0.25, true
	case "se":
		return 0.0008, true
	case "as":
		return 0.002, true
	case "hg":
		return 0.00002, true
	case "cd":
		return 0.0002, true
	case "cr6":
		return 0.004, true
	case "pb":
		return 0.002, true
	case "cn":
		return 0.002, true
	case "phenol":
		return 0.0008, true
	case "oil":
		return 0.02, true
	case "las":
		return 0.05, true
	case "sulfide":
		return 0.01, true
	case "fcoli":
		return 1500, true
	}
	return 0, false
}

// doSaturation is the dissolved-oxygen saturation (mg/L) of fresh water at
// temperature tc (°C) at sea level.
func doSaturation(tc float64) float64 {
	return 14.62 - 0.3898*tc + 0.006969*tc*tc - 0.00005897*tc*tc*tc
}

// fnv is the 64-bit FNV-1a hash of s.
func fnv(s string) uint64 {
	h := uint64(14695981039346656037)
	for i := 0; i < len(s); i++ {
		h ^= uint64(s[i])
		h *= 1099511628211
	}
	return h
}

// mix is the splitmix64 finaliser.
func mix(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9
	x = (x ^ (x >> 27)) * 0x94d049bb133111eb
	return x ^ (x >> 31)
}
