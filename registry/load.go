package registry

import (
	"encoding/hex"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/qingliu/qingliu/domain"
	"github.com/qingliu/qingliu/internal/conf"
)

// Config is the YAML shape of configs/stations.yaml. Compile validates it and
// builds the immutable Registry.
type Config struct {
	Stations []StationConfig `yaml:"stations"`
	Rivers   []RiverConfig   `yaml:"rivers"`
}

// StationConfig is one entry of stations:.
type StationConfig struct {
	ID       string   `yaml:"id"`
	Name     string   `yaml:"name"`
	Medium   string   `yaml:"medium"`
	Kind     string   `yaml:"kind"`
	River    string   `yaml:"river"`
	Basin    string   `yaml:"basin"`
	City     string   `yaml:"city"`
	District string   `yaml:"district"`
	Lat      *float64 `yaml:"lat"`
	Lon      *float64 `yaml:"lon"`
	// CoordsApprox marks estimated coordinates.
	CoordsApprox bool `yaml:"coords_approx"`
	// TargetClass is the GB 3838 target class: 1..5 or I..V.
	TargetClass    string `yaml:"target_class"`
	Lake           bool   `yaml:"lake"`
	DrinkingSource bool   `yaml:"drinking_source"`
	// ClassItems changes the items of the section's GB 3838 single-factor
	// evaluation from the standard's default set (water stations only).
	ClassItems *ClassItemsConfig `yaml:"class_items"`
	// Params maps a canonical parameter key to its expected reporting
	// interval, a Go duration such as 1h, 4h or 5m.
	Params map[string]string `yaml:"params"`
	// Units maps a canonical parameter key to the unit the station's devices
	// send it in.
	Units map[string]string `yaml:"units"`
	HJ212 *HJ212Config      `yaml:"hj212"`
	// Devices are the station's identities on NB-IoT platforms whose HTTP
	// pushes Qingliu accepts.
	Devices []DeviceConfig    `yaml:"devices"`
	MQTT    *MQTTConfig       `yaml:"mqtt"`
	CoAP    *CoAPConfig       `yaml:"coap"`
	Labels  map[string]string `yaml:"labels"`
	Note    string            `yaml:"note"`
}

// ClassItemsConfig is a section's change to the GB 3838 items its water class
// is evaluated over (the 21 items of 环办[2011]22号 by default): items to add
// (a lake or reservoir that also evaluates tn) and items to exclude. The
// rules compiler checks them against the water-class table.
type ClassItemsConfig struct {
	Add     []string `yaml:"add"`
	Exclude []string `yaml:"exclude"`
}

// DeviceConfig is one NB-IoT platform identity of a station: the platform
// (ctwing or onenet) and the id the platform's pushes carry. For CTWing that
// is the IMEI or the platform deviceId; for OneNET the legacy numeric dev_id
// or, for the current platform, productId/deviceName.
type DeviceConfig struct {
	Platform string `yaml:"platform"`
	ID       string `yaml:"id"`
}

// HJ212Config is a station's HJ 212 datalogger identity. Exactly one of
// Password and PasswordFile is set; Password may be a ${ENV} reference.
type HJ212Config struct {
	MN       string `yaml:"mn"`
	Password string `yaml:"password"`
	// PasswordFile is read at load; a relative path is relative to the
	// directory of stations.yaml.
	PasswordFile string `yaml:"password_file"`
	// CRCMode is standard (the default) or lenient.
	CRCMode string `yaml:"crc_mode"`
}

// MQTTConfig is a station's login on the MQTT broker. Exactly one of
// PasswordHash, PasswordFile and Password is set.
type MQTTConfig struct {
	// Username defaults to the station id.
	Username string `yaml:"username"`
	// PasswordHash is a bcrypt hash ($2a$…): the broker checks logins
	// against it and never needs the password. `qingliu gen credentials
	// --station <id> --new` prints a fresh password and its hash.
	PasswordHash string `yaml:"password_hash"`
	// PasswordFile holds the plain password; a relative path is relative to
	// the directory of stations.yaml.
	PasswordFile string `yaml:"password_file"`
	// Password must be a ${ENV} reference: literal passwords do not belong
	// in this file (give password_hash instead).
	Password string `yaml:"password"`
}

