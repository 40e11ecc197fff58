package main

import (
	"crypto/rand"
	"crypto/subtle"
	"fmt"
	"io"
	"maps"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"github.com/qingliu/qingliu/internal/auth"
	"github.com/qingliu/qingliu/internal/conf"
	"github.com/qingliu/qingliu/internal/config"
	"github.com/qingliu/qingliu/registry"
	"github.com/qingliu/qingliu/sim"
)

func newGenCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "gen",
		Short: "Generate credentials and broker files from the configuration",
		Args:  cobra.NoArgs,
	}
	cmd.AddCommand(newGenCredentialsCmd(), newGenMosquittoCmd())
	return cmd
}

func newGenCredentialsCmd() *cobra.Command {
	var cfgPath, station string
	var fresh bool
	var cost int
	cmd := &cobra.Command{
		Use:   "credentials --station <id>",
		Short: "Print a station's MQTT user name and password and its CoAP DTLS key, or make new ones with --new",
		Long: `Print the MQTT login of a station: its user name and password, and a
mosquitto_pub command that publishes a reading as that station. The password
comes from the station's password_file or ${ENV} in stations.yaml, else from
the DEV ONLY credentials file named by files.dev_credentials. When the station
has a CoAP DTLS pre-shared key (coap: in stations.yaml), print it in hex with
its PSK identity (the station id).

With --new, make a fresh random password instead and print it with the
bcrypt hash to put in stations.yaml, and a fresh DTLS key; they are stored
nowhere else.`,
		Example: `  qingliu gen credentials --station bj-gaoqiao
  qingliu gen credentials --station bj-gaoqiao --new`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if station == "" {
				return badInputf("--station is required")
			}
			return runGenCredentials(cmd.OutOrStdout(), cfgPath, station, fresh, cost)
		},
	}
	fl := cmd.Flags()
	fl.StringVarP(&cfgPath, "config", "c", defaultConfig, "main configuration file")
	fl.StringVar(&station, "station", "", "station id (required)")
	fl.BoolVar(&fresh, "new", false, "make a new random password and print its bcrypt hash for stations.yaml")
	fl.IntVar(&cost, "cost", auth.DefaultCost, "bcrypt cost of the hash made with --new (4..31)")
	return cmd
}

func newGenMosquittoCmd() *cobra.Command {
	var cfgPath, out, credFile string
	cmd := &cobra.Command{
		Use:   "mosquitto --out DIR",
		Short: "Write a Mosquitto password file and ACL file from the station registry",
		Long: `Write DIR/passwd (Mosquitto's PBKDF2-SHA512 "$7$" format, as mosquitto_passwd
writes it) and DIR/acl: one account per station with an MQTT credential, which
may write only qingliu/v1/<station>/#, and the ingest stage's account
(mqtt.username, default qingliu-ingest), which may read qingliu/v1/#.

Mosquitto needs its own hash of each password, so every station's password
must be known: from its password_file or ${ENV}, or from the credentials file
(--credentials, default files.dev_credentials). The ingest account's password
is mqtt.password (or its password_file); when there is none, a new one is
written to DIR/ingest-password for mqtt.password_file.`,
		Example: `  qingliu gen mosquitto --out /etc/mosquitto/qingliu`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if out == "" {
				return badInputf("--out is required")
			}
			return runGenMosquitto(cmd.OutOrStdout(), cfgPath, out, credFile)
		},
	}
	fl := cmd.Flags()
	fl.StringVarP(&cfgPath, "config", "c", defaultConfig, "main configuration file")
	fl.StringVar(&out, "out", "", "directory to write passwd and acl into (required)")
	fl.StringVar(&credFile, "credentials", "", "station credentials file (default files.dev_credentials of the configuration)")
	return cmd
}

// genEnv loads what the gen commands need: the configuration, the registry
// and the known station passwords. credFile overrides files.dev_credentials.
func genEnv(cfgPath, credFile string) (*config.Config, *registry.Registry, map[string]string, error) {
	cfg, err := config.Load(cfgPath)
	if err != nil {
		return nil, nil, nil, badInput(fmt.Errorf("config:\n%w", err))
	}
	reg, err := registry.Load(cfg.Path(cfg.Files.Stations))
	if err != nil {
		return nil, nil, nil, badInput(fmt.Errorf("station registry:\n%w", err))
	}
	if credFile == "" && cfg.Files.DevCredentials != "" {
		credFile = cfg.Path(cfg.Files.DevCredentials)
	}
	pws, err := stationPasswords(reg, credFile)
	if err != nil {
		return nil, nil, nil, badInput(err)
	}
	return cfg, reg, pws, nil
}

