// Package rules is Qingliu's rules engine: standards-aware, river-aware early
// warnings on the unified scale (DESIGN §4, §5).
//
// The parts, in the order a reading meets them:
//
//   - Config (configs/rules.yaml) is strict YAML, validated against the
//     station registry and the standards with every problem's path, and
//     compiled into an immutable Set: each rule bound to the stations its
//     selector chooses, with alert ids, parameter slots and mean windows
//     worked out once, so that evaluating a reading allocates nothing.
//   - Engine is the pure core: Process(reading, now) and Tick(now) return
//     the alert transitions; its state is plain data (Snapshot, Restore).
//     Kinds: water-class (GB 3838 against the section's target), aqi
//     (HJ 633 by observation time, hourly, and the daily persistence
//     scheme), threshold and rate (per-level thresholds, for, clear_for and
//     clear thresholds for hysteresis), deadman, stuck and range (technical
//     alerts; stuck and implausible values are kept out of evaluation), an
//     optional when: expression (expr-lang), and river propagation:
//     pre-warnings downstream with arrival times, joint warnings owned by
//     both cities, confirmation downstream.
//   - Stage is the NATS adapter: READINGS in stream order → Engine →
//     ALERTS (Nats-Msg-Id alert_id:seq), acked after the transitions are
//     stored, state saved in a JetStream object store and restored with a
//     replay that neither loses nor repeats a transition.
//
// Time is observation time throughout; the only processing time the engine
// sees is the now given to Process and Tick, which it stamps on transitions
// and uses to notice silence when the whole stream stops.
package rules
