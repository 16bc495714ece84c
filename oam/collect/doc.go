// Package collect is srv6oam's collector: it correlates what is known of each probe of one
// session, by sequence number, from every source that speaks of it: the sender's TX timestamp,
// the agents' out-of-band reports (oam.Report), the in-band timestamp slots of a probe that came
// back (srh.Slots), and the RX timestamp of the reply or of the reflected probe. From them it
// computes per probe the round-trip time and the one-way delay of every segment between two
// timestamping points, each with an error bound from both ends' clock states; it localises
// losses (a probe last seen by B was lost on the segment after B); it keeps per-segment
// liveness as a BFD-like state machine with a detect multiplier; and it keeps streaming
// statistics (min/avg/max/mdev exactly, p50/p90/p99 from an HDR histogram) without storing
// samples.
//
// A Collector is driven by its owner: every Observe method and Expire take the current time as
// an argument and the Collector never reads a clock nor starts a goroutine, so it is
// deterministic under test. It is not safe for concurrent use. Memory is bounded by the window
// of outstanding probes, fixed at New; observing a report does not allocate.
//
// Results are delivered in sequence order, so that "N consecutive probes lost" means what it
// says: a probe that completed waits behind an earlier one that is still outstanding, at most
// until that one's deadline.
package collect
