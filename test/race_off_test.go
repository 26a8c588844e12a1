//go:build !race

package test

// raceOn says the race detector watches this test binary.
const raceOn = false