// CoAPConfig is a station's DTLS pre-shared key for CoAP over DTLS (RFC
// 7925 PSK mode): the device's PSK identity is the station id. Exactly one
// of PSK and PSKFile is set. The key is written in hex (32 to 128 hex
// digits, 16 to 64 bytes), as datalogger and NB-IoT module vendors
// configure it (Leshan, Wakaama, Quectel AT commands take PSKs as hex).
type CoAPConfig struct {
	// PSK is the key in hex, or a ${ENV} reference to it. A literal key is
	// for development stations only.
	PSK string `yaml:"psk"`
	// PSKFile holds the key in hex; a relative path is relative to the
	// directory of stations.yaml.
	PSKFile string `yaml:"psk_file"`
}

// RiverConfig is one entry of rivers: an ordered chain, upstream first.
type RiverConfig struct {
	Name        string          `yaml:"name"`
	Basin       string          `yaml:"basin"`
	CrossBorder bool            `yaml:"cross_border"`
	Sections    []SectionConfig `yaml:"sections"`
	Note        string          `yaml:"note"`
}

// SectionConfig is one section of a river chain.
type SectionConfig struct {
	Station string `yaml:"station"`
	// TravelToNext is required for every section but the last, and must be
	// absent on the last.
	TravelToNext string `yaml:"travel_to_next"`
	Intake       bool   `yaml:"intake"`
	// Joins is allowed on the last section only.
	Joins *JoinConfig `yaml:"joins"`
	Note  string      `yaml:"note"`
}

// JoinConfig says where a tributary's last section flows into another river.
type JoinConfig struct {
	River  string `yaml:"river"`  // name of the receiving river
	At     string `yaml:"at"`     // station id of the first section reached on it
	Travel string `yaml:"travel"` // travel time to that section
}

// Load reads, validates and compiles a stations file. Unknown keys are errors.
// Passwords given as ${ENV} or password_file are resolved here. Every error
// is a *conf.Error listing all problems found, each with file and path.
func Load(file string) (*Registry, error) {
	var c Config
	if err := conf.LoadStrict(file, &c); err != nil {
		return nil, err
	}
	return c.Compile(file, os.LookupEnv)
}

// Validate reports every problem in c as a *conf.Error naming file, or nil.
// lookupEnv resolves ${ENV} password references (os.LookupEnv in production).
func (c *Config) Validate(file string, lookupEnv func(string) (string, bool)) error {
	_, err := c.Compile(file, lookupEnv)
	return err
}

// Compile validates c and builds the immutable Registry. file names the
// source in problems and anchors relative password_file paths; lookupEnv
// resolves ${ENV} password references (nil means os.LookupEnv). The Registry
// shares no memory with c.
func (c *Config) Compile(file string, lookupEnv func(string) (string, bool)) (*Registry, error) {
	if lookupEnv == nil {
		lookupEnv = os.LookupEnv
	}
	b := builder{
		file:      file,
		lookupEnv: lookupEnv,
		ps:        conf.Problems{File: file},
		ids:       map[string]int{},
		mns:       map[string]int{},
		devIDs:    map[Device]string{},
		users:     map[string]int{},
		psks:      map[string]int{},
		byID:      map[string]*Station{},
	}
	if len(c.Stations) == 0 {
		b.ps.Addf("stations", "at least one station is required")
	}
	for i := range c.Stations {
		b.station(i, &c.Stations[i])
	}
	rivers := b.rivers(c.Rivers)
	if err := b.ps.Err(); err != nil {
		return nil, err
	}
	return newRegistry(b.byID, rivers), nil
}

var (
	reID       = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)
	reMN       = regexp.MustCompile(`^[A-Za-z0-9_-]{1,24}$`)
	reEnvRef   = regexp.MustCompile(`^\$\{([A-Za-z_][A-Za-z0-9_]*)\}$`)
	reLabelKey = regexp.MustCompile(`^[a-z][a-z0-9_]{0,62}$`)
	reDeviceID = regexp.MustCompile(`^[A-Za-z0-9_.:/-]{1,128}$`)
	reMQTTUser = regexp.MustCompile(`^[A-Za-z0-9_.@-]{1,64}$`)
	// reBcrypt is the modular crypt format of bcrypt: version, cost 04..31,
	// 22 characters of salt and 31 of hash.
	reBcrypt = regexp.MustCompile(`^\$2[aby]\$(0[4-9]|[12][0-9]|3[01])\$[./A-Za-z0-9]{53}$`)
)

