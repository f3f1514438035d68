// Command csv-target-plugin is an example provisiond connector plugin: a target that keeps
// users and groups in CSV files in a directory. See README.md.
package main

import (
	"flag"
	"os"

	"github.com/provisiond/provisiond/connectors"
	"github.com/provisiond/provisiond/connectors/plugin/sdk"
)

// version is set at build time (-ldflags "-X main.version=...").
var version = "1.0.0"

func main() {
	dir := flag.String("dir", "", "directory of users.csv, groups.csv and members.csv (created if missing)")
	flag.Parse()
	log := sdk.Logger()
	if *dir == "" {
		log.Error("the -dir argument is required (args: [\"-dir\", \"/var/lib/provisiond/csv\"])")
		os.Exit(2)
	}
	t, err := Open(*dir)
	if err != nil {
		log.Error("cannot open the CSV directory", "dir", *dir, "error", err)
		os.Exit(1)
	}
	log.Info("serving CSV target", "dir", *dir, "users", t.count(connectors.TypeUser), "groups", t.count(connectors.TypeGroup))
	sdk.Serve(sdk.Config{Name: "csv-target-plugin", Version: version, Target: t, Schema: []sdk.ObjectSchema{
		{Type: connectors.TypeUser, Attributes: []sdk.Attribute{
			{Name: "userName", Type: "string", Required: true, Description: "unique, case-insensitively"},
			{Name: "active", Type: "bool", Description: "false once disabled"},
		}},
		{Type: connectors.TypeGroup, Attributes: []sdk.Attribute{
			{Name: "displayName", Type: "string", Required: true, Description: "unique, case-insensitively"},
			{Name: "members", Type: "reference", MultiValued: true, Description: "user and group ids (members.csv)"},
		}},
	}})
}
