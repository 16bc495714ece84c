package bpf

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netlink/nl"
)

// Owners of End.BPF routes. A seg6local End.BPF route holds a reference to its program, so the
// program outlives the agent that loaded it: after a crash the route and program stay, and the
// next agent replaces them. A live agent holds a file descriptor of its program too. That is
// how an agent tells a stale route (nobody holds its program) from one a live agent owns: the
// kernel reports the program's id in every route dump, and /proc/PID/fdinfo names the program
// id behind every BPF program descriptor (as bpftool prog show's "pids" does). Processes of
// other PID namespaces are not visible: an agent in a container sees only its own.

// RouteProgramID returns the id of the End.BPF program of a seg6local route, false when the
// route is not End.BPF. In a route dump the kernel puts the program's id where a route request
// puts its descriptor (SEG6_LOCAL_BPF_PROG), which netlink decodes into the encap's descriptor
// field; re-encoding the encap and reading that attribute back recovers it.
func RouteProgramID(r *netlink.Route) (uint32, bool) {
	e, ok := r.Encap.(*netlink.SEG6LocalEncap)
	if !ok || !e.Flags[nl.SEG6_LOCAL_BPF] {
		return 0, false
	}
	b, err := e.Encode()
	if err != nil {
		return 0, false
	}
	attrs, err := nl.ParseRouteAttr(b)
	if err != nil {
		return 0, false
	}
	for _, a := range attrs {
		if a.Attr.Type != nl.SEG6_LOCAL_BPF {
			continue
		}
		inner, err := nl.ParseRouteAttr(a.Value)
		if err != nil {
			return 0, false
		}
		for _, i := range inner {
			if i.Attr.Type == nl.LWT_BPF_PROG_FD && len(i.Value) >= 4 {
				return nl.NativeEndian().Uint32(i.Value), true
			}
		}
	}
	return 0, false
}

// Holder is a process that holds a descriptor of a BPF program.
type Holder struct {
	PID     int
	Command string // /proc/PID/comm
}

func (h Holder) String() string { return fmt.Sprintf("pid %d (%s)", h.PID, h.Command) }

// ProgramHolders lists the processes that hold a descriptor of BPF program id, by reading
// /proc. Processes it may not read (another user's, without CAP_SYS_PTRACE) are skipped.
func ProgramHolders(id uint32) ([]Holder, error) {
	return programHolders("/proc", id)
}

func programHolders(proc string, id uint32) ([]Holder, error) {
	pids, err := os.ReadDir(proc)
	if err != nil {
		return nil, fmt.Errorf("list processes: %w", err)
	}
	want := "prog_id:\t" + strconv.FormatUint(uint64(id), 10)
	var out []Holder
	for _, p := range pids {
		pid, err := strconv.Atoi(p.Name())
		if err != nil {
			continue
		}
		fdDir := filepath.Join(proc, p.Name(), "fd")
		fds, err := os.ReadDir(fdDir)
		if err != nil {
			continue // gone, or not ours to read
		}
		for _, fd := range fds {
			link, err := os.Readlink(filepath.Join(fdDir, fd.Name()))
			if err != nil || link != "anon_inode:bpf-prog" {
				continue
			}
			info, err := os.ReadFile(filepath.Join(proc, p.Name(), "fdinfo", fd.Name()))
			if err != nil || !hasLine(string(info), want) {
				continue
			}
			comm, _ := os.ReadFile(filepath.Join(proc, p.Name(), "comm"))
			out = append(out, Holder{PID: pid, Command: strings.TrimSpace(string(comm))})
			break
		}
	}
	return out, nil
}

func hasLine(text, line string) bool {
	for l := range strings.Lines(text) {
		if strings.TrimRight(l, "\n") == line {
			return true
		}
	}
	return false
}

// ErrSIDOwned: the SID's route belongs to an End.OAM program a live process holds (another
// srv6-agent): binding it would take the SID from under that agent.
var ErrSIDOwned = errors.New("the SID is bound by another live agent")

// OwnedError says which SID is owned and by whom.
type OwnedError struct {
	SID       SID
	ProgramID uint32
	Holders   []Holder
}

func (e *OwnedError) Error() string {
	who := make([]string, len(e.Holders))
	for i, h := range e.Holders {
		who[i] = h.String()
	}
	return fmt.Sprintf("SID %s: %v: its End.OAM program (id %d) is held by %s", e.SID, ErrSIDOwned, e.ProgramID, strings.Join(who, ", "))
}

func (e *OwnedError) Unwrap() error { return ErrSIDOwned }

// ID is the kernel's id of the loaded program.
func (e *EndOAM) ID() (uint32, error) {
	info, err := e.objs.EndOam.Info()
	if err != nil {
		return 0, fmt.Errorf("end_oam program info: %w", err)
	}
	id, ok := info.ID()
	if !ok {
		return 0, errors.New("end_oam program info: the kernel reports no id")
	}
	return uint32(id), nil
}

// liveOwner returns an *OwnedError when route r's program is not e's and a live process holds
// it; nil for a stale route (nobody holds its program) or one of e's.
func (e *EndOAM) liveOwner(r *netlink.Route, sid SID) error {
	id, ok := RouteProgramID(r)
	if !ok {
		return nil
	}
	if e != nil {
		if mine, err := e.ID(); err == nil && mine == id {
			return nil
		}
	}
	holders, err := ProgramHolders(id)
	if err != nil {
		return fmt.Errorf("SID %s: find who holds program %d: %w", sid, id, err)
	}
	if len(holders) == 0 {
		return nil
	}
	return &OwnedError{SID: sid, ProgramID: id, Holders: holders}
}
