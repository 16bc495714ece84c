package testnet

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// The relay runs in a child process: the executable that built the lab
// (a test binary, srv6-testnet, ...) started again with relayEnv set, which
// init below turns into the relay. In the lab's own process the relay
// would share Go's scheduler and garbage collector with everything else:
// a stop-the-world pause or a P handed to another goroutine holds frames
// for milliseconds. The child allocates nothing per frame, runs with
// GOGC=off, and its only goroutine keeps its P.
//
// The child gets its sockets and a shared-memory ring per direction
// (memfd) as inherited descriptors, writes one byte on the ready pipe once
// relaying, and stops when the stop pipe is closed, which also happens
// when the lab's process dies.
const (
	relayEnv     = "SRV6OAM_TESTNET_RELAY"
	relayDirsEnv = "SRV6OAM_TESTNET_RELAY_DIRS" // delay_ns:frame_size,... per direction
	relayCapEnv  = "SRV6OAM_TESTNET_RELAY_RECORDS"
	relaySpinEnv = "SRV6OAM_TESTNET_RELAY_SPIN_NS"

	childMemFD   = 3
	childStopFD  = 4
	childReadyFD = 5
	childSockFD0 = 6 // link k: middle end a at 6+2k, b at 7+2k
)

func init() {
	if os.Getenv(relayEnv) == "1" {
		if err := relayChild(); err != nil {
			fmt.Fprintln(os.Stderr, "srv6oam testnet relay:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
}

// shmDirHeader and shmRecord are the shared-memory layout: per direction a
// header then a ring of records. Only the relay writes; it publishes a
// record by storing next after filling it.
type shmDirHeader struct {
	next, drops, errs uint64
	lastErrno         uint64 // of the last failed write
	_                 [4]uint64
}

type shmRecord struct {
	seq            uint64
	rx, sent, woke int64
	hash           uint64
	n              uint32
	headLen        uint32
	head           [recordHeadSz]byte
}

func shmSize(dirs, records int) int {
	return dirs * (int(unsafe.Sizeof(shmDirHeader{})) + records*int(unsafe.Sizeof(shmRecord{})))
}

// mapDirs points each direction's header and ring into mem.
func mapDirs(mem []byte, dirs []*relayDir, records int) {
	off := 0
	for _, d := range dirs {
		d.hdr = (*shmDirHeader)(unsafe.Pointer(&mem[off]))
		off += int(unsafe.Sizeof(shmDirHeader{}))
		d.recs = unsafe.Slice((*shmRecord)(unsafe.Pointer(&mem[off])), records)
		off += records * int(unsafe.Sizeof(shmRecord{}))
	}
}

type relayProc struct {
	cmd    *exec.Cmd
	stopW  *os.File
	mem    []byte
	memFD  int
	stderr strings.Builder
}

func allDirs(links []*delayLink) []*relayDir {
	var dirs []*relayDir
	for _, dl := range links {
		dirs = append(dirs, dl.dirs[0], dl.dirs[1])
	}
	return dirs
}

func startRelayProc(links []*delayLink, records int, spin time.Duration) (_ *relayProc, err error) {
	if records <= 0 {
		records = defaultRing
	}
	dirs := allDirs(links)
	rp := &relayProc{memFD: -1}
	defer func() {
		if err != nil {
			_ = rp.stop()
		}
	}()
	if rp.memFD, err = unix.MemfdCreate("srv6oam-delay-records", unix.MFD_CLOEXEC); err != nil {
		return nil, fmt.Errorf("relay: memfd: %w", err)
	}
	size := shmSize(len(dirs), records)
	if err := unix.Ftruncate(rp.memFD, int64(size)); err != nil {
		return nil, fmt.Errorf("relay: size records: %w", err)
	}
	if rp.mem, err = unix.Mmap(rp.memFD, 0, size, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED); err != nil {
		return nil, fmt.Errorf("relay: map records: %w", err)
	}
	mapDirs(rp.mem, dirs, records)

	exe, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("relay: find own executable to start the relay: %w", err)
	}
	stopR, stopW, err := os.Pipe()
	if err != nil {
		return nil, fmt.Errorf("relay: pipe: %w", err)
	}
	defer stopR.Close()
	rp.stopW = stopW
	readyR, readyW, err := os.Pipe()
	if err != nil {
		return nil, fmt.Errorf("relay: pipe: %w", err)
	}
	defer readyR.Close()
	defer readyW.Close()

	// The child gets duplicates: an *os.File around a descriptor the lab
	// owns would close it when collected.
	var dups []*os.File
	defer func() {
		for _, f := range dups {
			_ = f.Close()
		}
	}()
	dup := func(fd int, name string) (*os.File, error) {
		nfd, err := unix.FcntlInt(uintptr(fd), unix.F_DUPFD_CLOEXEC, 0)
		if err != nil {
			return nil, fmt.Errorf("relay: dup %s: %w", name, err)
		}
		f := os.NewFile(uintptr(nfd), name)
		dups = append(dups, f)
		return f, nil
	}
	mem, err := dup(rp.memFD, "records")
	if err != nil {
		return nil, err
	}
	files := []*os.File{mem, stopR, readyW}
	var spec []string
	for _, dl := range links {
		for j, fd := range dl.fds {
			f, err := dup(fd, "middle end "+strconv.Itoa(j))
			if err != nil {
				return nil, err
			}
			files = append(files, f)
		}
		for _, d := range dl.dirs {
			spec = append(spec, fmt.Sprintf("%d:%d", d.delay.Nanoseconds(), d.frameSize))
		}
	}
	rp.cmd = exec.Command(exe)
	rp.cmd.Env = append(os.Environ(), relayEnv+"=1", relayDirsEnv+"="+strings.Join(spec, ","),
		relayCapEnv+"="+strconv.Itoa(records), relaySpinEnv+"="+strconv.FormatInt(spin.Nanoseconds(), 10), "GOGC=off")
	rp.cmd.ExtraFiles = files
	rp.cmd.Stderr = &rp.stderr
	err = rp.cmd.Start()
	if err != nil {
		rp.cmd = nil
		return nil, fmt.Errorf("relay: start %s: %w", exe, err)
	}
	_ = readyR.SetReadDeadline(time.Now().Add(10 * time.Second))
	var b [1]byte
	if _, err := readyR.Read(b[:]); err != nil {
		return nil, fmt.Errorf("relay process did not start: %w (%s)", err, strings.TrimSpace(rp.stderr.String()))
	}
	return rp, nil
}

// stop ends the relay process and releases the shared memory.
func (rp *relayProc) stop() error {
	var errs []error
	if rp.stopW != nil {
		_ = rp.stopW.Close()
	}
	if rp.cmd != nil {
		done := make(chan error, 1)
		go func() { done <- rp.cmd.Wait() }()
		select {
		case err := <-done:
			if err != nil {
				errs = append(errs, fmt.Errorf("relay process: %w (%s)", err, strings.TrimSpace(rp.stderr.String())))
			}
		case <-time.After(5 * time.Second):
			_ = rp.cmd.Process.Kill()
			<-done
			errs = append(errs, errors.New("relay process did not stop within 5 s; killed"))
		}
	}
	if rp.mem != nil {
		_ = unix.Munmap(rp.mem)
	}
	if rp.memFD >= 0 {
		_ = unix.Close(rp.memFD)
	}
	return errors.Join(errs...)
}

// realtimeAllThreads gives every thread of this process SCHED_FIFO (threads
// the runtime creates later inherit it). When the scheduler preempts the
// relay goroutine, which is locked to its thread, another runtime thread
// must hand the P back; at normal priority that thread can wait behind
// other processes for milliseconds.
func realtimeAllThreads() {
	tasks, err := os.ReadDir("/proc/self/task")
	if err != nil {
		return
	}
	attr := &unix.SchedAttr{Size: unix.SizeofSchedAttr, Policy: unix.SCHED_FIFO, Priority: 10}
	for _, t := range tasks {
		if tid, err := strconv.Atoi(t.Name()); err == nil {
			_ = unix.SchedSetAttr(tid, attr, 0) // best effort: needs CAP_SYS_NICE
		}
	}
}

// relayChild is the relay process.
func relayChild() error {
	realtimeAllThreads()
	records, err := strconv.Atoi(os.Getenv(relayCapEnv))
	if err != nil || records <= 0 {
		return fmt.Errorf("bad %s", relayCapEnv)
	}
	var dirs []*relayDir
	for i, s := range strings.Split(os.Getenv(relayDirsEnv), ",") {
		var delay int64
		var frameSize int
		if _, err := fmt.Sscanf(s, "%d:%d", &delay, &frameSize); err != nil {
			return fmt.Errorf("bad %s entry %q: %w", relayDirsEnv, s, err)
		}
		link := i / 2
		a, b := childSockFD0+2*link, childSockFD0+2*link+1
		d := &relayDir{rxFD: a, txFD: b, delay: time.Duration(delay), frameSize: frameSize}
		if i%2 == 1 {
			d.rxFD, d.txFD = b, a
		}
		dirs = append(dirs, d)
	}
	size := shmSize(len(dirs), records)
	mem, err := unix.Mmap(childMemFD, 0, size, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
	if err != nil {
		return fmt.Errorf("map records: %w", err)
	}
	mapDirs(mem, dirs, records)
	spin, err := strconv.ParseInt(os.Getenv(relaySpinEnv), 10, 64)
	if err != nil || spin < 0 {
		return fmt.Errorf("bad %s", relaySpinEnv)
	}
	loop, err := newRelayLoop(dirs, childStopFD, time.Duration(spin))
	if err != nil {
		return err
	}
	defer loop.close()
	if _, err := unix.Write(childReadyFD, []byte{1}); err != nil {
		return fmt.Errorf("signal ready: %w", err)
	}
	_ = unix.Close(childReadyFD)
	loop.run()
	return nil
}