// Bounds of a CoAP PSK in bytes: RFC 7925 §4.2 wants keys of high entropy,
// 16 bytes (128 bits) for the AES-128 suites; RFC 4279 §5.3 asks
// implementations to support keys up to 64 bytes.
const (
	MinPSK = 16
	maxPSK = 64
)

// maxPassword is bcrypt's limit: the broker hashes plain passwords with it.
const maxPassword = 72

// Platforms of DeviceConfig.
var platforms = []string{PlatformCTWing, PlatformOneNET}

var kinds = []string{KindNational, KindProvincial, KindBoundary, KindDrinkingSource, KindMunicipal, KindAirStation}

type builder struct {
	file      string
	lookupEnv func(string) (string, bool)
	ps        conf.Problems
	ids       map[string]int    // id → first stations index
	mns       map[string]int    // MN → first stations index
	devIDs    map[Device]string // platform identity → path of its first use
	users     map[string]int    // MQTT user name → first stations index
	psks      map[string]int    // CoAP PSK (hex) → first stations index
	byID      map[string]*Station
}

func (b *builder) station(i int, sc *StationConfig) {
	at := func(field string) string { return fmt.Sprintf("stations[%d].%s", i, field) }
	st := &Station{
		ID: sc.ID, Name: sc.Name, Kind: sc.Kind, River: sc.River, Basin: sc.Basin,
		City: sc.City, District: sc.District, CoordsApprox: sc.CoordsApprox,
		Lake: sc.Lake, DrinkingSource: sc.DrinkingSource, Note: sc.Note,
	}

	switch first, dup := b.ids[sc.ID]; {
	case sc.ID == "":
		b.ps.Addf(at("id"), "missing")
	case !reID.MatchString(sc.ID):
		b.ps.Addf(at("id"), "%q does not match [A-Za-z0-9_-]{1,64}", sc.ID)
	case dup:
		b.ps.Addf(at("id"), "duplicate id %q (first at stations[%d])", sc.ID, first)
	default:
		b.ids[sc.ID] = i
		b.byID[sc.ID] = st
	}
	if strings.TrimSpace(sc.Name) == "" {
		b.ps.Addf(at("name"), "missing")
	}

	st.Medium = domain.Medium(sc.Medium)
	mediumOK := st.Medium.Valid()
	if !mediumOK {
		b.ps.Addf(at("medium"), "%q is not water or air", sc.Medium)
	}
	switch {
	case sc.Kind == "":
		b.ps.Addf(at("kind"), "missing")
	case !slices.Contains(kinds, sc.Kind):
		b.ps.Addf(at("kind"), "%q is not one of %s", sc.Kind, strings.Join(kinds, ", "))
	case st.Medium == domain.Air && sc.Kind != KindAirStation:
		b.ps.Addf(at("kind"), "%q is a water kind, but the station is an air station (want %s)", sc.Kind, KindAirStation)
	case st.Medium == domain.Water && sc.Kind == KindAirStation:
		b.ps.Addf(at("kind"), "%s is for air stations, but the station is water", KindAirStation)
	}
	if strings.TrimSpace(sc.City) == "" {
		b.ps.Addf(at("city"), "missing")
	}
	if strings.TrimSpace(sc.District) == "" {
		b.ps.Addf(at("district"), "missing")
	}
	switch {
	case sc.Lat == nil:
		b.ps.Addf(at("lat"), "missing")
	case !(*sc.Lat >= -90 && *sc.Lat <= 90):
		b.ps.Addf(at("lat"), "%v is outside -90..90", *sc.Lat)
	default:
		st.Lat = *sc.Lat
	}
	switch {
	case sc.Lon == nil:
		b.ps.Addf(at("lon"), "missing")
	case !(*sc.Lon >= -180 && *sc.Lon <= 180):
		b.ps.Addf(at("lon"), "%v is outside -180..180", *sc.Lon)
	default:
		st.Lon = *sc.Lon
	}

	switch st.Medium {
	case domain.Water:
		if strings.TrimSpace(sc.River) == "" {
			b.ps.Addf(at("river"), "missing (required for water stations)")
		}
		if sc.Kind == KindDrinkingSource && !sc.DrinkingSource {
			b.ps.Addf(at("drinking_source"), "must be true for kind %s", KindDrinkingSource)
		}
		if sc.TargetClass == "" {
			b.ps.Addf(at("target_class"), "missing (required for water stations: 1..5 or I..V)")
		} else if n, ok := parseClass(sc.TargetClass); ok {
			st.TargetClass = n
		} else {
			b.ps.Addf(at("target_class"), "%q is not a GB 3838 class (want 1..5 or I..V)", sc.TargetClass)
		}
		st.ClassItems = b.classItems(at, sc.ClassItems)
	case domain.Air:
		if sc.ClassItems != nil {
			b.ps.Addf(at("class_items"), "not allowed for air stations")
		}
		if sc.River != "" {
			b.ps.Addf(at("river"), "not allowed for air stations")
		}
		if sc.TargetClass != "" {
			b.ps.Addf(at("target_class"), "not allowed for air stations")
		}
		if sc.Lake {
			b.ps.Addf(at("lake"), "not allowed for air stations")
		}
		if sc.DrinkingSource {
			b.ps.Addf(at("drinking_source"), "not allowed for air stations")
		}
	}

	st.Params = b.params(at, sc, st.Medium, mediumOK)
	st.Units = b.units(at, sc)
	st.HJ212 = b.hj212(i, at, sc.HJ212)
	st.Devices = b.devices(at, sc.Devices)
	st.MQTT = b.mqtt(i, at, sc.ID, sc.MQTT)
	st.CoAP = b.coap(i, at, sc.ID, sc.CoAP)

	if len(sc.Labels) > 0 {
		st.Labels = make(map[string]string, len(sc.Labels))
		for _, k := range slices.Sorted(maps.Keys(sc.Labels)) {
			if !reLabelKey.MatchString(k) {
				b.ps.Addf(at("labels."+k), "label key %q does not match [a-z][a-z0-9_]*", k)
				continue
			}
			st.Labels[k] = sc.Labels[k]
		}
	}
}

