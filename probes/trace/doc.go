// Package trace is the engine behind srv6-trace: traceroute along an SRv6 segment list.
//
// It sends ICMPv6 Echo Requests built by probes.EchoBuilder with the outer hop limit set per
// probe, every hop of a wave at once (as mtr and scamper do, not one hop after the other), and
// reads back the ICMPv6 Time Exceeded errors and the final Echo Reply. Each error quotes the
// probe as the expiring node saw it; the Segments Left of the quoted SRH says which segment was
// being travelled, and a drop of Segments Left from one hop to the next marks the node that
// processed the SID (Linux runs the End behaviour before ip6_forward finds the hop limit
// exhausted, so the quote already shows the advanced SRH).
//
// Three more modes reuse the same probe batches: ECMP discovery (the Multipath Detection
// Algorithm's stopping rule over flow labels, Trace with Options.ECMP), per-segment liveness
// (PerSegment: loop-back probes through each prefix of the segment list), and path validation
// (Expectation.Check over the traced paths).
package trace
