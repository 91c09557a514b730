//go:build unix

package realpds

import (
	"os/exec"
	"syscall"
)

// ownGroup makes cmd the leader of a process group of its own, so
// killGroup reaches whatever it starts.
func ownGroup(cmd *exec.Cmd) { cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true} }

// killGroup kills cmd's whole process group.
func killGroup(cmd *exec.Cmd) { _ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
