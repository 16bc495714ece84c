package probes

import (
	"errors"
	"fmt"
	"io"
	"net"
	"os"

	"github.com/srv6oam/srv6oam/oam"
)

// ReadReports reads agent report datagrams (oam.Report) from conn until it is closed, and hands
// each one that decodes to fn; the reason another does not goes to bad (nil: dropped). The
// report and its records' captured bytes alias buffers reused for the next datagram: fn copies
// what must outlive the call. It returns nil once conn is closed, and a read error otherwise.
// This is the one reader of reports: the timestamped-probe collector and the agent next-hop
// probe both use it.
func ReadReports(conn io.Reader, fn func(*oam.Report), bad func(error)) error {
	buf := make([]byte, 2048)
	var rep oam.Report
	for {
		n, err := conn.Read(buf)
		if err != nil {
			if errors.Is(err, net.ErrClosed) || errors.Is(err, os.ErrClosed) {
				return nil
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			return fmt.Errorf("read agent reports: %w", err)
		}
		if n > oam.MaxReportSize {
			if bad != nil {
				bad(fmt.Errorf("agent report: %d bytes, more than %d", n, oam.MaxReportSize))
			}
			continue
		}
		if err := rep.UnmarshalBinary(buf[:n]); err != nil {
			if bad != nil {
				bad(err)
			}
			continue
		}
		fn(&rep)
	}
}
