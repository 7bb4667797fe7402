package kms

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sync/atomic"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	awskmsapi "github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/tink-crypto/tink-go/v2/tink"
	"google.golang.org/api/option"

	"github.com/accountvault/accountvault/crypto/envelope"
	"github.com/accountvault/accountvault/keyring"
)

// The tests in this file use the KMS master keys as the keyring uses them:
// keyring.SaveFile and keyring.LoadFile with the *AEAD as master key, then
// rows sealed and opened by crypto/envelope with the keyring's KEK.

// countingAEAD counts the calls made through a master key.
type countingAEAD struct {
	tink.AEAD
	encrypts, decrypts atomic.Int64
}

func (c *countingAEAD) Encrypt(pt, ad []byte) ([]byte, error) {
	c.encrypts.Add(1)
	return c.AEAD.Encrypt(pt, ad)
}

func (c *countingAEAD) Decrypt(ct, ad []byte) ([]byte, error) {
	c.decrypts.Add(1)
	return c.AEAD.Decrypt(ct, ad)
}

// testKMS is a KMS master key of one backend, with the server-side count of
// the calls it served and a way to revoke and restore the application's
// access.
type testKMS struct {
	name    string
	master  *AEAD
	served  func() int64 // calls that reached the server
	revoke  func()
	restore func()
	revoked error // the sentinel a revoked access gives
}

// kmsBackends returns one testKMS per way of revoking access, on every
// backend: AWS KMS (local-kms, with IAM revoked by the proxy, and with the
// key disabled), Vault Transit (token revoked), Cloud KMS (permission
// removed).
func kmsBackends(t *testing.T) []testKMS {
	t.Helper()
	var out []testKMS

	// AWS, through iamProxy, counting the HTTP requests (retries included).
	{
		uri, _ := localKMSKey(t)
		p := newIAMProxy(t)
		rt := new(countingTransport)
		a, err := MasterKey(t.Context(), uri, WithAWSConfig(localKMSConfig(p.url, rt)))
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, testKMS{name: "aws-kms/iam", master: a, served: rt.n.Load,
			revoke: func() { p.deny.Store(true) }, restore: func() { p.deny.Store(false) }, revoked: ErrAccessDenied})
	}
	// AWS, the key disabled and enabled again through the local-kms API.
	{
		uri, arn := localKMSKey(t)
		rt := new(countingTransport)
		a, err := MasterKey(t.Context(), uri, WithAWSConfig(localKMSConfig(localKMSURL(t), rt)))
		if err != nil {
			t.Fatal(err)
		}
		admin := localKMSAdmin(t)
		setEnabled := func(on bool) {
			var err error
			if on {
				_, err = admin.EnableKey(t.Context(), &awskmsapi.EnableKeyInput{KeyId: aws.String(arn)})
			} else {
				_, err = admin.DisableKey(t.Context(), &awskmsapi.DisableKeyInput{KeyId: aws.String(arn)})
			}
			if err != nil {
				t.Fatal(err)
			}
		}
		out = append(out, testKMS{name: "aws-kms/disabled", master: a, served: rt.n.Load,
			revoke: func() { setEnabled(false) }, restore: func() { setEnabled(true) }, revoked: ErrKeyUnavailable})
	}
	// Vault Transit.
	{
		v := newFakeVault(t, "transit/accountvault")
		a := vaultKey(t, v, "transit/accountvault")
		token := v.currentToken()
		out = append(out, testKMS{name: "hcvault", master: a,
			served:  func() int64 { return v.encrypts.Load() + v.decrypts.Load() },
			revoke:  v.revokeToken,
			restore: func() { v.mu.Lock(); v.token = token; v.mu.Unlock() }, revoked: ErrAccessDenied})
	}
	// Cloud KMS.
	{
		f := newFakeCloudKMS(t, gcpTestKey)
		a, err := MasterKey(t.Context(), SchemeGCP+gcpTestKey, WithGCPClientOptions(option.WithGRPCConn(gcpConn(t, f.addr))))
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, testKMS{name: "gcp-kms", master: a,
			served:  func() int64 { return f.encrypts.Load() + f.decrypts.Load() },
			revoke:  func() { f.denied.Store(true) },
			restore: func() { f.denied.Store(false) }, revoked: ErrAccessDenied})
	}
	return out
}

