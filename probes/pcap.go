package probes

import (
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
)

// PcapTap writes every packet it sees to a pcap file (link type RAW: each record starts with the
// IPv6 header). Sent packets are written exactly as sent; received ones carry an IPv6 header
// rebuilt from the receive socket's ancillary data (see AppendIPv6Header).
type PcapTap struct {
	mu  sync.Mutex
	w   *pcapgo.Writer
	err error
}

// NewPcapTap writes the pcap file header to w.
func NewPcapTap(w io.Writer) (*PcapTap, error) {
	pw := pcapgo.NewWriterNanos(w)
	if err := pw.WriteFileHeader(65535, layers.LinkTypeRaw); err != nil {
		return nil, fmt.Errorf("write pcap header: %w", err)
	}
	return &PcapTap{w: pw}, nil
}

// Packet implements Tap. The first write error is kept (see Err) and later packets are dropped.
func (t *PcapTap) Packet(ts time.Time, pkt []byte) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.err != nil {
		return
	}
	ci := gopacket.CaptureInfo{Timestamp: ts, CaptureLength: len(pkt), Length: len(pkt)}
	if err := t.w.WritePacket(ci, pkt); err != nil {
		t.err = fmt.Errorf("write pcap record: %w", err)
	}
}

// Err returns the first write error.
func (t *PcapTap) Err() error {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.err
}
