package registry

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/qingliu/qingliu/domain"
	"github.com/qingliu/qingliu/internal/conf"
)

const shipped = "../configs/stations.yaml"

func loadOK(t *testing.T, file string) *Registry {
	t.Helper()
	r, err := Load(file)
	if err != nil {
		t.Fatalf("Load(%s):\n%v", file, err)
	}
	return r
}

func TestLoadShipped(t *testing.T) {
	r := loadOK(t, shipped)

	var water, air int
	ids := make([]string, 0)
	for _, st := range r.Stations() {
		ids = append(ids, st.ID)
		switch st.Medium {
		case domain.Water:
			water++
			if st.TargetClass < 1 || st.TargetClass > 5 {
				t.Errorf("%s: target class %d", st.ID, st.TargetClass)
			}
		case domain.Air:
			air++
		}
		if st.Note == "" && st.CoordsApprox {
			t.Errorf("%s: approximate coordinates without a note saying what is unconfirmed", st.ID)
		}
	}
	if water < 12 || air < 8 {
		t.Errorf("got %d water and %d air stations, want at least 12 and 8", water, air)
	}
	if !slices.IsSorted(ids) {
		t.Errorf("Stations() not sorted by id: %v", ids)
	}

	// The cities the joint warnings need are all present.
	cities := map[string]int{}
	for _, st := range r.Stations() {
		cities[st.City]++
	}
	for _, c := range []string{"广州", "清远", "韶关"} {
		if cities[c] == 0 {
			t.Errorf("no station in %s", c)
		}
	}

	gq, ok := r.Station("bj-gaoqiao")
	if !ok || gq.TargetClass != 2 || gq.City != "韶关" || gq.Kind != KindBoundary {
		t.Errorf("bj-gaoqiao = %+v, want the 韶关 boundary section with target class 2", gq)
	}
	if got := gq.Interval("nh3n"); got != 4*time.Hour {
		t.Errorf("bj-gaoqiao nh3n interval = %v, want 4h", got)
	}
	st, ok := r.ByMN("440122000000000000001351")
	if !ok || st.ID != "aq-huadu-shifan" {
		t.Errorf("ByMN(花都师范) = %v, %v", st, ok)
	}
	if st.HJ212.Password != "123456" || st.HJ212.CRCMode != "standard" {
		t.Errorf("花都师范 HJ 212 identity = %+v", st.HJ212)
	}

	// At least one river crosses from 清远 into 广州.
	crossing := false
	for _, rv := range r.Rivers() {
		first, _ := r.Station(rv.Sections[0].Station)
		for _, h := range r.Downstream(first.ID) {
			if s, _ := r.Station(h.Station); first.City == "清远" && s.City == "广州" {
				crossing = true
			}
		}
	}
	if !crossing {
		t.Error("no river chain leads from a 清远 section to a 广州 section")
	}
}

func TestStationUnits(t *testing.T) {
	r := loadOK(t, shipped)
	tests := []struct {
		station, param string
		hj212, device  string
	}{
		{"aq-huadu-shifan", "so2", "µg/m³", "µg/m³"},  // override beats the HJ 212 default
		{"aq-huadu-shifan", "co", "mg/m³", "mg/m³"},   // no override, HJ 212 default = canonical
		{"aq-qingxin-taihe", "no2", "mg/m³", "µg/m³"}, // no override: HJ 212 default differs
		{"bj-qixinggang", "pb", "µg/L", "µg/L"},
		{"bj-qixinggang", "nh3n", "mg/L", "mg/L"},
		{"bj-mangzhou", "hg", "ng/L", "ng/L"},
		{"bj-shijiao", "cond", "mS/cm", "mS/cm"},
		{"bj-gaoqiao", "cd", "µg/L", "mg/L"}, // not reported: catalogue defaults
		{"bj-gaoqiao", "chla", "µg/L", "µg/L"},
	}
	for _, tt := range tests {
		st, ok := r.Station(tt.station)
		if !ok {
			t.Fatalf("no station %s", tt.station)
		}
		if got := st.HJ212Unit(tt.param); got != tt.hj212 {
			t.Errorf("%s.HJ212Unit(%s) = %q, want %q", tt.station, tt.param, got, tt.hj212)
		}
		if got := st.DeviceUnit(tt.param); got != tt.device {
			t.Errorf("%s.DeviceUnit(%s) = %q, want %q", tt.station, tt.param, got, tt.device)
		}
	}
}

