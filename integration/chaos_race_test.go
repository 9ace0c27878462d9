//go:build race

package integration

// raceEnabled: the race detector slows everything several times, which
// breaks the chaos schedules' timing bounds (recovery, catch-up).
const raceEnabled = true
