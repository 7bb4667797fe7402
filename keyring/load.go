package keyring

import (
	"fmt"
	"io"
	"os"
	"runtime"

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
	f, keys, err := parseFile(data)
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
	pt, err := master.Decrypt(eks.GetEncryptedKeyset(), metadataAD(keys))
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrWrongMasterKey, err)
	}
	defer clear(pt)
	return parseKeyset(pt, keys)
}

// A LoadOption changes how [LoadFile] loads a keyring.
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

// LoadFile loads the keyring file at path (see [Load]). It refuses, with
// [ErrInsecurePermissions], a file whose mode grants any access to group or
// others (mode & 0o077 != 0), unless given [AllowInsecurePermissions]; on
// Windows, where modes do not describe access, the check is skipped. It
// refuses anything but a regular file (after following symbolic links).
func LoadFile(path string, master tink.AEAD, opts ...LoadOption) (*Keyring, error) {
	var o loadOptions
	for _, opt := range opts {
		opt(&o)
	}
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

func readKeyringFile(path string, o loadOptions) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("keyring: %w", err)
	}
	defer f.Close() // read-only: a close error loses nothing
	fi, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("keyring: %w", err)
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("%s: %w", path, corrupt("not a regular file"))
	}
	if perm := fi.Mode().Perm(); perm&0o077 != 0 && !o.allowInsecurePermissions && runtime.GOOS != "windows" {
		return nil, fmt.Errorf("keyring: %s has mode %04o; make it private (chmod 600) or pass AllowInsecurePermissions: %w", path, perm, ErrInsecurePermissions)
	}
	data, err := readFile(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return data, nil
}
