package main

import (
	"bytes"
	"strings"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
	"github.com/qingliu/qingliu/internal/testenv"
)

const simTestStations = "../../configs/stations.yaml"

// runSimCmd runs `qingliu sim args…` under the root command, as main wires it.
func runSimCmd(t *testing.T, args ...string) (stdout string, err error) {
	t.Helper()
	root := newRootCmd()
	root.AddCommand(newSimCmd())
	var out, errOut bytes.Buffer
	root.SetOut(&out)
	root.SetErr(&errOut)
	root.SetArgs(append([]string{"sim"}, args...))
	err = root.ExecuteContext(t.Context())
	return out.String(), err
}

func TestSimCmdBadInput(t *testing.T) {
	for _, c := range []struct {
		args []string
		want []string
	}{
		{[]string{"--event", "station=bj-gaoqiao,param=nh3n,pek=3.5"}, []string{"--event", `unknown key "pek"`}},
		{[]string{"--event", "station=bj-gaoqiao,param=nh3n"}, []string{`missing key "peak"`}},
		{[]string{"--event", "station=bj-gaoqiao,param=pm25,peak=3"}, []string{`station "bj-gaoqiao" does not report "pm25"`}},
		{[]string{"--event", "station=bj-nowhere,param=nh3n,peak=3"}, []string{`unknown station "bj-nowhere"`}},
		{[]string{"--stuck", "station=bj-lixi,param=do,after=later"}, []string{"--stuck", `key "after"`}},
		{[]string{"--silent", "station=bj-lixi,for=x"}, []string{"--silent", `key "for"`}},
		{[]string{"--malformed", "2"}, []string{"malformed"}},
		{[]string{"--malformed", "lots"}, []string{"malformed"}},
		{[]string{"--qos", "2"}, []string{"--qos"}},
		{[]string{"--start", "yesterday"}, []string{"--start"}},
		{[]string{"--until", "-1h"}, []string{"--until"}},
		{[]string{"--stations", "bj-gaoqiao,ghost"}, []string{`unknown station "ghost"`}},
		{[]string{"--speedup", "0"}, []string{"speedup"}},
		{[]string{"--publishers", "0"}, []string{"publishers"}},
		{[]string{"--stations-file", "testdata/does-not-exist.yaml"}, []string{"station registry"}},
		{[]string{"--no-such-flag"}, []string{"no-such-flag"}},
	} {
		args := append([]string{"--stations-file", simTestStations, "--broker", "tcp://127.0.0.1:1"}, c.args...)
		_, err := runSimCmd(t, args...)
		if err == nil {
			t.Errorf("%v: no error", c.args)
			continue
		}
		if code := exitCode(err); code != 2 {
			t.Errorf("%v: exit %d, want 2 (%v)", c.args, code, err)
		}
		for _, w := range c.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%v: error %q does not mention %q", c.args, err, w)
			}
		}
	}
}

func TestSimParseStart(t *testing.T) {
	now := time.Date(2026, 11, 26, 6, 0, 0, 0, time.UTC)
	for in, want := range map[string]time.Time{
		"-72h":                      now.Add(-72 * time.Hour),
		"2026-11-26T14:00:00+08:00": now,
	} {
		got, err := parseSimStart(in, now)
		if err != nil || !got.Equal(want) {
			t.Errorf("%s: %v %v, want %v", in, got, err, want)
		}
	}
}

func TestSimCmdPublishes(t *testing.T) {
	broker := testenv.NATS(t).MQTTAddr()
	received := make(chan string, 1000)
	c := mqtt.NewClient(mqtt.NewClientOptions().AddBroker(broker).SetClientID("sim-cmd-sub"))
	if tok := c.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("connect: %v", tok.Error())
	}
	t.Cleanup(func() { c.Disconnect(100) })
	tok := c.Subscribe("qingliu/v1/+/json", 1, func(_ mqtt.Client, m mqtt.Message) { received <- m.Topic() })
	if !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("subscribe: %v", tok.Error())
	}

	t.Setenv(simPasswordEnv, "unused-by-this-broker")
	out, err := runSimCmd(t, "--stations-file", simTestStations, "--broker", broker, "--client-id", "sim-cmd-test",
		"--stations", "bj-gaoqiao,bj-lixi", "--speedup", "inf", "--count", "40", "--start", "2026-11-20T00:00:00+08:00",
		"--event", "station=bj-gaoqiao,param=nh3n,peak=3.5,start=+2m", "--duplicates", "0.1", "--log-level", "warn")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, "published 40, acked 40, failed 0") {
		t.Errorf("output %q", out)
	}
	deadline := time.After(20 * time.Second)
	topics := map[string]int{}
	for n := 0; n < 40; n++ {
		select {
		case tp := <-received:
			topics[tp]++
		case <-deadline:
			t.Fatalf("received %d of 40: %v", n, topics)
		}
	}
	if topics["qingliu/v1/bj-gaoqiao/json"] == 0 || topics["qingliu/v1/bj-lixi/json"] == 0 {
		t.Errorf("topics %v", topics)
	}
}
