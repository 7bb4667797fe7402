package cli

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/accountvault/accountvault"
	"github.com/accountvault/accountvault/crypto/betterauth"
	"github.com/accountvault/accountvault/store"
)

// The environment variables better-auth itself reads its secrets from,
// the defaults of --better-auth-secret-env and --better-auth-secrets-env.
const (
	envBetterAuthSecret  = "BETTER_AUTH_SECRET"
	envBetterAuthSecrets = "BETTER_AUTH_SECRETS"
)

// betterAuthHelp is the part of migrate's and check's help about tokens
// that better-auth encrypted.
const betterAuthHelp = `Tokens that better-auth encrypted (its encryptOAuthTokens option) are
opened with the deployment's secrets, read from the environment variables
named by --better-auth-secret-env (default BETTER_AUTH_SECRET: the single
secret, which opens bare hex values) and --better-auth-secrets-env (default
BETTER_AUTH_SECRETS: the versioned "version:secret,..." list, which opens
$ba$<version>$ values), never from the command line. A value that has the
shape of better-auth ciphertext ($ba$..., or 82 or more hex digits) and does
not open is a failure of its row, never sealed. Without a secret, such
values are refused unless --better-auth-plaintext declares that better-auth
never encrypted tokens (then only $ba$ values are refused): a long hex token
cannot be told from ciphertext. See SECURITY.md, "Adopting an existing
plaintext database".`

// betterAuthFlags are the better-auth settings of migrate and check.
type betterAuthFlags struct {
	secretEnv, secretsEnv string
	plaintext             bool
}

func (f *betterAuthFlags) add(cmd *cobra.Command) {
	cmd.Flags().StringVar(&f.secretEnv, "better-auth-secret-env", envBetterAuthSecret,
		"the environment `variable` holding better-auth's single secret (BETTER_AUTH_SECRET), which opens the bare hex tokens it encrypted")
	cmd.Flags().StringVar(&f.secretsEnv, "better-auth-secrets-env", envBetterAuthSecrets,
		"the environment `variable` holding better-auth's versioned secrets (BETTER_AUTH_SECRETS, \"2:new,1:old\"), which open its $ba$ tokens")
	cmd.Flags().BoolVar(&f.plaintext, "better-auth-plaintext", false,
		"declare that better-auth never encrypted the table's tokens (encryptOAuthTokens was never on): long hex tokens are sealed as they are")
}

// options returns the store options of the flags, reading the secrets
// from the environment, and says on w (never with a secret) which
// better-auth setting the command runs with.
func (f *betterAuthFlags) options(cmd *cobra.Command, name string, w io.Writer) ([]store.Option, error) {
	if f.plaintext {
		for _, fl := range []string{"better-auth-secret-env", "better-auth-secrets-env"} {
			if cmd.Flags().Changed(fl) {
				return nil, usageErrorf("--better-auth-plaintext and --%s contradict each other", fl)
			}
		}
		fmt.Fprintf(w, "%s: --better-auth-plaintext: tokens are taken as better-auth stored them; $ba$ values are refused\n", name)
		return []store.Option{store.WithBetterAuthPlaintext()}, nil
	}
	if f.secretEnv == "" || f.secretsEnv == "" {
		return nil, usageErrorf("--better-auth-secret-env and --better-auth-secrets-env must name environment variables")
	}
	secret, secrets := os.Getenv(f.secretEnv), os.Getenv(f.secretsEnv)
	if secret == "" && secrets == "" {
		return nil, nil
	}
	s, err := betterauth.Parse(secrets, secret)
	if err != nil {
		// Parse names better-auth's variables; say which were read.
		return nil, configErr(fmt.Errorf("reading better-auth's secrets from $%s and $%s: %w", f.secretsEnv, f.secretEnv, err))
	}
	var from []string
	if s.HasUnversioned() {
		from = append(from, "$"+f.secretEnv)
	}
	if v := s.Versions(); len(v) > 0 {
		from = append(from, fmt.Sprintf("$%s (versions %s)", f.secretsEnv, joinUint32(v)))
	}
	fmt.Fprintf(w, "%s: better-auth secrets from %s: tokens better-auth encrypted are opened\n", name, strings.Join(from, " and "))
	return []store.Option{store.WithBetterAuthSecrets(s)}, nil
}

func joinUint32(v []uint32) string {
	s := make([]string, len(v))
	for i, n := range v {
		s[i] = fmt.Sprint(n)
	}
	return strings.Join(s, ", ")
}

// betterAuthFailures counts the failures of rows holding a value that may
// be better-auth ciphertext and was not opened.
func betterAuthFailures(failures []*accountvault.RowError) int {
	n := 0
	for _, f := range failures {
		if errors.Is(f, store.ErrBetterAuthCiphertext) {
			n++
		}
	}
	return n
}

// betterAuthHint is printed after a walk whose failures include
// better-auth values that were not opened.
func (f *betterAuthFlags) hint() string {
	return fmt.Sprintf("hint: rows listed with better_auth hold values that may be better-auth ciphertext (encryptOAuthTokens) and were not opened: "+
		"they were not sealed. Set $%s (bare hex values) and/or $%s (\"version:secret,...\", $ba$ values) to the better-auth deployment's secrets "+
		"(names set by --better-auth-secret-env, --better-auth-secrets-env), or, if better-auth never encrypted tokens, pass --better-auth-plaintext; "+
		"a hex token that does not open under the right secrets is not one better-auth encrypted: clear it (the user links the account again). "+
		"See SECURITY.md, Adopting an existing plaintext database", f.secretEnv, f.secretsEnv)
}

// betterAuthOpened is migrate's note of the values it opened from
// better-auth ciphertext, "" for none.
func betterAuthOpened(n int) string {
	if n == 0 {
		return ""
	}
	return fmt.Sprintf(", %d opened from better-auth ciphertext", n)
}