func runGenCredentials(w io.Writer, cfgPath, station string, fresh bool, cost int) error {
	cfg, reg, pws, err := genEnv(cfgPath, "")
	if err != nil {
		return err
	}
	st, ok := reg.Station(station)
	switch {
	case !ok:
		return badInputf("--station: unknown station %q", station)
	case st.MQTT == nil && !fresh:
		return badInputf("station %s has no mqtt: login in %s; make one with --new", station, cfg.Files.Stations)
	}
	username := station
	if st.MQTT != nil {
		username = st.MQTT.Username
	}
	if fresh {
		if cost < auth.MinCost || cost > 31 {
			return badInputf("--cost %d: want %d..31", cost, auth.MinCost)
		}
		pw := auth.NewPassword()
		hash, err := auth.HashPassword(pw, cost)
		if err != nil {
			return err
		}
		fmt.Fprintf(w, "station   %s\nusername  %s\npassword  %s\n\n", station, username, pw)
		fmt.Fprintf(w, "Give the device this password; it is stored nowhere. In %s, station %s:\n", cfg.Files.Stations, station)
		if username == station {
			fmt.Fprintf(w, "    mqtt: {password_hash: %q}\n", hash)
		} else {
			fmt.Fprintf(w, "    mqtt: {username: %s, password_hash: %q}\n", username, hash)
		}
		fmt.Fprintf(w, "For Mosquitto, put the password in a file and name it instead:\n    mqtt: {password_file: secrets/mqtt/%s}\n", station)
		key := make([]byte, registry.MinPSK)
		if _, err := rand.Read(key); err != nil {
			return err
		}
		fmt.Fprintf(w, "\nCoAP over DTLS: PSK identity %s, key (hex) %x\n", station, key)
		fmt.Fprintf(w, "Give the device the identity and the key; put the key in a file (one line of hex) and name it:\n    coap: {psk_file: secrets/coap/%s}\n", station)
		return nil
	}
	pw, ok := pws[station]
	if !ok {
		return badInputf("the MQTT password of station %s is not known here: stations.yaml holds only its hash and the DEV ONLY credentials file (files.dev_credentials) has no entry; make a new one with --new", station)
	}
	fmt.Fprintf(w, "station   %s\nusername  %s\npassword  %s\ntopic     qingliu/v1/%s/json (the station may publish only under qingliu/v1/%s/)\n\n",
		station, username, pw, station, station)
	fmt.Fprintf(w, "Publish a reading as this station (mosquitto-clients):\n  %s\n", mosquittoPubExample(cfg, station, username, pw))
	if st.CoAP != nil {
		where := "coap.dtls_listen is not set in the configuration"
		if cfg.CoAP.DTLSListen != "" {
			where = "coaps://" + cfg.CoAP.DTLSListen + "/qingliu/v1/" + station
		}
		fmt.Fprintf(w, "\nCoAP over DTLS (%s):\npsk identity  %s\npsk (hex)     %x\n", where, station, st.CoAP.PSK)
	}
	return nil
}

// mosquittoPubExample is a mosquitto_pub command line for the embedded
// broker's MQTT listener.
func mosquittoPubExample(cfg *config.Config, station, username, password string) string {
	host, port := "127.0.0.1", "1883"
	if h, p, err := net.SplitHostPort(cfg.NATS.Embedded.MQTTListen); err == nil {
		if h != "" && h != "0.0.0.0" && h != "::" {
			host = h
		}
		port = p
	}
	tls := ""
	if cfg.NATS.Embedded.MQTTTLSCertFile != "" {
		ca := cfg.Path(cfg.MQTT.TLSCAFile)
		if ca == "" {
			ca = "ca.pem"
		}
		tls = " --cafile " + shellQuote(ca)
	}
	payload := `{"ts":"'"$(date -Iseconds)"'","values":{"ph":7.21,"do":6.8}}`
	return fmt.Sprintf("mosquitto_pub -h %s -p %s%s -q 1 -u %s -P %s -t qingliu/v1/%s/json -m '%s'",
		host, port, tls, shellQuote(username), shellQuote(password), station, payload)
}