// testRows are n rows of three tokens, each with its own place.
func testRows(t testing.TB, n int) ([]envelope.Place, []envelope.Fields) {
	places := make([]envelope.Place, n)
	rows := make([]envelope.Fields, n)
	for i := range n {
		places[i] = envelope.Place{Table: "accounts", UserID: fmt.Sprintf("user_%d", i/3), ProviderID: "github", AccountID: fmt.Sprint(100000 + i)}
		for c := range rows[i] {
			rows[i][c] = randBytes(t, 64)
		}
	}
	return places, rows
}

// TestKMSCallsPerKeyringLoad: the KMS is called once per keyring load and
// never per row. It saves a keyring under each KMS master key (wrapped in a
// counting decorator), loads it, builds its KEK, seals and opens 10,000
// rows with crypto/envelope, loads it again, and checks the counts on both
// sides: the decorator's, and the server's (HTTP requests to local-kms,
// Transit calls to the Vault server, RPCs to the Cloud KMS server).
func TestKMSCallsPerKeyringLoad(t *testing.T) {
	const n = 10000
	places, rows := testRows(t, n)
	for _, b := range kmsBackends(t) {
		t.Run(b.name, func(t *testing.T) {
			master := &countingAEAD{AEAD: b.master}
			path := filepath.Join(t.TempDir(), "keyring.json")
			kr, err := keyring.Generate()
			if err != nil {
				t.Fatal(err)
			}
			if _, err := kr.Stage(); err != nil {
				t.Fatal(err)
			}
			if err := kr.SaveFile(path, master); err != nil {
				t.Fatalf("SaveFile: %v", err)
			}
			served0 := b.served()

			loaded, err := keyring.LoadFile(path, master)
			if err != nil {
				t.Fatalf("LoadFile: %v", err)
			}
			kek, err := loaded.KEK()
			if err != nil {
				t.Fatal(err)
			}
			afterLoad := [3]int64{master.encrypts.Load(), master.decrypts.Load(), b.served()}

			sealed := make([]envelope.Fields, n)
			for i := range n {
				s, err := envelope.Seal(kek, places[i], rows[i])
				if err != nil {
					t.Fatalf("row %d: Seal: %v", i, err)
				}
				got, err := envelope.Open(kek, places[i], s)
				if err != nil {
					t.Fatalf("row %d: Open: %v", i, err)
				}
				for c := range got {
					if !bytes.Equal(got[c], rows[i][c]) {
						t.Fatalf("row %d column %d: opened other bytes than were sealed", i, c)
					}
				}
				sealed[i] = s
			}
			afterRows := [3]int64{master.encrypts.Load(), master.decrypts.Load(), b.served()}

			// A second load (a replica's reload) opens what the first KEK sealed.
			again, err := keyring.LoadFile(path, master)
			if err != nil {
				t.Fatalf("second LoadFile: %v", err)
			}
			kek2, err := again.KEK()
			if err != nil {
				t.Fatal(err)
			}
			for i := range n {
				if _, err := envelope.Open(kek2, places[i], sealed[i]); err != nil {
					t.Fatalf("row %d: Open with the reloaded keyring: %v", i, err)
				}
			}
			afterReload := [3]int64{master.encrypts.Load(), master.decrypts.Load(), b.served()}

			if want := [3]int64{1, 1, served0 + 1}; afterLoad != want {
				t.Errorf("after save and load: (encrypts, decrypts, served) = %v; want %v", afterLoad, want)
			}
			if afterRows != afterLoad {
				t.Errorf("%d rows sealed and opened made KMS calls: %v before, %v after", n, afterLoad, afterRows)
			}
			if want := [3]int64{1, 2, served0 + 2}; afterReload != want {
				t.Errorf("after a second load and %d opens: (encrypts, decrypts, served) = %v; want %v", n, afterReload, want)
			}
			t.Logf("%s: KMS calls per keyring load: %d decrypt (server: %d); per %d rows sealed and opened: %d encrypt, %d decrypt (server: %d)",
				b.name, afterLoad[1], afterLoad[2]-served0, n,
				afterRows[0]-afterLoad[0], afterRows[1]-afterLoad[1], afterRows[2]-afterLoad[2])
		})
	}
}

