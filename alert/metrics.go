package alert

import "github.com/prometheus/client_golang/prometheus"

type metrics struct {
	transitions   *prometheus.CounterVec
	notifications *prometheus.CounterVec
	sendSeconds   *prometheus.HistogramVec
	outbox        prometheus.Counter
	records       prometheus.Gauge
	firing        prometheus.Gauge
	leader        prometheus.Gauge
	api           *prometheus.CounterVec
	storeErrors   prometheus.Counter
	sseClients    prometheus.Gauge
	sseDropped    prometheus.Counter
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		transitions: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "qingliu_alert_transitions_total",
			Help: "Alert transitions applied, by event (redeliveries are not counted)."}, []string{"event"}),
		notifications: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "qingliu_alert_notifications_total",
			Help: "Delivery attempts by receiver and result (sent, retry, failed, duplicate)."}, []string{"receiver", "result"}),
		sendSeconds: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "qingliu_alert_send_duration_seconds",
			Help: "Time of one delivery attempt by channel.", Buckets: prometheus.ExponentialBuckets(0.001, 4, 9)}, []string{"channel"}),
		outbox: prometheus.NewCounter(prometheus.CounterOpts{Name: "qingliu_alert_outbox_published_total",
			Help: "Messages stored in the outbox."}),
		records: prometheus.NewGauge(prometheus.GaugeOpts{Name: "qingliu_alert_records",
			Help: "Alert records held (active and resolved within retention)."}),
		firing: prometheus.NewGauge(prometheus.GaugeOpts{Name: "qingliu_alert_firing",
			Help: "Alerts firing now."}),
		leader: prometheus.NewGauge(prometheus.GaugeOpts{Name: "qingliu_alert_leader",
			Help: "1 while this replica holds the alert lease (consumes transitions, runs timers)."}),
		api: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "qingliu_alert_api_requests_total",
			Help: "Alert API requests by operation and status code."}, []string{"op", "code"}),
		storeErrors: prometheus.NewCounter(prometheus.CounterOpts{Name: "qingliu_alert_store_errors_total",
			Help: "Failed writes to the alert store or outbox (the batch is retried)."}),
		sseClients: prometheus.NewGauge(prometheus.GaugeOpts{Name: "qingliu_alert_sse_clients",
			Help: "Open event streams (GET /api/v1/events)."}),
		sseDropped: prometheus.NewCounter(prometheus.CounterOpts{Name: "qingliu_alert_sse_dropped_total",
			Help: "Event streams ended because the client fell behind (told to resync)."}),
	}
	reg.MustRegister(m.transitions, m.notifications, m.sendSeconds, m.outbox, m.records, m.firing, m.leader, m.api, m.storeErrors,
		m.sseClients, m.sseDropped)
	return m
}
