package probes

import (
	"fmt"
	"math"
	"time"

	"golang.org/x/sys/unix"

	"github.com/srv6oam/srv6oam/oam"
)

// The one place srv6oam reads clocks other than time.Now: CLOCK_TAI (what End.OAM stamps with
// bpf_ktime_get_tai_ns), the kernel's TAI offset, and the clock's synchronisation state. The
// prober, the agent and the STAMP reflector all use these.

// TAINow reads CLOCK_TAI in nanoseconds.
func TAINow() int64 {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_TAI, &ts); err != nil {
		return 0 // CLOCK_TAI exists since Linux 3.10: this does not happen
	}
	return ts.Nano()
}

// TAIOffset is CLOCK_TAI − CLOCK_REALTIME: the kernel's TAI offset, a whole number of seconds
// (0 unless an NTP or PTP daemon set it), which converts socket timestamps (CLOCK_REALTIME) to
// the clock End.OAM uses. It is read from adjtimex(2), the value the kernel itself adds.
func TAIOffset() (time.Duration, error) {
	var tx unix.Timex
	if _, err := unix.Adjtimex(&tx); err != nil {
		return 0, fmt.Errorf("read the TAI offset (adjtimex): %w", err)
	}
	return time.Duration(tx.Tai) * time.Second, nil
}

// LocalClock is this host's clock state as adjtimex(2) reports it (modes 0: read only): the
// bound of every timestamp the host takes, CLOCK_TAI included, since the kernel steers TAI
// together with CLOCK_REALTIME. A failing adjtimex reads as unsynchronised with the largest
// error.
func LocalClock() oam.ClockState {
	var tx unix.Timex
	state, err := unix.Adjtimex(&tx)
	if err != nil {
		return oam.ClockState{State: unix.TIME_ERROR, EstErrorMicros: math.MaxUint32, MaxErrorMicros: math.MaxUint32}
	}
	clamp := func(v int64) uint32 { return uint32(min(max(v, 0), math.MaxUint32)) }
	return oam.ClockState{
		Synchronised:   state != unix.TIME_ERROR && tx.Status&unix.STA_UNSYNC == 0,
		State:          uint8(state),
		EstErrorMicros: clamp(tx.Esterror),
		MaxErrorMicros: clamp(tx.Maxerror),
	}
}
