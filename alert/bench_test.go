package alert

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/qingliu/qingliu/alert/notify"
	"github.com/qingliu/qingliu/domain"
	"github.com/qingliu/qingliu/internal/testenv"
)

// BenchmarkFanOutBurst publishes a burst of 1 000 joint transitions to
// ALERTS and waits until each reached the 3 webhook receivers (gz, qy,
// joint; real HTTP with signatures verified) through the durable outbox:
// records and outbox entries stored before the transitions are acked. The
// gz email receiver is replaced by a no-op so that only webhooks count.
func BenchmarkFanOutBurst(b *testing.B) {
	for b.Loop() {
		b.StopTimer()
		g := newRig(b)
		g.start("bench", map[string]Notifier{"gz-email": notifierFunc(func(context.Context, *notify.Message) error { return nil })})
		const n = 1000
		trs := make([]*domain.Transition, n)
		for i := range trs {
			tr := trans(fmt.Sprintf("bench/%d", i), 1, "bj-shijiao", domain.Firing, domain.Red, "广州", "清远")
			tr.Kind = "joint"
			trs[i] = tr
		}
		b.StartTimer()
		start := time.Now()
		for _, tr := range trs {
			g.publish(tr)
		}
		testenv.Eventually(b, 120*time.Second, "3000 webhooks", func() bool {
			return len(g.gz.applied())+len(g.qy.applied())+len(g.joint.applied()) >= 3*n
		})
		el := time.Since(start)
		b.ReportMetric(float64(3*n)/el.Seconds(), "notifications/s")
		b.ReportMetric(el.Seconds(), "s/burst")
	}
}
