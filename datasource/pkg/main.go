// Command gpx_provisiond is the backend of the provisiond Grafana datasource plugin. Grafana
// starts it through the go-plugin handshake and talks to it over gRPC; it talks to provisiond
// through the HTTP API's Go client (docs/datasource.md).
package main

import (
	"os"

	"github.com/grafana/grafana-plugin-sdk-go/backend/datasource"
	"github.com/grafana/grafana-plugin-sdk-go/backend/log"

	"github.com/provisiond/provisiond/datasource/pkg/plugin"
)

func main() {
	if err := datasource.Manage(plugin.ID, plugin.NewInstance, datasource.ManageOpts{}); err != nil {
		log.DefaultLogger.Error("provisiond datasource stopped", "error", err.Error())
		os.Exit(1)
	}
}
