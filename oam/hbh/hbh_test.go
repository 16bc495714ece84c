package hbh

import (
	"bytes"
	"errors"
	"testing"
)

func TestFind(t *testing.T) {
	// Pad1, PadN of 3, option 0x31 (len 2), option 0x32 (len 0).
	h := []byte{59, 1, 0, 1, 1, 0, 0x31, 2, 7, 8, 0x32, 0, 1, 2, 0, 0}
	opt, ok, err := Find(h, func(o []byte) bool { return o[0] == 0x32 })
	if err != nil || !ok || opt[0] != 0x32 || len(opt) != 6 {
		t.Fatalf("% x %v %v", opt, ok, err)
	}
	if _, ok, err := Find(h, func(o []byte) bool { return o[0] == 0x33 }); ok || err != nil {
		t.Errorf("absent option: %v %v", ok, err)
	}
	// PadN is never offered to match.
	if _, ok, _ := Find(h, func(o []byte) bool { return o[0] == 1 }); ok {
		t.Error("PadN matched")
	}
	if _, _, err := Find(h[:10], func([]byte) bool { return false }); !errors.Is(err, ErrShort) {
		t.Errorf("truncated header: %v", err)
	}
	if _, _, err := Find([]byte{59, 0, 5, 9, 0, 0, 0, 0}, func([]byte) bool { return false }); err == nil {
		t.Error("an option past the header accepted")
	}
}

func TestPad(t *testing.T) {
	for n, want := range map[int][]byte{0: nil, 1: {0}, 2: {1, 0}, 5: {1, 3, 0, 0, 0}} {
		if got := Pad(nil, n); !bytes.Equal(got, want) {
			t.Errorf("Pad(%d) = % x, want % x", n, got, want)
		}
	}
	for size, want := range map[int]int{8: 0, 9: 7, 14: 2, 40: 0} {
		if PadLen(size) != want {
			t.Errorf("PadLen(%d) = %d, want %d", size, PadLen(size), want)
		}
	}
}

func FuzzFind(f *testing.F) {
	f.Add([]byte{59, 1, 0, 1, 1, 0, 0x31, 2, 7, 8, 0x32, 0, 1, 2, 0, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		opt, ok, err := Find(b, func(o []byte) bool { return o[0] == 0x32 })
		if err != nil || !ok {
			return
		}
		if opt[0] != 0x32 || len(opt) < 2+int(opt[1]) || !bytes.Contains(b, opt[:2+int(opt[1])]) {
			t.Fatalf("option % x from % x", opt, b)
		}
	})
}
