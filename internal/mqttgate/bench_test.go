package mqttgate

import (
	"bytes"
	"fmt"
	"sync"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
)

// BenchmarkGateOverhead publishes QoS 1 messages from two paho clients to
// the embedded NATS MQTT listener, directly and through the gate (limits
// out of the way), alternating in the same run, and reports both rates and
// their ratio. Each client keeps 256 messages awaiting their PUBACK.
//
//	go test ./internal/mqttgate -run '^$' -bench GateOverhead -benchtime 5x
func BenchmarkGateOverhead(b *testing.B) {
	upstream, _ := natsUpstream(b)
	r := startGate(b, Config{RatePerSec: 1e9, Burst: 1e9}, upstream)
	const publishers, perRound, window = 2, 10_000, 256
	payload := bytes.Repeat([]byte("x"), 200)
	connect := func(broker, prefix string) []mqtt.Client {
		cs := make([]mqtt.Client, publishers)
		for i := range cs {
			cs[i] = device(b, broker, fmt.Sprintf("%s-%d", prefix, i), clientOpts{})
		}
		return cs
	}
	direct, gated := connect("tcp://"+upstream, "direct"), connect(r.url(), "gated")
	round := func(cs []mqtt.Client) time.Duration {
		start := time.Now()
		var wg sync.WaitGroup
		for _, c := range cs {
			wg.Go(func() {
				pending := make(chan mqtt.Token, window)
				var acks sync.WaitGroup
				acks.Go(func() {
					for tok := range pending {
						if !tok.WaitTimeout(30*time.Second) || tok.Error() != nil {
							b.Errorf("publish: %v", tok.Error())
						}
					}
				})
				for range perRound / publishers {
					pending <- c.Publish("qingliu/v1/bench/json", 1, false, payload)
				}
				close(pending)
				acks.Wait()
			})
		}
		wg.Wait()
		return time.Since(start)
	}
	var tDirect, tGate time.Duration
	for b.Loop() {
		tDirect += round(direct)
		tGate += round(gated)
	}
	msgs := float64(b.N * perRound)
	dr, gr := msgs/tDirect.Seconds(), msgs/tGate.Seconds()
	b.ReportMetric(dr, "direct_msgs/s")
	b.ReportMetric(gr, "gate_msgs/s")
	b.ReportMetric(gr/dr, "gate/direct")
}
