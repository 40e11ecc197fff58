package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/qingliu/qingliu/alert/notify"
	"github.com/qingliu/qingliu/domain"
	"github.com/qingliu/qingliu/internal/testenv"
)

type lockedBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuf) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}
func (l *lockedBuf) String() string { l.mu.Lock(); defer l.mu.Unlock(); return l.b.String() }

// TestAlertSinkVerifiesAndDedupes posts a signed CloudEvent twice and a
// forged one to the dev sink.
func TestAlertSinkVerifiesAndDedupes(t *testing.T) {
	hp, sp := testenv.FreePort(t), testenv.FreePort(t)
	var out lockedBuf
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	secret := []byte("dev-webhook-secret-gz-0001")
	go func() {
		done <- runSink(ctx, &out, fmt.Sprintf("127.0.0.1:%d", hp), fmt.Sprintf("127.0.0.1:%d", sp), map[string][]byte{"gz": secret}, time.Minute)
	}()
	url := fmt.Sprintf("http://127.0.0.1:%d/hooks/gz", hp)
	wh := notify.NewWebhook(notify.WebhookConfig{URL: url, Secret: secret, Source: "/qingliu/alert"}, nil, time.Now)
	m := &notify.Message{ID: "a:1:gz-webhook", Receiver: "gz-webhook", Agency: "gz", Created: time.Now(),
		Items: []notify.Item{{ID: "a:1:gz-webhook", Event: notify.EventFiring, Alert: notify.Alert{ID: "a", Level: domain.Red, Station: "bj-shijiao"}}}}
	testenv.Eventually(t, 5*time.Second, "sink up", func() bool { return wh.Notify(t.Context(), m) == nil })
	if err := wh.Notify(t.Context(), m); err != nil {
		t.Fatal(err)
	}
	forged := notify.NewWebhook(notify.WebhookConfig{URL: url, Secret: []byte("wrong-secret-0000000"), Source: "x"}, nil, time.Now)
	if err := forged.Notify(t.Context(), m); err == nil {
		t.Fatal("forged webhook accepted")
	}
	resp, err := http.Post(fmt.Sprintf("http://127.0.0.1:%d/sms", hp), "application/json", strings.NewReader(`{"content":"x"}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	var verified, dup, rejected, sms int
	for _, line := range strings.Split(strings.TrimSpace(out.String()), "\n") {
		var v map[string]any
		if err := json.Unmarshal([]byte(line), &v); err != nil {
			t.Fatalf("line %q: %v", line, err)
		}
		switch {
		case v["verified"] == true:
			verified++
		case v["duplicate"] != nil:
			dup++
		case v["rejected"] != nil:
			rejected++
		case v["sms"] != nil:
			sms++
		}
	}
	if verified != 1 || dup != 1 || rejected != 1 || sms != 1 {
		t.Fatalf("verified %d duplicate %d rejected %d sms %d:\n%s", verified, dup, rejected, sms, out.String())
	}
}
