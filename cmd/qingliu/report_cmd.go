package main

import (
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/spf13/cobra"

	"github.com/qingliu/qingliu/domain"
	"github.com/qingliu/qingliu/internal/config"
	"github.com/qingliu/qingliu/registry"
	"github.com/qingliu/qingliu/report"
)

// The analysts' reports over InfluxDB: `qingliu report water` (the monthly
// attainment table of the water sections) and `qingliu report air` (the
// daily AQI report). The classification is package report's, over the
// standards tables; this file parses flags and fetches the points.

type reportFlags struct {
	cfgPath, stdDir, format string
	stations                []string
}

func (f *reportFlags) add(cmd *cobra.Command) {
	fl := cmd.Flags()
	fl.StringVarP(&f.cfgPath, "config", "c", defaultConfig, "main configuration file (influxdb section, files.stations)")
	fl.StringVar(&f.stdDir, "standards", "", standardsFlagUsage)
	fl.StringVar(&f.format, "format", "json", "output: json, csv (UTF-8 with a header) or table")
	fl.StringSliceVar(&f.stations, "station", nil, "station id (repeat, or comma-separated); default every station of the medium")
	cmd.SilenceUsage = true
	cmd.SilenceErrors = true
	cmd.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return badInput(err) })
}

func newReportCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "report water|air",
		Short: "Reports over the readings in InfluxDB: water-section attainment, daily AQI",
		Args:  cobra.ArbitraryArgs,
		RunE: func(_ *cobra.Command, args []string) error {
			if len(args) > 0 {
				return badInputf("report: unknown report %q: want water or air", args[0])
			}
			return badInputf("report: give water or air")
		},
	}
	cmd.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return badInput(err) })
	cmd.AddCommand(newReportWaterCmd(), newReportAirCmd())
	return cmd
}

func newReportWaterCmd() *cobra.Command {
	var f reportFlags
	var from, to string
	cmd := &cobra.Command{
		Use:   "water --from DATE --to DATE [--station ID ...] [--format json|csv|table]",
		Short: "The water sections' attainment table of a period (GB 3838 single-factor evaluation)",
		Long: `Report every water section (or those of --station) over the period from
--from 00:00 to --to 00:00 (Asia/Shanghai days; --to is exclusive): the
period mean of each GB 3838 item from the readings in InfluxDB, the section's
class by single-factor evaluation (its target class, lake flag and
class_items from stations.yaml), 达标 against the target, the items worse
than the target with their 超标倍数, the readings used and the completeness.
Rows follow each river of stations.yaml from upstream to downstream, like
the 交接断面 tables of 粤环〔2014〕61号: 责任城市, 交接断面, 所处河流, 交接关系,
水质控制目标, 水质类别, 达标, 主要超标项目/超标倍数.

Readings flagged C, M, D, F, S or B never enter a mean (T and N do).
Where a station sent HJ 212 hourly aggregates (interval=hour) for an item,
the mean is over those; else over its samples. Completeness is the share of
the period's reporting slots (the station's interval for the item in
stations.yaml) holding a valid reading; a section's is its weakest evaluated
item. A section with no valid reading of an evaluated item is not
evaluated: class and meets_target are null (未评价 in csv and table).`,
		Example: "  qingliu report water --from 2026-10-01 --to 2026-11-01 --format table",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := checkFormat(f.format); err != nil {
				return err
			}
			start, err := parseReportDate("--from", from)
			if err != nil {
				return err
			}
			end, err := parseReportDate("--to", to)
			if err != nil {
				return err
			}
			if !start.Before(end) {
				return badInputf("report water: --from %s is not before --to %s", from, to)
			}
			cfg, reg, sts, err := reportEnv(&f, domain.Water)
			if err != nil {
				return err
			}
			set, err := loadStandards(f.stdDir)
			if err != nil {
				return err
			}
			var params []string
			for _, it := range set.Water.Items() {
				params = append(params, it.Key)
			}
			p := report.Period{From: start, To: end}
			pts, err := queryPoints(cmd.Context(), cfg.InfluxDB, domain.Water, stationIDs(sts), params, p)
			if err != nil {
				return err
			}
			rep, err := report.BuildWater(set.Water, reg, sts, p, pts)
			if err != nil {
				return err
			}
			return writeReport(cmd.OutOrStdout(), f.format, rep, rep)
		},
	}
	f.add(cmd)
	cmd.Flags().StringVar(&from, "from", "", "first day, YYYY-MM-DD (Asia/Shanghai)")
	cmd.Flags().StringVar(&to, "to", "", "day after the last, YYYY-MM-DD (exclusive)")
	return cmd
}

