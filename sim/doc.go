// Package sim is the station simulator behind `qingliu sim`: it publishes
// plausible readings for the stations of the registry over MQTT, in the JSON
// payload v1 of DESIGN §3.1, and can inject the faults the pipeline must
// handle (a pollution event that travels down the river, a stuck sensor, a
// silent station, malformed payloads and duplicates).
//
// The package has three layers:
//
//   - Model: a pure function (station, parameter, simulated time, seed) →
//     value in the canonical unit, with diurnal and seasonal cycles and
//     gaussian noise, plus the overlays of pollution events and stuck sensors.
//   - Generator: the stations' reporting schedule in simulated-time order, one
//     Message per station and instant holding every parameter due then, with
//     silent stations, malformed payloads and duplicates injected
//     deterministically for a seed. Messages and SyntheticStations serve load
//     benchmarks.
//   - Simulator: paces a Generator against the wall clock (speedup or a fixed
//     message rate) and publishes over one or more paho connections with QoS 1
//     and a bounded number of messages waiting for their PUBACK.
package sim