func hop(station, river string, eta time.Duration, intake bool) Hop {
	return Hop{Station: station, River: river, ETA: eta, Intake: intake}
}

func TestDownstream(t *testing.T) {
	h := time.Hour
	tests := []struct {
		file, station string
		want          []Hop
	}{
		{"testdata/rivers.yaml", "g1", []Hop{hop("g2", "干流", 10*h, false), hop("g3", "干流", 15*h+30*time.Minute, true)}},
		{"testdata/rivers.yaml", "g2", []Hop{hop("g3", "干流", 5*h+30*time.Minute, true)}},
		{"testdata/rivers.yaml", "g3", nil},
		{"testdata/rivers.yaml", "t1", []Hop{
			hop("t2", "支流", 6*h, false), hop("g2", "干流", 8*h, false), hop("g3", "干流", 13*h+30*time.Minute, true)}},
		{"testdata/rivers.yaml", "x1", []Hop{
			hop("t2", "支流", 90*time.Minute, false), hop("g2", "干流", 3*h+30*time.Minute, false), hop("g3", "干流", 9*h, true)}},
		{"testdata/rivers.yaml", "lone", nil},
		{"testdata/rivers.yaml", "air", nil},
		{"testdata/rivers.yaml", "nope", nil},

		{shipped, "bj-gaoqiao", []Hop{
			hop("bj-lixi", "北江", 20*h, false), hop("bj-qixinggang", "北江", 36*h, false),
			hop("bj-mangzhou", "北江", 37*h, false), hop("bj-shijiao", "北江", 43*h, true)}},
		{shipped, "pj-fogang", []Hop{
			hop("pj-jiangkou", "潖江", 12*h, false), hop("bj-qixinggang", "北江", 16*h, false),
			hop("bj-mangzhou", "北江", 17*h, false), hop("bj-shijiao", "北江", 23*h, true)}},
		{shipped, "lj-xiniu", []Hop{
			hop("bj-lixi", "北江", 8*h, false), hop("bj-qixinggang", "北江", 24*h, false),
			hop("bj-mangzhou", "北江", 25*h, false), hop("bj-shijiao", "北江", 31*h, true)}},
		{shipped, "bin-sankengtan", []Hop{
			hop("bin-feishuiqiao", "滨江", 6*h, false), hop("bin-jingkou", "滨江", 10*h, false),
			hop("bj-shijiao", "北江", 15*h, true)}},
		{shipped, "lp-qingcheng", []Hop{
			hop("lp-huadu", "乐排河", 4*h, false), hop("bn-tanbu", "白坭河", 9*h, false), hop("lx-yagang", "流溪河", 15*h, false)}},
		{shipped, "lx-liangkou", []Hop{
			hop("lx-jiekou", "流溪河", 10*h, false), hop("lx-zhongluotan", "流溪河", 22*h, false), hop("lx-yagang", "流溪河", 30*h, false)}},
		{shipped, "bj-shijiao", nil},
		{shipped, "bj-shiwei", nil},
	}
	regs := map[string]*Registry{}
	for _, tt := range tests {
		r := regs[tt.file]
		if r == nil {
			r = loadOK(t, tt.file)
			regs[tt.file] = r
		}
		if got := r.Downstream(tt.station); !slices.Equal(got, tt.want) {
			t.Errorf("%s: Downstream(%s)\n got %v\nwant %v", tt.file, tt.station, got, tt.want)
		}
	}
}

