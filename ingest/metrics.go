package ingest

import "github.com/prometheus/client_golang/prometheus"

// Metrics are the ingest stage's Prometheus collectors. Labels never carry
// station ids or other unbounded values.
type Metrics struct {
	messages      *prometheus.CounterVec
	readings      *prometheus.CounterVec
	rejects       *prometheus.CounterVec
	publishErrors prometheus.Counter
	inflight      prometheus.Gauge
	skew          prometheus.Histogram
	connected     prometheus.Gauge
}

// NewMetrics registers the ingest metrics with reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		messages: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "qingliu_ingest_messages_total", Help: "Payloads received, by source and format.",
		}, []string{"source", "format"}),
		readings: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "qingliu_ingest_readings_total", Help: "Station reports accepted, by medium.",
		}, []string{"medium"}),
		rejects: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "qingliu_ingest_rejects_total", Help: "Payloads, elements or values quarantined, by source and reason.",
		}, []string{"source", "reason"}),
		publishErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "qingliu_ingest_publish_errors_total", Help: "JetStream publish attempts that failed and were retried.",
		}),
		inflight: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "qingliu_ingest_inflight_payloads", Help: "Payloads waiting for their JetStream acks.",
		}),
		skew: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "qingliu_ingest_clock_skew_seconds",
			Help:    "Ingest time minus observation time of accepted reports (negative: device clock ahead).",
			Buckets: []float64{-300, -60, -10, -1, 0, 1, 10, 60, 300, 3600, 86400},
		}),
		connected: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "qingliu_ingest_mqtt_connected", Help: "1 while the ingest MQTT client is connected.",
		}),
	}
	reg.MustRegister(m.messages, m.readings, m.rejects, m.publishErrors, m.inflight, m.skew, m.connected)
	return m
}
