// Command testplugin serves internal/testconn as a plugin for the host's tests.
//
//	testplugin [-protocol N] [-cookie VALUE] [-source=false] [-target=false] [-stderr LINE]
//
// -protocol and -cookie make handshake mismatches; -stderr writes a plain line on the
// original standard error at start.
package main

import (
	"flag"
	"fmt"
	"os"

	"github.com/provisiond/provisiond/connectors/plugin/internal/testconn"
	"github.com/provisiond/provisiond/connectors/plugin/internal/wire"
	"github.com/provisiond/provisiond/connectors/plugin/sdk"
)

func main() {
	protocol := flag.Int("protocol", 0, "serve this protocol version instead")
	cookie := flag.String("cookie", "", "expect this magic cookie value instead")
	source := flag.Bool("source", true, "serve the source")
	target := flag.Bool("target", true, "serve the target")
	line := flag.String("stderr", "", "write this line on standard error at start")
	flag.Parse()
	if *protocol != 0 || *cookie != "" {
		wire.ServeOverride = &wire.Override{Cookie: *cookie}
		if *protocol != 0 {
			wire.ServeOverride.Versions = []int{*protocol}
		}
	}
	if *line != "" {
		fmt.Fprintln(os.Stderr, *line)
	}
	cfg := sdk.Config{Name: "testplugin", Version: "0.0.1-test",
		Schema: []sdk.ObjectSchema{{Type: "User", Attributes: []sdk.Attribute{{Name: "userName", Type: "string", Required: true}}}}}
	if *source {
		cfg.Source = testconn.NewSource()
	}
	if *target {
		cfg.Target = testconn.NewTarget(sdk.Logger())
	}
	sdk.Serve(cfg)
}
