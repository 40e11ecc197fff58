// Package registry is the station registry of DESIGN §7 (configs/stations.yaml)
// compiled into immutable runtime types, and the catalogue of canonical
// parameters with their units and HJ 212 codes.
package registry

import (
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
	// Lake selects the lake/reservoir total-phosphorus column of GB 3838.
	Lake bool
	// DrinkingSource is true for sections that are, or feed, a drinking-water intake.
	DrinkingSource bool
	// Params lists the canonical parameters the station reports, with the
	// expected reporting interval of each.
	Params map[string]time.Duration
	// Units maps a canonical parameter to the unit this station's devices send
	// it in, where that differs from the canonical unit (converted on ingest).
	Units map[string]string
	// HJ212 is the datalogger identity for HJ 212, if the station has one.
	HJ212 *HJ212Identity
	// Labels are free key/values for rule selectors (never InfluxDB tags).
	Labels map[string]string
	// Note records what is unconfirmed about this station.
	Note string
}

// HJ212Identity is a datalogger's MN and access password. Password is a
// secret: it never appears in logs or errors.
type HJ212Identity struct {
	MN       string
	Password string
	// CRCMode is "standard" (HJ 212 Appendix A) or "lenient" (also accept
	// CRC-16/MODBUS written low byte first, as some field devices send).
	CRCMode string
}

// Interval returns the expected reporting interval of parameter p, or 0 when
// the station does not report p.
func (s *Station) Interval(p string) time.Duration { return s.Params[p] }

// River is an ordered chain of sections from upstream to downstream.
type River struct {
	Name  string // 北江
	Basin string
	// CrossBorder is true for rivers that cross the Guangzhou–Qingyuan border.
	CrossBorder bool
	Sections    []Section
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
}

// Hop is a downstream section reached from a start section.
type Hop struct {
	Station string
	River   string
	ETA     time.Duration // cumulative travel time from the start section
	Intake  bool
}
