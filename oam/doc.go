// Package oam is the vocabulary of srv6oam: segment lists, probes, hops and results, and the
// wire format of the reports srv6-agent sends to collectors. The SRH itself and its TLVs live in
// the oam/srh subpackage.
package oam
