#!/usr/bin/env bash
# make run: InfluxDB 1.8.10 with its data under ./data/influxdb, then
# `qingliu up --sim` in the foreground. Ctrl-C stops both cleanly.
set -euo pipefail
BIN=${1:-bin/qingliu}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
DATA=$ROOT/data/influxdb
mkdir -p "$DATA"
cat > "$DATA/influxdb.conf" <<CONF
reporting-disabled = true
bind-address = "127.0.0.1:8088"
[meta]
  dir = "$DATA/meta"
[data]
  dir = "$DATA/data"
  wal-dir = "$DATA/wal"
  query-log-enabled = false
[http]
  enabled = true
  bind-address = "127.0.0.1:8086"
  log-enabled = false
  flux-enabled = true
[monitor]
  store-enabled = false
CONF

influx_pid=""
if curl -fsS -o /dev/null http://127.0.0.1:8086/ping 2>/dev/null; then
  echo "InfluxDB already answers on 127.0.0.1:8086; using it"
else
  "$ROOT/tools/bin/influxd" -config "$DATA/influxdb.conf" >"$DATA/influxd.log" 2>&1 &
  influx_pid=$!
  for _ in $(seq 1 100); do
    curl -fsS -o /dev/null http://127.0.0.1:8086/ping 2>/dev/null && break
    if ! kill -0 "$influx_pid" 2>/dev/null; then
      echo "InfluxDB failed to start; see $DATA/influxd.log:" >&2
      tail -5 "$DATA/influxd.log" >&2
      exit 1
    fi
    sleep 0.2
  done
  echo "InfluxDB 1.8.10 on http://127.0.0.1:8086 (data in data/influxdb, log in data/influxdb/influxd.log)"
fi
stop_influx() {
  if [ -n "$influx_pid" ]; then
    kill "$influx_pid" 2>/dev/null || true
    wait "$influx_pid" 2>/dev/null || true
  fi
}
trap stop_influx EXIT
trap 'exit 130' INT TERM

cat <<MSG
Qingliu is starting: MQTT 127.0.0.1:1883, NATS 127.0.0.1:4222, HTTP http://127.0.0.1:8080 (/metrics, /readyz).
Duty console:    http://127.0.0.1:8080/console/  (sign in with an agency token from configs/routing.yaml, e.g. dev-token-guangzhou-0001)
Query the rows:  curl -s 'http://127.0.0.1:8086/query?db=qingliu' --data-urlencode 'q=SELECT * FROM water ORDER BY time DESC LIMIT 5'
Ctrl-C stops everything.
MSG
cd "$ROOT"
# EVENT (make run EVENT=station=bj-gaoqiao,param=nh3n,start=+1m,peak=3.5,duration=6h)
# injects a pollution event that follows the river downstream.
# The shipped routing.yaml sends every agency's webhooks, SMS and email to
# loopback: the local sink receives them (signatures verified) so the
# deliveries of a run can be read in data/alert-sink.jsonl.
sink_pid=""
if (exec 3<>/dev/tcp/127.0.0.1/9099) 2>/dev/null; then
  echo "Something already answers on 127.0.0.1:9099; notifications go there"
else
  "$BIN" alert sink >"$ROOT/data/alert-sink.jsonl" 2>"$ROOT/data/alert-sink.log" &
  sink_pid=$!
  echo "Notifications (webhooks, SMS, email) are received by qingliu alert sink: tail -f data/alert-sink.jsonl"
fi
stop_all() {
  if [ -n "$sink_pid" ]; then
    kill "$sink_pid" 2>/dev/null || true
    wait "$sink_pid" 2>/dev/null || true
  fi
  stop_influx
}
trap stop_all EXIT
"$BIN" up --sim ${QINGLIU_EVENT:+--event "$QINGLIU_EVENT"} &
up_pid=$!
trap 'kill -INT $up_pid 2>/dev/null; wait $up_pid; exit 130' INT TERM
wait $up_pid
