package labtest

import (
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/gopacket/gopacket/layers"

	"github.com/srv6oam/srv6oam/oam/tsharktest"
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
	tsharktest.Require(t)
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
	pkts := make([]tsharktest.Packet, len(s.pkts))
	for i := range s.pkts {
		pkts[i] = tsharktest.Packet{Data: s.pkts[i], At: s.stamps[i]}
	}
	return tsharktest.Fields(s.dir, pkts, layers.LinkTypeRaw, s.filter, nil, s.fields...)
}