func (b *builder) params(at func(string) string, sc *StationConfig, m domain.Medium, mediumOK bool) map[string]time.Duration {
	if len(sc.Params) == 0 {
		b.ps.Addf(at("params"), "at least one parameter is required")
		return nil
	}
	out := make(map[string]time.Duration, len(sc.Params))
	for _, k := range slices.Sorted(maps.Keys(sc.Params)) {
		path := at("params." + k)
		p, ok := LookupParam(k)
		if !ok {
			b.ps.Addf(path, "unknown parameter %q", k)
			continue
		}
		if mediumOK && p.Medium != m {
			b.ps.Addf(path, "%s is a%s %s parameter, but the station is %s", k, article(string(p.Medium)), p.Medium, m)
			continue
		}
		d, err := parsePositiveDuration(sc.Params[k])
		if err != nil {
			b.ps.Addf(path, "reporting interval %s", err)
			continue
		}
		out[k] = d
	}
	return out
}

// classItems checks that a section's class_items name water parameters, each
// once; whether they are GB 3838 items is the rules compiler's check, as the
// registry does not load the standards.
func (b *builder) classItems(at func(string) string, ci *ClassItemsConfig) ClassItems {
	if ci == nil {
		return ClassItems{}
	}
	if len(ci.Add) == 0 && len(ci.Exclude) == 0 {
		b.ps.Addf(at("class_items"), "give add, exclude or both")
		return ClassItems{}
	}
	seen := map[string]string{}
	check := func(list string, keys []string) []string {
		var out []string
		for j, k := range keys {
			path := at(fmt.Sprintf("class_items.%s[%d]", list, j))
			p, ok := LookupParam(k)
			switch first, dup := seen[k]; {
			case !ok:
				b.ps.Addf(path, "unknown parameter %q", k)
			case p.Medium != domain.Water:
				b.ps.Addf(path, "%s is not a water parameter", k)
			case dup:
				b.ps.Addf(path, "%s is already in class_items.%s", k, first)
			default:
				seen[k] = list
				out = append(out, k)
			}
		}
		return out
	}
	return ClassItems{Add: check("add", ci.Add), Exclude: check("exclude", ci.Exclude)}
}

