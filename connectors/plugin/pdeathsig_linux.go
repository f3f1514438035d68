package plugin

import (
	"os/exec"
	"syscall"
)

// setParentDeathSignal has the kernel send SIGKILL to the plugin when the thread that
// forked it ends (see procRunner.Start): the daemon's death, even by kill -9.
func setParentDeathSignal(cmd *exec.Cmd) {
	if noParentDeathSignal {
		return
	}
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	cmd.SysProcAttr.Pdeathsig = syscall.SIGKILL
}
