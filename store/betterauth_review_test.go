package store_test

// Adversarial review of the better-auth adoption (issue 13, af86c7a..7007688):
// better-auth's ciphertext carries no associated data, so nothing in it
// binds it to its row.

import (
	"testing"

	"github.com/accountvault/accountvault/internal/betterauthtest"
	"github.com/accountvault/accountvault/store"
)

// TestReviewBetterAuthCopiedCiphertextLaundered: a database writer who
// does not know the better-auth secret copies the victim's better-auth
// ciphertext (alice's refresh token) into a row they control (frank's,
// whose refresh token is empty) while the table is being adopted.
// better-auth's format has no AAD, so the copy opens under the
// deployment's secrets, and EncryptLegacy seals alice's token into
// frank's row, bound to frank's user from then on: accountvault's AAD
// launders the copy. Plaintext planting (SECURITY.md, "Database write
// access") needs a token the writer knows; this moves one the writer
// cannot read. A copy is detectable: better-auth draws a fresh 24-byte
// nonce for every encryption, so the same ciphertext in two places is
// never better-auth's own doing. (A move, victim's value deleted, is not
// detectable from the table at all.)
func TestReviewBetterAuthCopiedCiphertextLaundered(t *testing.T) {
	eachFixtureKind(t, func(t *testing.T, kind string) {
		bt := adoptFixture(t, kind, "single")
		var victim, attacker *betterauthtest.Account
		for i := range bt.f.Accounts {
			a := &bt.f.Accounts[i]
			switch {
			case a.User == "alice" && a.RefreshToken != nil && a.RefreshToken.Form == "hex":
				victim = a
			case a.User == "frank" && a.RefreshToken == nil && a.ProviderID != "credential":
				attacker = a
			}
		}
		if victim == nil || attacker == nil {
			t.Fatal("fixture lacks alice's encrypted refresh token or frank's empty one")
		}
		// The writer copies the stored value; they cannot read it.
		bt.set(t, attacker.ID, "refresh_token", bt.raw(t, victim.ID, "refresh_token"))

		k := genKeyring(t)
		secrets := parseSecrets(t, bt.f.Env.Secrets, bt.f.Env.Secret)
		s := bt.store(t, k, store.WithBetterAuthSecrets(secrets))
		if _, err := admin(s).EncryptLegacy(ctx, store.WalkOptions{}); err != nil {
			t.Fatal(err)
		}
		got, err := s.FindByProvider(ctx, attacker.ProviderID, attacker.AccountID)
		if err != nil {
			return // refused: what the review asks for
		}
		if got.RefreshToken.Equal(tokenSecret(victim.RefreshToken)) {
			t.Errorf("%s's row opens to %s's refresh token: EncryptLegacy sealed a copied better-auth ciphertext into another user's row", attacker.User, victim.User)
		}
	})
}
