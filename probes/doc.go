// Package probes is the socket layer every srv6oam prober shares: it sends packets crafted whole
// in user space (IPv6 header, SRH, payload) on a raw IPv6 socket with IPV6_HDRINCL, so that the
// kernel routes them on their first segment while we keep flow label, hop limit, traffic class
// and source, and it receives ICMPv6 with kernel receive timestamps (SO_TIMESTAMPNS) and the send
// time from the kernel's software TX timestamp (SO_TIMESTAMPING) where the device provides one.
//
// It also holds what every prober needs around the sockets: building echo probes in the two SRv6
// encodings (EchoBuilder), parsing what comes back, including the packet quoted in an ICMPv6
// error (ParseICMPv6), and the engine shape (Prober) that ping, trace and the monitor follow.
package probes