func TestRegistryIsNotAliased(t *testing.T) {
	r := loadOK(t, "testdata/rivers.yaml")
	d := r.Downstream("g1")
	d[0].ETA = 0
	if r.Downstream("g1")[0].ETA != 10*time.Hour {
		t.Error("Downstream returned the registry's own slice")
	}
	rs := r.Rivers()
	rs[0] = nil
	if r.Rivers()[0] == nil {
		t.Error("Rivers returned the registry's own slice")
	}
	ss := r.Stations()
	ss[0] = nil
	if r.Stations()[0] == nil {
		t.Error("Stations returned the registry's own slice")
	}
}

func TestRiverOf(t *testing.T) {
	r := loadOK(t, "testdata/rivers.yaml")
	tests := []struct {
		station string
		river   string
		index   int
		ok      bool
	}{
		{"g1", "干流", 0, true},
		{"g3", "干流", 2, true},
		{"t2", "支流", 1, true},
		{"x1", "小溪", 0, true},
		{"lone", "", 0, false},
		{"air", "", 0, false},
	}
	for _, tt := range tests {
		rv, i, ok := r.RiverOf(tt.station)
		name := ""
		if rv != nil {
			name = rv.Name
		}
		if name != tt.river || i != tt.index || ok != tt.ok {
			t.Errorf("RiverOf(%s) = %q, %d, %v; want %q, %d, %v", tt.station, name, i, ok, tt.river, tt.index, tt.ok)
		}
	}
	rv, _, _ := r.RiverOf("g1")
	if !rv.CrossBorder || rv.Sections[1].TravelToNext != 5*time.Hour+30*time.Minute || !rv.Sections[2].Intake {
		t.Errorf("干流 = %+v", rv)
	}
}

// TestBadConfigs loads every testdata/bad/*.yaml and compares the error text
// with the .golden file beside it, line for line.
func TestBadConfigs(t *testing.T) {
	// missing_env.yaml refers to this variable; make sure it is unset.
	t.Setenv("QINGLIU_TEST_UNSET_PW", "")
	os.Unsetenv("QINGLIU_TEST_UNSET_PW")

	files, err := filepath.Glob("testdata/bad/*.yaml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no bad configs: %v", err)
	}
	for _, f := range files {
		t.Run(strings.TrimSuffix(filepath.Base(f), ".yaml"), func(t *testing.T) {
			golden, err := os.ReadFile(strings.TrimSuffix(f, ".yaml") + ".golden")
			if err != nil {
				t.Fatal(err)
			}
			want := strings.TrimRight(string(golden), "\n")
			_, err = Load(f)
			var ce *conf.Error
			if !errors.As(err, &ce) {
				t.Fatalf("Load(%s) error = %v (%T), want a *conf.Error", f, err, err)
			}
			if got := err.Error(); got != want {
				t.Errorf("Load(%s) error:\n%s\nwant:\n%s", f, got, want)
			}
			for _, p := range ce.Problems {
				if p.File != f {
					t.Errorf("problem %q names file %q, want %q", p, p.File, f)
				}
			}
		})
	}
}

func TestPasswordNeverInErrors(t *testing.T) {
	_, err := Load("testdata/bad/many.yaml")
	if err == nil || strings.Contains(err.Error(), "12;34") {
		t.Errorf("error leaks a password or is nil: %v", err)
	}
}

const pwStation = `stations:
  - id: w1
    name: 测试
    medium: water
    kind: municipal
    river: 北江
    city: 清远
    district: 清城区
    lat: 23.7
    lon: 113.0
    target_class: 3
    params: {ph: 1h}
    hj212: {mn: MN1, %s}
`

