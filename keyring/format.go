package keyring

import (
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/tink-crypto/tink-go/v2/insecurecleartextkeyset"
	"github.com/tink-crypto/tink-go/v2/keyset"
	tinkpb "github.com/tink-crypto/tink-go/v2/proto/tink_go_proto"
)

// The file format is specified in the package documentation (doc.go,
// "File format"); metadataAD builds the associated data described there.
const (
	formatVersion = 1
	adLabel       = "accountvault keyring v1\x00"

	// maxFileSize bounds what the loaders read: MaxKeys keys take about
	// 250 KiB.
	maxFileSize = 1 << 20
)

type fileV1 struct {
	Version         int       `json:"version"`
	Keyset          string    `json:"keyset,omitempty"`
	CleartextKeyset string    `json:"cleartext_keyset,omitempty"`
	Keys            []fileKey `json:"keys"`
}

type fileKey struct {
	ID      uint32    `json:"id"`
	Status  Status    `json:"status"`
	Created time.Time `json:"created"`
}

func corrupt(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrKeyringCorrupt}, args...)...)
}

// readFile reads at most maxFileSize bytes from r.
func readFile(r io.Reader) ([]byte, error) {
	data, err := io.ReadAll(io.LimitReader(r, maxFileSize+1))
	if err != nil {
		return nil, fmt.Errorf("keyring: read keyring: %w", err)
	}
	if len(data) > maxFileSize {
		return nil, corrupt("file exceeds %d bytes", maxFileSize)
	}
	return data, nil
}

// parseFile parses and checks the JSON envelope and the metadata. It does no
// cryptography.
func parseFile(data []byte) (*fileV1, []KeyInfo, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var f fileV1
	if err := dec.Decode(&f); err != nil {
		return nil, nil, corrupt("not a keyring file: %v", jsonError(err))
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, nil, corrupt("data after the keyring object")
	}
	if f.Version != formatVersion {
		return nil, nil, corrupt("unsupported version %d (this package reads version %d)", f.Version, formatVersion)
	}
	if f.Keyset != "" && f.CleartextKeyset != "" {
		return nil, nil, corrupt("file holds both an encrypted and a cleartext keyset")
	}
	keys, err := checkKeys(f.Keys)
	if err != nil {
		return nil, nil, err
	}
	return &f, keys, nil
}

// jsonError strips an error of encoding/json to what is safe to show: the
// kind of error and the offset, never file content.
func jsonError(err error) error {
	var syn *json.SyntaxError
	if errors.As(err, &syn) {
		return fmt.Errorf("JSON syntax error at offset %d", syn.Offset)
	}
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return errors.New("truncated")
	}
	// Type errors, unknown fields, bad status names and bad times name
	// fields and metadata, which are not secret.
	return err
}

func checkKeys(fk []fileKey) ([]KeyInfo, error) {
	if len(fk) == 0 {
		return nil, ErrEmptyKeyring
	}
	if len(fk) > MaxKeys {
		return nil, corrupt("%d keys listed, more than %d", len(fk), MaxKeys)
	}
	keys := make([]KeyInfo, len(fk))
	seen := make(map[uint32]bool, len(fk))
	primaries := 0
	for i, k := range fk {
		if seen[k.ID] {
			return nil, corrupt("key %d listed twice", k.ID)
		}
		seen[k.ID] = true
		if !k.Status.valid() {
			return nil, corrupt("key %d has no valid status", k.ID)
		}
		if k.Status == Primary {
			primaries++
		}
		if k.Created.IsZero() {
			return nil, corrupt("key %d has no creation time", k.ID)
		}
		keys[i] = KeyInfo{ID: k.ID, Status: k.Status, Created: k.Created.UTC()}
	}
	if primaries != 1 {
		return nil, corrupt("%d primary keys listed, want 1", primaries)
	}
	return keys, nil
}

func fileKeys(keys []KeyInfo) []fileKey {
	fk := make([]fileKey, len(keys))
	for i, k := range keys {
		fk[i] = fileKey{ID: k.ID, Status: k.Status, Created: k.Created}
	}
	return fk
}

func encodeFile(f *fileV1) ([]byte, error) {
	data, err := json.MarshalIndent(f, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("keyring: encode keyring file: %w", err)
	}
	return append(data, '\n'), nil
}

