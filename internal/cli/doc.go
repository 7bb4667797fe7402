// Package cli is the accountvault command: cmd/accountvault's main calls
// [Main]. It is a package of its own so that a second binary (the one in the
// kms module, with KMS master keys) runs the same commands. The commands,
// flags and exit codes are documented in cmd/accountvault.
package cli
