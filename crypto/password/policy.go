package password

import "fmt"

// Policy is the argon2id cost of the hashes a [Hasher] writes. Stored hashes
// whose parameters differ from the policy still verify (within [Bounds]) and
// are reported as needing an upgrade.
type Policy struct {
	Memory  uint32 // memory in KiB (argon2 m); at least 8 × Threads
	Time    uint32 // passes over the memory (argon2 t); at least 1
	Threads uint8  // lanes (argon2 p); at least 1
	SaltLen uint32 // random salt length in bytes, 8 to 48
	KeyLen  uint32 // hash (tag) length in bytes, 12 to 64
}

// DefaultPolicy returns the second recommended option of RFC 9106, section
// 4: argon2id with 64 MiB of memory, 3 passes and 4 lanes, a 128-bit salt
// and a 256-bit tag. Its PHC form is $argon2id$v=19$m=65536,t=3,p=4$…
//
// Memory is what bounds concurrent logins: a [Hasher] runs at most its
// concurrency limit of these at once (see [WithConcurrency]).
//
// Each call returns a new value: changing it changes nothing else.
func DefaultPolicy() Policy {
	return Policy{Memory: 64 << 10, Time: 3, Threads: 4, SaltLen: 16, KeyLen: 32}
}

// OWASPPolicy returns the OWASP Password Storage Cheat Sheet's first
// argon2id configuration: 19 MiB of memory, 2 passes, 1 lane, with a
// 128-bit salt and a 256-bit tag. It costs less memory per login than
// [DefaultPolicy], for servers that must admit more concurrent logins.
//
// Each call returns a new value: changing it changes nothing else.
func OWASPPolicy() Policy {
	return Policy{Memory: 19 << 10, Time: 2, Threads: 1, SaltLen: 16, KeyLen: 32}
}

// Format limits of an argon2id PHC string, whatever the Bounds: a salt of 8
// to 48 bytes and a hash of 12 to 64 bytes, after base64 decoding.
const (
	minSaltLen = 8
	maxSaltLen = 48
	minKeyLen  = 12
	maxKeyLen  = 64
)

// Bounds limit the argon2id parameters a stored hash may ask for. A stored
// hash outside them is refused with an error wrapping [ErrHashBounds] before
// any hashing, so a tampered row can not make a login burn unbounded memory
// or time.
//
// The lower limits are fixed by argon2 itself: time at least 1, threads at
// least 1, memory at least 8 KiB per thread. Salt (8 to 48 bytes) and hash
// (12 to 64 bytes) lengths are fixed too, and also reported as ErrHashBounds.
type Bounds struct {
	MaxMemory  uint32 // largest memory in KiB
	MaxTime    uint32 // largest number of passes
	MaxThreads uint8  // largest number of lanes
}

// DefaultBounds returns bounds that admit up to 256 MiB of memory, 10
// passes and 16 lanes: four times the memory of [DefaultPolicy], so that a
// policy change does not lock out users whose hashes were written under a
// somewhat stronger one.
//
// Each call returns a new value: changing it changes nothing else.
func DefaultBounds() Bounds {
	return Bounds{MaxMemory: 256 << 10, MaxTime: 10, MaxThreads: 16}
}

func (b Bounds) validate() error {
	if b.MaxMemory < 8 || b.MaxTime < 1 || b.MaxThreads < 1 {
		return fmt.Errorf("%w: bounds admit no argon2id parameters (need memory >= 8 KiB, time >= 1, threads >= 1)", ErrInvalidConfig)
	}
	return nil
}

// check reports whether the argon2id parameters are within b and the format
// limits, with an error wrapping ErrHashBounds naming the parameter.
func (b Bounds) check(memory, time, threads uint32, saltLen, keyLen int) error {
	if v := b.violation(memory, time, threads, saltLen, keyLen); v != "" {
		return fmt.Errorf("%w: %s", ErrHashBounds, v)
	}
	return nil
}

func (b Bounds) violation(memory, time, threads uint32, saltLen, keyLen int) string {
	switch {
	case time < 1 || time > b.MaxTime:
		return fmt.Sprintf("argon2id time %d not in 1..%d", time, b.MaxTime)
	case threads < 1 || threads > uint32(b.MaxThreads):
		return fmt.Sprintf("argon2id threads %d not in 1..%d", threads, b.MaxThreads)
	case uint64(memory) < 8*uint64(threads):
		return fmt.Sprintf("argon2id memory %d KiB below 8 KiB per thread", memory)
	case memory > b.MaxMemory:
		return fmt.Sprintf("argon2id memory %d KiB above %d KiB", memory, b.MaxMemory)
	case saltLen < minSaltLen || saltLen > maxSaltLen:
		return fmt.Sprintf("argon2id salt of %d bytes not in %d..%d", saltLen, minSaltLen, maxSaltLen)
	case keyLen < minKeyLen || keyLen > maxKeyLen:
		return fmt.Sprintf("argon2id hash of %d bytes not in %d..%d", keyLen, minKeyLen, maxKeyLen)
	}
	return ""
}

// validate checks that hashes written under p verify under b.
func (p Policy) validate(b Bounds) error {
	salt, key := int(min(p.SaltLen, 1<<16)), int(min(p.KeyLen, 1<<16))
	if v := b.violation(p.Memory, p.Time, uint32(p.Threads), salt, key); v != "" {
		return fmt.Errorf("%w: policy outside bounds: %s", ErrInvalidConfig, v)
	}
	return nil
}