func (b *builder) units(at func(string) string, sc *StationConfig) map[string]string {
	if len(sc.Units) == 0 {
		return nil
	}
	out := make(map[string]string, len(sc.Units))
	for _, k := range slices.Sorted(maps.Keys(sc.Units)) {
		path := at("units." + k)
		p, ok := paramRef(k)
		if !ok {
			b.ps.Addf(path, "unknown parameter %q", k)
			continue
		}
		if _, listed := sc.Params[k]; !listed {
			b.ps.Addf(path, "%s is not in this station's params", k)
		}
		u := sc.Units[k]
		name, err := NormalizeUnit(u)
		if err != nil {
			b.ps.Addf(path, "unknown unit %q", u)
			continue
		}
		if ud, _ := lookupUnit(name); ud.dim != p.dim() {
			b.ps.Addf(path, "unit %q is %s, but %s is %s (%s)", u, ud.dim, k, p.dim(), p.Unit)
			continue
		}
		out[k] = name
	}
	return out
}

func (b *builder) hj212(i int, at func(string) string, hc *HJ212Config) *HJ212Identity {
	if hc == nil {
		return nil
	}
	id := &HJ212Identity{MN: hc.MN, CRCMode: hc.CRCMode}
	switch first, dup := b.mns[hc.MN]; {
	case hc.MN == "":
		b.ps.Addf(at("hj212.mn"), "missing")
	case !reMN.MatchString(hc.MN):
		b.ps.Addf(at("hj212.mn"), "%q does not match [A-Za-z0-9_-]{1,24}", hc.MN)
	case dup:
		b.ps.Addf(at("hj212.mn"), "duplicate MN %q (first at stations[%d].hj212.mn)", hc.MN, first)
	default:
		b.mns[hc.MN] = i
	}
	switch hc.CRCMode {
	case "":
		id.CRCMode = "standard"
	case "standard", "lenient":
	default:
		b.ps.Addf(at("hj212.crc_mode"), "%q is not standard or lenient", hc.CRCMode)
	}

	// Messages below never contain the password itself.
	pw, pwPath, ok := b.secret(at, "hj212", "password", hc.Password, hc.PasswordFile, "give password, a ${ENV} reference, or password_file")
	if !ok {
		return id
	}
	switch {
	case pw == "":
		b.ps.Addf(pwPath, "the password is empty")
	case strings.ContainsAny(pw, ";,&=\r\n"):
		b.ps.Addf(pwPath, "the password contains one of ; , & = or a line break, which HJ 212 frames cannot carry")
	default:
		id.Password = pw
	}
	return id
}

func (b *builder) devices(at func(string) string, dcs []DeviceConfig) []Device {
	var out []Device
	for j, dc := range dcs {
		path := at(fmt.Sprintf("devices[%d]", j))
		ok := true
		switch {
		case dc.Platform == "":
			b.ps.Addf(path+".platform", "missing (want %s)", strings.Join(platforms, " or "))
			ok = false
		case !slices.Contains(platforms, dc.Platform):
			b.ps.Addf(path+".platform", "%q is not %s", dc.Platform, strings.Join(platforms, " or "))
			ok = false
		}
		switch {
		case dc.ID == "":
			b.ps.Addf(path+".id", "missing (the IMEI or device id the platform's pushes carry)")
			ok = false
		case !reDeviceID.MatchString(dc.ID):
			b.ps.Addf(path+".id", "%q does not match [A-Za-z0-9_.:/-]{1,128}", dc.ID)
			ok = false
		}
		if !ok {
			continue
		}
		d := Device(dc)
		if first, dup := b.devIDs[d]; dup {
			b.ps.Addf(path+".id", "duplicate %s device %q (first at %s)", dc.Platform, dc.ID, first)
			continue
		}
		b.devIDs[d] = path
		out = append(out, d)
	}
	return out
}

// readSecretFile reads a password file named at path (relative to the
// stations file), without its trailing line break.
func (b *builder) readSecretFile(path, name string) (string, bool) {
	f := name
	if !filepath.IsAbs(f) {
		f = filepath.Join(filepath.Dir(b.file), f)
	}
	data, err := os.ReadFile(f)
	if err != nil {
		b.ps.Addf(path, "cannot read %q: %s", name, pathErrText(err))
		return "", false
	}
	return strings.TrimRight(string(data), "\r\n"), true
}

