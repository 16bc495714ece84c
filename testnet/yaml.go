package testnet

import (
	"embed"
	"fmt"
	"io/fs"
	"net/netip"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

//go:embed topologies/*.yaml
var bundled embed.FS

// Bundled lists the names of the topologies shipped in testnet/topologies.
func Bundled() []string {
	entries, _ := fs.ReadDir(bundled, "topologies")
	var names []string
	for _, e := range entries {
		names = append(names, strings.TrimSuffix(e.Name(), ".yaml"))
	}
	sort.Strings(names)
	return names
}

// Load reads a topology from a file path, or a bundled one by name
// ("line4", "diamond", ...) when no such file exists and the name has no
// slash or extension.
func Load(nameOrPath string) (*Topology, error) {
	data, err := os.ReadFile(nameOrPath)
	if err != nil {
		if !os.IsNotExist(err) || strings.ContainsAny(nameOrPath, "/.") {
			return nil, fmt.Errorf("read topology: %w", err)
		}
		bdata, berr := bundled.ReadFile("topologies/" + nameOrPath + ".yaml")
		if berr != nil {
			return nil, fmt.Errorf("topology %q: no such file and no bundled topology of that name (bundled: %s)",
				nameOrPath, strings.Join(Bundled(), ", "))
		}
		return Parse(bdata, "testnet/topologies/"+nameOrPath+".yaml")
	}
	return Parse(data, nameOrPath)
}

// Parse reads a topology from YAML; file names it in errors and gives the
// default lab name. The topology is validated.
func Parse(data []byte, file string) (*Topology, error) {
	t := &Topology{File: file}
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, &Error{File: file, Err: fmt.Errorf("%w: %w", err, ErrInvalid)}
	}
	if len(doc.Content) == 0 {
		return nil, t.errorf(0, "", "empty document")
	}
	root := doc.Content[0]
	p := parser{t: t}
	if err := p.mapping(root, "", map[string]func(*yaml.Node) error{
		"name":  func(v *yaml.Node) error { return p.str(v, "", "name", &t.Name) },
		"nodes": p.nodes,
		"links": p.links,
		"icmp_ratelimit_ms": func(v *yaml.Node) error {
			t.ICMPRateLimitLine = v.Line
			return p.integer(v, "", "icmp_ratelimit_ms", 31, func(x uint64) { t.ICMPRateLimitMS = int(x) })
		},
	}); err != nil {
		return nil, err
	}
	if t.Name == "" && file != "" {
		t.Name = strings.TrimSuffix(filepath.Base(file), filepath.Ext(file))
	}
	if err := t.Validate(); err != nil {
		return nil, err
	}
	return t, nil
}

type parser struct{ t *Topology }

func (p *parser) mapping(n *yaml.Node, where string, fields map[string]func(*yaml.Node) error) error {
	if n.Kind != yaml.MappingNode {
		return p.t.errorf(n.Line, where, "expected a mapping")
	}
	seen := map[string]bool{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		f, ok := fields[k.Value]
		if !ok {
			known := make([]string, 0, len(fields))
			for name := range fields {
				known = append(known, name)
			}
			sort.Strings(known)
			return p.t.errorf(k.Line, where, "unknown field %q (known: %s)", k.Value, strings.Join(known, ", "))
		}
		if seen[k.Value] {
			return p.t.errorf(k.Line, where, "field %q given twice", k.Value)
		}
		seen[k.Value] = true
		if err := f(v); err != nil {
			return err
		}
	}
	return nil
}

func (p *parser) scalar(v *yaml.Node, where, field string) (string, error) {
	if v.Kind != yaml.ScalarNode {
		return "", p.t.errorf(v.Line, where, "%s: expected a single value", field)
	}
	return v.Value, nil
}

func (p *parser) str(v *yaml.Node, where, field string, dst *string) error {
	s, err := p.scalar(v, where, field)
	*dst = s
	return err
}

func (p *parser) boolean(v *yaml.Node, where, field string, dst *bool) error {
	s, err := p.scalar(v, where, field)
	if err != nil {
		return err
	}
	b, err := strconv.ParseBool(s)
	if err != nil {
		return p.t.errorf(v.Line, where, "%s: %q is not true or false", field, s)
	}
	*dst = b
	return nil
}

func (p *parser) integer(v *yaml.Node, where, field string, bits int, dst func(uint64)) error {
	s, err := p.scalar(v, where, field)
	if err != nil {
		return err
	}
	x, err := strconv.ParseUint(s, 0, bits)
	if err != nil {
		return p.t.errorf(v.Line, where, "%s: %q is not a number of %d bits", field, s, bits)
	}
	dst(x)
	return nil
}

