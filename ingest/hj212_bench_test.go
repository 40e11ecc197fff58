package ingest

import (
	"bytes"
	"fmt"
	"log/slog"
	"net"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/qingliu/qingliu/ingest/hj212"
	"github.com/qingliu/qingliu/internal/bus"
	"github.com/qingliu/qingliu/internal/testenv"
)

// hjBenchConns is the number of concurrent datalogger connections.
const hjBenchConns = 500

// BenchmarkHJ212Acked measures the HJ 212 listener end to end over loopback:
// 500 concurrent dataloggers, each sending 2011 real-time frames with nine
// water parameters and A=1, the next one as soon as the 9014 for the last
// arrived. Every ack waits for JetStream (file storage in b.TempDir()) to
// store the reading, through the real Pipeline and Publisher. b.N frames in
// total; each connection's reads are bounded by a 30 s deadline.
//
// Reported: frames/s accepted and acknowledged, and the p50/p99 latency from
// writing a frame to reading its ack, as the device sees it. The
// per-connection rate limit is raised to 1000 frames/s so that the
// benchmark measures the listener, not the policy.
//
//	go test ./ingest/ -run '^$' -bench HJ212Acked -benchtime 40000x
func BenchmarkHJ212Acked(b *testing.B) {
	var yaml strings.Builder
	yaml.WriteString("stations:\n")
	for i := range hjBenchConns {
		fmt.Fprintf(&yaml, "  - {id: bench-%03d, name: 基准%03d, medium: water, kind: municipal, river: 基准河, city: 清远, district: 清城区, lat: 23.7, lon: 113.0, target_class: III, params: {ph: 1h}, hj212: {mn: QLBENCH%05d, password: bench-Pw-%03d}}\n", i, i, i, i)
	}
	reg := hjRegistry(b, yaml.String())
	e := newHJEnvWith(b, HJ212Config{MaxConns: 2 * hjBenchConns, RatePerSec: 1000, Burst: 1000}, reg, slog.New(slog.DiscardHandler))

	// Frames are encoded before the clock starts: connection c sends
	// frames[c][j], DataTime j seconds before the ingest clock.
	per := (b.N + hjBenchConns - 1) / hjBenchConns
	frames := make([][][]byte, hjBenchConns)
	total := 0
	for c := range hjBenchConns {
		n := min(per, b.N-total)
		total += n
		frames[c] = make([][]byte, n)
		for j := range n {
			p := hjPacket(fmt.Sprintf("QLBENCH%05d", c), fmt.Sprintf("bench-Pw-%03d", c), "21", "2011", true, hjT0.Add(-time.Duration(j+1)*time.Second),
				hjVal{"w01010", hj212.Rtd, 20 + float64(j%10)/10, "N"}, hjVal{"w01001", hj212.Rtd, 7.2, "N"},
				hjVal{"w01009", hj212.Rtd, 6.8, "N"}, hjVal{"w01014", hj212.Rtd, 412, "N"},
				hjVal{"w01003", hj212.Rtd, 12.5, "N"}, hjVal{"w01019", hj212.Rtd, 3.1, "N"},
				hjVal{"w21003", hj212.Rtd, 0.42, "N"}, hjVal{"w21011", hj212.Rtd, 0.08, "N"},
				hjVal{"w21001", hj212.Rtd, 1.2, "N"})
			frames[c][j] = encode(b, p)
		}
	}
	conns := make([]net.Conn, hjBenchConns)
	for c := range conns {
		conn, err := net.Dial("tcp", e.src.Addr())
		if err != nil {
			b.Fatal(err)
		}
		defer conn.Close()
		conns[c] = conn
	}
	testenv.Eventually(b, 10*time.Second, "all connections served", func() bool {
		return e.metric("qingliu_hj212_connections") == hjBenchConns
	})
	before := e.streamCount(bus.StreamReadings)

	lat := make([][]time.Duration, hjBenchConns)
	errs := make(chan error, hjBenchConns)
	var wg sync.WaitGroup
	b.ResetTimer()
	start := time.Now()
	for c := range hjBenchConns {
		wg.Go(func() {
			conn, rd := conns[c], hj212.NewReader(conns[c], 0)
			lat[c] = make([]time.Duration, 0, len(frames[c]))
			conn.SetReadDeadline(time.Now().Add(30 * time.Second))
			for _, f := range frames[c] {
				t0 := time.Now()
				if _, err := conn.Write(f); err != nil {
					errs <- err
					return
				}
				ack, err := rd.ReadFrame()
				if err != nil {
					errs <- err
					return
				}
				if !bytes.Contains(ack, []byte("CN=9014")) {
					errs <- fmt.Errorf("reply %q is not a 9014", ack)
					return
				}
				lat[c] = append(lat[c], time.Since(t0))
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	select {
	case err := <-errs:
		b.Fatal(err)
	default:
	}
	if got := e.streamCount(bus.StreamReadings) - before; got != uint64(b.N) {
		b.Fatalf("%d readings stored for %d acked frames", got, b.N)
	}
	all := slices.Concat(lat...)
	slices.Sort(all)
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "frames/s")
	b.ReportMetric(float64(all[len(all)/2].Microseconds())/1000, "p50-ack-ms")
	b.ReportMetric(float64(all[len(all)*99/100].Microseconds())/1000, "p99-ack-ms")
}