// expandEnvRef resolves v when it is a whole ${NAME} reference (isRef), or
// returns it unchanged. A malformed or unset reference is a problem at path.
func (b *builder) expandEnvRef(path, v string) (out string, isRef, ok bool) {
	if g := reEnvRef.FindStringSubmatch(v); g != nil {
		env, set := b.lookupEnv(g[1])
		if !set {
			b.ps.Addf(path, "environment variable %s is not set", g[1])
			return "", true, false
		}
		return env, true, true
	}
	if strings.Contains(v, "${") {
		b.ps.Addf(path, "malformed ${ENV} reference (want the whole value to be ${NAME})")
		return "", false, false
	}
	return v, false, true
}

// mqtt compiles a station's MQTT login. Messages never contain the password
// or the hash.
func (b *builder) mqtt(i int, at func(string) string, id string, mc *MQTTConfig) *MQTTCredential {
	if mc == nil {
		return nil
	}
	cred := &MQTTCredential{Username: mc.Username}
	if cred.Username == "" {
		cred.Username = id
	}
	switch first, dup := b.users[cred.Username]; {
	case !reMQTTUser.MatchString(cred.Username):
		b.ps.Addf(at("mqtt.username"), "%q does not match [A-Za-z0-9_.@-]{1,64}", cred.Username)
	case dup:
		b.ps.Addf(at("mqtt.username"), "duplicate MQTT user name %q (first at stations[%d])", cred.Username, first)
	default:
		b.users[cred.Username] = i
	}

	set := 0
	for _, v := range []string{mc.PasswordHash, mc.PasswordFile, mc.Password} {
		if v != "" {
			set++
		}
	}
	switch {
	case set == 0:
		b.ps.Addf(at("mqtt.password_hash"), "missing (give password_hash, password_file or password: ${ENV})")
		return cred
	case set > 1:
		b.ps.Addf(at("mqtt"), "give exactly one of password_hash, password_file and password")
		return cred
	case mc.PasswordHash != "":
		if !reBcrypt.MatchString(mc.PasswordHash) {
			b.ps.Addf(at("mqtt.password_hash"), "not a bcrypt hash ($2a$, $2b$ or $2y$, cost 04..31, 60 characters; `qingliu gen credentials --new` makes one)")
			return cred
		}
		cred.PasswordHash = mc.PasswordHash
		return cred
	}

	var pw, pwPath string
	if mc.PasswordFile != "" {
		pwPath = at("mqtt.password_file")
		var ok bool
		if pw, ok = b.readSecretFile(pwPath, mc.PasswordFile); !ok {
			return cred
		}
	} else {
		pwPath = at("mqtt.password")
		v, isRef, ok := b.expandEnvRef(pwPath, mc.Password)
		switch {
		case !ok:
			return cred
		case !isRef:
			b.ps.Addf(pwPath, "a literal password is not allowed (give password_hash, password_file or ${ENV})")
			return cred
		}
		pw = v
	}
	switch {
	case pw == "":
		b.ps.Addf(pwPath, "the password is empty")
	case len(pw) > maxPassword:
		b.ps.Addf(pwPath, "the password is longer than %d bytes", maxPassword)
	default:
		cred.Password = pw
	}
	return cred
}

// secret resolves a secret given as section.key (a value or a ${ENV}
// reference) or section.key_file, and returns it with the path of the key
// that gave it. Messages never contain the secret; missing says how to give
// it.
func (b *builder) secret(at func(string) string, section, key, value, file, missing string) (string, string, bool) {
	switch {
	case value != "" && file != "":
		b.ps.Addf(at(section), "give %s or %s_file, not both", key, key)
		return "", "", false
	case value == "" && file == "":
		b.ps.Addf(at(section+"."+key), "missing (%s)", missing)
		return "", "", false
	case file != "":
		path := at(section + "." + key + "_file")
		v, ok := b.readSecretFile(path, file)
		return v, path, ok
	default:
		path := at(section + "." + key)
		v, _, ok := b.expandEnvRef(path, value)
		return v, path, ok
	}
}

