package output

import (
	"strings"
	"testing"
)

func TestParseExpectation(t *testing.T) {
	got, err := ParseExpectation("r1, r2/r3 ,fc00::1")
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 3 || got[1].String() != "r2/r3" || got[2][0] != "fc00::1" {
		t.Errorf("got %v", got)
	}
	for in, msg := range map[string]string{
		"":          "empty hop list",
		"r1,,r2":    "hop 2 of 3",
		"r1,r2/":    "hop 2 of 2",
		"r1,* ,r2":  "hop 2 of 3",
		"a b":       "neither a name nor an address",
		"r1,r2,r3/": "hop 3 of 3",
	} {
		if _, err := ParseExpectation(in); err == nil || !strings.Contains(err.Error(), msg) {
			t.Errorf("%q: error %v, want one with %q", in, err, msg)
		}
	}
}

func FuzzParseExpectation(f *testing.F) {
	for _, s := range []string{"r1,r2/r3,h2", "", ",", "/", "fc00::1/fc00::2", "a,b,c/d/e"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		hops, err := ParseExpectation(s)
		if err == nil && len(hops) != strings.Count(s, ",")+1 {
			t.Fatalf("%q: %d hops", s, len(hops))
		}
	})
}

// TestAttributeSegments: three segments, a plain router before the first SID, a hop lost
// between the two SIDs, and the destination.
