package keyring

import (
	"crypto/sha256"
	"fmt"
	"io"
	"io/fs"
	"os"
	"runtime"
	"slices"

	"google.golang.org/protobuf/proto"

	"github.com/tink-crypto/tink-go/v2/tink"

	tinkpb "github.com/tink-crypto/tink-go/v2/proto/tink_go_proto"
)

// Load reads a keyring written by [Keyring.Save], decrypting its keyset with
// master (one Decrypt call) and checking that the metadata was not
// modified.
//
// A wrong master key, or a keyset or metadata modified after saving, gives
// [ErrWrongMasterKey] (the two are indistinguishable by design); a
// malformed, truncated or oversized file gives [ErrKeyringCorrupt]; a file
// without keys gives [ErrEmptyKeyring]. Load never panics on any input.
func Load(r io.Reader, master tink.AEAD) (*Keyring, error) {
	if master == nil {
		return nil, fmt.Errorf("%w: nil master AEAD", ErrNoMasterKey)
	}
	data, err := readFile(r)
	if err != nil {
		return nil, err
	}
	return unmarshal(data, master)
}

func unmarshal(data []byte, master tink.AEAD) (*Keyring, error) {
	f, md, err := parseFile(data)
	if err != nil {
		return nil, err
	}
	if f.Keyset == "" {
		if f.CleartextKeyset != "" {
			return nil, corrupt("file holds a cleartext keyset; it can only be read with InsecureLoadCleartext")
		}
		return nil, corrupt("no keyset")
	}
	enc, err := decodeBase64("keyset", f.Keyset)
	if err != nil {
		return nil, err
	}
	var eks tinkpb.EncryptedKeyset
	if err := proto.Unmarshal(enc, &eks); err != nil || len(eks.GetEncryptedKeyset()) == 0 {
		return nil, corrupt("keyset is not a Tink encrypted keyset")
	}
	pt, err := master.Decrypt(eks.GetEncryptedKeyset(), metadataAD(md))
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrWrongMasterKey, err)
	}
	defer clear(pt)
	return parseKeyset(pt, md)
}

// A LoadOption changes how [LoadFile], [LoadFileIfChanged], [EditFile] and
// [RemasterFile] load a keyring file.
type LoadOption func(*loadOptions)

type loadOptions struct {
	allowInsecurePermissions bool
}

// AllowInsecurePermissions makes [LoadFile] accept a keyring file that group
// or others can access. The keyset in the file is encrypted under the master
// key, so this is a second line of defence; use the option only where file
// modes are meaningless (some container volumes) and access is controlled
// otherwise.
func AllowInsecurePermissions() LoadOption {
	return func(o *loadOptions) { o.allowInsecurePermissions = true }
}

// LoadFile loads the keyring file at path (see [Load]).
//
// It opens the file without blocking (a FIFO at path cannot hang it),
// refuses anything but a regular file after following symbolic links
// ([ErrKeyringCorrupt]: a directory, a FIFO, a device such as /dev/zero), and
// a file over 1 MiB before reading it ([ErrKeyringCorrupt]). It refuses,
// with [ErrInsecurePermissions], a file whose mode grants any access to
// group or others (mode & 0o077 != 0), unless given
// [AllowInsecurePermissions]; on Windows, where modes do not describe
// access, the check is skipped. It reads the file once.
func LoadFile(path string, master tink.AEAD, opts ...LoadOption) (*Keyring, error) {
	o := loadOptionsOf(opts)
	if master == nil {
		return nil, fmt.Errorf("%w: nil master AEAD", ErrNoMasterKey)
	}
	data, err := readKeyringFile(path, o)
	if err != nil {
		return nil, err
	}
	k, err := unmarshal(data, master)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return k, nil
}

