package labtest

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"

	"github.com/srv6oam/srv6oam/testnet"
)

// Tshark is a second witness of what crossed a lab link, decoded by another implementation than
// ours: a Ring captures the packets a node receives on its interface toward a peer, and
// Wireshark's dissectors (tshark, Debian's package) decode them once the capture stopped. The
// ring is read as packets come and drained at Stop, so a packet the node received before Stop
// is in the capture (dumpcap's own buffering loses the last ones when it is stopped).
type Tshark struct {
	ring    *Ring
	dir     string
	filter  string
	fields  []string
	mu      sync.Mutex
	pkts    [][]byte
	stamps  []time.Time
	err     error
	stop    chan struct{}
	done    chan struct{}
	stopped sync.Once
}

// StartTshark captures on node's interface toward peer; Packets decodes what arrived with
// tshark, keeping the packets that match the display filter (Wireshark syntax, e.g.
// "ipv6.dst == fcff:3::e"; empty: all) and returning the fields asked for (tshark -e names).
// Without tshark the test fails under CI=true and is skipped otherwise. The capture stops when
// the test ends, or at Stop.
func StartTshark(t testing.TB, lab *testnet.Lab, node, peer, filter string, fields ...string) *Tshark {
	t.Helper()
	if _, err := exec.LookPath("tshark"); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("CI=true and tshark is missing: run `make deps` (Debian package tshark)")
		}
		t.Skip("tshark not installed (make deps installs it)")
	}
	ifc, err := lab.Interface(node, peer)
	if err != nil {
		t.Fatal(err)
	}
	ring, err := ListenRing(lab, node, ifc.Name)
	if err != nil {
		t.Fatal(err)
	}
	s := &Tshark{ring: ring, dir: t.TempDir(), filter: filter, fields: fields, stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(s.done)
		for {
			select {
			case <-s.stop:
				s.drain(0) // what the kernel put in the ring before Stop
				return
			default:
			}
			s.drain(50 * time.Millisecond)
		}
	}()
	t.Cleanup(s.Stop)
	return s
}

// drain reads the ring until it has nothing for wait.
func (s *Tshark) drain(wait time.Duration) {
	for {
		pkt, at, err := s.ring.Next(wait)
		if err != nil {
			if !errors.Is(err, ErrTimeout) {
				s.mu.Lock()
				s.err = err
				s.mu.Unlock()
			}
			return
		}
		s.mu.Lock()
		s.pkts = append(s.pkts, pkt)
		s.stamps = append(s.stamps, at)
		s.mu.Unlock()
	}
}

// Stop ends the capture.
func (s *Tshark) Stop() {
	s.stopped.Do(func() {
		close(s.stop)
		<-s.done
		s.ring.Close()
	})
}

// Packets stops the capture, decodes it with tshark and returns one map per packet that matched
// the filter, field name to value (several occurrences of a field, such as the outer and inner
// ipv6.dst, comma-separated; a field the packet lacks is empty).
func (s *Tshark) Packets() ([]map[string]string, error) {
	s.Stop()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.err != nil {
		return nil, fmt.Errorf("capture: %w", s.err)
	}
	file := filepath.Join(s.dir, fmt.Sprintf("capture-%d.pcap", time.Now().UnixNano()))
	f, err := os.Create(file)
	if err != nil {
		return nil, err
	}
	w := pcapgo.NewWriter(f)
	err = w.WriteFileHeader(65536, layers.LinkTypeRaw)
	for i := 0; err == nil && i < len(s.pkts); i++ {
		err = w.WritePacket(gopacket.CaptureInfo{Timestamp: s.stamps[i], CaptureLength: len(s.pkts[i]), Length: len(s.pkts[i])}, s.pkts[i])
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return nil, fmt.Errorf("write %s: %w", file, err)
	}
	args := []string{"-n", "-r", file, "-T", "fields", "-E", "separator=/t", "-E", "occurrence=a", "-E", "aggregator=,"}
	if s.filter != "" {
		args = append(args, "-Y", s.filter)
	}
	for _, f := range s.fields {
		args = append(args, "-e", f)
	}
	cmd := exec.Command("tshark", args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("tshark %s: %v: %s", strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	var pkts []map[string]string
	for _, line := range strings.Split(strings.TrimRight(string(out), "\n"), "\n") {
		if line == "" {
			continue
		}
		vals := strings.Split(line, "\t")
		if len(vals) != len(s.fields) {
			return pkts, fmt.Errorf("tshark line %q: %d fields, asked for %d", line, len(vals), len(s.fields))
		}
		p := make(map[string]string, len(vals))
		for i, f := range s.fields {
			p[f] = vals[i]
		}
		pkts = append(pkts, p)
	}
	return pkts, nil
}
