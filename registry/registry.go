// Package registry is the station registry of DESIGN §7 (configs/stations.yaml)
// compiled into immutable runtime types, and the catalogue of canonical
// parameters with their units and HJ 212 codes.
package registry

import (
	"cmp"
	"fmt"
	"log/slog"
	"slices"
	"time"

	"github.com/qingliu/qingliu/domain"
)

// Station kinds (site_kind tag values).
const (
	KindNational       = "national"        // 国考断面
	KindProvincial     = "provincial"      // 省考断面
	KindBoundary       = "boundary"        // 交界断面
	KindDrinkingSource = "drinking_source" // 集中式饮用水水源
	KindMunicipal      = "municipal"       // 市控断面 / other surface section
	KindAirStation     = "air_station"     // 空气质量监测站
)

// Station is one monitoring station (a water section or an air station).
type Station struct {
	ID       string        // matches [A-Za-z0-9_-]{1,64}; the MQTT topic segment
	Name     string        // Chinese name, e.g. 七星岗
	Medium   domain.Medium // water or air
	Kind     string        // one of the Kind constants
	River    string        // water: river name (北江, 潖江 …); empty for air
	Basin    string        // e.g. 北江 / 珠江
	City     string        // 广州 or 清远 (or 韶关 for the upstream boundary)
	District string        // e.g. 清城区
	Lat, Lon float64
	// CoordsApprox is true where the coordinates are an estimate, not a source.
	CoordsApprox bool
	// TargetClass is the GB 3838 target class 1..5 for water sections, 0 for air.
	TargetClass int
	// Lake marks a lake or reservoir (湖、库): GB 3838 then uses its own
	// total-phosphorus column, and total nitrogen has class limits.
	Lake bool
	// DrinkingSource is true for sections that are, or feed, a drinking-water intake.
	DrinkingSource bool
	// ClassItems changes the items of the section's GB 3838 evaluation from
	// the standard's default set; zero means the default.
	ClassItems ClassItems
	// Params lists the canonical parameters the station reports, with the
	// expected reporting interval of each.
	Params map[string]time.Duration
	// Units maps a canonical parameter to the unit this station's devices send
	// it in, where that differs from the canonical unit (converted on ingest).
	Units map[string]string
	// HJ212 is the datalogger identity for HJ 212, if the station has one.
	HJ212 *HJ212Identity
	// Devices are the station's identities on NB-IoT platforms.
	Devices []Device
	// MQTT is the station's login on the MQTT broker, if it has one. With
	// it the station may publish under qingliu/v1/<ID>/ and nowhere else.
	MQTT *MQTTCredential
	// CoAP is the station's DTLS pre-shared key, if it has one. A device
	// that completes the DTLS handshake with it (PSK identity = ID) may post
	// to /qingliu/v1/<ID> and nowhere else.
	CoAP *CoAPCredential
	// Labels are free key/values for rule selectors (never InfluxDB tags).
	Labels map[string]string
	// Note records what is unconfirmed about this station.
	Note string
}

// ClassItems is a section's change to the items of its GB 3838
// single-factor evaluation: the canonical parameter keys to add to the
// standard's default set and to exclude from it.
type ClassItems struct {
	Add, Exclude []string
}

// IsZero reports whether the section uses the standard's default set.
func (c ClassItems) IsZero() bool { return len(c.Add) == 0 && len(c.Exclude) == 0 }

// HJ212Identity is a datalogger's MN and access password. Password is a
// secret: it never appears in logs or errors.
type HJ212Identity struct {
	MN       string
	Password string
	// CRCMode is "standard" (HJ 212 Appendix A) or "lenient" (also accept
	// CRC-16/MODBUS written low byte first, as some field devices send).
	CRCMode string
}

// NB-IoT platforms of Device.
const (
	PlatformCTWing = "ctwing" // China Telecom CTWing (天翼物联 AIoT)
	PlatformOneNET = "onenet" // China Mobile OneNET
)

// Device is a station's identity on an NB-IoT platform: the id the
// platform's pushes carry (CTWing IMEI or deviceId; OneNET dev_id or
// productId/deviceName). It is not a secret: the platform's push is
// authenticated by the push endpoint's token or signature.
type Device struct {
	Platform string
	ID       string
}

// String describes the identity without its password, so that %v and %+v
// never print the secret.
func (h HJ212Identity) String() string {
	return fmt.Sprintf("{MN:%s Password:[redacted] CRCMode:%s}", h.MN, h.CRCMode)
}

