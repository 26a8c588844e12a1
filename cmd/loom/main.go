// Command loom is loom's one binary: the shell and script runner of the
// composition language, a 9P server that exports its systems as a tree of
// files (see system.Tree) to any 9P client in either dialect, and a small
// 9P client. The shell is itself a client of that tree, in process or,
// with -a, over 9P.
//
// Usage:
//
//	loom [-a addr] [-c commands | file.loom [args]]
//	loom fmt [-w] file
//	loom serve [-listen addr[,addr...]] [-trace]
//	loom 9p [-a addr] [-L] command path
//
// Addresses are in Plan 9's dial form: unix!/path or tcp!host!port.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"loom/components/sandbox"
)

func main() {
	// A sandboxed host process starts as this binary run again; there
	// Init becomes the sandbox's init and never returns.
	sandbox.Init()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	stop()
	if err != nil {
		os.Exit(1)
	}
}
