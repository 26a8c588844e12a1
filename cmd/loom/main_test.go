package main

import (
	"os"
	"testing"
)

// TestMain lets the test binary stand in for loom itself: with
// LOOM_TEST_MAIN=1 in its environment it runs loom's main, so that tests
// can start the real shell (under a terminal, say) without building it.
func TestMain(m *testing.M) {
	if os.Getenv("LOOM_TEST_MAIN") == "1" {
		main()
		os.Exit(0)
	}
	os.Exit(m.Run())
}
