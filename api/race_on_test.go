//go:build race

package api_test

// raceEnabled: the race detector slows the stack ten to twenty times; the streaming test
// then uses fewer events (the bound on memory is checked at full size without it).
const raceEnabled = true
