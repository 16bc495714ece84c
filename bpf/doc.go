// Package bpf holds the SRv6 End functions srv6oam runs in the kernel as seg6local End.BPF
// programs, their generated bindings (bpf2go), and the code that loads them and binds SIDs to
// them.
//
// end_oam.c is the End.OAM function: it timestamps srv6oam probes in their pre-allocated slot of
// the Timestamp Slots TLV and reports them through a BPF ring buffer; every other packet leaves it
// after a handful of instructions. The TLV layouts are in docs/wire-format.md.
//
// Load loads the program with this node's identity; EndOAM.BindSID installs a seg6local End.BPF
// route for a SID by program fd (netlink), replacing a stale route for the same SID; UnbindSID
// and RemoveStaleRoutes remove routes srv6oam installed, recognised by their route protocol
// (RouteProtocol). CheckFeatures turns a kernel or process that cannot run End.BPF into an error
// naming what is missing, testable with errors.Is against ErrNoEndBPF, ErrNoBTF and
// ErrPermission.
package bpf