func (p *parser) addr(v *yaml.Node, where, field string) (netip.Addr, error) {
	s, err := p.scalar(v, where, field)
	if err != nil {
		return netip.Addr{}, err
	}
	a, err := netip.ParseAddr(s)
	if err != nil || !a.Is6() || a.Is4In6() || a.Zone() != "" {
		return netip.Addr{}, p.t.errorf(v.Line, where, "%s: %q is not an IPv6 address", field, s)
	}
	return a, nil
}

// prefix parses "addr/len"; a bare address is taken as /128.
func (p *parser) prefix(v *yaml.Node, where, field string) (netip.Prefix, error) {
	s, err := p.scalar(v, where, field)
	if err != nil {
		return netip.Prefix{}, err
	}
	if !strings.Contains(s, "/") {
		s += "/128"
	}
	pr, err := netip.ParsePrefix(s)
	if err != nil || !pr.Addr().Is6() || pr.Addr().Is4In6() {
		return netip.Prefix{}, p.t.errorf(v.Line, where, "%s: %q is not an IPv6 prefix", field, v.Value)
	}
	return pr, nil
}

func (p *parser) seq(v *yaml.Node, where, field string, each func(*yaml.Node) error) error {
	if v.Kind == yaml.ScalarNode && v.Tag == "!!null" {
		return nil
	}
	if v.Kind != yaml.SequenceNode {
		return p.t.errorf(v.Line, where, "%s: expected a list", field)
	}
	for _, e := range v.Content {
		if err := each(e); err != nil {
			return err
		}
	}
	return nil
}

func (p *parser) nodes(v *yaml.Node) error {
	if v.Kind != yaml.MappingNode {
		return p.t.errorf(v.Line, "", "nodes: expected a mapping of node name to node")
	}
	for i := 0; i+1 < len(v.Content); i += 2 {
		k, body := v.Content[i], v.Content[i+1]
		n := Node{Name: k.Value, Line: k.Line}
		where := "node " + n.Name
		if body.Kind == yaml.ScalarNode && body.Tag == "!!null" {
			return p.t.errorf(k.Line, where, "empty node (needs at least loopback)")
		}
		srv6 := true
		err := p.mapping(body, where, map[string]func(*yaml.Node) error{
			"loopback": func(v *yaml.Node) error {
				add := func(e *yaml.Node) error {
					pr, err := p.prefix(e, where, "loopback")
					n.Loopbacks = append(n.Loopbacks, pr)
					return err
				}
				if v.Kind == yaml.SequenceNode {
					return p.seq(v, where, "loopback", add)
				}
				return add(v)
			},
			"locator": func(v *yaml.Node) error {
				var err error
				n.Locator, err = p.prefix(v, where, "locator")
				return err
			},
			"srv6":         func(v *yaml.Node) error { return p.boolean(v, where, "srv6", &srv6) },
			"require_hmac": func(v *yaml.Node) error { return p.boolean(v, where, "require_hmac", &n.RequireHMAC) },
			"ioam":         func(v *yaml.Node) error { return p.ioam(v, where, &n) },
			"icmp_ratelimit_ms": func(v *yaml.Node) error {
				return p.integer(v, where, "icmp_ratelimit_ms", 31, func(x uint64) {
					ms := int(x)
					n.ICMPRateLimitMS = &ms
				})
			},
			"sids": func(v *yaml.Node) error {
				return p.seq(v, where, "sids", func(e *yaml.Node) error {
					sid, err := p.sid(e, where)
					n.SIDs = append(n.SIDs, sid)
					return err
				})
			},
			"policies": func(v *yaml.Node) error {
				return p.seq(v, where, "policies", func(e *yaml.Node) error {
					pol, err := p.policy(e, where)
					n.Policies = append(n.Policies, pol)
					return err
				})
			},
			"tables": func(v *yaml.Node) error {
				return p.seq(v, where, "tables", func(e *yaml.Node) error {
					tb := Table{Line: e.Line}
					err := p.mapping(e, where+": table", map[string]func(*yaml.Node) error{
						"id": func(v *yaml.Node) error {
							return p.integer(v, where, "id", 31, func(x uint64) { tb.ID = int(x) })
						},
						"neighbours": func(v *yaml.Node) error {
							return p.seq(v, where, "neighbours", func(e *yaml.Node) error {
								nb, err := p.scalar(e, where, "neighbours")
								tb.Neighbours = append(tb.Neighbours, nb)
								return err
							})
						},
					})
					n.Tables = append(n.Tables, tb)
					return err
				})
			},
			"hmac_keys": func(v *yaml.Node) error {
				return p.seq(v, where, "hmac_keys", func(e *yaml.Node) error {
					key := HMACKey{Line: e.Line}
					err := p.mapping(e, where+": hmac key", map[string]func(*yaml.Node) error{
						"id": func(v *yaml.Node) error {
							return p.integer(v, where, "id", 32, func(x uint64) { key.ID = uint32(x) })
						},
						"secret":    func(v *yaml.Node) error { return p.str(v, where, "secret", &key.Secret) },
						"algorithm": func(v *yaml.Node) error { return p.str(v, where, "algorithm", &key.Algorithm) },
					})
					n.HMACKeys = append(n.HMACKeys, key)
					return err
				})
			},
		})
		if err != nil {
			return err
		}
		n.Plain = !srv6
		p.t.Nodes = append(p.t.Nodes, n)
	}
	return nil
}