// TestRemaster moves a keyring from an environment master key to each KMS
// key and back, as `keys remaster` does: load with the old master key,
// save with the new one. The keys, their ids and statuses, and every
// sealed row survive each move; after each, only the new master key opens
// the file.
func TestRemaster(t *testing.T) {
	for _, b := range kmsBackends(t) {
		if b.name == "aws-kms/disabled" {
			continue // the same backend as aws-kms/iam
		}
		t.Run(b.name, func(t *testing.T) {
			encoded, err := keyring.NewMasterKey()
			if err != nil {
				t.Fatal(err)
			}
			env, err := keyring.ParseMasterKey(encoded)
			if err != nil {
				t.Fatal(err)
			}
			path := filepath.Join(t.TempDir(), "keyring.json")
			kr, err := keyring.Generate()
			if err != nil {
				t.Fatal(err)
			}
			if _, err := kr.Rotate(); err != nil {
				t.Fatal(err)
			}
			if err := kr.SaveFile(path, env); err != nil {
				t.Fatal(err)
			}
			places, rows := testRows(t, 10)
			sealed := make([]envelope.Fields, len(rows))
			kek := mustKEK(t, kr)
			for i := range rows {
				if sealed[i], err = envelope.Seal(kek, places[i], rows[i]); err != nil {
					t.Fatal(err)
				}
			}
			want := kr.Keys()

			step := func(name string, from, to tink.AEAD, toSentinel error) {
				t.Helper()
				k, err := keyring.LoadFile(path, from)
				if err != nil {
					t.Fatalf("%s: LoadFile with the old master key: %v", name, err)
				}
				if err := k.SaveFile(path, to); err != nil {
					t.Fatalf("%s: SaveFile with the new master key: %v", name, err)
				}
				if _, err := keyring.LoadFile(path, from); !errors.Is(err, keyring.ErrWrongMasterKey) || !errors.Is(err, toSentinel) {
					t.Errorf("%s: LoadFile with the old master key after the move: %v; want ErrWrongMasterKey and %v", name, err, toSentinel)
				}
				k2, err := keyring.LoadFile(path, to)
				if err != nil {
					t.Fatalf("%s: LoadFile with the new master key: %v", name, err)
				}
				if got := k2.Keys(); !slices.Equal(got, want) {
					t.Errorf("%s: keys after the move %v; want %v", name, got, want)
				}
				kek := mustKEK(t, k2)
				for i := range rows {
					if _, err := envelope.Open(kek, places[i], sealed[i]); err != nil {
						t.Errorf("%s: row %d no longer opens: %v", name, i, err)
					}
				}
			}
			// The environment key refuses a KMS ciphertext locally (Tink's
			// AES-GCM: no sentinel of this package); the KMS refuses the
			// environment key's ciphertext with ErrDecrypt.
			step("env to "+b.name, env, b.master, keyring.ErrWrongMasterKey)
			step(b.name+" to env", b.master, env, ErrDecrypt)
			step("env to "+b.name+" again", env, b.master, keyring.ErrWrongMasterKey)
		})
	}
}

