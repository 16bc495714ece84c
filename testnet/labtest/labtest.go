// Package labtest builds testnet labs for tests: a unique lab name per
// call, cleanup registered with t.Cleanup, and the project's rule for labs
// that cannot be built: fail under CI=true, skip (saying why) otherwise.
package labtest

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/rand"
	"encoding/hex"
	"io"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/srv6oam/srv6oam/testnet"
)

// Up loads topology (a bundled name such as "line4", or a file path),
// builds it under a unique name ("<topology>-<8 hex digits>") and closes it
// when the test ends. Options are passed to testnet.Up (a WithName among
// them is overridden).
func Up(t testing.TB, topology string, opts ...testnet.Option) *testnet.Lab {
	t.Helper()
	topo, err := testnet.Load(topology)
	if err != nil {
		t.Fatalf("labtest: %v", err)
	}
	return UpTopology(t, topo, opts...)
}

// UpTopology is Up for a topology given as a Go value.
func UpTopology(t testing.TB, topo *testnet.Topology, opts ...testnet.Option) *testnet.Lab {
	t.Helper()
	Require(t, "a lab: network namespaces (CAP_SYS_ADMIN) and routes (CAP_NET_ADMIN)")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	lab, err := testnet.Up(ctx, topo, append(opts, testnet.WithName(UniqueName(topo.Name)))...)
	if err != nil {
		unavailable(t, "cannot build lab: "+err.Error()+kernelHint())
	}
	t.Cleanup(func() {
		if err := lab.Close(); err != nil {
			t.Errorf("labtest: close lab %s: %v", lab.Name(), err)
		}
	})
	return lab
}

// Require is the gate of every test that needs the kernel as root (namespaces, routes, BPF
// programs, raw sockets): with -short (make test-unit) it skips, since unit tests build no lab;
// otherwise, without root, it fails under CI=true and skips elsewhere, saying what the test
// needs.
func Require(t testing.TB, what string) {
	t.Helper()
	if testing.Short() {
		t.Skipf("labtest: -short: this test needs %s (make test runs it)", what)
	}
	if os.Geteuid() != 0 {
		unavailable(t, "not root: this test needs "+what)
	}
}

// UniqueName returns "<base>-<8 random hex digits>", cut to a valid lab name.
func UniqueName(base string) string {
	var b [4]byte
	_, _ = rand.Read(b[:])
	base = strings.ToLower(base)
	clean := make([]byte, 0, len(base))
	for _, c := range []byte(base) {
		if (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' {
			clean = append(clean, c)
		}
	}
	if len(clean) > 30 {
		clean = clean[:30]
	}
	if len(clean) == 0 {
		clean = []byte("lab")
	}
	return strings.TrimLeft(string(clean), "-") + "-" + hex.EncodeToString(b[:])
}

// kernelHint names what the running kernel lacks when its configuration says it cannot hold a
// lab's SIDs, and how the project's tests run anyway.
func kernelHint() string {
	f, err := os.Open("/proc/config.gz")
	if err != nil {
		return ""
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		return ""
	}
	cfg, err := io.ReadAll(zr)
	if err != nil {
		return ""
	}
	var missing []string
	for _, opt := range []string{"CONFIG_IPV6_SEG6_LWTUNNEL", "CONFIG_IPV6_SEG6_BPF"} {
		if !bytes.Contains(cfg, []byte("\n"+opt+"=y")) {
			missing = append(missing, opt)
		}
	}
	if len(missing) == 0 {
		return ""
	}
	return " (this kernel is built without " + strings.Join(missing, ", ") +
		": run the lab tests in a VM with scripts/gotest-vm.sh, as make test does)"
}

// unavailable fails under CI=true and skips otherwise.
func unavailable(t testing.TB, why string) {
	t.Helper()
	if os.Getenv("CI") == "true" {
		t.Fatalf("labtest: %s (CI=true: a lab test may not skip)", why)
	}
	t.Skipf("labtest: %s", why)
}
