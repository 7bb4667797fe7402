//go:build !unix

package keyring

import "os"

// hasFlock is false: outside Unix, edits are not locked, and only the check
// before the rename protects them.
const hasFlock = false

// openNonBlocking opens path for reading. Outside Unix there are no FIFOs
// to block on in the file system.
func openNonBlocking(path string) (*os.File, error) { return os.Open(path) }

// keepOwner does nothing outside Unix, where files have no owner uid and
// gid to keep.
func keepOwner(f *os.File, old os.FileInfo) error { return nil }

func openLockFile(path string) (*os.File, error) { panic("keyring: no lock files without flock") }

func flockExclusive(f *os.File) (bool, error) { panic("keyring: no flock") }