// TestRevokedAccess: what revoking the application's access to the KMS key
// does (SECURITY.md). A replica that loaded the keyring keeps sealing and
// opening rows without calling the KMS; a new load fails with the typed
// error (and keyring.ErrWrongMasterKey), without quoting the keyset; a save
// fails and leaves the file as it was; restoring access restores loads.
func TestRevokedAccess(t *testing.T) {
	for _, b := range kmsBackends(t) {
		t.Run(b.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "keyring.json")
			kr, err := keyring.Generate()
			if err != nil {
				t.Fatal(err)
			}
			if err := kr.SaveFile(path, b.master); err != nil {
				t.Fatal(err)
			}
			loaded, err := keyring.LoadFile(path, b.master)
			if err != nil {
				t.Fatal(err)
			}
			kek := mustKEK(t, loaded)
			places, rows := testRows(t, 100)
			before := make([]envelope.Fields, 50)
			for i := range 50 {
				if before[i], err = envelope.Seal(kek, places[i], rows[i]); err != nil {
					t.Fatal(err)
				}
			}
			fileBefore, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}

			b.revoke()
			served := b.served()
			// The running replica: rows sealed before and after the revocation open.
			for i := range 100 {
				s := before[min(i, 49)]
				if i >= 50 {
					if s, err = envelope.Seal(kek, places[i], rows[i]); err != nil {
						t.Fatalf("row %d: Seal after revocation: %v", i, err)
					}
				}
				got, err := envelope.Open(kek, places[i], s)
				if err != nil || !bytes.Equal(got[0], rows[i][0]) {
					t.Fatalf("row %d: Open after revocation: %v", i, err)
				}
			}
			if got := b.served(); got != served {
				t.Errorf("rows sealed and opened after revocation reached the KMS %d times", got-served)
			}
			// A new load (a restart, a reload) fails with the typed error.
			_, err = keyring.LoadFile(path, b.master)
			if !errors.Is(err, b.revoked) || !errors.Is(err, keyring.ErrWrongMasterKey) {
				t.Errorf("LoadFile after revocation: %v; want %v and keyring.ErrWrongMasterKey", err, b.revoked)
			}
			var kerr *Error
			if !errors.As(err, &kerr) || kerr.Op != "decrypt" || kerr.URI != b.master.URI() {
				t.Errorf("LoadFile after revocation: %v; want a *kms.Error of decrypt with the key's URI", err)
			}
			assertNoQuote(t, err, cleartextKeyset(t, loaded))
			// A save (an operator's edit) fails and leaves the file alone.
			if _, err := loaded.Stage(); err != nil {
				t.Fatal(err)
			}
			if err := loaded.SaveFile(path, b.master); !errors.Is(err, b.revoked) {
				t.Errorf("SaveFile after revocation: %v; want %v", err, b.revoked)
			}
			if after, err := os.ReadFile(path); err != nil || !bytes.Equal(after, fileBefore) {
				t.Errorf("the refused save changed the keyring file (read error %v)", err)
			}

			b.restore()
			if _, err := keyring.LoadFile(path, b.master); err != nil {
				t.Errorf("LoadFile after access was restored: %v", err)
			}
		})
	}
}

func mustKEK(t testing.TB, k *keyring.Keyring) *keyring.KEK {
	t.Helper()
	kek, err := k.KEK()
	if err != nil {
		t.Fatal(err)
	}
	return kek
}

// cleartextKeyset returns k's serialized Tink keyset: the plaintext the
// master key encrypts.
func cleartextKeyset(t testing.TB, k *keyring.Keyring) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := keyring.InsecureSaveCleartext(&buf, k); err != nil {
		t.Fatal(err)
	}
	var f struct {
		Keyset string `json:"cleartext_keyset"`
	}
	if err := json.Unmarshal(buf.Bytes(), &f); err != nil {
		t.Fatal(err)
	}
	b, err := base64.StdEncoding.DecodeString(f.Keyset)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestAWSKeyringSizeLimit: AWS KMS encrypts at most 4096 bytes of keyset,
// a keyring of a few dozen keys (fewer XAES-256-GCM keys than AES-256-GCM
// ones). Stage keys while saving succeeds; the first save over the limit is
// refused before any request, with ErrTooLarge, and the file keeps the
// largest keyring that fitted.
func TestAWSKeyringSizeLimit(t *testing.T) {
	rt := new(countingTransport)
	a, _ := awsKey(t, rt)
	path := filepath.Join(t.TempDir(), "keyring.json")
	kr, err := keyring.Generate()
	if err != nil {
		t.Fatal(err)
	}
	var saved []byte
	fitted := 0
	for {
		requests := rt.n.Load()
		err := kr.SaveFile(path, a)
		if errors.Is(err, ErrTooLarge) {
			if n := rt.n.Load() - requests; n != 0 {
				t.Errorf("the refused save made %d requests", n)
			}
			break
		}
		if err != nil {
			t.Fatalf("SaveFile of %d keys: %v", len(kr.Keys()), err)
		}
		fitted = len(kr.Keys())
		if saved, err = os.ReadFile(path); err != nil {
			t.Fatal(err)
		}
		if fitted > 100 {
			t.Fatalf("%d keys saved under an AWS key: the 4096-byte limit is not enforced", fitted)
		}
		if _, err := kr.Stage(); err != nil {
			t.Fatal(err)
		}
	}
	if fitted < 20 {
		t.Fatalf("only %d keys fit under an AWS key", fitted)
	}
	t.Logf("%d keys fit in AWS KMS's 4096 bytes", fitted)
	if after, err := os.ReadFile(path); err != nil || !bytes.Equal(after, saved) {
		t.Errorf("the refused save changed the file (read error %v)", err)
	}
	if k, err := keyring.LoadFile(path, a); err != nil || len(k.Keys()) != fitted {
		t.Errorf("LoadFile after the refused save: %v", err)
	}
}
