package agent

import (
	"math"

	"golang.org/x/sys/unix"

	"github.com/srv6oam/srv6oam/oam"
)

// readClock reads the kernel's view of the system clock with adjtimex(2) (modes 0: read only).
// The BPF timestamps are CLOCK_TAI, which the kernel steers together with CLOCK_REALTIME, so this
// state describes them too.
func readClock() oam.ClockState {
	var tx unix.Timex
	state, err := unix.Adjtimex(&tx)
	if err != nil {
		return oam.ClockState{Synchronised: false, State: unix.TIME_ERROR, EstErrorMicros: math.MaxUint32, MaxErrorMicros: math.MaxUint32}
	}
	return oam.ClockState{
		Synchronised:   state != unix.TIME_ERROR && tx.Status&unix.STA_UNSYNC == 0,
		State:          uint8(state),
		EstErrorMicros: clampMicros(tx.Esterror),
		MaxErrorMicros: clampMicros(tx.Maxerror),
	}
}

func clampMicros(v int64) uint32 {
	switch {
	case v < 0:
		return 0
	case v > math.MaxUint32:
		return math.MaxUint32
	}
	return uint32(v)
}
