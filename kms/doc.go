// Package kms makes accountvault master keys from keys held by a key
// management service: AWS KMS, Google Cloud KMS, or HashiCorp Vault's
// Transit secrets engine. It is its own Go module,
// github.com/accountvault/accountvault/kms, so that applications that
// import accountvault without it never download or link the three cloud
// SDKs.
//
// A master key protects only the keyring file (see package keyring): it is
// used once per keyring load and once per save, never per row. In the
// common case:
//
//	master, err := kms.MasterKey(ctx, "aws-kms://arn:aws:kms:eu-west-1:111122223333:key/…")
//	if err != nil { … }
//	defer master.Close()
//	kr, err := keyring.LoadFile("/etc/myapp/keyring.json", master)
//
// and an operator moves a keyring between master keys by loading it with
// the old one and saving it with the new one (keyring.RemasterFile, or
// keyring.LoadFile then Keyring.SaveFile): no row changes. The command
// kms/cmd/accountvault is the operator's CLI with KMS master keys
// (--master-key-uri, keys remaster --new-master-key-uri).
//
// [MasterKey] returns an [*AEAD], a tink.AEAD (and tink.AEADWithContext)
// whose every Encrypt and Decrypt is one call to the KMS through Tink's
// client for it (github.com/tink-crypto/tink-go-awskms/v3,
// tink-go-gcpkms/v2, tink-go-hcvault/v2). The key never leaves the KMS;
// the KMS logs each use, and revoking the application's access to the key
// stops every later load of the keyring, while a process that has already
// loaded it keeps its keys in memory until it exits or reloads.
//
// # Errors
//
// Every error of a KMS call is an [*Error] that unwraps to a sentinel saying
// what happened, which keyring.LoadFile passes on (wrapped in
// keyring.ErrWrongMasterKey): [ErrUnreachable], [ErrAccessDenied],
// [ErrKeyUnavailable], [ErrDecrypt], [ErrTooLarge]. A malformed URI is
// [ErrInvalidURI], an unsupported one [ErrUnknownScheme], and neither
// repeats the URI. No error contains key material: an error message of a
// KMS client that quotes the plaintext of an Encrypt call or a Vault token
// is replaced (see [Error]).
//
// # Limits
//
// AWS KMS encrypts at most 4096 bytes per call, which is a keyring of at
// most 38 XAES-256-GCM keys (about 107 bytes each); saving a larger keyring under an
// aws-kms:// key fails with [ErrTooLarge] before any call, and the file is
// left as it was. Delete disabled keys to shrink it. Cloud KMS takes
// 64 KiB, Vault has no limit of its own.
//
// # What it does not do
//
// It does not create, rotate or authorize keys in the KMS, cache
// decryptions, or retry beyond what each SDK does by itself (AWS: 3
// attempts; Vault: 3 attempts for 5xx and connection errors; Cloud KMS:
// gax retries of UNAVAILABLE), all within the AEAD's timeout
// ([WithTimeout]). It does not hide the associated data from the KMS: the
// keyring's metadata (key ids, statuses, creation times) reaches the KMS
// and its audit log, AWS CloudTrail among them, as encryption context.
package kms
