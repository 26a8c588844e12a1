// Command loom is loom's one binary: for now, a 9P server of an in-memory
// tree that any 9P client, in either dialect, can use.
//
// Usage:
//
//	loom serve [-listen addr[,addr...]] [-trace]
//
// Addresses are in Plan 9's dial form: unix!/path or tcp!host!port.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	stop()
	if err != nil {
		os.Exit(1)
	}
}
