package main

import (
	"context"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/qingliu/qingliu/domain"
	"github.com/qingliu/qingliu/internal/config"
	"github.com/qingliu/qingliu/report"
)

// queryPoints reads the values and flags of params at stations over period
// p from measurement m: the thin InfluxDB side of `qingliu report`. Flags
// are the <param>_flag string fields the writer stores where a flag is not
// N; each is joined to the value of the same series and instant.
func queryPoints(ctx context.Context, c config.InfluxDB, m domain.Medium, stations, params []string, p report.Period) ([]report.Point, error) {
	if len(stations) == 0 {
		return nil, nil
	}
	client := newInflux(c)
	defer client.Close()
	if _, err := client.Ping(ctx); err != nil {
		return nil, fmt.Errorf("influxdb at %s not reachable: %w", c.URL, err)
	}
	res, err := client.QueryAPI(c.Org).Query(ctx, fluxPoints(c.BucketName(), m, stations, params, p))
	if err != nil {
		return nil, fmt.Errorf("query influxdb at %s: %w", c.URL, err)
	}
	defer res.Close()

	type key struct {
		station, param, interval string
		t                        int64
	}
	var pts []report.Point
	flags := map[key]domain.Flag{}
	for res.Next() {
		r := res.Record()
		station, _ := r.ValueByKey("station").(string)
		interval, _ := r.ValueByKey("interval").(string)
		field := r.Field()
		if param, ok := strings.CutSuffix(field, "_flag"); ok {
			if s, ok := r.Value().(string); ok {
				flags[key{station, param, interval, r.Time().UnixNano()}] = domain.Flag(s)
			}
			continue
		}
		var v float64
		switch x := r.Value().(type) {
		case float64:
			v = x
		case int64:
			v = float64(x)
		default:
			continue
		}
		pts = append(pts, report.Point{Station: station, Param: field, Time: r.Time(), Value: v, Interval: domain.Interval(interval)})
	}
	if err := res.Err(); err != nil {
		return nil, fmt.Errorf("query influxdb at %s: %w", c.URL, err)
	}
	if len(flags) > 0 {
		for i := range pts {
			pt := &pts[i]
			if f, ok := flags[key{pt.Station, pt.Param, string(pt.Interval), pt.Time.UnixNano()}]; ok {
				pt.Flag = f
			}
		}
	}
	return pts, nil
}

var reFluxSafe = regexp.MustCompile(`^[A-Za-z0-9_-]+$`)

// fluxPoints is the query of queryPoints. Station ids and parameter keys
// come from the registry and the standards tables ([A-Za-z0-9_-]); anything
// else is quoted as a Flux string.
func fluxPoints(bucket string, m domain.Medium, stations, params []string, p report.Period) string {
	var st []string
	for _, s := range stations {
		st = append(st, "r.station == "+strconv.Quote(s))
	}
	var fields []string
	for _, k := range params {
		if reFluxSafe.MatchString(k) {
			fields = append(fields, k)
		}
	}
	return fmt.Sprintf(`from(bucket: %s)
  |> range(start: %s, stop: %s)
  |> filter(fn: (r) => r._measurement == %s)
  |> filter(fn: (r) => %s)
  |> filter(fn: (r) => r._field =~ /^(%s)(_flag)?$/)
  |> keep(columns: ["_time", "_value", "_field", "station", "interval"])`,
		strconv.Quote(bucket), p.From.UTC().Format(time.RFC3339Nano), p.To.UTC().Format(time.RFC3339Nano),
		strconv.Quote(string(m)), strings.Join(st, " or "), strings.Join(fields, "|"))
}
