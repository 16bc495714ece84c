// Package tsharktest lets tests use Wireshark's dissectors (tshark, Debian's package) as a second
// implementation: packets go to a pcap file, tshark decodes it, and the fields it printed come
// back per packet.
package tsharktest

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gopacket/gopacket/layers"
)

// Require skips t when tshark is not installed, and fails it under CI=true, where make deps has
// installed it.
func Require(t testing.TB) {
	t.Helper()
	if _, err := exec.LookPath("tshark"); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("CI=true and tshark is missing: run `make deps` (Debian package tshark)")
		}
		t.Skip("tshark not installed (make deps installs it)")
	}
}

// Packet is one packet to decode: its bytes from the link header of the file's link type, and
// its capture time (zero: the epoch).
type Packet struct {
	Data []byte
	At   time.Time
}

// pcapFile is pkts as a pcap file (microsecond timestamps). Written here rather than with
// gopacket's pcapgo, which would bring golang.org/x/sys/unix into oam/ (layers_test.go).
func pcapFile(pkts []Packet, link layers.LinkType) []byte {
	b := binary.LittleEndian.AppendUint32(nil, 0xa1b2c3d4)
	b = binary.LittleEndian.AppendUint16(b, 2)
	b = binary.LittleEndian.AppendUint16(b, 4)
	b = binary.LittleEndian.AppendUint32(b, 0) // thiszone
	b = binary.LittleEndian.AppendUint32(b, 0) // sigfigs
	b = binary.LittleEndian.AppendUint32(b, 65536)
	b = binary.LittleEndian.AppendUint32(b, uint32(link))
	for _, p := range pkts {
		at := p.At
		if at.IsZero() {
			at = time.Unix(0, 0)
		}
		b = binary.LittleEndian.AppendUint32(b, uint32(at.Unix()))
		b = binary.LittleEndian.AppendUint32(b, uint32(at.Nanosecond()/1000))
		b = binary.LittleEndian.AppendUint32(b, uint32(len(p.Data)))
		b = binary.LittleEndian.AppendUint32(b, uint32(len(p.Data)))
		b = append(b, p.Data...)
	}
	return b
}

// Fields writes pkts to a pcap of link type link in dir, lets tshark decode it with the extra
// options (e.g. "-o", "udp.check_checksum:TRUE") and the display filter (empty: every packet),
// and returns, per packet shown, each field asked for (several occurrences comma-separated, a
// field the packet lacks empty).
func Fields(dir string, pkts []Packet, link layers.LinkType, filter string, options []string, fields ...string) ([]map[string]string, error) {
	f, err := os.CreateTemp(dir, "tshark-*.pcap")
	if err != nil {
		return nil, err
	}
	_, err = f.Write(pcapFile(pkts, link))
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return nil, fmt.Errorf("write %s: %w", f.Name(), err)
	}
	args := append([]string{"-n", "-r", filepath.Clean(f.Name())}, options...)
	args = append(args, "-T", "fields", "-E", "separator=/t", "-E", "occurrence=a", "-E", "aggregator=,")
	if filter != "" {
		args = append(args, "-Y", filter)
	}
	for _, fl := range fields {
		args = append(args, "-e", fl)
	}
	cmd := exec.Command("tshark", args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("tshark %s: %v: %s", strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	var rows []map[string]string
	for _, line := range strings.Split(strings.TrimRight(string(out), "\n"), "\n") {
		if line == "" {
			continue
		}
		vals := strings.Split(line, "\t")
		if len(vals) != len(fields) {
			return rows, fmt.Errorf("tshark line %q: %d fields, asked for %d", line, len(vals), len(fields))
		}
		row := make(map[string]string, len(vals))
		for i, fl := range fields {
			row[fl] = vals[i]
		}
		rows = append(rows, row)
	}
	return rows, nil
}
