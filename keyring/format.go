package keyring

import (
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/tink-crypto/tink-go/v2/insecurecleartextkeyset"
	"github.com/tink-crypto/tink-go/v2/keyset"
	tinkpb "github.com/tink-crypto/tink-go/v2/proto/tink_go_proto"
)

// The file format is specified in the package documentation (doc.go,
// "File format"); metadataAD builds the associated data described there.
const (
	// formatVersion is the version Save writes. Load also reads version 1,
	// which has no generation, no per-key generation and no deleted keys.
	formatVersion = 2
	adLabelV1     = "accountvault keyring v1\x00"
	adLabelV2     = "accountvault keyring v2\x00"

	// maxFileSize bounds what the loaders read: MaxKeys keys and
	// MaxDeleted deleted ids take about 450 KiB.
	maxFileSize = 1 << 20
)

// fileJSON is the JSON object of a keyring file of either version. The
// fields that version 1 lacks are pointers (or nil slices), so that
// parseFile can refuse them in a version 1 file and require them in a
// version 2 one.
type fileJSON struct {
	Version         int       `json:"version"`
	Generation      *uint64   `json:"generation,omitempty"`
	Keyset          string    `json:"keyset,omitempty"`
	CleartextKeyset string    `json:"cleartext_keyset,omitempty"`
	Keys            []fileKey `json:"keys"`
	Deleted         []uint32  `json:"deleted,omitempty"`
}

type fileKey struct {
	ID      uint32    `json:"id"`
	Status  Status    `json:"status"`
	Created time.Time `json:"created"`
	Since   *uint64   `json:"since,omitempty"`
}

// metadata is the authenticated part of a keyring file besides the keyset:
// what parseFile checks and metadataAD binds.
type metadata struct {
	version    int
	generation uint64
	keys       []KeyInfo
	deleted    []uint32 // ascending
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
func parseFile(data []byte) (*fileJSON, *metadata, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var f fileJSON
	if err := dec.Decode(&f); err != nil {
		return nil, nil, corrupt("not a keyring file: %v", jsonError(err))
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, nil, corrupt("data after the keyring object")
	}
	if f.Keyset != "" && f.CleartextKeyset != "" {
		return nil, nil, corrupt("file holds both an encrypted and a cleartext keyset")
	}
	md := &metadata{version: f.Version}
	switch f.Version {
	case 1:
		if f.Generation != nil || f.Deleted != nil {
			return nil, nil, corrupt("version 1 file with a generation or deleted keys")
		}
	case 2:
		if f.Generation == nil {
			return nil, nil, corrupt("no generation")
		}
		md.generation = *f.Generation
	default:
		return nil, nil, corrupt("unsupported version %d (this package reads versions 1 and 2)", f.Version)
	}
	keys, err := checkKeys(f.Keys, f.Version, md.generation)
	if err != nil {
		return nil, nil, err
	}
	md.keys = keys
	if md.deleted, err = checkDeleted(f.Deleted, keys); err != nil {
		return nil, nil, err
	}
	return &f, md, nil
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

func checkKeys(fk []fileKey, version int, generation uint64) ([]KeyInfo, error) {
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
		var since uint64
		switch {
		case version == 1 && k.Since != nil:
			return nil, corrupt("key %d: version 1 file with a per-key generation", k.ID)
		case version >= 2 && k.Since == nil:
			return nil, corrupt("key %d has no generation", k.ID)
		case version >= 2:
			since = *k.Since
			if since > generation {
				return nil, corrupt("key %d has status since generation %d, after the keyring's generation %d", k.ID, since, generation)
			}
		}
		keys[i] = KeyInfo{ID: k.ID, Status: k.Status, Created: k.Created.UTC(), Since: since}
	}
	if primaries != 1 {
		return nil, corrupt("%d primary keys listed, want 1", primaries)
	}
	return keys, nil
}

// checkDeleted checks the ids of deleted keys: ascending, at most
// MaxDeleted, none of them a key of the keyring.
func checkDeleted(ids []uint32, keys []KeyInfo) ([]uint32, error) {
	if len(ids) == 0 {
		return nil, nil
	}
	if len(ids) > MaxDeleted {
		return nil, corrupt("%d deleted keys listed, more than %d", len(ids), MaxDeleted)
	}
	for i, id := range ids {
		if i > 0 && id <= ids[i-1] {
			return nil, corrupt("deleted key ids are not in ascending order at %d", id)
		}
	}
	for _, k := range keys {
		if _, found := slices.BinarySearch(ids, k.ID); found {
			return nil, corrupt("key %d is listed both as a key and as deleted", k.ID)
		}
	}
	return slices.Clone(ids), nil
}

// fileOf returns the file object of k's metadata, in the current format
// version, without a keyset.
func fileOf(k *Keyring) *fileJSON {
	gen := k.generation
	return &fileJSON{Version: formatVersion, Generation: &gen, Keys: fileKeys(k.keys), Deleted: slices.Clone(k.deleted)}
}

// fileKeys returns the "keys" entries of the current format version.
func fileKeys(keys []KeyInfo) []fileKey {
	fk := make([]fileKey, len(keys))
	for i, ki := range keys {
		since := ki.Since
		fk[i] = fileKey{ID: ki.ID, Status: ki.Status, Created: ki.Created, Since: &since}
	}
	return fk
}

func encodeFile(f *fileJSON) ([]byte, error) {
	data, err := json.MarshalIndent(f, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("keyring: encode keyring file: %w", err)
	}
	return append(data, '\n'), nil
}

// metadataAD returns the associated data binding the metadata to the
// encrypted keyset, in the layout of md.version; see the format description
// in the package documentation.
func metadataAD(md *metadata) []byte {
	if md.version == 1 {
		ad := make([]byte, 0, len(adLabelV1)+4+len(md.keys)*17)
		ad = append(ad, adLabelV1...)
		ad = binary.BigEndian.AppendUint32(ad, uint32(len(md.keys)))
		for _, k := range md.keys {
			ad = appendKeyAD(ad, k)
		}
		return ad
	}
	ad := make([]byte, 0, len(adLabelV2)+8+4+len(md.keys)*25+4+len(md.deleted)*4)
	ad = append(ad, adLabelV2...)
	ad = binary.BigEndian.AppendUint64(ad, md.generation)
	ad = binary.BigEndian.AppendUint32(ad, uint32(len(md.keys)))
	for _, k := range md.keys {
		ad = appendKeyAD(ad, k)
		ad = binary.BigEndian.AppendUint64(ad, k.Since)
	}
	ad = binary.BigEndian.AppendUint32(ad, uint32(len(md.deleted)))
	for _, id := range md.deleted {
		ad = binary.BigEndian.AppendUint32(ad, id)
	}
	return ad
}

func appendKeyAD(ad []byte, k KeyInfo) []byte {
	ad = binary.BigEndian.AppendUint32(ad, k.ID)
	ad = append(ad, byte(k.Status))
	ad = binary.BigEndian.AppendUint64(ad, uint64(k.Created.Unix()))
	return binary.BigEndian.AppendUint32(ad, uint32(k.Created.Nanosecond()))
}

// metadataOf returns k's metadata in the current format version.
func metadataOf(k *Keyring) *metadata {
	return &metadata{version: formatVersion, generation: k.generation, keys: k.keys, deleted: k.deleted}
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
func parseKeyset(serialized []byte, md *metadata) (*Keyring, error) {
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
	if err := checkConsistent(h, md.keys); err != nil {
		return nil, err
	}
	return &Keyring{handle: h, keys: md.keys, generation: md.generation, deleted: md.deleted}, nil
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
