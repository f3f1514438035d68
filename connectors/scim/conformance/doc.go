// Package conformance holds the SCIM client conformance suite (conformance_test.go): one
// table of scenarios run against every available SCIM server — the embedded
// connectors/scim/scimserver always, and SCIMMY (an independent Node implementation in
// connectors/scim/testdata/scimmy) when PROVISIOND_SCIMMY=1. Where the servers differ, the
// client copes with both and the suite logs which server did what.
//
//	go test ./connectors/scim/conformance/                      # embedded server
//	PROVISIOND_SCIMMY=1 go test -v ./connectors/scim/conformance/  # plus SCIMMY (needs node, npm)
package conformance
