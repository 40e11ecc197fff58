package writer

import (
	"errors"
	"net/http"
	"strings"
	"time"

	ihttp "github.com/influxdata/influxdb-client-go/v2/api/http"
)

// class is what the writer does about a failed write.
type class int

const (
	// retry the same batch later: InfluxDB down, slow, overloaded, or
	// misconfigured (auth, missing bucket) — nothing in the data is wrong.
	classRetry class = iota
	// split the batch in two and write each half (413 Request Entity Too Large).
	classSplit
	// poison: the data itself was refused (400, 422). Split to isolate the
	// offending points; a single refused point goes to quarantine.
	classPoison
	// missingDB: the database does not exist; create it and retry.
	classMissingDB
)

func (c class) String() string {
	return [...]string{"retry", "split", "poison", "missing_database"}[c]
}

// classify sorts a write error like a mature output plugin does, and gives
// the server's Retry-After hint when there is one.
func classify(err error) (class, time.Duration) {
	var he *ihttp.Error
	if errors.As(err, &he) && he.StatusCode != 0 {
		after := time.Duration(he.RetryAfter) * time.Second
		// InfluxDB 1.8 says what is wrong in X-Influxdb-Error (its JSON body
		// is not the 2.x shape the client parses); 2.x in code and message.
		msg := strings.ToLower(he.Code + " " + he.Message + " " + he.Header.Get("X-Influxdb-Error"))
		switch {
		case he.StatusCode == http.StatusRequestEntityTooLarge:
			return classSplit, 0
		case he.StatusCode == http.StatusNotFound && (strings.Contains(msg, "database not found") || strings.Contains(msg, "bucket")):
			return classMissingDB, 0
		case he.StatusCode == http.StatusBadRequest, he.StatusCode == http.StatusUnprocessableEntity:
			return classPoison, 0
		case he.StatusCode == http.StatusTooManyRequests, he.StatusCode >= 500:
			return classRetry, after
		default:
			// 401, 403, 404 …: a configuration problem, not bad data. Keep
			// the readings in JetStream and retry until an operator fixes it.
			return classRetry, after
		}
	}
	// Timeouts, refused connections and anything else without a status:
	// InfluxDB is down or slow, so keep the readings and retry.
	return classRetry, 0
}
