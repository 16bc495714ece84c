// Package delay is the timestamped-probe engine behind `srv6-ping --timestamps`: it sends ICMPv6
// Echo Requests whose SRH carries srv6oam's Probe TLV and a pre-allocated Timestamp Slots TLV
// (one slot per segment), along a segment list that ends at the prober's own address, so that
// every End.OAM SID on the way timestamps the probe and the probe comes back to be timestamped
// on arrival. It runs its own collector on a UDP port announced in the Probe TLV, receives the
// agents' reports and the returning probe, and feeds them to oam/collect, which yields per probe
// the RTT and the one-way delay of every segment, and per segment the statistics, the losses
// and the liveness.
//
// Prober.Run follows the engine shape of package probes (a run until a count or until ctx is
// done, a result per probe handed to emit from the caller's goroutine, a summary at the end)
// with results richer than oam.Result. Timestamps: docs/delay-measurement.md.
package delay
