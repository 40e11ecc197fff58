// Package grafana holds Qingliu's Grafana provisioning (datasources and
// dashboards under provisioning/ and dashboards/); it has no Go code. Its
// tests check every dashboard's structure and run every InfluxQL query of
// every panel, variable and annotation against a real InfluxDB 1.8.10
// loaded by the real pipeline, so that a dashboard cannot drift from the
// measurements, tags and fields the writer and the rules stage write.
package grafana
