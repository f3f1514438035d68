// Command scim-target-plugin serves provisiond's built-in SCIM target connector
// (connectors/scim) as a plugin. It is what the plugin tests and benchmarks compare with
// the same connector in process, and an example of wrapping an existing Go connector:
//
//	connectors:
//	  app:
//	    type: plugin
//	    path: /usr/local/lib/provisiond/scim-target-plugin
//	    args: ["-url", "https://app.example.com/scim/v2"]
//
// The bearer token is read from the SCIM_TOKEN environment variable (never an argument:
// arguments are visible to every user of the machine).
package main

import (
	"context"
	"flag"
	"os"
	"time"

	"github.com/provisiond/provisiond/connectors/plugin/sdk"
	"github.com/provisiond/provisiond/connectors/scim"
)

func main() {
	url := flag.String("url", "", "SCIM base URL, e.g. https://app.example.com/scim/v2")
	rate := flag.Float64("max-rps", 0, "maximum requests per second (0: the connector's default)")
	disable := flag.String("disable-mode", "", "patch, patchLegacyString, put or delete (default patch)")
	flag.Parse()
	log := sdk.Logger()
	hc, err := scim.NewHTTPClient(scim.TLSConfig{})
	if err != nil {
		log.Error("cannot build the HTTP client", "error", err)
		os.Exit(1)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := scim.New(ctx, scim.Config{BaseURL: *url, Auth: scim.AuthConfig{Token: os.Getenv("SCIM_TOKEN")},
		HTTPClient: sdk.HTTPClient(hc), MaxRequestsPerSecond: *rate, DisableMode: *disable})
	if err != nil {
		log.Error("invalid SCIM configuration", "error", err)
		os.Exit(1)
	}
	sdk.Serve(sdk.Config{Name: "scim-target-plugin", Version: "1.0.0", Target: c})
}
