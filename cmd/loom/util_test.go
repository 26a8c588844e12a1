package main

import (
	"context"

	"loom/lang"
	"loom/lang/interp"
)

// runString parses and runs src in r.
func runString(r *interp.Runner, src string) error {
	f, err := lang.Parse([]byte(src), "test")
	if err != nil {
		return err
	}
	return r.Run(context.Background(), f)
}
