package keyring

import "errors"

// Sentinel errors. Every error returned by this package that falls in one of
// these classes wraps the matching sentinel, so callers test with
// [errors.Is]. Errors from [KEK.Unwrap] wrap the root package's
// accountvault.ErrUnknownKey and accountvault.ErrDecrypt instead.
//
// No error names key material or the master key's value: only key ids,
// statuses, lengths and file paths.
var (
	// ErrKeyNotFound: the keyring holds no key with the given id (it was
	// never there, or it was deleted).
	ErrKeyNotFound = errors.New("keyring: no key with that id")

	// ErrKeyState: the key exists but its status forbids the requested
	// transition (disabling the primary, promoting a disabled key, deleting
	// a key that is not disabled, adding a key to a full keyring).
	ErrKeyState = errors.New("keyring: transition not allowed in the key's status")

	// ErrWrongMasterKey: the master key did not open the keyring file. Either
	// the master key is not the one the file was saved with, or the
	// encrypted keyset or its metadata were modified after saving (the two
	// cannot be told apart: the metadata is authenticated by the same
	// encryption), or the master key service failed (its error is wrapped
	// too).
	ErrWrongMasterKey = errors.New("keyring: master key cannot decrypt the keyring (wrong master key, or modified file)")

	// ErrKeyringCorrupt: the keyring file is malformed: not the format this
	// package writes, truncated, of an unknown version, too large, or
	// holding keys this package never creates (a key that is neither
	// XAES-256-GCM with a 12-byte salt nor AES-256-GCM with a 12-byte IV, a
	// key without the TINK output prefix, a keyset that disagrees with its
	// metadata).
	ErrKeyringCorrupt = errors.New("keyring: keyring file is corrupt")

	// ErrEmptyKeyring: the keyring holds no key, or a method was called on
	// a zero Keyring. Use [Generate] to create a keyring.
	ErrEmptyKeyring = errors.New("keyring: keyring holds no key")

	// ErrInsecurePermissions: [LoadFile] refused a keyring file that group
	// or others may read, write or execute (mode & 0o077 != 0). See
	// [AllowInsecurePermissions].
	ErrInsecurePermissions = errors.New("keyring: keyring file is accessible by group or others")

	// ErrNoMasterKey: no master key was given: the environment variable is
	// unset or empty, or a nil tink.AEAD was passed.
	ErrNoMasterKey = errors.New("keyring: no master key")

	// ErrInvalidMasterKey: a master key string is not the standard, padded
	// base64 encoding of exactly [MasterKeySize] bytes.
	ErrInvalidMasterKey = errors.New("keyring: invalid master key")

	// ErrRollback: [CheckSuccessor] refused a keyring as the successor of
	// the one in use: it is older, or it drops the primary key in use, or
	// it brings back a key the one in use has disabled or deleted. The
	// error is a *[RollbackError] naming the generations and the key.
	ErrRollback = errors.New("keyring: keyring refused as the successor of the one in use")

	// ErrChangedMeanwhile: [EditFile] or [RemasterFile] refused to replace
	// a keyring file that was replaced after it read it (by a writer that
	// does not take the file's lock), or [Keyring.SaveFile] found the file
	// locked by an edit in progress, or a [Slot] was swapped by another
	// edit after it was read (and [EditSlot] gave up retrying), or
	// [CreateSlot] found a keyring in the slot. Nothing was written: load
	// the keyring again and redo the edit.
	ErrChangedMeanwhile = errors.New("keyring file changed meanwhile: run again")

	// ErrNoKeyring: a [Slot] holds no keyring (none was stored with
	// [CreateSlot], or it was removed).
	ErrNoKeyring = errors.New("keyring: no keyring stored")
)