func TestPasswordSources(t *testing.T) {
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "secrets"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "secrets", "w1.pw"), []byte("fromfile\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("QINGLIU_TEST_PW", "fromenv")
	tests := []struct{ hj212, want string }{
		{`password: "654321"`, "654321"},
		{`password: "${QINGLIU_TEST_PW}"`, "fromenv"},
		{`password_file: secrets/w1.pw`, "fromfile"},
		{`password_file: ` + filepath.Join(dir, "secrets", "w1.pw"), "fromfile"},
	}
	for i, tt := range tests {
		file := filepath.Join(dir, "stations.yaml")
		if err := os.WriteFile(file, []byte(strings.Replace(pwStation, "%s", tt.hj212, 1)), 0o600); err != nil {
			t.Fatal(err)
		}
		r, err := Load(file)
		if err != nil {
			t.Fatalf("case %d: %v", i, err)
		}
		st, ok := r.ByMN("MN1")
		if !ok || st.HJ212.Password != tt.want {
			t.Errorf("case %d (%s): password = %q, want %q", i, tt.hj212, st.HJ212.Password, tt.want)
		}
	}
}

func TestCompileWithInjectedEnv(t *testing.T) {
	c := Config{Stations: []StationConfig{{
		ID: "w1", Name: "测试", Medium: "water", Kind: KindMunicipal, River: "北江",
		City: "清远", District: "清城区", Lat: ptr(23.7), Lon: ptr(113.0), TargetClass: "Ⅲ",
		Params: map[string]string{"ph": "1h"},
		HJ212:  &HJ212Config{MN: "MN1", Password: "${PW}"},
	}}}
	env := func(k string) (string, bool) { return map[string]string{"PW": "x1"}[k], k == "PW" }
	r, err := c.Compile("mem.yaml", env)
	if err != nil {
		t.Fatal(err)
	}
	if st, _ := r.Station("w1"); st.HJ212.Password != "x1" || st.TargetClass != 3 {
		t.Errorf("station = %+v, identity %+v", st, st.HJ212)
	}
	none := func(string) (string, bool) { return "", false }
	want := "mem.yaml: stations[0].hj212.password: environment variable PW is not set"
	if err := c.Validate("mem.yaml", none); err == nil || err.Error() != want {
		t.Errorf("Validate = %v, want %s", err, want)
	}
}

func ptr[T any](v T) *T { return &v }

func TestClassItems(t *testing.T) {
	c := Config{Stations: []StationConfig{{
		ID: "w1", Name: "测试", Medium: "water", Kind: KindMunicipal, River: "北江",
		City: "清远", District: "清城区", Lat: ptr(23.7), Lon: ptr(113.0), TargetClass: "III", Lake: true,
		Params:     map[string]string{"ph": "1h", "tn": "4h"},
		ClassItems: &ClassItemsConfig{Add: []string{"tn"}, Exclude: []string{"fcoli", "cu"}},
	}, {
		ID: "w2", Name: "测试二", Medium: "water", Kind: KindMunicipal, River: "北江",
		City: "清远", District: "清城区", Lat: ptr(23.7), Lon: ptr(113.0), TargetClass: "III",
		Params: map[string]string{"ph": "1h"},
	}}}
	r, err := c.Compile("mem.yaml", nil)
	if err != nil {
		t.Fatal(err)
	}
	w1, _ := r.Station("w1")
	if !slices.Equal(w1.ClassItems.Add, []string{"tn"}) || !slices.Equal(w1.ClassItems.Exclude, []string{"fcoli", "cu"}) {
		t.Errorf("w1 class items = %+v, want add [tn] exclude [fcoli cu]", w1.ClassItems)
	}
	c.Stations[0].ClassItems.Add[0] = "tp"
	if w1.ClassItems.Add[0] != "tn" {
		t.Error("the registry shares the class_items slice with the config")
	}
	if w2, _ := r.Station("w2"); !w2.ClassItems.IsZero() {
		t.Errorf("w2 class items = %+v, want the default", w2.ClassItems)
	}
}

