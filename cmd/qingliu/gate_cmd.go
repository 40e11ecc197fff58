package main

import (
	"crypto/tls"
	"fmt"
	"net"

	"github.com/spf13/cobra"

	"github.com/qingliu/qingliu/internal/auth"
	"github.com/qingliu/qingliu/internal/config"
	"github.com/qingliu/qingliu/internal/mqttgate"
)

// newGateCmd is `qingliu gate`: the MQTT gate of `qingliu up` on its own,
// in front of Mosquitto or EMQX, with the limits of mqtt_gate in
// qingliu.yaml and its metrics on http.listen.
func newGateCmd() *cobra.Command {
	var cfgPath, listen, upstream, certFile, keyFile string
	cmd := &cobra.Command{
		Use:   "gate --upstream HOST:PORT",
		Short: "Run the per-connection MQTT limits (mqtt_gate) in front of another broker",
		Long: `Accept device MQTT connections on --listen and forward each to the broker at
--upstream, limiting every connection as mqtt_gate in qingliu.yaml says: a
packet over max_packet_bytes disconnects the device, one that publishes faster
than rate_per_sec is read more slowly, and one throttled for flood_timeout is
disconnected. The broker still checks logins and ACLs. Metrics
(qingliu_mqtt_gate_*) are on http.listen.

Move the broker's device listener to a loopback port and let the gate take
the public one; the hop from the gate to the broker is plain TCP. With
--tls-cert-file and --tls-key-file the gate speaks TLS to devices.`,
		Example: `  qingliu gate --listen 0.0.0.0:1883 --upstream 127.0.0.1:1884
  qingliu gate --listen 0.0.0.0:8883 --upstream 127.0.0.1:1884 --tls-cert-file server.pem --tls-key-file server-key.pem`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if _, _, err := net.SplitHostPort(upstream); err != nil {
				return badInputf("--upstream %q: want the broker's host:port, e.g. 127.0.0.1:1884", upstream)
			}
			if (certFile == "") != (keyFile == "") {
				return badInputf("give both --tls-cert-file and --tls-key-file, or neither")
			}
			var tlsCfg *tls.Config
			if certFile != "" {
				var err error
				if tlsCfg, err = auth.ServerTLS(certFile, keyFile); err != nil {
					return badInput(fmt.Errorf("gate tls: %w", err))
				}
			}
			e, err := loadEnv(cfgPath)
			if err != nil {
				return err
			}
			g, err := buildGate(e, listen, upstream, tlsCfg)
			if err != nil {
				return err
			}
			e.log.Info("qingliu gate", "version", version, "listen", g.Addr(), "upstream", upstream, "http", e.admin.Addr())
			return runLayers(cmd.Context(), []component{{"http", e.admin.Run}}, []component{{"mqtt-gate", g.Run}})
		},
	}
	cmd.Flags().StringVarP(&cfgPath, "config", "c", defaultConfig, "main configuration file (mqtt_gate limits, http.listen, log)")
	cmd.Flags().StringVar(&listen, "listen", "127.0.0.1:1883", "address devices connect to")
	cmd.Flags().StringVar(&upstream, "upstream", "", "the broker's plain TCP MQTT address, host:port (required)")
	cmd.Flags().StringVar(&certFile, "tls-cert-file", "", "PEM certificate: speak TLS to devices")
	cmd.Flags().StringVar(&keyFile, "tls-key-file", "", "PEM private key of --tls-cert-file")
	_ = cmd.MarkFlagRequired("upstream")
	return cmd
}

// buildGate builds the MQTT gate from mqtt_gate and binds its listener, so
// that a port in use fails the start.
func buildGate(e *env, listen, upstream string, tlsCfg *tls.Config) (*mqttgate.Gate, error) {
	g, err := mqttgate.New(gateConfig(e.cfg.MQTTGate, listen, upstream, tlsCfg), e.prom, e.log.With("component", "mqtt-gate"))
	if err != nil {
		return nil, err
	}
	if err := g.Listen(); err != nil {
		return nil, err
	}
	e.admin.AddCheck("mqtt_gate", true, g.Ready)
	return g, nil
}

func gateConfig(c config.MQTTGate, listen, upstream string, tlsCfg *tls.Config) mqttgate.Config {
	return mqttgate.Config{
		Listen:         listen,
		Upstream:       upstream,
		TLS:            tlsCfg,
		MaxConns:       c.MaxConns,
		MaxPacketBytes: c.MaxPacketBytes,
		RatePerSec:     c.RatePerSec,
		Burst:          c.Burst,
		BytesPerSec:    float64(c.BytesPerSec),
		FloodTimeout:   c.FloodTimeout.D(),
	}
}
