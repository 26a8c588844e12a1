package main

import (
	"os"
	"testing"

	"loom/components/sandbox"
)

// TestMain lets the test binary stand in for loom itself: with
// LOOM_TEST_MAIN=1 in its environment it runs loom's main, so that tests
// can start the real shell (under a terminal, say) without building it.
func TestMain(m *testing.M) {
	// The test binary stands in for loom: as a sandbox's init too.
	sandbox.Init()
	if os.Getenv("LOOM_TEST_MAIN") == "1" {
		main()
		os.Exit(0)
	}
	os.Exit(m.Run())
}
