package main

import (
	"context"
	"fmt"
	"io"
)

// discordRegister is TEMPORARY until connectors/discord offers Register.
func discordRegister(ctx context.Context, configPath string, stdout, stderr io.Writer) int {
	fmt.Fprintln(stderr, "earshot discord register: the discord connector is not built into this version yet")
	return exitFail
}