func TestParseClass(t *testing.T) {
	for in, want := range map[string]int{"1": 1, "5": 5, "I": 1, "ii": 2, "III": 3, "iv": 4, "V": 5, "Ⅱ": 2, " IV ": 4} {
		if got, ok := parseClass(in); !ok || got != want {
			t.Errorf("parseClass(%q) = %d, %v; want %d", in, got, ok, want)
		}
	}
	for _, in := range []string{"0", "6", "VI", "劣V", "", "2.5"} {
		if got, ok := parseClass(in); ok {
			t.Errorf("parseClass(%q) = %d, want an error", in, got)
		}
	}
}

func TestIdentityRedacted(t *testing.T) {
	id := HJ212Identity{MN: "MN1", Password: "s3cret", CRCMode: "standard"}
	st := Station{ID: "w1", HJ212: &id}
	var buf strings.Builder
	log := slog.New(slog.NewTextHandler(&buf, nil))
	log.Info("x", "identity", id)
	for _, s := range []string{fmt.Sprint(id), fmt.Sprintf("%+v", id), fmt.Sprintf("%#v", id), fmt.Sprintf("%+v", *st.HJ212), buf.String()} {
		if strings.Contains(s, "s3cret") || !strings.Contains(s, "MN1") {
			t.Errorf("identity formatted as %q", s)
		}
	}
}

func TestByDevice(t *testing.T) {
	c := Config{Stations: []StationConfig{{
		ID: "w1", Name: "测试", Medium: "water", Kind: KindMunicipal, River: "北江",
		City: "清远", District: "清城区", Lat: ptr(23.7), Lon: ptr(113.0), TargetClass: "III",
		Params: map[string]string{"ph": "1h"},
		Devices: []DeviceConfig{
			{Platform: PlatformCTWing, ID: "864016059485616"},
			{Platform: PlatformOneNET, ID: "2016617"},
			{Platform: PlatformOneNET, ID: "00001/iot-0001"},
		},
	}}}
	r, err := c.Compile("mem.yaml", nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		platform, id string
		ok           bool
	}{
		{PlatformCTWing, "864016059485616", true},
		{PlatformOneNET, "2016617", true},
		{PlatformOneNET, "00001/iot-0001", true},
		{PlatformOneNET, "864016059485616", false}, // a CTWing id is not a OneNET id
		{PlatformCTWing, "2016617", false},
		{PlatformCTWing, "", false},
	} {
		st, ok := r.ByDevice(tt.platform, tt.id)
		if ok != tt.ok || ok && st.ID != "w1" {
			t.Errorf("ByDevice(%s, %s) = %v, %v; want ok=%v", tt.platform, tt.id, st, ok, tt.ok)
		}
	}
	if st, _ := r.Station("w1"); len(st.Devices) != 3 || st.Devices[0] != (Device{PlatformCTWing, "864016059485616"}) {
		t.Errorf("Devices = %v", st.Devices)
	}
}

// A bcrypt hash of "dev-pw" at cost 4.
const devHash = "$2a$04$tvW2dFlkcJ.Qg7XKa.86wOV/2X2Vp8lOe9aJPesq7.CHnzehTBjTW"

func TestMQTTCredentialSources(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "w1.pw"), []byte("fromfile\r\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("QINGLIU_TEST_MQTT_PW", "fromenv")
	tests := []struct {
		mqtt           string
		user, hash, pw string
	}{
		{`mqtt: {password_hash: "` + devHash + `"}`, "w1", devHash, ""},
		{`mqtt: {username: dev.w1@site, password_hash: "` + devHash + `"}`, "dev.w1@site", devHash, ""},
		{`mqtt: {password_file: w1.pw}`, "w1", "", "fromfile"},
		{`mqtt: {password: "${QINGLIU_TEST_MQTT_PW}"}`, "w1", "", "fromenv"},
	}
	for i, tt := range tests {
		file := filepath.Join(dir, "stations.yaml")
		station := strings.Replace(pwStation, "hj212: {mn: MN1, %s}", tt.mqtt, 1)
		if err := os.WriteFile(file, []byte(station), 0o600); err != nil {
			t.Fatal(err)
		}
		r, err := Load(file)
		if err != nil {
			t.Fatalf("case %d: %v", i, err)
		}
		st, _ := r.Station("w1")
		if m := st.MQTT; m == nil || m.Username != tt.user || m.PasswordHash != tt.hash || m.Password != tt.pw {
			t.Errorf("case %d (%s): credential %q/%q/%q, want %q/%q/%q", i, tt.mqtt, m.Username, m.PasswordHash, m.Password, tt.user, tt.hash, tt.pw)
		}
	}
}

