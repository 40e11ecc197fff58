package report

import (
	"encoding/csv"
	"fmt"
	"io"
	"strconv"
	"strings"

	"golang.org/x/text/width"
)

// WaterHeader is the header of the water report's CSV and table: the
// columns of the 交接断面 attainment table (粤环〔2014〕61号), then the
// station id, the readings used and the completeness; the CSV adds the
// period mean of every item that any row has.
var WaterHeader = []string{"责任城市", "交接断面", "所处河流", "交接关系", "水质控制目标", "水质类别", "达标", "主要超标项目/超标倍数", "station", "readings", "completeness"}

// waterRow is the fixed columns of one section.
func waterRow(s *Section) []string {
	class, meets := "未评价", ""
	if s.Class != nil {
		class = s.Class.String()
	}
	if s.MeetsTarget != nil {
		meets = "否"
		if *s.MeetsTarget {
			meets = "是"
		}
	}
	var ex []string
	for _, e := range s.Exceeding {
		if e.Multiple == nil {
			ex = append(ex, e.Name)
			continue
		}
		ex = append(ex, e.Name+" "+strconv.FormatFloat(*e.Multiple, 'f', -1, 64))
	}
	return []string{s.City, s.Name, s.River, s.Handover, s.Target.String(), class, meets, strings.Join(ex, "、"),
		s.Station, strconv.Itoa(s.Readings), formatShare(s.Completeness)}
}

// formatShare prints a share 0..1 as a percentage with one decimal.
func formatShare(v float64) string { return strconv.FormatFloat(v*100, 'f', 1, 64) + "%" }

// WriteCSV writes the report as CSV (UTF-8, header first): the fixed
// columns, then one column per item with its period mean (empty where the
// section has none).
func (r *Water) WriteCSV(w io.Writer) error {
	items := r.itemColumns()
	cw := csv.NewWriter(w)
	head := append(append([]string{}, WaterHeader...), items...)
	if err := cw.Write(head); err != nil {
		return err
	}
	for i := range r.Sections {
		s := &r.Sections[i]
		row := waterRow(s)
		for _, k := range items {
			cell := ""
			for _, im := range s.Items {
				if im.Item == k {
					cell = strconv.FormatFloat(im.Mean, 'f', -1, 64)
				}
			}
			row = append(row, cell)
		}
		if err := cw.Write(row); err != nil {
			return err
		}
	}
	cw.Flush()
	return cw.Error()
}

// itemColumns lists the items any section has a mean of, in table order.
func (r *Water) itemColumns() []string {
	seen := map[string]bool{}
	for _, s := range r.Sections {
		for _, im := range s.Items {
			seen[im.Item] = true
		}
	}
	var out []string
	for _, k := range r.order {
		if seen[k] {
			out = append(out, k)
		}
	}
	return out
}

// WriteTable writes the report as an aligned text table for people, with
// the period on the first line.
func (r *Water) WriteTable(w io.Writer) error {
	rows := [][]string{WaterHeader}
	for i := range r.Sections {
		rows = append(rows, waterRow(&r.Sections[i]))
	}
	if _, err := fmt.Fprintf(w, "%s  %s – %s\n", r.Standard, r.From, r.To); err != nil {
		return err
	}
	return writeAligned(w, rows)
}

// AirHeader is the header of the air report's CSV and table.
var AirHeader = []string{"station", "name", "city", "date", "standard", "aqi", "level", "category", "primary",
	"so2", "no2", "co", "pm10", "pm25", "o3_8h", "o3_1h", "missing"}

func airRow(r *Air, s *AirStation) []string {
	aqiS, level, cat := "NA", "", ""
	if s.AQI != nil {
		aqiS, level, cat = strconv.Itoa(*s.AQI), strconv.Itoa(*s.Level), *s.Category
	}
	row := []string{s.Station, s.Name, s.City, r.Date, r.Standard, aqiS, level, cat, strings.Join(s.Primary, " ")}
	for _, k := range AirHeader[9:16] {
		cell := ""
		for _, p := range s.Pollutants {
			if p.Key == k {
				cell = "NA"
				if p.Value != nil {
					cell = strconv.FormatFloat(*p.Value, 'f', -1, 64)
				}
			}
		}
		row = append(row, cell)
	}
	return append(row, strings.Join(s.Missing, " "))
}

// WriteCSV writes the report as CSV (UTF-8, header first). Pollutant
// columns hold the daily value, NA when it is not valid, and are empty for
// an indicator the day's standard does not report (o3_1h after 2026-03-01).
func (r *Air) WriteCSV(w io.Writer) error {
	cw := csv.NewWriter(w)
	if err := cw.Write(AirHeader); err != nil {
		return err
	}
	for i := range r.Stations {
		if err := cw.Write(airRow(r, &r.Stations[i])); err != nil {
			return err
		}
	}
	cw.Flush()
	return cw.Error()
}

// WriteTable writes the report as an aligned text table for people,
// without the columns empty on every row (o3_1h after 2026-03-01).
func (r *Air) WriteTable(w io.Writer) error {
	rows := [][]string{AirHeader}
	for i := range r.Stations {
		rows = append(rows, airRow(r, &r.Stations[i]))
	}
	var keep []int
	for c := range AirHeader {
		for _, row := range rows[1:] {
			if row[c] != "" {
				keep = append(keep, c)
				break
			}
		}
	}
	for i, row := range rows {
		out := make([]string, 0, len(keep))
		for _, c := range keep {
			out = append(out, row[c])
		}
		rows[i] = out
	}
	return writeAligned(w, rows)
}

// writeAligned pads columns to their display width, counting East Asian wide
// and fullwidth characters (Chinese names) as two columns, which
// text/tabwriter does not.
func writeAligned(w io.Writer, rows [][]string) error {
	var widths []int
	for _, row := range rows {
		for i, c := range row {
			if i >= len(widths) {
				widths = append(widths, 0)
			}
			widths[i] = max(widths[i], displayWidth(c))
		}
	}
	var b strings.Builder
	for _, row := range rows {
		b.Reset()
		for i, c := range row {
			b.WriteString(c)
			if i < len(row)-1 {
				b.WriteString(strings.Repeat(" ", widths[i]-displayWidth(c)+2))
			}
		}
		if _, err := io.WriteString(w, strings.TrimRight(b.String(), " ")+"\n"); err != nil {
			return err
		}
	}
	return nil
}

// displayWidth is the number of terminal columns s takes.
func displayWidth(s string) int {
	n := 0
	for _, r := range s {
		switch width.LookupRune(r).Kind() {
		case width.EastAsianWide, width.EastAsianFullwidth:
			n += 2
		default:
			n++
		}
	}
	return n
}
