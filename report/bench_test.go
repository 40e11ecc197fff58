package report

import (
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/qingliu/qingliu/domain"
	"github.com/qingliu/qingliu/registry"
)

// BenchmarkWaterMonth is the pure part of `qingliu report water` at the
// issue's size: 30 sections × one month (31 days) of hourly readings of
// ph, do, codmn, nh3n and tp (111 600 values, 1 % of them flagged M),
// aggregated and classified. Reports ns/op and rows/s (sections) and
// values/s.
func BenchmarkWaterMonth(b *testing.B) {
	set, _ := load(b)
	const sections = 30
	var yaml []byte
	yaml = append(yaml, "stations:\n"...)
	for i := range sections {
		yaml = fmt.Appendf(yaml, "  - {id: s%02d, name: 断面%d, medium: water, kind: boundary, river: 测河, city: 清远, district: 清城区, lat: 23.9, lon: 113.0, target_class: III, params: {ph: 1h, do: 1h, codmn: 1h, nh3n: 1h, tp: 1h}}\n", i, i)
	}
	yaml = append(yaml, "rivers:\n  - name: 测河\n    sections:\n"...)
	for i := range sections {
		if i == sections-1 {
			yaml = fmt.Appendf(yaml, "      - {station: s%02d}\n", i)
		} else {
			yaml = fmt.Appendf(yaml, "      - {station: s%02d, travel_to_next: 1h}\n", i)
		}
	}
	path := b.TempDir() + "/stations.yaml"
	if err := writeFile(path, yaml); err != nil {
		b.Fatal(err)
	}
	reg, err := registry.Load(path)
	if err != nil {
		b.Fatal(err)
	}
	from := day("2026-10-01")
	p := Period{From: from, To: day("2026-11-01")}
	hours := int(p.To.Sub(p.From) / time.Hour)
	var pts []Point
	for i := range sections {
		id := fmt.Sprintf("s%02d", i)
		for _, param := range []string{"ph", "do", "codmn", "nh3n", "tp"} {
			for h := range hours {
				pt := Point{Station: id, Param: param, Time: from.Add(time.Duration(h) * time.Hour), Value: 0.1 + float64((h*7+i)%10)/10}
				if param == "ph" {
					pt.Value = 7 + pt.Value
				}
				if (h+i)%100 == 0 {
					pt.Flag = domain.FlagMaintenance
				}
				pts = append(pts, pt)
			}
		}
	}
	sts, err := Select(reg, domain.Water, nil)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		rep, err := BuildWater(set.Water, reg, sts, p, pts)
		if err != nil || len(rep.Sections) != sections {
			b.Fatal(err)
		}
	}
	sec := b.Elapsed().Seconds()
	b.ReportMetric(float64(b.N*sections)/sec, "rows/s")
	b.ReportMetric(float64(b.N*len(pts))/sec, "values/s")
}

func writeFile(path string, data []byte) error { return os.WriteFile(path, data, 0o600) }