// metadataAD returns the associated data binding keys to the encrypted
// keyset; see the format description above.
func metadataAD(keys []KeyInfo) []byte {
	ad := make([]byte, 0, len(adLabel)+4+len(keys)*17)
	ad = append(ad, adLabel...)
	ad = binary.BigEndian.AppendUint32(ad, uint32(len(keys)))
	for _, k := range keys {
		ad = binary.BigEndian.AppendUint32(ad, k.ID)
		ad = append(ad, byte(k.Status))
		ad = binary.BigEndian.AppendUint64(ad, uint64(k.Created.Unix()))
		ad = binary.BigEndian.AppendUint32(ad, uint32(k.Created.Nanosecond()))
	}
	return ad
}

func decodeBase64(field, s string) ([]byte, error) {
	b, err := base64.StdEncoding.Strict().DecodeString(s)
	if err != nil {
		var cie base64.CorruptInputError
		if errors.As(err, &cie) {
			return nil, corrupt("%s is not valid base64 (at offset %d)", field, int64(cie))
		}
		return nil, corrupt("%s is not valid base64", field)
	}
	return b, nil
}

// serializeKeyset returns the serialized cleartext Tink keyset of k. The
// caller must clear it.
func (k *Keyring) serializeKeyset() ([]byte, error) {
	ks := insecurecleartextkeyset.KeysetMaterial(k.handle)
	if ks == nil {
		return nil, fmt.Errorf("keyring: export keyset: invalid keyset handle")
	}
	defer clearKeysetMaterial(ks)
	b, err := proto.Marshal(ks)
	if err != nil {
		return nil, fmt.Errorf("keyring: serialize keyset: %w", err)
	}
	return b, nil
}

// parseKeyset builds a keyset handle from a serialized cleartext keyset and
// checks it against the file's metadata. It clears the key material of the
// intermediate protocol buffers; the caller clears serialized.
func parseKeyset(serialized []byte, keys []KeyInfo) (*Keyring, error) {
	ks := new(tinkpb.Keyset)
	if err := proto.Unmarshal(serialized, ks); err != nil {
		return nil, corrupt("keyset does not parse")
	}
	defer clearKeysetMaterial(ks)
	if len(ks.GetKey()) == 0 {
		return nil, ErrEmptyKeyring
	}
	h, err := insecurecleartextkeyset.Read(keysetReader{ks})
	if err != nil {
		return nil, corrupt("invalid Tink keyset: %v", err)
	}
	if err := checkConsistent(h, keys); err != nil {
		return nil, err
	}
	return &Keyring{handle: h, keys: keys}, nil
}

// checkConsistent checks that h holds exactly the keys of the metadata, in
// the matching Tink statuses, and only key-encryption keys (algorithmOf).
func checkConsistent(h *keyset.Handle, keys []KeyInfo) error {
	if h.Len() != len(keys) {
		return corrupt("keyset holds %d keys, metadata lists %d", h.Len(), len(keys))
	}
	status := make(map[uint32]Status, len(keys))
	for _, k := range keys {
		status[k.ID] = k.Status
	}
	for i := range h.Len() {
		entry, err := h.Entry(i)
		if err != nil {
			return corrupt("keyset entry %d: %v", i, err)
		}
		id := entry.KeyID()
		st, ok := status[id]
		if !ok {
			return corrupt("keyset holds key %d, which the metadata does not list", id)
		}
		key := entry.Key()
		if _, ok := algorithmOf(key); !ok {
			return corrupt("key %d is neither AES-256-GCM nor XAES-256-GCM with TINK output prefix", id)
		}
		if kid, _ := key.IDRequirement(); kid != id {
			return corrupt("key %d carries id %d", id, kid)
		}
		var want keyset.KeyStatus
		switch st {
		case Staged, Primary, DecryptOnly:
			want = keyset.Enabled
		case Disabled:
			want = keyset.Disabled
		}
		if entry.KeyStatus() != want || entry.IsPrimary() != (st == Primary) {
			return corrupt("key %d is %s (primary %t) in the keyset but %s in the metadata", id, entry.KeyStatus(), entry.IsPrimary(), st)
		}
	}
	return nil
}

// clearKeysetMaterial overwrites the serialized keys in ks.
func clearKeysetMaterial(ks *tinkpb.Keyset) {
	for _, k := range ks.GetKey() {
		clear(k.GetKeyData().GetValue())
	}
}

// keysetReader hands an already parsed keyset to insecurecleartextkeyset.Read.
type keysetReader struct{ ks *tinkpb.Keyset }

func (r keysetReader) Read() (*tinkpb.Keyset, error) { return r.ks, nil }

func (r keysetReader) ReadEncrypted() (*tinkpb.EncryptedKeyset, error) {
	return nil, errors.New("keyring: not an encrypted keyset")
}

func b64(b []byte) string { return base64.StdEncoding.EncodeToString(b) }
