// Command accountvault is the operator's tool of accountvault, as
// github.com/accountvault/accountvault/cmd/accountvault, that also takes
// master keys held by a KMS: --master-key-uri URI (or
// $ACCOUNTVAULT_MASTER_KEY_URI) for the master key, and 'keys remaster
// --new-master-key-uri URI' to move a keyring to a KMS key, where URI is
//
//	aws-kms://arn:aws:kms:REGION:ACCOUNT:key/KEY-ID   (or …:alias/NAME)
//	gcp-kms://projects/P/locations/L/keyRings/R/cryptoKeys/K
//	hcvault://HOST[:PORT]/MOUNT/keys/NAME
//
// Build it from a clone of the repository:
//
//	cd kms && go build -o accountvault ./cmd/accountvault
//
// Its commands, flags and exit codes are those of cmd/accountvault (see
// its documentation, or run accountvault --help). The master key comes
// from, in this order: --master-key-uri; --master-key-env NAME, if given;
// $ACCOUNTVAULT_MASTER_KEY_URI, if set; $ACCOUNTVAULT_MASTER_KEY.
// --master-key-uri and --master-key-env together are refused.
//
// KMS keys are resolved by package github.com/accountvault/accountvault/kms
// (kms.MasterKey), with credentials and settings from each SDK's usual
// places: AWS from the environment (AWS_ACCESS_KEY_ID, AWS_PROFILE, …),
// shared files, instance or container roles, and AWS_ENDPOINT_URL_KMS (or
// AWS_ENDPOINT_URL) for another endpoint, such as local-kms; Google Cloud
// from Application Default Credentials; Vault from VAULT_TOKEN,
// VAULT_CACERT and the other VAULT_* variables of its client (the address
// is the URI's). The KMS is called once per keyring load and once per
// save, never per row. Its failures (access denied or revoked, key
// disabled or deleted, KMS unreachable, keyring under another key) are
// configuration errors, exit code 2, that name the key URI and the KMS's
// answer, never key material; nothing was changed.
package main

import (
	"context"
	"os"

	"github.com/tink-crypto/tink-go/v2/tink"

	"github.com/accountvault/accountvault/internal/cli"
	"github.com/accountvault/accountvault/kms"
)

func main() {
	os.Exit(run(os.Args[1:]))
}

func run(args []string) int {
	return cli.Main(args, os.Stdout, os.Stderr, cli.WithMasterKeyURI(masterKey))
}

// masterKey resolves a KMS key URI with kms.MasterKey and its defaults.
func masterKey(ctx context.Context, uri string) (tink.AEAD, error) {
	a, err := kms.MasterKey(ctx, uri)
	if err != nil {
		return nil, err
	}
	return a, nil
}
