package keyring

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
)

// memSlot is a Slot in memory. interfere, if set, runs between each Get
// and the following Swap, as another editor would.
type memSlot struct {
	mu        sync.Mutex
	data      []byte
	swaps     int
	interfere func(s *memSlot)
}

func (s *memSlot) Get(ctx context.Context) ([]byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.data == nil {
		return nil, fmt.Errorf("memSlot: %w", ErrNoKeyring)
	}
	return bytes.Clone(s.data), nil
}

func (s *memSlot) Swap(ctx context.Context, old, new []byte) error {
	if s.interfere != nil {
		s.interfere(s)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if !bytes.Equal(s.data, old) || (old == nil) != (s.data == nil) {
		return fmt.Errorf("memSlot: %w", ErrChangedMeanwhile)
	}
	s.data = bytes.Clone(new)
	s.swaps++
	return nil
}

// TestEditSlotRetries: an edit overtaken by another is redone on the newer
// keyring, so both land; one overtaken at every attempt gives up with
// ErrChangedMeanwhile, writing nothing of its own.
func TestEditSlotRetries(t *testing.T) {
	master := testMaster(t)
	s := &memSlot{}
	if _, err := LoadSlot(context.Background(), s, master); !errors.Is(err, ErrNoKeyring) {
		t.Fatalf("LoadSlot of an empty slot: %v", err)
	}
	if err := CreateSlot(context.Background(), s, mustGenerate(t), master); err != nil {
		t.Fatal(err)
	}
	if err := CreateSlot(context.Background(), s, mustGenerate(t), master); !errors.Is(err, ErrChangedMeanwhile) {
		t.Fatalf("second CreateSlot: %v", err)
	}
	// Another editor stages a key once, between our load and our swap.
	var other uint32
	s.interfere = func(s *memSlot) {
		s.interfere = nil
		if _, err := EditSlot(context.Background(), s, master, func(k *Keyring) (err error) { other, err = k.Stage(); return err }); err != nil {
			t.Errorf("interfering edit: %v", err)
		}
	}
	calls := 0
	var ours uint32
	k, err := EditSlot(context.Background(), s, master, func(k *Keyring) (err error) { calls++; ours, err = k.Stage(); return err })
	if err != nil {
		t.Fatal(err)
	}
	if calls != 2 || statusOf(k, other) != Staged || statusOf(k, ours) != Staged || k.Generation() != 3 {
		t.Fatalf("after a retried edit: %d calls, generation %d, keys %v", calls, k.Generation(), k.Keys())
	}
	// Overtaken at every attempt.
	s.interfere = func(s *memSlot) {
		if _, err := EditSlot(context.Background(), &memSlot{data: s.data}, master, func(k *Keyring) error { _, err := k.Stage(); return err }); err != nil {
			t.Errorf("interfering edit: %v", err)
		}
		s.mu.Lock()
		s.data = append(bytes.Clone(s.data), ' ') // still a valid keyring file, other bytes
		s.mu.Unlock()
	}
	before := s.swaps
	if _, err := EditSlot(context.Background(), s, master, func(k *Keyring) error { _, err := k.Stage(); return err }); !errors.Is(err, ErrChangedMeanwhile) {
		t.Fatalf("edit overtaken every time: %v", err)
	}
	if s.swaps != before {
		t.Fatalf("a give-up wrote %d times", s.swaps-before)
	}
	// An oversized value is refused before decryption.
	big := &memSlot{data: make([]byte, maxFileSize+1)}
	if _, err := LoadSlot(context.Background(), big, master); !errors.Is(err, ErrKeyringCorrupt) {
		t.Fatalf("oversized slot: %v", err)
	}
}
