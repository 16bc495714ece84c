package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/srv6oam/srv6oam/testnet"
	"github.com/srv6oam/srv6oam/testnet/labtest"
)

// started is a command started by the test whose standard output is read line by line.
type started struct {
	cmd    *exec.Cmd
	lines  chan string
	out    bytes.Buffer // every line, for failure messages
	stderr bytes.Buffer
	done   chan struct{}
}

func start(t *testing.T, name string, args ...string) *started {
	t.Helper()
	s := &started{cmd: exec.Command(name, args...), lines: make(chan string, 100), done: make(chan struct{})}
	s.cmd.Stderr = &s.stderr
	r, err := s.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		defer close(s.lines)
		sc := bufio.NewScanner(r)
		for sc.Scan() {
			s.lines <- sc.Text()
		}
	}()
	t.Cleanup(func() {
		if s.cmd.ProcessState == nil {
			_ = s.cmd.Process.Kill()
			_ = s.cmd.Wait()
		}
	})
	return s
}

// waitFor reads lines until one contains want.
func (s *started) waitFor(t *testing.T, want string) {
	t.Helper()
	timeout := time.After(30 * time.Second)
	for {
		select {
		case l, ok := <-s.lines:
			if !ok {
				t.Fatalf("%v ended before printing %q:\n%s\nstderr: %s", s.cmd.Args, want, s.out.String(), s.stderr.String())
			}
			s.out.WriteString(l + "\n")
			if strings.Contains(l, want) {
				return
			}
		case <-timeout:
			t.Fatalf("%v did not print %q in 30 s:\n%s", s.cmd.Args, want, s.out.String())
		}
	}
}

// wait drains the output and waits for the command's end.
func (s *started) wait(t *testing.T) *os.ProcessState {
	t.Helper()
	for l := range s.lines {
		s.out.WriteString(l + "\n")
	}
	err := s.cmd.Wait()
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) {
		t.Fatalf("%v: %v", s.cmd.Args, err)
	}
	return s.cmd.ProcessState
}

// inLab lists the processes whose network namespace is one of lab's.
func inLab(t *testing.T, lab string) []int {
	t.Helper()
	inodes := map[uint64]bool{}
	labs, err := testnet.Labs()
	if err != nil {
		t.Fatal(err)
	}
	for _, node := range labs[lab] {
		var st syscall.Stat_t
		if syscall.Stat("/run/netns/"+testnet.NamespacePrefix+lab+"-"+node, &st) == nil {
			inodes[st.Ino] = true
		}
	}
	procs, _ := os.ReadDir("/proc")
	var pids []int
	for _, p := range procs {
		pid, err := strconv.Atoi(p.Name())
		var st syscall.Stat_t
		if err == nil && syscall.Stat("/proc/"+p.Name()+"/ns/net", &st) == nil && inodes[st.Ino] {
			pids = append(pids, pid)
		}
	}
	return pids
}

// trapScript traps sig, says so and exits 7; it prints "ready" once the trap is set.
func trapScript(sig string) string {
	return `trap 'echo got ` + sig + `; exit 7' ` + sig + `; echo ready; while :; do sleep 0.1; done`
}

