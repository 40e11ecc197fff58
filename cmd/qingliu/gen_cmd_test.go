package main

import (
	"bytes"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/qingliu/qingliu/internal/auth"
	"github.com/qingliu/qingliu/internal/conf"
	"github.com/qingliu/qingliu/registry"
)

const shippedConfig = "../../configs/qingliu.yaml"

func runGen(t *testing.T, args ...string) (string, error) {
	t.Helper()
	root := newRootCmd()
	var out bytes.Buffer
	root.SetOut(&out)
	root.SetErr(&out)
	root.SetArgs(append([]string{"gen"}, args...))
	err := root.ExecuteContext(t.Context())
	return out.String(), err
}

func shippedDevPasswords(t *testing.T) map[string]string {
	t.Helper()
	pws, err := auth.LoadCredentials("../../configs/dev-credentials.yaml")
	if err != nil {
		t.Fatal(err)
	}
	return pws
}

// Every shipped station has a DEV credential that matches its hash, so
// `make run` logs every simulated station in.
func TestShippedDevCredentialsMatchTheRegistry(t *testing.T) {
	reg, err := registry.Load("../../configs/stations.yaml")
	if err != nil {
		t.Fatal(err)
	}
	pws, err := stationPasswords(reg, "../../configs/dev-credentials.yaml")
	if err != nil {
		t.Fatal(err)
	}
	for _, st := range reg.Stations() {
		if pws[st.ID] == "" {
			t.Errorf("station %s has no DEV credential", st.ID)
		}
	}
	creds, ids := simCredentials(reg, pws)
	if len(creds) != len(reg.Stations()) || len(ids) != len(creds) || creds["bj-gaoqiao"].Username != "bj-gaoqiao" {
		t.Errorf("sim credentials for %d of %d stations", len(creds), len(reg.Stations()))
	}
}