// coap compiles a station's DTLS PSK. Messages never contain the key.
func (b *builder) coap(i int, at func(string) string, id string, cc *CoAPConfig) *CoAPCredential {
	if cc == nil {
		return nil
	}
	v, path, ok := b.secret(at, "coap", "psk", cc.PSK, cc.PSKFile, "give psk in hex, a ${ENV} reference, or psk_file")
	if !ok {
		return nil
	}
	v = strings.TrimSpace(v)
	key, err := hex.DecodeString(v)
	switch {
	case err != nil:
		b.ps.Addf(path, "the DTLS key of station %s is not hex (want %d to %d hex digits)", id, 2*MinPSK, 2*maxPSK)
		return nil
	case len(key) < MinPSK:
		b.ps.Addf(path, "the DTLS key of station %s is %d bytes, shorter than %d (want %d to %d hex digits; `qingliu gen credentials --new` makes one)", id, len(key), MinPSK, 2*MinPSK, 2*maxPSK)
		return nil
	case len(key) > maxPSK:
		b.ps.Addf(path, "the DTLS key of station %s is %d bytes, longer than %d", id, len(key), maxPSK)
		return nil
	}
	norm := hex.EncodeToString(key)
	if first, dup := b.psks[norm]; dup {
		// With a shared key the device of one station could claim the other's
		// identity.
		b.ps.Addf(path, "the DTLS key of station %s is the same as stations[%d]'s (each station needs its own)", id, first)
		return nil
	}
	b.psks[norm] = i
	return &CoAPCredential{PSK: key}
}

func (b *builder) rivers(rcs []RiverConfig) []*River {
	type pos struct{ river, section int }
	names := map[string]int{}
	inChain := map[string]pos{} // station id → first chain position
	rivers := make([]*River, len(rcs))

	for ri := range rcs {
		rc := &rcs[ri]
		at := func(field string) string { return fmt.Sprintf("rivers[%d].%s", ri, field) }
		r := &River{Name: rc.Name, Basin: rc.Basin, CrossBorder: rc.CrossBorder, Note: rc.Note}
		rivers[ri] = r
		switch first, dup := names[rc.Name]; {
		case strings.TrimSpace(rc.Name) == "":
			b.ps.Addf(at("name"), "missing")
		case dup:
			b.ps.Addf(at("name"), "duplicate river %q (first at rivers[%d])", rc.Name, first)
		default:
			names[rc.Name] = ri
		}
		if len(rc.Sections) == 0 {
			b.ps.Addf(at("sections"), "at least one section is required")
			continue
		}
		cities := map[string]bool{}
		last := len(rc.Sections) - 1
		for si, sc := range rc.Sections {
			sp := func(field string) string { return at(fmt.Sprintf("sections[%d].%s", si, field)) }
			sec := Section{Station: sc.Station, Intake: sc.Intake, Note: sc.Note}
			st, exists := b.byID[sc.Station]
			switch p, seen := inChain[sc.Station]; {
			case sc.Station == "":
				b.ps.Addf(sp("station"), "missing")
			case !exists:
				b.ps.Addf(sp("station"), "unknown station %q", sc.Station)
			case st.Medium != domain.Water:
				b.ps.Addf(sp("station"), "%q is %s station; river sections must be water stations", sc.Station, orInvalid(st.Medium))
			case seen:
				b.ps.Addf(sp("station"), "%q is already in a river chain at rivers[%d].sections[%d]", sc.Station, p.river, p.section)
			default:
				inChain[sc.Station] = pos{ri, si}
				if st.River != "" && st.River != rc.Name {
					b.ps.Addf(sp("station"), "station %q is on river %q, not %q", sc.Station, st.River, rc.Name)
				}
				if st.City != "" {
					cities[st.City] = true
				}
			}
			if si < last {
				if sc.TravelToNext == "" {
					b.ps.Addf(sp("travel_to_next"), "missing (required for every section but the last)")
				} else if d, err := parsePositiveDuration(sc.TravelToNext); err != nil {
					b.ps.Addf(sp("travel_to_next"), "travel time %s", err)
				} else {
					sec.TravelToNext = d
				}
				if sc.Joins != nil {
					b.ps.Addf(sp("joins"), "only the last section of a river can join another river")
				}
			} else if sc.TravelToNext != "" {
				b.ps.Addf(sp("travel_to_next"), "not allowed on the last section (use joins.travel for a confluence)")
			}
			if sc.Joins != nil && si == last {
				sec.JoinsRiver, sec.JoinsAt = sc.Joins.River, sc.Joins.At
				if d, err := parsePositiveDuration(sc.Joins.Travel); err != nil {
					b.ps.Addf(sp("joins.travel"), "travel time %s", err)
				} else {
					sec.JoinTravel = d
				}
			}
			r.Sections = append(r.Sections, sec)
		}
		if len(cities) > 1 && !rc.CrossBorder {
			b.ps.Addf(at("cross_border"), "sections are in %s: set cross_border: true", strings.Join(slices.Sorted(maps.Keys(cities)), ", "))
		}
	}

	// Joins refer to rivers by name, so they are checked once all are known.
	next := make([]int, len(rivers)) // river index → joined river index, or -1
	for ri, r := range rivers {
		next[ri] = -1
		if len(r.Sections) == 0 {
			continue
		}
		si := len(r.Sections) - 1
		s := r.Sections[si]
		if rcs[ri].Sections[si].Joins == nil {
			continue
		}
		jp := fmt.Sprintf("rivers[%d].sections[%d].joins", ri, si)
		target, ok := names[s.JoinsRiver]
		switch {
		case s.JoinsRiver == "":
			b.ps.Addf(jp+".river", "missing")
			continue
		case !ok:
			b.ps.Addf(jp+".river", "unknown river %q", s.JoinsRiver)
			continue
		case target == ri:
			b.ps.Addf(jp+".river", "river %q cannot join itself", s.JoinsRiver)
			continue
		}
		switch p, found := inChain[s.JoinsAt]; {
		case s.JoinsAt == "":
			b.ps.Addf(jp+".at", "missing")
			continue
		case !found || p.river != target:
			b.ps.Addf(jp+".at", "%q is not a section of river %q", s.JoinsAt, s.JoinsRiver)
			continue
		}
		next[ri] = target
	}

	// Every river has at most one outgoing join, so a cycle is found by
	// following next from each river. Each cycle is reported once, at the
	// join of its lowest-indexed river.
	reported := make([]bool, len(rivers))
	for start := range rivers {
		var chain []int
		onPath := map[int]int{}
		for r := start; r >= 0; r = next[r] {
			if k, loop := onPath[r]; loop {
				cyc := chain[k:]
				if !slices.ContainsFunc(cyc, func(x int) bool { return reported[x] }) {
					lo := slices.Min(cyc)
					for _, x := range cyc {
						reported[x] = true
					}
					// Rotate so the cycle reads from its lowest-indexed river.
					ki := slices.Index(cyc, lo)
					cyc = append(slices.Clone(cyc[ki:]), cyc[:ki]...)
					walk := make([]string, 0, len(cyc)+1)
					for _, x := range cyc {
						walk = append(walk, rivers[x].Name)
					}
					walk = append(walk, rivers[lo].Name)
					b.ps.Addf(fmt.Sprintf("rivers[%d].sections[%d].joins", lo, len(rivers[lo].Sections)-1),
						"rivers join in a cycle: %s", strings.Join(walk, " → "))
				}
				break
			}
			onPath[r] = len(chain)
			chain = append(chain, r)
		}
	}
	return rivers
}

