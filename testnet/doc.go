// Package testnet builds SRv6 labs out of Linux network namespaces.
//
// A Topology (read from YAML with Load/Parse, or written as a Go value) names
// nodes, their loopbacks, locators, SIDs, headend policies and HMAC keys, and
// the point-to-point links between them. Up turns it into one network
// namespace per node ("s6t-<lab>-<node>") joined by veth pairs, entirely
// through netlink: addresses without DAD, SRv6 sysctls, shortest-path static
// routes with ECMP multipath where paths tie, seg6local SIDs (End, End.X,
// End.DT6, End.DX6, End.BPF with a caller-supplied program), seg6 H.Encaps /
// H.Insert routes and per-node HMAC keys (SEG6 generic netlink).
//
// Links with a delay run through a relay owned by the Lab: the link's middle
// ends live in a hidden namespace ("s6t-<lab>-_relay"), a Go relay reads each
// frame with its kernel receive timestamp and writes it to the other side
// once the configured delay has passed, and records the delay it applied
// per frame (Lab.DelayRecords). The kernel has no netem; see docs/testnet.md.
//
// Close removes everything Up created, also when Up failed halfway; Down and
// DownAll remove the leftovers of a crashed run by name prefix.
package testnet
