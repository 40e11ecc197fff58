package ingest

import (
	"testing"

	"github.com/qingliu/qingliu/domain"
	"github.com/qingliu/qingliu/internal/bus"
)

// BenchmarkProcessJSON is ingest's CPU per MQTT message without the network:
// decode, validate and normalise a 7-parameter JSON v1 report, then build
// its READINGS body and dedupe id.
func BenchmarkProcessJSON(b *testing.B) {
	p := NewPipeline(testRegistry(b), Limits{})
	payload := []byte(`{"ts":"2026-11-26T14:00:00+08:00","seq":1042,"values":{"temp":21.3,"ph":7.21,"do":6.8,"cond":250.5,"turb":12.1,"nh3n":0.42,"tp":0.08}}`)
	b.ReportAllocs()
	for b.Loop() {
		res := p.Process(domain.SourceMQTT, "bj-gaoqiao", FormatJSON, payload, testNow)
		if len(res.Readings) != 1 {
			b.Fatal(res.Rejects)
		}
		if _, err := readingMsg(&res.Readings[0]); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkMsgID(b *testing.B) {
	p := NewPipeline(testRegistry(b), Limits{})
	res := p.Process(domain.SourceMQTT, "bj-gaoqiao", FormatJSON, []byte(`{"ts":"2026-11-26T14:00:00+08:00","values":{"temp":21.3,"ph":7.21,"do":6.8,"cond":250.5,"turb":12.1,"nh3n":0.42,"tp":0.08}}`), testNow)
	b.ReportAllocs()
	for b.Loop() {
		_ = bus.MsgID(&res.Readings[0])
	}
}