// TestExecSignals: the caller of `srv6-testnet exec` signals the command itself. SIGINT,
// SIGTERM and SIGHUP reach its handlers (it exits with its own status); srv6-ping prints its
// statistics on SIGINT; srv6-agent, killed with SIGTERM, removes its End.BPF route and leaves
// nothing running in the lab; a command that dies of the signal is reported by a shell as
// 128+N, as any command.
func TestExecSignals(t *testing.T) {
	bin := build(t)
	tools := t.TempDir()
	if out, err := exec.Command("go", "build", "-o", tools+"/", "../srv6-ping", "../srv6-agent").CombinedOutput(); err != nil {
		t.Fatalf("build srv6-ping, srv6-agent: %v\n%s", err, out)
	}
	lab := labtest.Up(t, "line4")
	name := lab.Name()
	// A test run in the background of a shell (the VM's runner, CI) starts with SIGINT
	// ignored, which its children inherit and a shell's trap cannot undo. Handling it here
	// gives them the default disposition, as they have when started from a terminal.
	interrupts := make(chan os.Signal, 1)
	signal.Notify(interrupts, os.Interrupt)
	t.Cleanup(func() { signal.Stop(interrupts) })
	for _, c := range []struct {
		sig   syscall.Signal
		short string
	}{{syscall.SIGINT, "INT"}, {syscall.SIGTERM, "TERM"}, {syscall.SIGHUP, "HUP"}} {
		sig, short := c.sig, c.short
		s := start(t, bin, "exec", name, "h1", "--", "sh", "-c", trapScript(short))
		s.waitFor(t, "ready")
		if err := s.cmd.Process.Signal(sig); err != nil {
			t.Fatal(err)
		}
		s.waitFor(t, "got "+short)
		if st := s.wait(t); st.ExitCode() != 7 {
			t.Errorf("%s: exec exited %v, want the command's 7", short, st)
		}
	}

	ping := start(t, bin, "exec", name, "h1", "--", tools+"/srv6-ping", "-i", "0.2", "--segs", "fc00:0:2::e", "fc00:0:4::1")
	ping.waitFor(t, "icmp_seq=2")
	if err := ping.cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	if st := ping.wait(t); st.ExitCode() != 0 || !strings.Contains(ping.out.String(), "srv6-ping statistics ---") {
		t.Errorf("srv6-ping after SIGINT: %v, output:\n%s\nwant exit 0 and the statistics", st, ping.out.String())
	}

	agent := start(t, bin, "exec", name, "r1", "--", tools+"/srv6-agent", "--node-id", "2", "--sid", "fc00:0:2::b0,dev=to-r2", "--collector", "fc00::/16")
	route := func() string {
		out, err := lab.Output(context.Background(), "r1", "ip", "-6", "route", "show", "fc00:0:2::b0")
		if err != nil {
			t.Fatal(err)
		}
		return strings.TrimSpace(string(out))
	}
	deadline := time.Now().Add(30 * time.Second)
	for !strings.Contains(route(), "End.BPF") {
		if time.Now().After(deadline) {
			t.Fatalf("srv6-agent bound no route in 30 s; stderr:\n%s", agent.stderr.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err := agent.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if st := agent.wait(t); st.ExitCode() != 0 || route() != "" {
		t.Errorf("srv6-agent after SIGTERM to exec: %v, route %q; want exit 0 and no route\n%s", st, route(), agent.stderr.String())
	}

	sleeper := start(t, bin, "exec", name, "h1", "--", "sleep", "60")
	time.Sleep(200 * time.Millisecond)
	if err := sleeper.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if ws := sleeper.wait(t).Sys().(syscall.WaitStatus); !ws.Signaled() || ws.Signal() != syscall.SIGTERM {
		t.Errorf("sleep after SIGTERM: %v, want killed by SIGTERM", ws)
	}
	out, err := exec.Command("sh", "-c", bin+" exec "+name+" h1 -- sleep 60 & pid=$!; sleep 0.5; kill -TERM $pid; wait $pid; echo status=$?").Output()
	if err != nil || strings.TrimSpace(string(out)) != "status=143" {
		t.Errorf("a shell's status of exec killed by SIGTERM: %q %v, want status=143", out, err)
	}
	if pids := inLab(t, name); len(pids) > 0 {
		t.Errorf("processes left in the lab: %v", pids)
	}
}

// TestExecStatus: exec's status is its command's; 125, 126 and 127 when it cannot run it.
func TestExecStatus(t *testing.T) {
	bin := build(t)
	name := labtest.Up(t, "line4").Name()
	notExecutable := filepath.Join(t.TempDir(), "script")
	if err := os.WriteFile(notExecutable, []byte("#!/bin/sh\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		args []string
		code int
		msg  string
	}{
		{[]string{name, "h1", "--", "sh", "-c", "exit 3"}, 3, ""},
		{[]string{name, "h1", "true"}, 0, ""},
		{[]string{name, "zz", "--", "true"}, 125, "srv6-testnet: lab " + name + " has no node zz"},
		{[]string{name, "h1", "--", notExecutable}, 126, "srv6-testnet: exec " + notExecutable + ": permission denied"},
		{[]string{name, "h1", "--", "no-such-command-s6t"}, 127, "srv6-testnet: exec no-such-command-s6t: command not found"},
	} {
		cmd := exec.Command(bin, append([]string{"exec"}, c.args...)...)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		err := cmd.Run()
		var ee *exec.ExitError
		code := 0
		if errors.As(err, &ee) {
			code = ee.ExitCode()
		} else if err != nil {
			t.Fatal(err)
		}
		if code != c.code || !strings.HasPrefix(stderr.String(), c.msg) {
			t.Errorf("exec %q: exit %d, stderr %q; want %d and %q", c.args, code, stderr.String(), c.code, c.msg)
		}
	}
}

// TestDownStopsExec: `down` stops what exec started in the lab before it deletes the
// namespaces: SIGTERM first (the command's handler runs), SIGKILL for a command that ignores
// it, and nothing is left running in the lab's namespaces.
func TestDownStopsExec(t *testing.T) {
	bin := build(t)
	name := labtest.UniqueName("down")
	t.Cleanup(func() { _, _ = testnet.Down(name) })
	if out, err := run(t, bin, "up", "--name", name, "line4"); err != nil {
		t.Fatalf("up: %v\n%s", err, out)
	}
	polite := start(t, bin, "exec", name, "h1", "--", "sh", "-c", trapScript("TERM"))
	polite.waitFor(t, "ready")
	stubborn := start(t, bin, "exec", name, "r1", "--", "sh", "-c", `trap '' TERM; echo ready; while :; do sleep 0.1; done`)
	stubborn.waitFor(t, "ready")
	if out, err := run(t, bin, "down", name); err != nil || strings.Count(out, "removed namespace") != 4 {
		t.Fatalf("down: %v\n%s", err, out)
	}
	polite.waitFor(t, "got TERM")
	if st := polite.wait(t); st.ExitCode() != 7 {
		t.Errorf("the command that handles SIGTERM: %v, want its exit 7", st)
	}
	if ws := stubborn.wait(t).Sys().(syscall.WaitStatus); !ws.Signaled() || ws.Signal() != syscall.SIGKILL {
		t.Errorf("the command that ignores SIGTERM: %v, want killed by SIGKILL", ws)
	}
	if l := leftover(t, name); len(l) > 0 {
		t.Errorf("namespaces left after down: %v", l)
	}
}
