// Package stamp is the Session-Sender side of two-way delay measurement with STAMP (RFC 8762,
// unauthenticated mode) toward srv6-agent's reflector (bpf/agent), and the socket helpers both
// sides share: CLOCK_TAI, the kernel's TAI offset, and receive timestamps.
//
// Timestamps are CLOCK_TAI nanoseconds, the clock End.OAM stamps probes with. The kernel's
// receive timestamps (SO_TIMESTAMPNS) are CLOCK_REALTIME; they are converted with the TAI offset
// adjtimex reports (0 on a host whose NTP/PTP daemon never set it, where CLOCK_TAI equals
// CLOCK_REALTIME). A leap second between the packet's arrival and the offset's read would make
// one timestamp off by a second; it is read right after every receive to keep that window short.
// Transmit timestamps are CLOCK_TAI read immediately before the send system call: the packet
// carries its own transmit time, so a kernel TX timestamp (known only after sending) cannot be
// used.
//
// The packet codec is oam.STAMPTest and oam.STAMPReply; the layouts are in docs/wire-format.md.
package stamp
