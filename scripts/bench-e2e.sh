#!/usr/bin/env bash
# End-to-end ingest benchmark (issue 2): 200 000 readings, 200 stations x 7
# water parameters, QoS 1, 4 publishers; publish -> last row in InfluxDB.
# The baseline (the same points written straight to InfluxDB) runs in the same
# invocation. QINGLIU_BENCH_N=20000 for a quick run.
set -euo pipefail
cd "$(dirname "$0")/.."
go test ./e2e -run '^$' -bench 'BenchmarkIngest|BenchmarkBaseline' -benchtime 1x -count "${COUNT:-1}" -timeout 30m | tee bench-e2e.txt
