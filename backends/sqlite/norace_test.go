//go:build !race

package sqlite_test

// raceEnabled reports that the race detector is on: it slows modernc's
// SQLite about tenfold, and tests size their tables accordingly.
const raceEnabled = false
