//go:build !linux

package plugin

import "os/exec"

// setParentDeathSignal does nothing outside Linux: the plugin SDK's parent watch ends an
// orphaned plugin within a second.
func setParentDeathSignal(*exec.Cmd) {}