// GoString is String for %#v.
func (h HJ212Identity) GoString() string { return h.String() }

// LogValue keeps the password out of slog output.
func (h HJ212Identity) LogValue() slog.Value {
	return slog.GroupValue(slog.String("mn", h.MN), slog.String("crc_mode", h.CRCMode))
}

// MQTTCredential is a station's MQTT user name with either the bcrypt hash
// of its password (password_hash) or the password itself (password_file or
// ${ENV}). Password is a secret: it never appears in logs or errors.
type MQTTCredential struct {
	Username string
	// PasswordHash is a bcrypt hash ($2a$, $2b$ or $2y$); empty when
	// Password is set.
	PasswordHash string
	// Password is the plain password; empty when PasswordHash is set.
	Password string
}

// String describes the credential without its password or hash.
func (m MQTTCredential) String() string {
	return fmt.Sprintf("{Username:%s Password:[redacted]}", m.Username)
}

// GoString is String for %#v.
func (m MQTTCredential) GoString() string { return m.String() }

// LogValue keeps the password and its hash out of slog output.
func (m MQTTCredential) LogValue() slog.Value {
	return slog.GroupValue(slog.String("username", m.Username))
}

// CoAPCredential is a station's DTLS pre-shared key (16 to 64 bytes). PSK
// is a secret: it never appears in logs or errors.
type CoAPCredential struct {
	PSK []byte
}

// String describes the credential without its key.
func (c CoAPCredential) String() string { return "{PSK:[redacted]}" }

// GoString is String for %#v.
func (c CoAPCredential) GoString() string { return c.String() }

// LogValue keeps the key out of slog output.
func (c CoAPCredential) LogValue() slog.Value { return slog.StringValue("[redacted]") }

// CoAPKeys returns the DTLS PSK of every station that has one, by station
// id (the PSK identity).
func (r *Registry) CoAPKeys() map[string][]byte {
	keys := map[string][]byte{}
	for _, st := range r.Stations() {
		if st.CoAP != nil {
			keys[st.ID] = st.CoAP.PSK
		}
	}
	return keys
}

// Interval returns the expected reporting interval of parameter p, or 0 when
// the station does not report p.
func (s *Station) Interval(p string) time.Duration { return s.Params[p] }

// Reports reports whether the station is configured to report parameter p.
func (s *Station) Reports(p string) bool {
	_, ok := s.Params[p]
	return ok
}

// DeviceUnit returns the unit in which the station's devices send p over
// JSON, SenML, NB-IoT push or CoAP: the station's override, else the
// canonical unit. It is empty for a parameter unknown to the catalogue.
func (s *Station) DeviceUnit(p string) string {
	if u, ok := s.Units[p]; ok {
		return u
	}
	if cp, ok := paramRef(p); ok {
		return cp.Unit
	}
	return ""
}

// HJ212Unit returns the unit in which p arrives in this station's HJ 212
// frames: the station's override wins, else the HJ 212 default unit of the
// code (mg/m³ for SO2 and NO2, µg/L for most metals), else the canonical
// unit. It is empty for a parameter unknown to the catalogue.
func (s *Station) HJ212Unit(p string) string {
	if u, ok := s.Units[p]; ok {
		return u
	}
	cp, ok := paramRef(p)
	switch {
	case !ok:
		return ""
	case cp.HJ212Unit != "":
		return cp.HJ212Unit
	}
	return cp.Unit
}

// River is an ordered chain of sections from upstream to downstream.
type River struct {
	Name  string // 北江
	Basin string
	// CrossBorder is true for rivers that cross the Guangzhou–Qingyuan border.
	CrossBorder bool
	Sections    []Section
	// Note records what is unconfirmed about the chain.
	Note string
}

// Section is one station on a river chain.
type Section struct {
	Station string
	// TravelToNext is the travel time to the next section downstream; zero for
	// the last section.
	TravelToNext time.Duration
	// Intake is true where this section feeds a drinking-water intake (e.g. the
	// 广州北江引水工程).
	Intake bool
	// JoinsRiver/JoinsAt: for the last section of a tributary, where it flows
	// into another river (by river name and the downstream section it reaches),
	// with JoinTravel the travel time to that section.
	JoinsRiver string
	JoinsAt    string
	JoinTravel time.Duration
	// Note records what is unconfirmed about this section's place in the chain.
	Note string
}

// Hop is a downstream section reached from a start section.
type Hop struct {
	Station string
	River   string
	ETA     time.Duration // cumulative travel time from the start section
	Intake  bool
}