// parseClass accepts 1..5, I..V (any case) and the Unicode Roman numerals Ⅰ..Ⅴ.
func parseClass(s string) (int, bool) {
	t := strings.TrimSpace(s)
	if n, err := strconv.Atoi(t); err == nil {
		return n, n >= 1 && n <= 5
	}
	for i, r := range [...][2]string{{"I", "Ⅰ"}, {"II", "Ⅱ"}, {"III", "Ⅲ"}, {"IV", "Ⅳ"}, {"V", "Ⅴ"}} {
		if strings.EqualFold(t, r[0]) || t == r[1] {
			return i + 1, true
		}
	}
	return 0, false
}

func parsePositiveDuration(s string) (time.Duration, error) {
	if s == "" {
		return 0, fmt.Errorf("missing (want a duration like 1h, 4h or 5m)")
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("%q is not a duration (want e.g. 1h, 4h or 5m)", s)
	}
	if d <= 0 {
		return 0, fmt.Errorf("%q must be greater than zero", s)
	}
	return d, nil
}

func pathErrText(err error) string {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err.Error()
	}
	return err.Error()
}

func article(word string) string {
	if strings.ContainsRune("aeiou", rune(word[0])) {
		return "n"
	}
	return ""
}

func orInvalid(m domain.Medium) string {
	if m.Valid() {
		return "a" + article(string(m)) + " " + string(m)
	}
	return "not a water"
}