func (p *parser) sid(e *yaml.Node, where string) (SID, error) {
	sid := SID{Line: e.Line}
	err := p.mapping(e, where+": sid", map[string]func(*yaml.Node) error{
		"sid": func(v *yaml.Node) error {
			s, err := p.scalar(v, where, "sid")
			if err != nil {
				return err
			}
			if strings.Contains(s, "/") {
				pr, err := p.prefix(v, where, "sid")
				sid.Addr, sid.Bits = pr.Addr(), pr.Bits()
				return err
			}
			sid.Addr, err = p.addr(v, where, "sid")
			return err
		},
		"flavors": func(v *yaml.Node) error {
			return p.seq(v, where, "flavors", func(e *yaml.Node) error {
				f, err := p.scalar(e, where, "flavors")
				sid.Flavors = append(sid.Flavors, f)
				return err
			})
		},
		"lblen": func(v *yaml.Node) error {
			return p.integer(v, where, "lblen", 8, func(x uint64) { sid.LBLen = int(x) })
		},
		"nflen": func(v *yaml.Node) error {
			return p.integer(v, where, "nflen", 8, func(x uint64) { sid.NFLen = int(x) })
		},
		"behavior": func(v *yaml.Node) error {
			var s string
			err := p.str(v, where, "behavior", &s)
			sid.Behavior = Behavior(s)
			return err
		},
		"via":     func(v *yaml.Node) error { return p.str(v, where, "via", &sid.Via) },
		"program": func(v *yaml.Node) error { return p.str(v, where, "program", &sid.Program) },
		"table": func(v *yaml.Node) error {
			return p.integer(v, where, "table", 31, func(x uint64) { sid.Table = int(x) })
		},
	})
	if err == nil && !sid.Addr.IsValid() {
		err = p.t.errorf(e.Line, where, "sid: missing field sid")
	}
	return sid, err
}

func (p *parser) policy(e *yaml.Node, where string) (Policy, error) {
	pol := Policy{Line: e.Line}
	err := p.mapping(e, where+": policy", map[string]func(*yaml.Node) error{
		"to": func(v *yaml.Node) error {
			var err error
			pol.To, err = p.prefix(v, where, "to")
			return err
		},
		"mode": func(v *yaml.Node) error {
			var s string
			err := p.str(v, where, "mode", &s)
			pol.Mode = PolicyMode(s)
			return err
		},
		"segments": func(v *yaml.Node) error {
			return p.seq(v, where, "segments", func(s *yaml.Node) error {
				a, err := p.addr(s, where, "segments")
				pol.Segments = append(pol.Segments, a)
				return err
			})
		},
		"hmac_key": func(v *yaml.Node) error {
			return p.integer(v, where, "hmac_key", 32, func(x uint64) { pol.HMACKeyID = uint32(x) })
		},
		"table": func(v *yaml.Node) error {
			return p.integer(v, where, "table", 31, func(x uint64) { pol.Table = int(x) })
		},
	})
	if err == nil && !pol.To.IsValid() {
		err = p.t.errorf(e.Line, where, "policy: missing field to")
	}
	return pol, err
}

func (p *parser) links(v *yaml.Node) error {
	return p.seq(v, "", "links", func(e *yaml.Node) error {
		l := Link{Line: e.Line}
		where := "link"
		err := p.mapping(e, where, map[string]func(*yaml.Node) error{
			"a": func(v *yaml.Node) error { return p.str(v, where, "a", &l.A) },
			"b": func(v *yaml.Node) error { return p.str(v, where, "b", &l.B) },
			"a_addr": func(v *yaml.Node) error {
				var err error
				l.AAddr, err = p.prefix(v, where, "a_addr")
				return err
			},
			"b_addr": func(v *yaml.Node) error {
				var err error
				l.BAddr, err = p.prefix(v, where, "b_addr")
				return err
			},
			"mtu": func(v *yaml.Node) error {
				return p.integer(v, where, "mtu", 17, func(x uint64) { l.MTU = int(x) })
			},
			"delay": func(v *yaml.Node) error {
				s, err := p.scalar(v, where, "delay")
				if err != nil {
					return err
				}
				l.Delay, err = time.ParseDuration(s)
				if err != nil {
					return p.t.errorf(v.Line, where, "delay: %q is not a duration (like 5ms or 250us)", s)
				}
				return nil
			},
		})
		if err == nil && (l.A == "" || l.B == "") {
			err = p.t.errorf(e.Line, where, "a link needs both a and b")
		}
		p.t.Links = append(p.t.Links, l)
		return err
	})
}
