package store

import (
	"fmt"
	"testing"
	"time"
)

// FuzzParseLease feeds parseLease the values a database writer could put
// where a lease is kept: it must not panic, and what it accepts must be
// what it would write.
func FuzzParseLease(f *testing.F) {
	f.Add([]byte("lease1 00112233445566778899aabbccddeeff 1800000000000000000"))
	f.Add([]byte("lease1 x -1"))
	f.Add([]byte("lease2 00 1"))
	f.Add([]byte(""))
	f.Fuzz(func(t *testing.T, v []byte) {
		exp, ok := parseLease(v)
		if !ok {
			return
		}
		again, ok := parseLease(fmt.Appendf(nil, "%s %s %d", leaseVersion, "holder", exp.UnixNano()))
		if !ok || !again.Equal(exp) {
			t.Fatalf("the expiry %v does not survive a round trip", exp)
		}
	})
}

func TestLeaseKey(t *testing.T) {
	for _, name := range []string{"a", string(make([]byte, 10000)), "refresh \"p\" \"\x00\""} {
		k := leaseKey(name)
		if len(k) > 64 || k[:len(leasePrefix)] != leasePrefix {
			t.Errorf("leaseKey gives %q (%d bytes)", k, len(k))
		}
	}
	if leaseKey("a") == leaseKey("b") {
		t.Error("two names share a key")
	}
	if _, ok := parseLease(fmt.Appendf(nil, "%s %s %d", leaseVersion, "h", time.Unix(5, 6).UnixNano())); !ok {
		t.Error("parseLease refuses what AcquireLease writes")
	}
}