// Registry is the compiled station registry. It is immutable and safe for
// concurrent use. The *Station and *River values it returns are shared:
// callers must not modify them or the maps and slices inside them.
type Registry struct {
	stations   []*Station // sorted by ID
	byID       map[string]*Station
	byMN       map[string]*Station
	byDevice   map[Device]*Station
	rivers     []*River
	riverOf    map[string]chainPos
	downstream map[string][]Hop
}

type chainPos struct {
	river   *River
	section int
}

func newRegistry(byID map[string]*Station, rivers []*River) *Registry {
	r := &Registry{
		byID:       byID,
		byMN:       make(map[string]*Station),
		byDevice:   make(map[Device]*Station),
		rivers:     rivers,
		riverOf:    make(map[string]chainPos),
		downstream: make(map[string][]Hop),
	}
	for _, st := range byID {
		r.stations = append(r.stations, st)
		if st.HJ212 != nil {
			r.byMN[st.HJ212.MN] = st
		}
		for _, d := range st.Devices {
			r.byDevice[d] = st
		}
	}
	slices.SortFunc(r.stations, func(a, b *Station) int { return cmp.Compare(a.ID, b.ID) })
	byName := make(map[string]*River, len(rivers))
	for _, rv := range rivers {
		byName[rv.Name] = rv
		for i, s := range rv.Sections {
			r.riverOf[s.Station] = chainPos{rv, i}
		}
	}
	for id := range r.riverOf {
		r.downstream[id] = walkDownstream(r.riverOf[id], r.riverOf, byName)
	}
	return r
}

// walkDownstream lists the sections below start: the rest of its chain, then
// through each confluence into the receiving river from the section joined.
// Compile has rejected cycles; the visited set only guards the walk.
func walkDownstream(start chainPos, pos map[string]chainPos, byName map[string]*River) []Hop {
	var hops []Hop
	var eta time.Duration
	rv, i := start.river, start.section
	visited := map[*River]bool{}
	for !visited[rv] {
		visited[rv] = true
		for ; i < len(rv.Sections)-1; i++ {
			eta += rv.Sections[i].TravelToNext
			next := rv.Sections[i+1]
			hops = append(hops, Hop{Station: next.Station, River: rv.Name, ETA: eta, Intake: next.Intake})
		}
		last := rv.Sections[len(rv.Sections)-1]
		into, ok := byName[last.JoinsRiver]
		if last.JoinsRiver == "" || !ok {
			break
		}
		at, ok := pos[last.JoinsAt]
		if !ok || at.river != into {
			break
		}
		eta += last.JoinTravel
		joined := into.Sections[at.section]
		hops = append(hops, Hop{Station: joined.Station, River: into.Name, ETA: eta, Intake: joined.Intake})
		rv, i = into, at.section
	}
	return hops
}

// Station returns the station with the given id.
func (r *Registry) Station(id string) (*Station, bool) {
	st, ok := r.byID[id]
	return st, ok
}

// Stations returns every station sorted by ID. The slice is the caller's.
func (r *Registry) Stations() []*Station { return slices.Clone(r.stations) }

// ByMN returns the station whose HJ 212 datalogger has the given MN.
func (r *Registry) ByMN(mn string) (*Station, bool) {
	st, ok := r.byMN[mn]
	return st, ok
}

// ByDevice returns the station whose NB-IoT platform identity is id on
// platform (PlatformCTWing, PlatformOneNET).
func (r *Registry) ByDevice(platform, id string) (*Station, bool) {
	st, ok := r.byDevice[Device{Platform: platform, ID: id}]
	return st, ok
}

// Rivers returns the river chains in file order. The slice is the caller's.
func (r *Registry) Rivers() []*River { return slices.Clone(r.rivers) }

// RiverOf returns the chain a water station is on and its index in
// River.Sections; ok is false for stations on no chain.
func (r *Registry) RiverOf(station string) (river *River, index int, ok bool) {
	p, ok := r.riverOf[station]
	if !ok {
		return nil, 0, false
	}
	return p.river, p.section, true
}

// Downstream returns the sections downstream of station in flow order, with
// the cumulative travel time from station, following confluences into the
// receiving river (a tributary's hops continue down the main river). It is
// empty for the last section of a main river and for stations on no chain.
// The slice is the caller's.
func (r *Registry) Downstream(station string) []Hop {
	return slices.Clone(r.downstream[station])
}