func TestShippedStationsHaveMQTTLogins(t *testing.T) {
	for _, st := range loadOK(t, shipped).Stations() {
		if st.MQTT == nil || st.MQTT.Username != st.ID || !reBcrypt.MatchString(st.MQTT.PasswordHash) {
			t.Errorf("%s: MQTT login %v, want user %s with a bcrypt hash", st.ID, st.MQTT, st.ID)
		}
	}
}

func TestMQTTSecretsNeverInErrors(t *testing.T) {
	_, err := Load("testdata/bad/mqtt.yaml")
	if err == nil || strings.Contains(err.Error(), "hunter2") || strings.Contains(err.Error(), "$2a$04$") {
		t.Errorf("error leaks a password or hash, or is nil: %v", err)
	}
	m := MQTTCredential{Username: "w1", PasswordHash: devHash, Password: "s3cret"}
	var buf strings.Builder
	slog.New(slog.NewTextHandler(&buf, nil)).Info("x", "mqtt", m)
	for _, s := range []string{fmt.Sprint(m), fmt.Sprintf("%+v", m), fmt.Sprintf("%#v", m), fmt.Sprintf("%v", &m), buf.String()} {
		if strings.Contains(s, "s3cret") || strings.Contains(s, devHash) || !strings.Contains(s, "w1") {
			t.Errorf("credential formatted as %q", s)
		}
	}
}

func TestCoAPKeySources(t *testing.T) {
	dir := t.TempDir()
	const key = "00112233445566778899aabbccddeeff"
	if err := os.WriteFile(filepath.Join(dir, "w1.psk"), []byte(key+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("QINGLIU_TEST_COAP_PSK", strings.ToUpper(key))
	for i, coap := range []string{
		`coap: {psk: "` + key + `"}`,
		`coap: {psk_file: w1.psk}`,
		`coap: {psk: "${QINGLIU_TEST_COAP_PSK}"}`,
	} {
		file := filepath.Join(dir, "stations.yaml")
		station := strings.Replace(pwStation, "hj212: {mn: MN1, %s}", coap, 1)
		if err := os.WriteFile(file, []byte(station), 0o600); err != nil {
			t.Fatal(err)
		}
		r, err := Load(file)
		if err != nil {
			t.Fatalf("case %d: %v", i, err)
		}
		if got := fmt.Sprintf("%x", r.CoAPKeys()["w1"]); got != key {
			t.Errorf("case %d (%s): key %s", i, coap, got)
		}
	}
}

func TestCoAPKeysNeverInErrors(t *testing.T) {
	_, err := Load("testdata/bad/coap.yaml")
	if err == nil || strings.Contains(strings.ToLower(err.Error()), "c0ffee") {
		t.Errorf("error leaks a key, or is nil: %v", err)
	}
	c := CoAPCredential{PSK: []byte("s3cret-s3cret-s3cret")}
	var buf strings.Builder
	slog.New(slog.NewTextHandler(&buf, nil)).Info("x", "coap", c)
	for _, s := range []string{fmt.Sprint(c), fmt.Sprintf("%+v", c), fmt.Sprintf("%#v", c), fmt.Sprintf("%v", &c), buf.String()} {
		if strings.Contains(s, "s3cret") || strings.Contains(s, "733363726574") {
			t.Errorf("credential formatted as %q", s)
		}
	}
}
