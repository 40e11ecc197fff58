package ingest

import (
	"context"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/qingliu/qingliu/internal/bus"
	"github.com/qingliu/qingliu/internal/testenv"
)

// busRig is what every source test stands on: a real embedded JetStream with
// the streams, and a running Publisher.
type busRig struct {
	js   jetstream.JetStream
	prom *prometheus.Registry
	pub  *Publisher
	// stopPub stops the publisher and waits for it.
	stopPub func()
}

func newBusRig(t testing.TB, name string, log *slog.Logger) *busRig {
	t.Helper()
	srv := testenv.NATS(t)
	nc, err := srv.Connect(name)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc, jetstream.WithPublishAsyncMaxPending(16384))
	if err != nil {
		t.Fatal(err)
	}
	if err := bus.Ensure(context.Background(), js, bus.Config{}); err != nil {
		t.Fatal(err)
	}
	prom := prometheus.NewRegistry()
	pub := NewPublisher(js, 8192, NewMetrics(prom), log)
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() { _ = pub.Run(ctx) })
	return &busRig{js: js, prom: prom, pub: pub, stopPub: func() { cancel(); wg.Wait() }}
}

// runSource runs a source until stop is called or the test ends, then stops
// the publisher; it returns once the source says it is ready. stop cancels
// Run and returns its error, once.
func (r *busRig) runSource(t testing.TB, what string, run func(context.Context) error, ready func() error) (stop func() error) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	runErr := make(chan error, 1)
	go func() { runErr <- run(ctx) }()
	var once sync.Once
	var err error
	stop = func() error {
		once.Do(func() { cancel(); err = <-runErr })
		return err
	}
	t.Cleanup(func() {
		if err := stop(); err != nil {
			t.Errorf("%s Run: %v", what, err)
		}
		r.stopPub()
	})
	testenv.Eventually(t, 5*time.Second, what+" ready", func() bool { return ready() == nil })
	return stop
}
