// Package keyring manages accountvault's key-encryption keys (KEKs): the
// keys that wrap the per-row data-encryption keys.
//
// A [Keyring] is a Tink keyset of key-encryption keys, each with a [Status]
// and a creation time. Every new key is XAES-256-GCM ([XAES256GCM]: 192-bit
// random nonces, no practical limit on the number of wraps); keyrings made
// by earlier versions hold AES-256-GCM keys ([AES256GCM]: 96-bit random
// nonces, about 2³² wraps per key), which keep working and are rotated
// away like any key. [Keyring.Algorithm] and [KEK.Algorithm] tell them
// apart. It is a value an operator edits ([Keyring.Stage],
// [Keyring.Promote], [Keyring.Rotate], [Keyring.Disable], [Keyring.Enable],
// [Keyring.Delete]) and saves; it is not what requests use. Requests use a
// [KEK]: an immutable snapshot of the enabled keys, built once by
// [Keyring.KEK] and shared by every goroutine. [KEK.Wrap] wraps with the
// primary key; [KEK.Unwrap] takes the key id stored next to the wrapped key
// and decrypts with that key and no other, so a value wrapped by an unknown
// or disabled key fails with accountvault.ErrUnknownKey without any
// decryption, and a modified one with accountvault.ErrDecrypt.
//
// Every edit that changes a Keyring increments its generation
// ([Keyring.Generation]), saved with it and authenticated by the master key,
// and the keyring remembers the ids of the keys it deleted. [CheckSuccessor]
// uses them to refuse a keyring file that goes back: an older copy, one
// that drops the primary key in use, or one that brings back a key the
// keyring in use has disabled or deleted.
//
// In the common case an application does, once at start-up and again when
// the file changes:
//
//	master, err := keyring.MasterKeyFromEnv(keyring.EnvMasterKey) // or a KMS AEAD
//	kr, err := keyring.LoadFile("/etc/myapp/keyring.json", master)
//	kek, err := kr.KEK()
//	// on a reload: keyring.CheckSuccessor(kekInUse, kek) before using kek
//	// hand kek to the store; keep using it until the next reload
//
// and an operator, through the accountvault CLI, does [Generate] once, then
// rotates in two phases: Stage a key and save the file; once every replica
// has loaded it, Promote it and save again; rewrap the rows; Disable the
// old key once no row uses it; Delete it later. Each edit goes through
// [EditFile], which locks the file so that concurrent edits cannot lose
// one another.
//
// # Key ids
//
// Every key is created with Tink's TINK output prefix (0x01 followed by the
// big-endian key id), never RAW. The envelope format stores the 4-byte key
// id itself, so [KEK.Wrap] returns Tink's ciphertext without the prefix and
// [KEK.Unwrap] puts it back, and decrypts with that key's algorithm alone.
// A wrapped 32-byte data key is 60 bytes under an AES-256-GCM key and 72
// under an XAES-256-GCM key (see [KEK]). A [Status] of staged or decrypt-only is an
// ENABLED non-primary key in Tink; the distinction is this package's
// metadata.
//
// # Master keys
//
// The keyring file is protected by a master key, any tink.AEAD, used once
// per save and once per load, never per row. In production, use a KMS: the
// clients of github.com/tink-crypto/tink-go-gcpkms, tink-go-awskms and
// tink-go-hcvault each return a tink.AEAD for a key URI; pass it to
// [LoadFile] and [Keyring.SaveFile] as it is. The key never leaves the KMS,
// access is logged there, and rotating it means loading with the old AEAD
// and saving with the new one.
//
// Without a KMS, [NewMasterKey] makes a random 32-byte key encoded in base64,
// which [MasterKeyFromEnv] reads from [EnvMasterKey] and turns into an
// AES-256-GCM AEAD (the exact construction is in [ParseMasterKey]). Keep it
// in a secret manager, apart from the keyring file and from database
// backups: whoever holds both the master key and the file can decrypt every
// token. Losing the master key loses every token.
//
// # The keyring file
//
// [Keyring.Save] writes one JSON file: the Tink keyset encrypted by the
// master key, and the metadata in clear (generation, ids, statuses,
// creation times, deleted ids), bound to the encrypted keyset as associated
// data, so that editing either makes [Load] fail, with [ErrWrongMasterKey]
// (or [ErrKeyringCorrupt] if the edit also breaks the format). Only
// [InsecureSaveCleartext] and [InsecureLoadCleartext] handle cleartext keys.
//
// The file is read by [LoadFile] (and [LoadFileIfChanged], for pollers, and
// [EditFile]) as if an attacker could write it: opened without blocking (a
// FIFO cannot hang a replica), checked with fstat to be a regular file after
// following symbolic links (not /dev/zero, not a directory), refused if it
// is larger than 1 MiB before anything is read, read once, and refused if
// group or others can access it ([ErrInsecurePermissions], unless
// [AllowInsecurePermissions]).
//
// [Keyring.SaveFile] replaces the file atomically (a temporary file in the
// same directory, synced, renamed over the file, the directory synced). A
// symbolic link at the path is kept and the file it points to is replaced;
// an existing file's owner, group and permission bits are kept (a save run
// as root leaves a file the application can read), and a new file is 0600.
// [EditFile] does the same as a locked read-modify-write: it takes the
// file's exclusive lock (flock(2) on a sibling .<name>.lock file that exists
// while held), loads the file, applies the edit and saves, and refuses, with
// [ErrChangedMeanwhile], to replace a file that a writer which takes no lock
// replaced meanwhile. [RemasterFile] re-encrypts a file under a new master
// key the same way. SaveFile takes the lock without waiting and replaces the
// file whatever it holds: it is for new files.
//
// # Generations
//
// A keyring's generation is 1 when [Generate] makes it and grows by one with
// each edit that changes it; each key records the generation of the edit
// that gave it its status ([KeyInfo.Since]); deleted key ids are remembered
// ([Keyring.DeletedKeys], at most [MaxDeleted]) and never given to a new key.
// All of it is authenticated with the keyset, so whoever can replace the
// file without the master key can only offer copies saved at some earlier
// time. [CheckSuccessor] compares the [KEK] in use with the one built from a
// newly read file and refuses ([ErrRollback], a [*RollbackError]) a lower
// generation; the same generation with other keys; a keyring that does not
// hold the primary key in use enabled; one that holds enabled a key deleted
// in the keyring in use, or a key disabled there and not re-enabled by an
// edit after it. A file of version 1 has no generations: it loads at
// generation 0 with every key at 0, and is saved in version 2.
//
// # File format
//
// Version 2 of the file, the version [Keyring.Save] writes, is a JSON object:
//
//	{
//	  "version": 2,
//	  "generation": 7,
//	  "keyset": "<base64>",
//	  "keys": [
//	    {"id": 1234567890, "status": "primary", "created": "2026-01-02T03:04:05.123456789Z", "since": 5},
//	    …
//	  ],
//	  "deleted": [345678, 2345678901]
//	}
//
// "generation" is the keyring's generation. "keys" lists every key of the
// keyset, in creation order, with the status names of [Status.String], RFC
// 3339 creation times and "since", the generation of the edit that gave the
// key its status (at most "generation"). "deleted", which may be absent
// when empty, lists the ids of deleted keys in strictly ascending order, at
// most [MaxDeleted], none of them a key of "keys". No other field is
// allowed. "keyset" is the standard, padded base64 encoding of a Tink
// EncryptedKeyset protocol buffer holding only its encrypted_keyset field
// (what Tink's keyset.Handle.WriteWithAssociatedData writes through a
// keyset.BinaryWriter). encrypted_keyset is the master key's encryption of
// the serialized Tink Keyset, whose keys all have output prefix TINK and are
// either XAES-256-GCM keys with a 12-byte salt
// (type.googleapis.com/google.crypto.tink.XAesGcmKey, the keys of tink-go's
// aead.XAES256GCM192BitNonceKeyTemplate) or, made by earlier versions,
// AES-256-GCM keys with a 12-byte IV and 16-byte tag
// (type.googleapis.com/google.crypto.tink.AesGcmKey), in any mix, with
// this associated data:
//
//	"accountvault keyring v2" 0x00
//	uint64 generation
//	uint32 number of keys
//	for each key, in file order:
//	    uint32 id
//	    uint8  status (1 staged, 2 primary, 3 decrypt-only, 4 disabled)
//	    int64  creation time, seconds since the Unix epoch
//	    uint32 creation time, nanoseconds within the second
//	    uint64 since
//	uint32 number of deleted ids
//	for each deleted id, in file order:
//	    uint32 id
//
// all integers big-endian. Any Tink implementation reads the keyset with
// keyset.ReadWithAssociatedData given that associated data; an edit of the
// metadata changes the associated data and the decryption fails. In the
// keyset, staged and decrypt-only keys are ENABLED, disabled keys
// DISABLED, and the primary key is the keyset's primary.
//
// Version 1, which [Load] still reads, has "version": 1, no "generation",
// no "since" and no "deleted" (a version 1 file with any of them is
// refused), and the associated data
//
//	"accountvault keyring v1" 0x00
//	uint32 number of keys
//	for each key, in file order: id, status, creation time as above
//
// The label differs between versions, so a version 2 file relabelled as
// version 1 (to drop its generation) fails to decrypt, and so does a
// version 1 file relabelled as version 2.
//
// A cleartext file ([InsecureSaveCleartext]) has "cleartext_keyset", the
// base64 of the serialized Tink Keyset, in place of "keyset", and no
// authentication. Each loader refuses the other kind of file.
//
// # What this package does not do
//
// It does not watch the file or reload it: the caller (the store) does,
// with [LoadFileIfChanged], builds a new KEK for each version, and checks it
// with [CheckSuccessor]. It does not remember, across restarts, the highest
// generation a process has used: the store does. It does not log: the store and the CLI
// log key events (which key was staged, promoted, disabled, by whom). It
// does not know which rows use which key: the store's Check counts them,
// and the store refuses to retire a key still in use. It does not seal
// tokens: package crypto/envelope does, with data-encryption keys that a KEK
// wraps.
//
// Key material is cleared where this package holds it in its own buffers
// (the serialized keyset during Save and Load, the decoded master key), but
// Go gives no guarantee beyond that: the garbage collector may have copied
// a buffer before it was cleared, Go strings (an environment variable, the
// base64 master key) cannot be cleared, and Tink keeps key bytes and AES
// key schedules in its own objects, which are dropped, not overwritten,
// when a key is deleted or a Keyring or KEK becomes unreachable. A process
// holding a KEK can decrypt every token; protect the process.
package keyring
