package mqttgate

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
)

// Disconnect reasons (qingliu_mqtt_gate_disconnects_total{reason}).
const (
	ReasonEOF                 = "eof"                  // the device closed the connection (or sent DISCONNECT)
	ReasonUpstreamClosed      = "upstream_closed"      // the broker closed it (refused login, keep-alive, protocol error)
	ReasonPacketTooLarge      = "packet_too_large"     // a packet's remaining length over MaxPacketBytes
	ReasonRateLimited         = "rate_limited"         // throttled on every packet for FloodTimeout
	ReasonMalformed           = "malformed"            // not MQTT: a bad fixed header, or a first packet other than CONNECT
	ReasonConnectTimeout      = "connect_timeout"      // no CONNECT within ConnectTimeout
	ReasonTLS                 = "tls"                  // the TLS handshake failed
	ReasonUpstreamUnreachable = "upstream_unreachable" // the broker could not be dialled
	ReasonMaxConns            = "max_conns"            // refused at accept: MaxConns open already
	ReasonShutdown            = "shutdown"             // the gate is stopping
	ReasonError               = "error"                // a read or write error
)

var reasons = []string{ReasonEOF, ReasonUpstreamClosed, ReasonPacketTooLarge, ReasonRateLimited, ReasonMalformed,
	ReasonConnectTimeout, ReasonTLS, ReasonUpstreamUnreachable, ReasonMaxConns, ReasonShutdown, ReasonError}

// metrics are the gate's collectors. Labels are bounded: packet type names
// and the reasons above, never a client id, user name or station.
type metrics struct {
	conns        prometheus.Gauge
	accepted     prometheus.Counter
	packets      [16]prometheus.Counter
	bytes        prometheus.Counter
	throttled    prometheus.Counter
	throttleWait prometheus.Counter
	disconnects  *prometheus.CounterVec
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	packets := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "qingliu_mqtt_gate_packets_total",
		Help: "MQTT packets forwarded from devices to the broker, by packet type.",
	}, []string{"type"})
	m := &metrics{
		conns: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "qingliu_mqtt_gate_connections", Help: "Open device connections through the MQTT gate.",
		}),
		accepted: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "qingliu_mqtt_gate_connections_total", Help: "Device connections accepted by the MQTT gate.",
		}),
		bytes: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "qingliu_mqtt_gate_received_bytes_total", Help: "Bytes read from devices by the MQTT gate.",
		}),
		throttled: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "qingliu_mqtt_gate_throttled_packets_total",
			Help: "Device packets held back by the per-connection rate limit.",
		}),
		throttleWait: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "qingliu_mqtt_gate_throttle_wait_seconds_total",
			Help: "Time device connections were not read because of the per-connection rate limit.",
		}),
		disconnects: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "qingliu_mqtt_gate_disconnects_total",
			Help: "Device connections closed or refused by the MQTT gate, by reason (eof, upstream_closed, packet_too_large, rate_limited, malformed, connect_timeout, tls, upstream_unreachable, max_conns, shutdown, error).",
		}, []string{"reason"}),
	}
	for t := range m.packets {
		m.packets[t] = packets.WithLabelValues(PacketType(t).String())
	}
	for _, r := range reasons {
		m.disconnects.WithLabelValues(r) // present at 0 from the start
	}
	for _, c := range []prometheus.Collector{m.conns, m.accepted, packets, m.bytes, m.throttled, m.throttleWait, m.disconnects} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("mqtt gate: register metrics: %w", err)
		}
	}
	return m, nil
}
