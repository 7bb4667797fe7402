package keyring

import (
	"fmt"
	"io"
)

// InsecureSaveCleartext writes k to w with its keys in cleartext: anyone who
// reads the output can decrypt everything the keyring protects. It exists
// for tests and for migrations between master keys done by hand; use
// [Keyring.Save] otherwise.
//
// The file has the format of Save with "cleartext_keyset" (base64 of the
// serialized Tink keyset) in place of "keyset"; the metadata (generation
// included) is not authenticated. [Load] refuses it.
func InsecureSaveCleartext(w io.Writer, k *Keyring) error {
	if k == nil || k.handle == nil {
		return ErrEmptyKeyring
	}
	pt, err := k.serializeKeyset()
	if err != nil {
		return err
	}
	defer clear(pt)
	f := fileOf(k)
	f.CleartextKeyset = b64(pt)
	data, err := encodeFile(f)
	if err != nil {
		return err
	}
	defer clear(data)
	if _, err := w.Write(data); err != nil {
		return fmt.Errorf("keyring: write keyring: %w", err)
	}
	return nil
}

// InsecureLoadCleartext reads a keyring written by [InsecureSaveCleartext].
// It checks the keyset against the metadata as [Load] does, but nothing
// authenticates a cleartext file: load only files you trust. It refuses a
// file written by Save.
func InsecureLoadCleartext(r io.Reader) (*Keyring, error) {
	data, err := readFile(r)
	if err != nil {
		return nil, err
	}
	defer clear(data)
	f, md, err := parseFile(data)
	if err != nil {
		return nil, err
	}
	if f.CleartextKeyset == "" {
		if f.Keyset != "" {
			return nil, corrupt("file holds an encrypted keyset; read it with Load")
		}
		return nil, corrupt("no keyset")
	}
	pt, err := decodeBase64("cleartext_keyset", f.CleartextKeyset)
	if err != nil {
		return nil, err
	}
	defer clear(pt)
	return parseKeyset(pt, md)
}