// LoadFileIfChanged is [LoadFile] for a caller that polls the file: it
// reads the file once, with the checks of LoadFile, and returns the SHA-256
// of the bytes read. If that is prev, it returns a nil Keyring and no
// error without decrypting anything (no master key call); otherwise it
// loads the bytes read. Pass the zero value as prev to load in any case.
//
// A poller keeps the sum of the last file it put to use, and passes it
// back:
//
//	k, sum, err := keyring.LoadFileIfChanged(path, master, last)
//	if err == nil && k != nil && use(k) == nil {
//		last = sum
//	}
func LoadFileIfChanged(path string, master tink.AEAD, prev [sha256.Size]byte, opts ...LoadOption) (k *Keyring, sum [sha256.Size]byte, err error) {
	o := loadOptionsOf(opts)
	if master == nil {
		return nil, sum, fmt.Errorf("%w: nil master AEAD", ErrNoMasterKey)
	}
	data, err := readKeyringFile(path, o)
	if err != nil {
		return nil, sum, err
	}
	sum = sha256.Sum256(data)
	if sum == prev {
		return nil, sum, nil
	}
	k, err = unmarshal(data, master)
	if err != nil {
		return nil, sum, fmt.Errorf("%s: %w", path, err)
	}
	return k, sum, nil
}

func loadOptionsOf(opts []LoadOption) loadOptions {
	var o loadOptions
	for _, opt := range opts {
		opt(&o)
	}
	return o
}

// readKeyringFile reads the keyring file at path: see LoadFile for the
// checks.
func readKeyringFile(path string, o loadOptions) ([]byte, error) {
	f, err := openNonBlocking(path)
	if err != nil {
		return nil, fmt.Errorf("keyring: %w", err)
	}
	defer f.Close() // read-only: a close error loses nothing
	data, _, err := readOpenFile(f, path, o)
	return data, err
}

// readOpenFile checks the open file f (named path in errors) with fstat and
// reads it: at most maxFileSize bytes, allocated once.
func readOpenFile(f *os.File, path string, o loadOptions) ([]byte, os.FileInfo, error) {
	fi, err := f.Stat()
	if err != nil {
		return nil, nil, fmt.Errorf("keyring: %w", err)
	}
	if !fi.Mode().IsRegular() {
		return nil, nil, fmt.Errorf("%s: %w", path, corrupt("not a regular file (%s)", fileKind(fi.Mode())))
	}
	if perm := fi.Mode().Perm(); perm&0o077 != 0 && !o.allowInsecurePermissions && runtime.GOOS != "windows" {
		return nil, nil, fmt.Errorf("keyring: %s has mode %04o; make it private (chmod 600) or pass AllowInsecurePermissions: %w", path, perm, ErrInsecurePermissions)
	}
	if fi.Size() > maxFileSize {
		return nil, nil, fmt.Errorf("%s: %w", path, corrupt("file of %d bytes exceeds %d", fi.Size(), maxFileSize))
	}
	data, err := readBounded(f, int(fi.Size()))
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", path, err)
	}
	return data, fi, nil
}

// readBounded reads r to its end into one buffer of size+1 bytes, growing
// it only if r holds more than size bytes (a file that grew after fstat),
// and fails once more than maxFileSize bytes were read.
func readBounded(r io.Reader, size int) ([]byte, error) {
	buf := make([]byte, 0, min(size, maxFileSize)+1)
	for {
		if len(buf) == cap(buf) {
			buf = slices.Grow(buf, min(len(buf), maxFileSize+1-len(buf)))
		}
		n, err := r.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if len(buf) > maxFileSize {
			return nil, corrupt("file exceeds %d bytes", maxFileSize)
		}
		if err == io.EOF {
			return buf, nil
		}
		if err != nil {
			return nil, fmt.Errorf("keyring: read keyring: %w", err)
		}
	}
}

// fileKind names a non-regular file type for an error.
func fileKind(m fs.FileMode) string {
	switch {
	case m.IsDir():
		return "a directory"
	case m&fs.ModeNamedPipe != 0:
		return "a FIFO"
	case m&fs.ModeCharDevice != 0:
		return "a character device"
	case m&fs.ModeDevice != 0:
		return "a device"
	case m&fs.ModeSocket != 0:
		return "a socket"
	default:
		return "type " + m.Type().String()
	}
}