func shellQuote(s string) string {
	if s != "" && strings.Trim(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.@/:") == "" {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

func runGenMosquitto(w io.Writer, cfgPath, out, credFile string) error {
	cfg, reg, pws, err := genEnv(cfgPath, credFile)
	if err != nil {
		return err
	}
	ingestUser := cfg.MQTT.Username
	if ingestUser == "" {
		ingestUser = "qingliu-ingest"
	}
	ingestPW, newIngestPW := cfg.MQTT.Password, cfg.MQTT.Password == ""
	if newIngestPW {
		ingestPW = auth.NewPassword()
	}
	accounts := []auth.Account{{Username: ingestUser, Password: ingestPW, Read: []string{"qingliu/v1/#"}}}
	var missing []string
	for _, st := range reg.Stations() {
		if st.MQTT == nil {
			continue
		}
		pw, ok := pws[st.ID]
		if !ok {
			missing = append(missing, st.ID)
			continue
		}
		accounts = append(accounts, auth.Account{Username: st.MQTT.Username, Password: pw,
			Write: []string{"qingliu/v1/" + st.ID + "/#"}})
	}
	if len(missing) > 0 {
		return badInputf("Mosquitto needs the password of every station, but stations.yaml has only a hash for %s: give them password_file or ${ENV}, or name a credentials file with --credentials",
			strings.Join(missing, ", "))
	}
	passwd, err := auth.MosquittoPasswd(accounts)
	if err != nil {
		return badInput(err)
	}
	acl, err := auth.MosquittoACL(accounts)
	if err != nil {
		return badInput(err)
	}
	if err := os.MkdirAll(out, 0o755); err != nil {
		return fmt.Errorf("--out: %w", err)
	}
	files := []struct {
		name string
		data []byte
	}{{"passwd", passwd}, {"acl", acl}}
	if newIngestPW {
		files = append(files, struct {
			name string
			data []byte
		}{"ingest-password", []byte(ingestPW + "\n")})
	}
	for _, f := range files {
		if err := writeFileAtomic(filepath.Join(out, f.name), f.data, 0o600); err != nil {
			return err
		}
	}
	fmt.Fprintf(w, "wrote %s (%d users) and %s\n", filepath.Join(out, "passwd"), len(accounts), filepath.Join(out, "acl"))
	if newIngestPW {
		fmt.Fprintf(w, "wrote %s: the password of %s; set mqtt.username: %s and mqtt.password_file: %s in qingliu.yaml\n",
			filepath.Join(out, "ingest-password"), ingestUser, ingestUser, filepath.Join(out, "ingest-password"))
	}
	fmt.Fprintf(w, "mosquitto.conf: allow_anonymous false, password_file %s, acl_file %s; both must be readable by the mosquitto user\n",
		filepath.Join(out, "passwd"), filepath.Join(out, "acl"))
	return nil
}

// writeFileAtomic writes data to a temporary file beside name and renames
// it over name, so that a broker never reads half a file.
func writeFileAtomic(name string, data []byte, perm os.FileMode) error {
	tmp, err := os.CreateTemp(filepath.Dir(name), "."+filepath.Base(name)+".*")
	if err != nil {
		return fmt.Errorf("write %s: %w", name, err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return fmt.Errorf("write %s: %w", name, err)
	}
	if err := tmp.Chmod(perm); err != nil {
		tmp.Close()
		return fmt.Errorf("write %s: %w", name, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("write %s: %w", name, err)
	}
	if err := os.Rename(tmp.Name(), name); err != nil {
		return fmt.Errorf("write %s: %w", name, err)
	}
	return nil
}

// stationPasswords returns the plain MQTT password of every station of reg
// whose password is known: from its password_file or ${ENV}, else from the
// station credentials file (DEV ONLY; empty file means none). A password
// from the file must match the station's hash. Problems name the file and
// the station, never a password.
func stationPasswords(reg *registry.Registry, file string) (map[string]string, error) {
	pws := map[string]string{}
	for _, st := range reg.Stations() {
		if st.MQTT != nil && st.MQTT.Password != "" {
			pws[st.ID] = st.MQTT.Password
		}
	}
	if file == "" {
		return pws, nil
	}
	dev, err := auth.LoadCredentials(file)
	if err != nil {
		return nil, fmt.Errorf("station credentials:\n%w", err)
	}
	ps := conf.Problems{File: file}
	for _, id := range sortedIDs(dev) {
		st, ok := reg.Station(id)
		path := "stations." + id
		switch {
		case !ok:
			ps.Addf(path, "unknown station %q", id)
		case st.MQTT == nil:
			ps.Addf(path, "station %s has no mqtt: login in the station registry", id)
		case st.MQTT.PasswordHash != "":
			if !auth.CheckPassword(st.MQTT.PasswordHash, dev[id]) {
				ps.Addf(path, "does not match the password_hash of station %s in the station registry", id)
				continue
			}
			pws[id] = dev[id]
		default:
			if subtle.ConstantTimeCompare([]byte(st.MQTT.Password), []byte(dev[id])) != 1 {
				ps.Addf(path, "differs from the password of station %s in the station registry", id)
			}
		}
	}
	if err := ps.Err(); err != nil {
		return nil, err
	}
	return pws, nil
}

// simCredentials turns known passwords into the simulator's per-station
// logins, and lists the stations that have one.
func simCredentials(reg *registry.Registry, pws map[string]string) (map[string]sim.Credential, []string) {
	creds := map[string]sim.Credential{}
	var ids []string
	for _, st := range reg.Stations() {
		if pw, ok := pws[st.ID]; ok && st.MQTT != nil {
			creds[st.ID] = sim.Credential{Username: st.MQTT.Username, Password: pw}
			ids = append(ids, st.ID)
		}
	}
	return creds, ids
}

func sortedIDs(m map[string]string) []string { return slices.Sorted(maps.Keys(m)) }