func TestGenCredentialsPrintsTheDevLogin(t *testing.T) {
	out, err := runGen(t, "credentials", "--station", "bj-gaoqiao", "--config", shippedConfig)
	if err != nil {
		t.Fatal(err)
	}
	pw := shippedDevPasswords(t)["bj-gaoqiao"]
	for _, want := range []string{"username  bj-gaoqiao\n", "password  " + pw + "\n",
		"mosquitto_pub -h 127.0.0.1 -p 1883 -q 1 -u bj-gaoqiao -P " + pw + " -t qingliu/v1/bj-gaoqiao/json -m '",
		"CoAP over DTLS (coaps://127.0.0.1:5684/qingliu/v1/bj-gaoqiao):\npsk identity  bj-gaoqiao\npsk (hex)     " + shippedPSK(t, "bj-gaoqiao") + "\n"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
}

// shippedPSK is a station's DEV DTLS key in configs/stations.yaml, in hex.
func shippedPSK(t *testing.T, station string) string {
	t.Helper()
	reg, err := registry.Load(filepath.Join(filepath.Dir(shippedConfig), "stations.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	st, ok := reg.Station(station)
	if !ok || st.CoAP == nil {
		t.Fatalf("shipped station %s has no coap psk", station)
	}
	return hex.EncodeToString(st.CoAP.PSK)
}

var rePSKNew = regexp.MustCompile(`(?m)^CoAP over DTLS: PSK identity bj-lixi, key \(hex\) ([0-9a-f]{32})$`)

var rePassword = regexp.MustCompile(`(?m)^password  (\S+)$`)
var reHash = regexp.MustCompile(`mqtt: \{password_hash: "(\$2a\$\d\d\$[./A-Za-z0-9]{53})"\}`)

func TestGenCredentialsNew(t *testing.T) {
	out, err := runGen(t, "credentials", "--station", "bj-lixi", "--new", "--cost", "4", "--config", shippedConfig)
	if err != nil {
		t.Fatal(err)
	}
	pw, hash := rePassword.FindStringSubmatch(out), reHash.FindStringSubmatch(out)
	if pw == nil || hash == nil {
		t.Fatalf("output lacks a password or a hash line:\n%s", out)
	}
	if pw[1] == shippedDevPasswords(t)["bj-lixi"] || !auth.CheckPassword(hash[1], pw[1]) {
		t.Errorf("--new printed password %q and hash %q: want a fresh password and its hash", pw[1], hash[1])
	}
	if !strings.HasPrefix(hash[1], "$2a$04$") {
		t.Errorf("hash %q: want cost 4", hash[1])
	}
	if k := rePSKNew.FindStringSubmatch(out); k == nil || k[1] == shippedPSK(t, "bj-lixi") {
		t.Errorf("--new printed no fresh DTLS key:\n%s", out)
	}
}

// writeConfig writes a qingliu.yaml naming stations (a stations.yaml body)
// and, when creds is not empty, a credentials file; it returns its path.
func writeConfig(t *testing.T, stations, creds string) string {
	t.Helper()
	dir := t.TempDir()
	cfg := "files:\n  stations: stations.yaml\n"
	if creds != "" {
		cfg += "  dev_credentials: creds.yaml\n"
		if err := os.WriteFile(filepath.Join(dir, "creds.yaml"), []byte(creds), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	for name, data := range map[string]string{"qingliu.yaml": cfg, "stations.yaml": stations} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(data), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return filepath.Join(dir, "qingliu.yaml")
}

const genStation = `  - id: %s
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
`

func genStations(t *testing.T, entries map[string]string) string {
	t.Helper()
	var b strings.Builder
	b.WriteString("stations:\n")
	for _, id := range sortedIDs(entries) {
		b.WriteString(strings.Replace(genStation, "%s", id, 1))
		if entries[id] != "" {
			b.WriteString("    " + entries[id] + "\n")
		}
	}
	return b.String()
}

func TestGenCredentialsErrors(t *testing.T) {
	hash, err := auth.HashPassword("right-pw", auth.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	hashOnly := writeConfig(t, genStations(t, map[string]string{"w1": `mqtt: {password_hash: "` + hash + `"}`, "w2": ""}), "")
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"credentials", "--config", shippedConfig}, "--station is required"},
		{[]string{"credentials", "--station", "ghost", "--config", shippedConfig}, `unknown station "ghost"`},
		{[]string{"credentials", "--station", "w1", "--config", hashOnly}, "--new"},
		{[]string{"credentials", "--station", "w2", "--config", hashOnly}, "no mqtt: login"},
		{[]string{"credentials", "--station", "w1", "--new", "--cost", "3", "--config", hashOnly}, "--cost 3"},
		{[]string{"mosquitto", "--config", hashOnly}, "--out is required"},
		{[]string{"mosquitto", "--out", t.TempDir(), "--config", hashOnly}, "only a hash for w1"},
	} {
		out, err := runGen(t, c.args...)
		if err == nil || exitCode(err) != 2 || !strings.Contains(err.Error(), c.want) {
			t.Errorf("gen %v: error %v (exit %d), want exit 2 mentioning %q\n%s", c.args, err, exitCode(err), c.want, out)
		}
	}
}

func TestStationPasswordsProblems(t *testing.T) {
	hash, err := auth.HashPassword("right-pw", auth.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv("QINGLIU_TEST_W3_PW", "env-pw")
	cfg := writeConfig(t, genStations(t, map[string]string{
		"w1": `mqtt: {password_hash: "` + hash + `"}`,
		"w2": "",
		"w3": `mqtt: {username: dev-w3, password: "${QINGLIU_TEST_W3_PW}"}`,
		"w4": `mqtt: {password_hash: "` + hash + `"}`,
	}), "stations:\n  w1: wrong-pw\n  w2: any-pw\n  w3: other-pw\n  ghost: ghost-pw\n  w4: right-pw\n")
	reg, err := registry.Load(filepath.Join(filepath.Dir(cfg), "stations.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	credFile := filepath.Join(filepath.Dir(cfg), "creds.yaml")
	_, err = stationPasswords(reg, credFile)
	var ce *conf.Error
	if !errors.As(err, &ce) {
		t.Fatalf("error %v: want a *conf.Error", err)
	}
	want := credFile + `: stations.ghost: unknown station "ghost"
` + credFile + `: stations.w1: does not match the password_hash of station w1 in the station registry
` + credFile + `: stations.w2: station w2 has no mqtt: login in the station registry
` + credFile + `: stations.w3: differs from the password of station w3 in the station registry`
	if got := strings.TrimPrefix(err.Error(), "station credentials:\n"); got != want {
		t.Errorf("error:\n%s\nwant:\n%s", got, want)
	}
	for _, pw := range []string{"wrong-pw", "any-pw", "other-pw", "env-pw", "right-pw", hash} {
		if strings.Contains(err.Error(), pw) {
			t.Errorf("error contains the secret %q", pw)
		}
	}
	// Without the file: the passwords the registry knows.
	pws, err := stationPasswords(reg, "")
	if err != nil || len(pws) != 1 || pws["w3"] != "env-pw" {
		t.Errorf("stationPasswords(no file) = %v, %v", pws, err)
	}
}

func TestGenMosquitto(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "mosquitto")
	out, err := runGen(t, "mosquitto", "--out", dir, "--config", shippedConfig)
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	read := func(name string) string {
		t.Helper()
		fi, err := os.Stat(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != 0o600 {
			t.Errorf("%s has mode %v, want 0600", name, fi.Mode().Perm())
		}
		b, _ := os.ReadFile(filepath.Join(dir, name))
		return string(b)
	}
	passwd, acl, ingestPW := read("passwd"), read("acl"), strings.TrimSpace(read("ingest-password"))
	users := map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(passwd), "\n") {
		u, h, _ := strings.Cut(line, ":")
		users[u] = h
	}
	dev := shippedDevPasswords(t)
	want := map[string]string{"qingliu-ingest": ingestPW}
	for id, pw := range dev {
		want[id] = pw
	}
	if len(users) != len(want) {
		t.Errorf("passwd has %d users, want %d", len(users), len(want))
	}
	for u, pw := range want {
		if ok, err := auth.CheckMosquittoHash(users[u], pw); !ok || err != nil {
			t.Errorf("passwd: user %s does not verify with its password (%v)", u, err)
		}
		if strings.Contains(passwd, pw) {
			t.Errorf("passwd contains the plain password of %s", u)
		}
	}
	for _, line := range []string{"user qingliu-ingest\ntopic read qingliu/v1/#\n", "user bj-gaoqiao\ntopic write qingliu/v1/bj-gaoqiao/#\n"} {
		if !strings.Contains(acl, line) {
			t.Errorf("acl lacks %q", line)
		}
	}
	if strings.Contains(out, ingestPW) {
		t.Error("the output shows the ingest password; it belongs in the file only")
	}
}
