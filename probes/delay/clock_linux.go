package delay

import (
	"fmt"
	"math"
	"time"

	"golang.org/x/sys/unix"

	"github.com/srv6oam/srv6oam/oam"
)

// taiOffset is CLOCK_TAI − CLOCK_REALTIME: a whole number of seconds (the kernel's TAI offset,
// 0 unless an NTP/PTP daemon set it), which converts the kernel's socket timestamps
// (CLOCK_REALTIME) to the clock End.OAM uses (bpf_ktime_get_tai_ns).
func taiOffset() (time.Duration, error) {
	var tai, real unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_TAI, &tai); err != nil {
		return 0, fmt.Errorf("read CLOCK_TAI: %w", err)
	}
	if err := unix.ClockGettime(unix.CLOCK_REALTIME, &real); err != nil {
		return 0, fmt.Errorf("read CLOCK_REALTIME: %w", err)
	}
	d := time.Duration(tai.Nano() - real.Nano())
	return d.Round(time.Second), nil
}

// LocalClock is this host's clock state as adjtimex(2) reports it, the bound of the prober's
// own timestamps.
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
