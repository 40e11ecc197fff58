package e2e

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/qingliu/qingliu/domain"
	"github.com/qingliu/qingliu/internal/testenv"
	"github.com/qingliu/qingliu/registry"
)

// The rules engine's derived series reach InfluxDB through the DERIVED
// stream and the writer: the water class of each section as readings arrive,
// and the hourly AQI of an air station once its hour is complete.
func TestDerivedSeriesInInfluxDB(t *testing.T) {
	influx := testenv.StartInflux(t)
	s := newStack(t, influx, stackOptions{})
	s.start("up")
	c := publisher(t, s.mqttURL(), "e2e-derived")

	// A water section: two readings, class V on ammonia (1.6 mg/L), above
	// the yellow nh3n-high threshold (1.5) of the shipped rules.
	water := waterStations(t)[0]
	t0 := time.Now().Add(-2 * time.Hour).Truncate(time.Hour)
	for i := range 2 {
		p := fmt.Sprintf(`{"ts":%q,"values":{"ph":7.2,"do":7.5,"nh3n":1.6,"codmn":3,"tp":0.05}}`, t0.Add(time.Duration(i)*time.Minute).Format(time.RFC3339))
		if !publish(c, "qingliu/v1/"+water.ID+"/json", []byte(p)) {
			t.Fatal("publish water")
		}
	}
	testenv.Eventually(t, 30*time.Second, "water_class point", func() bool {
		rows, err := influx.Query(s.db, fmt.Sprintf(`SELECT class, nh3n_class FROM water_class WHERE station = '%s'`, water.ID))
		return err == nil && len(rows) == 1 && len(rows[0].Values) > 0 && rows[0].Values[0][1] == "V" && rows[0].Values[0][2] == "V"
	})
	testenv.Eventually(t, 30*time.Second, "the nh3n-high transition in the alerts measurement", func() bool {
		rows, err := influx.Query(s.db, fmt.Sprintf(`SELECT alert_id, seq FROM alerts WHERE station = '%s' AND rule = 'nh3n-high' AND status = 'firing' AND level = 'yellow'`, water.ID))
		return err == nil && len(rows) == 1 && len(rows[0].Values) == 1 && rows[0].Values[0][1] == "nh3n-high/"+water.ID+"/nh3n"
	})

	// An air station: a full hour of 5-minute readings, then one in the
	// next hour closes it.
	var air string
	for _, st := range allStations(t) {
		if st.Medium == domain.Air {
			air = st.ID
			break
		}
	}
	for i := range 13 {
		p := fmt.Sprintf(`{"ts":%q,"values":{"pm25":60,"pm10":90,"so2":10,"no2":30,"co":0.8,"o3":80}}`, t0.Add(time.Duration(i*5)*time.Minute).Format(time.RFC3339))
		if !publish(c, "qingliu/v1/"+air+"/json", []byte(p)) {
			t.Fatal("publish air")
		}
	}
	testenv.Eventually(t, 30*time.Second, "aqi point for the hour", func() bool {
		rows, err := influx.Query(s.db, fmt.Sprintf(`SELECT aqi, "primary" FROM aqi WHERE station = '%s' AND period = '1h'`, air))
		if err != nil || len(rows) == 0 || len(rows[0].Values) == 0 {
			return false
		}
		v := rows[0].Values[0]
		aqi, _ := v[1].(json.Number).Int64()
		return aqi > 50 && v[2] == "pm25"
	})
}

func allStations(t *testing.T) []*registry.Station {
	t.Helper()
	reg, err := registry.Load(filepath.Join(testenv.RepoRoot(t), "configs", "stations.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	return reg.Stations()
}
