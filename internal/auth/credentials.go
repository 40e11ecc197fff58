package auth

import (
	"cmp"
	"fmt"
	"maps"
	"regexp"
	"slices"

	"github.com/qingliu/qingliu/internal/conf"
)

// CredentialsFile is the YAML shape of a station credentials file such as
// configs/dev-credentials.yaml: the plain MQTT password of each station, by
// station id. It is for development and tests only — `qingliu sim` and
// `qingliu gen credentials` read it; the broker never does (it checks the
// hashes in stations.yaml).
type CredentialsFile struct {
	Stations map[string]string `yaml:"stations"`
}

var reStationID = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)

// LoadCredentials reads a station credentials file strictly (unknown keys
// are errors) and returns the passwords by station id. Every problem is a
// *conf.Error naming file and path; none contains a password.
func LoadCredentials(file string) (map[string]string, error) {
	var c CredentialsFile
	if err := conf.LoadStrict(file, &c); err != nil {
		return nil, err
	}
	ps := conf.Problems{File: file}
	if len(c.Stations) == 0 {
		ps.Addf("stations", "no station credentials")
	}
	for _, id := range slices.SortedFunc(maps.Keys(c.Stations), cmp.Compare) {
		switch pw := c.Stations[id]; {
		case !reStationID.MatchString(id):
			ps.Addf("stations."+id, "%q is not a station id ([A-Za-z0-9_-]{1,64})", id)
		case pw == "":
			ps.Addf("stations."+id, "empty password")
		case len(pw) > 72:
			ps.Addf("stations."+id, "password longer than 72 bytes (bcrypt's limit)")
		}
	}
	if err := ps.Err(); err != nil {
		return nil, err
	}
	return c.Stations, nil
}

// CredentialsYAML renders passwords (by station id) as a credentials file,
// sorted by id, under header (comment lines, each starting with #).
func CredentialsYAML(header string, passwords map[string]string) []byte {
	b := []byte(header)
	b = append(b, "stations:\n"...)
	for _, id := range slices.SortedFunc(maps.Keys(passwords), cmp.Compare) {
		b = fmt.Appendf(b, "  %s: %q\n", id, passwords[id])
	}
	return b
}
