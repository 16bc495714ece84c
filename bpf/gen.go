package bpf

// The generated bindings (endoam_bpfel.go, endoam_bpfel.o, ptmidpoint_bpfel.go, ptmidpoint_bpfel.o) are committed so that building needs
// no clang. `make generate` reruns this with Debian's clang and libbpf-dev;
// scripts/check-generated.sh fails CI when they are stale.
//go:generate go run github.com/cilium/ebpf/cmd/bpf2go -target bpfel -type oam_event -type oam_counters EndOAM end_oam.c -- -I./headers -O2 -g -Wall -Werror
//go:generate go run github.com/cilium/ebpf/cmd/bpf2go -target bpfel -type pt_counters PTMidpoint pt_midpoint.c -- -I./headers -O2 -g -Wall -Werror
