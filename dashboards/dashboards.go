// Package dashboards holds provisiond's bundled Grafana dashboards (*.json, shipped in the
// datasource plugin's zip and listed in datasource/plugin.json) and the Grafana
// provisioning files (provisioning/: the datasource, a dashboard file provider and the
// alert rules), ready to drop into Grafana's provisioning folder. docs/dashboards.md
// describes every dashboard, panel and alert rule.
//
// The files are the source of truth; this package only embeds them for the tests, which
// check them against the Grafana Foundation SDK's types and run every panel and rule
// query through the datasource backend against a real provisiond stack.
package dashboards

import "embed"

// Files are the dashboards (*.json) and the provisioning files (provisioning/**).
//
//go:embed *.json provisioning
var Files embed.FS

// Dashboard UIDs (also in the files and the alert rules' links).
const (
	OverviewUID           = "provisiond-overview"
	QuarantineUID         = "provisiond-quarantine"
	TroubleshootingUID    = "provisiond-troubleshooting"
	PrometheusOverviewUID = "provisiond-prometheus"
)

// DatasourceUID is the uid of the provisioned provisiond datasource, which the alert
// rules query.
const DatasourceUID = "provisiond"
