package notify_test

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/qingliu/qingliu/alert/notify"
	"github.com/qingliu/qingliu/domain"
	"github.com/qingliu/qingliu/internal/broker"
	"github.com/qingliu/qingliu/internal/testenv"
)

const (
	natsSubject = "ql.notify.alerts"
	natsSource  = "/qingliu/alert"
)

// natsMessage is a delivery to the bus receiver with two items: a firing
// alert and an escalated one.
func natsMessage() *notify.Message {
	a := testAlert()
	b := testAlert()
	b.ID, b.Ref, b.Station, b.StationName, b.Level, b.LevelZH, b.PrevLevel = "nh3n-high/qy-qixinggang/nh3n",
		"fedcba9876543210", "qy-qixinggang", "七星岗", domain.Orange, domain.Orange.Chinese(), domain.Yellow
	return &notify.Message{ID: "d-5f1c", Receiver: "bus-nats", Agency: "bus",
		Created: time.Date(2026, 11, 26, 6, 0, 5, 0, time.UTC), Items: []notify.Item{
			{ID: a.ID + ":2:bus-nats", Event: notify.EventFiring, Alert: a},
			{ID: b.ID + ":3:bus-nats", Event: notify.EventEscalated, Alert: b},
		}}
}

func connect(t *testing.T, srv *broker.Server, opts ...nats.Option) *nats.Conn {
	t.Helper()
	nc, err := srv.Connect(t.Name(), opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	return nc
}

// TestNATSPublish subscribes to the subject and checks each message: the
// subject with the event, the Nats-Msg-Id and Content-Type headers and the
// CloudEvent.
func TestNATSPublish(t *testing.T) {
	srv := testenv.NATS(t)
	nc := connect(t, srv)
	sub, err := nc.SubscribeSync(natsSubject + ".>")
	if err != nil {
		t.Fatal(err)
	}
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	m := natsMessage()
	if err := notify.NewNATS(nc, natsSubject, natsSource).Notify(t.Context(), m); err != nil {
		t.Fatalf("notify: %v", err)
	}
	for i, want := range []struct{ subject, id, typ string }{
		{natsSubject + ".firing", "nh3n-high/bj-shijiao/nh3n:2:bus-nats", "cn.qingliu.alert.firing"},
		{natsSubject + ".escalated", "nh3n-high/qy-qixinggang/nh3n:3:bus-nats", "cn.qingliu.alert.escalated"},
	} {
		msg, err := sub.NextMsg(waitFor)
		if err != nil {
			t.Fatalf("message %d: %v", i, err)
		}
		if msg.Subject != want.subject {
			t.Errorf("message %d: subject %q, want %q", i, msg.Subject, want.subject)
		}
		if got := msg.Header.Get(nats.MsgIdHdr); got != want.id {
			t.Errorf("message %d: Nats-Msg-Id %q, want %q", i, got, want.id)
		}
		if got := msg.Header.Get("Content-Type"); got != "application/cloudevents+json; charset=utf-8" {
			t.Errorf("message %d: Content-Type %q", i, got)
		}
		var env map[string]any
		if err := json.Unmarshal(msg.Data, &env); err != nil {
			t.Fatalf("message %d: %v: %s", i, err, msg.Data)
		}
		for k, v := range map[string]any{
			"specversion": "1.0", "type": want.typ, "source": natsSource, "id": want.id,
			"time": "2026-11-26T06:00:05Z", "subject": m.Items[i].Alert.ID, "datacontenttype": "application/json",
			"qlagency": "bus", "qldelivery": "d-5f1c",
		} {
			if env[k] != v {
				t.Errorf("message %d: %s = %v, want %v", i, k, env[k], v)
			}
		}
		var ev struct {
			Data notify.Alert `json:"data"`
		}
		if err := json.Unmarshal(msg.Data, &ev); err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(ev.Data, m.Items[i].Alert) {
			t.Errorf("message %d: data\n got %+v\nwant %+v", i, ev.Data, m.Items[i].Alert)
		}
		data := env["data"].(map[string]any)
		if i == 0 && (data["level"] != "red" || data["summary_zh"] != "北江石角氨氮红色预警" || data["station"] != "bj-shijiao") {
			t.Errorf("message 0: data level=%v summary_zh=%v station=%v", data["level"], data["summary_zh"], data["station"])
		}
	}
	// Nothing else was published: the next message is the one sent after.
	if err := nc.Publish(natsSubject+".end", nil); err != nil {
		t.Fatal(err)
	}
	if msg, err := sub.NextMsg(waitFor); err != nil || msg.Subject != natsSubject+".end" {
		t.Fatalf("after the delivery: %v %v", msg, err)
	}
}

// TestNATSJetStreamDedupe checks that a JetStream stream on the subject
// keeps one copy of each notification when a delivery is retried.
func TestNATSJetStreamDedupe(t *testing.T) {
	srv := testenv.NATS(t)
	nc := connect(t, srv)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	stream, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "NOTIFY_TEST", Subjects: []string{natsSubject + ".>"},
		Storage: jetstream.MemoryStorage, Duplicates: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	n := notify.NewNATS(nc, natsSubject, natsSource)
	m := natsMessage()
	for range 3 { // the first attempt and two retries
		if err := n.Notify(ctx, m); err != nil {
			t.Fatalf("notify: %v", err)
		}
	}
	// A later notification of the first alert has a new id and is kept.
	later := &notify.Message{ID: "d-6a2e", Receiver: m.Receiver, Agency: m.Agency, Created: m.Created,
		Items: []notify.Item{{ID: m.Items[0].Alert.ID + ":4:bus-nats", Event: notify.EventUpdated, Alert: m.Items[0].Alert}}}
	if err := n.Notify(ctx, later); err != nil {
		t.Fatalf("notify: %v", err)
	}
	// The stream takes this connection's messages in order: the sequence of
	// an acknowledged marker counts what it kept before.
	ack, err := js.Publish(ctx, natsSubject+".marker", nil)
	if err != nil {
		t.Fatal(err)
	}
	if ack.Sequence != 4 || ack.Duplicate {
		t.Fatalf("marker at sequence %d (duplicate %v): the stream kept %d notifications, want 3", ack.Sequence, ack.Duplicate, ack.Sequence-1)
	}
	for seq, want := range map[uint64][2]string{
		1: {natsSubject + ".firing", m.Items[0].ID},
		2: {natsSubject + ".escalated", m.Items[1].ID},
		3: {natsSubject + ".updated", later.Items[0].ID},
	} {
		raw, err := stream.GetMsg(ctx, seq)
		if err != nil {
			t.Fatal(err)
		}
		if raw.Subject != want[0] || raw.Header.Get(nats.MsgIdHdr) != want[1] {
			t.Errorf("sequence %d: %s %q, want %s %q", seq, raw.Subject, raw.Header.Get(nats.MsgIdHdr), want[0], want[1])
		}
	}
}

// TestNATSServerDown checks that publishing while the server is down, or on
// a closed connection, is a retryable error.
func TestNATSServerDown(t *testing.T) {
	t.Run("disconnected", func(t *testing.T) {
		srv := testenv.NATS(t)
		down := make(chan struct{}, 1)
		nc := connect(t, srv, nats.DisconnectErrHandler(func(*nats.Conn, error) {
			select {
			case down <- struct{}{}:
			default:
			}
		}))
		srv.Shutdown()
		select {
		case <-down:
		case <-time.After(waitFor):
			t.Fatal("client did not notice the server going down")
		}
		// The client buffers the publish while it reconnects; the flush
		// cannot complete, so the deadline ends the attempt.
		ctx, cancel := context.WithTimeout(t.Context(), 200*time.Millisecond)
		defer cancel()
		err := notify.NewNATS(nc, natsSubject, natsSource).Notify(ctx, natsMessage())
		if perm, _ := notify.Classify(err); err == nil || perm {
			t.Fatalf("error %v, want a retryable one", err)
		}
		if !strings.Contains(err.Error(), "nats notifier") {
			t.Errorf("error without context: %v", err)
		}
	})
	t.Run("closed", func(t *testing.T) {
		nc := connect(t, testenv.NATS(t))
		nc.Close()
		err := notify.NewNATS(nc, natsSubject, natsSource).Notify(t.Context(), natsMessage())
		if perm, _ := notify.Classify(err); err == nil || perm || !errors.Is(err, nats.ErrConnectionClosed) {
			t.Fatalf("error %v, want a retryable ErrConnectionClosed", err)
		}
	})
}

// TestNATSTooLarge checks that a notification larger than the server's
// max_payload is permanent: retrying cannot make it fit.
func TestNATSTooLarge(t *testing.T) {
	srv, err := broker.Start(broker.Config{Listen: "127.0.0.1:0", StoreDir: t.TempDir(), MaxPayload: 1024},
		slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Shutdown)
	nc := connect(t, srv)
	m := natsMessage()
	m.Items[0].Alert.Reason = strings.Repeat("氨氮超标", 200)
	err = notify.NewNATS(nc, natsSubject, natsSource).Notify(t.Context(), m)
	if perm, _ := notify.Classify(err); err == nil || !perm || !errors.Is(err, nats.ErrMaxPayload) {
		t.Fatalf("error %v, want a permanent ErrMaxPayload", err)
	}
}
