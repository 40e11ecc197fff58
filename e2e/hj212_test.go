package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/qingliu/qingliu/ingest/hj212"
	"github.com/qingliu/qingliu/internal/bus"
	"github.com/qingliu/qingliu/internal/testenv"
	"github.com/qingliu/qingliu/registry"
)

// hj212Station is a shipped station with an HJ 212 identity.
func hj212Station(t *testing.T) *registry.Station {
	t.Helper()
	reg, err := registry.Load(filepath.Join(testenv.RepoRoot(t), "configs", "stations.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range reg.Stations() {
		if s.HJ212 != nil && s.HJ212.CRCMode == "standard" && s.Medium == "water" {
			return s
		}
	}
	t.Fatal("no water station with an HJ 212 identity in configs/stations.yaml")
	return nil
}

// hj212Reply reads the next reply frame from the listener.
func hj212Reply(t *testing.T, conn net.Conn, rd *hj212.Reader) hj212.Packet {
	t.Helper()
	conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	f, err := rd.ReadFrame()
	if err != nil {
		t.Fatalf("read reply: %v", err)
	}
	p, _, err := hj212.ParseFrame(f)
	if err != nil {
		t.Fatalf("reply %q: %v", f, err)
	}
	return p
}

// A datalogger speaks HJ 212 to `qingliu up` with the shipped registry: its
// real-time and hourly uploads are acked (9014) and land in InfluxDB as two
// points at the same instant, told apart by the interval tag; a wrong
// password is refused (9011 QnRtn=3) and quarantined; SIGTERM stops cleanly.
func TestHJ212DataloggerToInfluxDB(t *testing.T) {
	influx := testenv.StartInflux(t)
	s := newStack(t, influx, stackOptions{})
	p := s.start("up")
	st := hj212Station(t)

	conn, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", s.ports.HJ212))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	rd := hj212.NewReader(conn, 0)
	hour := time.Now().Add(-time.Hour).Truncate(time.Hour)
	send := func(cn, pw, qn string, stat hj212.Stat, ph float64) {
		t.Helper()
		pk := hj212.Packet{QN: qn, ST: "21", CN: cn, PW: pw, MN: st.HJ212.MN, Flag: 5, HasFlag: true, DataTime: hour}
		v := hj212.Value{Code: "w01001", Flag: "N"}
		v.Set(stat, ph)
		pk.CP.Values = []hj212.Value{v}
		f, err := hj212.Encode(pk)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := conn.Write(f); err != nil {
			t.Fatal(err)
		}
	}

	send(hj212.CNRealtime, st.HJ212.Password, "20261126140000001", hj212.Rtd, 7.11)
	if r := hj212Reply(t, conn, rd); r.CN != hj212.CNDataAck || r.QN != "20261126140000001" {
		t.Fatalf("reply to 2011: %v", r)
	}
	send(hj212.CNHourly, st.HJ212.Password, "20261126140000002", hj212.Avg, 7.22)
	if r := hj212Reply(t, conn, rd); r.CN != hj212.CNDataAck || r.QN != "20261126140000002" {
		t.Fatalf("reply to 2061: %v", r)
	}
	send(hj212.CNRealtime, "not-the-password", "20261126140000003", hj212.Rtd, 7.33)
	r := hj212Reply(t, conn, rd)
	if rtn, _ := r.CP.Field("QnRtn"); r.CN != hj212.CNQnRtn || rtn != "3" {
		t.Fatalf("reply to a wrong password: %v QnRtn=%s", r, rtn)
	}

	q := fmt.Sprintf(`SELECT ph, "interval" FROM water WHERE station = '%s' AND time = %d`, st.ID, hour.UnixNano())
	testenv.Eventually(t, 30*time.Second, "both points in influxdb", func() bool {
		series, err := influx.Query(s.db, q)
		return err == nil && len(series) == 1 && len(series[0].Values) == 2
	})
	series, err := influx.Query(s.db, q)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{}
	for _, row := range series[0].Values {
		iv, _ := row[2].(string)
		ph, _ := row[1].(json.Number).Float64()
		got[iv] = ph
	}
	if got[""] != 7.11 || got["hour"] != 7.22 {
		t.Errorf("points at %v by interval: %v, want real-time 7.11 untagged and hourly 7.22 tagged hour", hour, got)
	}

	js := jsConn(t, s.ports.NATS)
	testenv.Eventually(t, 10*time.Second, "the refused frame in quarantine", func() bool {
		str, err := js.Stream(context.Background(), bus.StreamQuarantine)
		if err != nil {
			return false
		}
		m, err := str.GetLastMsgForSubject(context.Background(), bus.QuarantineSubject("hj212"))
		return err == nil && m.Header.Get(bus.HdrCode) == "bad_password" && !strings.Contains(string(m.Data), "not-the-password")
	})

	resp, err := http.Get("http://" + p.http + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{
		`qingliu_hj212_frames_total{cn="2011",result="accepted"} 1`,
		`qingliu_hj212_frames_total{cn="2061",result="accepted"} 1`,
		`qingliu_hj212_refusals_total{reason="bad_password"} 1`,
		`qingliu_hj212_ack_seconds_count ` + strconv.Itoa(2),
	} {
		if !strings.Contains(string(body), want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	p.stop()
	if out := p.out.String(); strings.Contains(out, st.HJ212.Password+";") || strings.Contains(out, "not-the-password") {
		t.Error("a password appears in the log")
	}
}
