// The import rules of docs/architecture.md, checked on what `go list` says every package and
// its tests import. A package sits in one layer; it may import its own layer and those below,
// never one above, and neither may its tests.
package srv6oam_test

import (
	"encoding/json"
	"errors"
	"io"
	"os/exec"
	"strings"
	"testing"
)

const module = "github.com/srv6oam/srv6oam"

// layers, lowest first: a package's layer is that of the longest prefix listed here.
var layers = []struct {
	name     string
	packages []string
}{
	{"vocabulary and pure logic", []string{"oam"}},
	{"the kernel: sockets and clocks, End.BPF programs and routes, namespaces",
		[]string{"probes", "probes/probetest", "bpf", "bpf/bpftest", "testnet"}},
	{"engines and the node agent", []string{"probes/ping", "probes/trace", "probes/delay", "probes/stamp", "probes/pathtrace", "bpf/agent"}},
	{"the monitor, which runs the engines", []string{"probes/monitor"}},
	{"the commands' shared flags and output", []string{"cmd/internal"}},
	{"commands", []string{"cmd/srv6-agent", "cmd/srv6-monitor", "cmd/srv6-ping", "cmd/srv6-testnet", "cmd/srv6-trace"}},
	{"this test", []string{""}},
}

// layerOf returns the layer index of one of our packages (path relative to the module), -1
// when no entry of layers covers it.
func layerOf(rel string) int {
	best, bestLen := -1, -1
	for i, l := range layers {
		for _, p := range l.packages {
			if (rel == p || p == "" || strings.HasPrefix(rel, p+"/")) && len(p) > bestLen {
				best, bestLen = i, len(p)
			}
		}
	}
	return best
}

type listed struct {
	ImportPath   string
	Imports      []string
	TestImports  []string
	XTestImports []string
	Deps         []string
}

func goList(t *testing.T, args ...string) []listed {
	t.Helper()
	if _, err := exec.LookPath("go"); err != nil {
		t.Skip("no go command to list the packages with")
	}
	out, err := exec.Command("go", append([]string{"list", "-json"}, args...)...).Output()
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			t.Fatalf("go list: %v\n%s", err, ee.Stderr)
		}
		t.Fatalf("go list: %v", err)
	}
	var pkgs []listed
	dec := json.NewDecoder(strings.NewReader(string(out)))
	for {
		var p listed
		if err := dec.Decode(&p); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		pkgs = append(pkgs, p)
	}
	return pkgs
}

func ours(path string) (string, bool) {
	if path == module {
		return "", true
	}
	rel, ok := strings.CutPrefix(path, module+"/")
	return rel, ok
}

func TestImportRules(t *testing.T) {
	for _, p := range goList(t, "./...") {
		rel, _ := ours(p.ImportPath)
		layer := layerOf(rel)
		if layer < 0 {
			t.Errorf("%s: in no layer: add it to layers_test.go and docs/architecture.md", p.ImportPath)
			continue
		}
		check := func(kind string, imports []string) {
			for _, imp := range imports {
				irel, ok := ours(imp)
				if !ok || imp == p.ImportPath {
					continue
				}
				il := layerOf(irel)
				switch {
				case il < 0:
					t.Errorf("%s %s %s, which is in no layer", p.ImportPath, kind, imp)
				case il > layer:
					t.Errorf("%s (%s) %s %s (%s): a lower layer may not import a higher one",
						p.ImportPath, layers[layer].name, kind, imp, layers[il].name)
				case strings.HasPrefix(irel, "cmd/") && !strings.HasPrefix(rel, "cmd/"):
					t.Errorf("%s %s %s: nothing outside cmd/ imports cmd/", p.ImportPath, kind, imp)
				case strings.HasPrefix(rel, "oam") && !strings.HasPrefix(irel, "oam"):
					t.Errorf("%s %s %s: oam/ imports nothing of ours outside oam/", p.ImportPath, kind, imp)
				case rel == "oam/srh" && kind == "imports":
					t.Errorf("%s imports %s: oam/srh imports nothing of ours", p.ImportPath, imp)
				}
			}
		}
		check("imports", p.Imports)
		check("has a test that imports", append(p.TestImports, p.XTestImports...))
	}
}

// TestPureVocabulary: oam/ reaches no socket, kernel interface or metrics library, directly
// or through what it imports.
func TestPureVocabulary(t *testing.T) {
	forbidden := map[string]bool{"golang.org/x/sys/unix": true, "github.com/cilium/ebpf": true,
		"github.com/vishvananda/netlink": true, "github.com/prometheus/client_golang/prometheus": true}
	for _, d := range goList(t, "-deps", "./oam/...") {
		if forbidden[d.ImportPath] {
			t.Errorf("oam/... depends on %s", d.ImportPath)
		}
	}
}
