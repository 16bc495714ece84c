package cli

import (
	"strings"

	"github.com/urfave/cli/v2"
)

// flagKinds maps every name of flags (and -h, --help) to whether the flag takes a value.
func flagKinds(flags []cli.Flag) map[string]bool {
	takesValue := map[string]bool{"h": false, "help": false}
	for _, f := range flags {
		_, isBool := f.(*cli.BoolFlag)
		for _, n := range f.Names() {
			takesValue[n] = !isBool
		}
	}
	return takesValue
}

// ShortValues splits clusters of short options the way getopt(3) does for iputils ping and
// traceroute, which urfave/cli does not: "-c1" becomes "-c 1", "-qc1" "-q -c 1", "-Ieth0"
// "-I eth0". Left as they are: a word that is a flag's whole name ("-segs", "-json"), "-x=v",
// "--long" forms, the value after a flag that takes one ("-c -1" stays a negative count),
// everything after "--", and a cluster with a letter that is no short flag (the parser then
// names it as unknown). args[0] is the program.
func ShortValues(flags []cli.Flag, args []string) []string {
	if len(args) == 0 {
		return args
	}
	takesValue := flagKinds(flags)
	out := []string{args[0]}
	for i := 1; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			out = append(out, args[i:]...)
			break
		}
		if len(a) < 2 || a[0] != '-' {
			out = append(out, a)
			continue
		}
		name, _, hasValue := strings.Cut(strings.TrimLeft(a, "-"), "=")
		wantsValue, known := takesValue[name]
		if a[1] == '-' || known {
			out = append(out, a)
			if wantsValue && !hasValue && i+1 < len(args) {
				i++
				out = append(out, args[i])
			}
			continue
		}
		split, needsNext := cluster(a[1:], takesValue)
		if split == nil {
			out = append(out, a)
			continue
		}
		out = append(out, split...)
		if needsNext && i+1 < len(args) {
			i++
			out = append(out, args[i])
		}
	}
	return out
}

// cluster splits the letters of one "-abc" word: switches one by one until a letter that takes
// a value, which takes the rest of the word (or, needsNext, the next word). nil when a letter
// is no short flag.
func cluster(letters string, takesValue map[string]bool) (split []string, needsNext bool) {
	for k, r := range letters {
		name := string(r)
		wantsValue, known := takesValue[name]
		if !known {
			return nil, false
		}
		split = append(split, "-"+name)
		if wantsValue {
			if rest := letters[k+len(name):]; rest != "" {
				return append(split, rest), false
			}
			return split, true
		}
	}
	return split, false
}

// FlagsFirst moves arguments that are not flags after the flags, so that "srv6-ping DEST -c 3"
// works as it does with iputils (urfave/cli stops at the first argument that is not a flag).
func FlagsFirst(flags []cli.Flag, args []string) []string {
	takesValue := flagKinds(flags)
	var opts, rest []string
	for i := 1; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			rest = append(rest, args[i+1:]...)
			break
		}
		if len(a) < 2 || a[0] != '-' {
			rest = append(rest, a)
			continue
		}
		opts = append(opts, a)
		name := strings.TrimLeft(a, "-")
		if strings.Contains(name, "=") || !takesValue[name] && knownOrCluster(takesValue, name, a) {
			continue
		}
		if i+1 == len(args) {
			// The last word needs a value and has none: the command line is wrong
			// whatever the arguments are; leave the flag last for the parser to name
			// ("flag needs an argument"), instead of giving it "--" as its value.
			return append([]string{args[0]}, opts...)
		}
		i++
		opts = append(opts, args[i])
	}
	out := append([]string{args[0]}, opts...)
	if len(rest) > 0 {
		out = append(append(out, "--"), rest...)
	}
	return out
}

// knownOrCluster reports whether name is a switch, or a cluster of short switches (-qD).
func knownOrCluster(takesValue map[string]bool, name, word string) bool {
	if _, ok := takesValue[name]; ok {
		return true
	}
	if word[1] == '-' || len(name) < 2 {
		return false
	}
	for _, r := range name {
		if wantsValue, ok := takesValue[string(r)]; !ok || wantsValue {
			return false
		}
	}
	return true
}