func newReportAirCmd() *cobra.Command {
	var f reportFlags
	var date string
	cmd := &cobra.Command{
		Use:   "air --date DATE [--station ID ...] [--format json|csv|table]",
		Short: "The daily air-quality report of a day (HJ 633 daily AQI)",
		Long: `Report every air station (or those of --station) for one Asia/Shanghai day:
the 24-h means of so2 no2 co pm10 pm25 and the O3 daily maximum 8-h mean
(with HJ 633-2012 also the O3 daily maximum 1-h mean) from the readings in
InfluxDB, and the daily AQI, level, category and primary pollutants by the
HJ 633 version in force that day.

Hourly means leave out readings flagged C, M, D, F, S or B; a station's HJ
212 hourly aggregates (interval=hour) are used where present. The validity
rules are those of the standards tables (gb3095-validity.yaml): a 24-h mean
needs 20 valid hours, the O3 daily maximum 8-h mean 14 valid 8-h windows
(or fewer above 160). A pollutant without a valid daily value has value
null and is listed in missing; the AQI is then published only as the
standard allows (HJ 633-2026: above 100), else it is NA (aqi null, na true).`,
		Example: "  qingliu report air --date 2026-11-20 --station aq-huadu-shifan",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := checkFormat(f.format); err != nil {
				return err
			}
			day, err := parseReportDate("--date", date)
			if err != nil {
				return err
			}
			cfg, _, sts, err := reportEnv(&f, domain.Air)
			if err != nil {
				return err
			}
			set, err := loadStandards(f.stdDir)
			if err != nil {
				return err
			}
			if _, err := set.AQI.Lookup(day); err != nil {
				return badInputf("report air: --date %s: %v", date, err)
			}
			p := report.Period{From: day, To: day.Add(24 * time.Hour)}
			pts, err := queryPoints(cmd.Context(), cfg.InfluxDB, domain.Air, stationIDs(sts), []string{"so2", "no2", "co", "pm10", "pm25", "o3"}, p)
			if err != nil {
				return err
			}
			rep, err := report.BuildAir(set.AQI, sts, day, pts)
			if err != nil {
				return err
			}
			return writeReport(cmd.OutOrStdout(), f.format, rep, rep)
		},
	}
	f.add(cmd)
	cmd.Flags().StringVar(&date, "date", "", "the day, YYYY-MM-DD (Asia/Shanghai)")
	return cmd
}

func checkFormat(format string) error {
	switch format {
	case "json", "csv", "table":
		return nil
	}
	return badInputf("--format %q: want json, csv or table", format)
}

// parseReportDate parses an Asia/Shanghai day and returns its 00:00.
func parseReportDate(flag, s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, badInputf("%s is required (YYYY-MM-DD)", flag)
	}
	t, err := time.ParseInLocation(time.DateOnly, s, chinaStandardTime)
	if err != nil {
		return time.Time{}, badInputf("%s %q: want a date YYYY-MM-DD", flag, s)
	}
	return t, nil
}

// reportEnv loads the configuration and registry and selects the stations.
func reportEnv(f *reportFlags, m domain.Medium) (*config.Config, *registry.Registry, []*registry.Station, error) {
	cfg, err := config.Load(f.cfgPath)
	if err != nil {
		return nil, nil, nil, badInput(fmt.Errorf("config: %s", oneLineError(err)))
	}
	reg, err := registry.Load(cfg.Path(cfg.Files.Stations))
	if err != nil {
		return nil, nil, nil, badInput(fmt.Errorf("station registry: %s", oneLineError(err)))
	}
	sts, err := report.Select(reg, m, f.stations)
	switch {
	case errors.Is(err, report.ErrUnknownStation), errors.Is(err, report.ErrWrongMedium):
		return nil, nil, nil, badInputf("--station: %v", err)
	case err != nil:
		return nil, nil, nil, err
	}
	return cfg, reg, sts, nil
}

func stationIDs(sts []*registry.Station) []string {
	ids := make([]string, len(sts))
	for i, st := range sts {
		ids[i] = st.ID
	}
	return ids
}

// tabular is a report with CSV and table renderings.
type tabular interface {
	WriteCSV(io.Writer) error
	WriteTable(io.Writer) error
}

func writeReport(w io.Writer, format string, v any, t tabular) error {
	switch format {
	case "csv":
		return t.WriteCSV(w)
	case "table":
		return t.WriteTable(w)
	}
	return writeStandardsJSON(w, v)
}
