//go:build !linux

package envelope

import "time"

// processCPUTime is not measured on this system: it returns false.
func processCPUTime() (time.Duration, bool) { return 0, false }
