package cli

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"os"
	"regexp"
	"strings"
	"sync"
	"testing"

	"github.com/accountvault/accountvault/keyring"
)

// TestKeysConcurrentEdits: two operators' loops each run 'keys stage' 50
// times against one keyring file, at once. Every run either stages a key
// (exit 0) or says "changed meanwhile: run again" (exit 1), and the file
// ends with every key a run reported: no edit is lost. (Before, each run
// loaded, edited and saved the file without a lock, and about half the
// reported keys were lost.)
func TestKeysConcurrentEdits(t *testing.T) {
	if testing.Short() {
		t.Skip("100 processes")
	}
	e := newCLIEnv(t)
	e.mustRun("keys", "init")
	const runs = 50
	staged := regexp.MustCompile(`(?m)^staged key (\d+)$`)
	var mu sync.Mutex
	var landed []string
	changed := 0
	var wg sync.WaitGroup
	for range 2 {
		wg.Go(func() {
			for range runs {
				out, errOut, code := e.run("keys", "stage")
				mu.Lock()
				switch m := staged.FindStringSubmatch(out); {
				case code == 0 && m != nil:
					landed = append(landed, m[1])
				case code == exitFailed && strings.Contains(errOut, "changed meanwhile: run again"):
					changed++
				default:
					t.Errorf("keys stage: exit %d\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	var keys []keyJSON
	if err := json.Unmarshal([]byte(e.mustRun("keys", "list", "--json")), &keys); err != nil {
		t.Fatal(err)
	}
	have := map[string]bool{}
	for _, k := range keys {
		if k.Status == "staged" {
			have[jsonID(k.ID)] = true
		}
	}
	for _, id := range landed {
		if !have[id] {
			t.Errorf("key %s was reported staged and is not in the keyring", id)
		}
	}
	if len(have) != len(landed) {
		t.Errorf("%d runs reported a staged key, the keyring holds %d staged keys", len(landed), len(have))
	}
	t.Logf("%d runs staged a key, %d said changed meanwhile", len(landed), changed)
}

func jsonID(id uint32) string {
	b, _ := json.Marshal(id)
	return string(b)
}

// TestKeysChangedMeanwhile: an edit that finds the file replaced by a
// writer that takes no lock (a copy, an editor) saves nothing, logs no
// audit event, and fails with exit code 1 and "changed meanwhile: run
// again". The retirement's check (the keyring counted against is no longer
// the file's) fails the same way.
func TestKeysChangedMeanwhile(t *testing.T) {
	mk, err := keyring.NewMasterKey()
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv("TEST_MASTER_KEY", mk)
	master, err := keyring.ParseMasterKey(mk)
	if err != nil {
		t.Fatal(err)
	}
	path := t.TempDir() + "/keyring.json"
	k, err := keyring.Generate()
	if err != nil {
		t.Fatal(err)
	}
	if err := k.SaveFile(path, master); err != nil {
		t.Fatal(err)
	}
	var logs bytes.Buffer
	c := &cli{stdout: io.Discard, stderr: io.Discard, sig: t.Context(), keyringPath: path, master: masterSource{env: "TEST_MASTER_KEY", from: "--master-key-env"},
		log: slog.New(slog.NewTextHandler(&logs, nil))}
	other, err := keyring.Generate()
	if err != nil {
		t.Fatal(err)
	}
	var replaced bytes.Buffer
	if err := other.Save(&replaced, master); err != nil {
		t.Fatal(err)
	}
	err = c.editKeyring(func(k *keyring.Keyring) (string, error) {
		id, err := k.Stage()
		if err != nil {
			return "", err
		}
		c.audit("accountvault: key staged", "key_id", id)
		return "staged", os.WriteFile(path, replaced.Bytes(), 0o600)
	})
	checkChangedMeanwhile(t, err)
	if logs.Len() != 0 {
		t.Errorf("an edit that was not saved logged: %s", logs.String())
	}
	got, err := os.ReadFile(path)
	if err != nil || !bytes.Equal(got, replaced.Bytes()) {
		t.Fatalf("the file was replaced by the refused edit (%v)", err)
	}

	// Retirement: the keyring the count ran against is not the file's.
	loaded, err := keyring.LoadFile(path, master)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := keyring.EditFile(t.Context(), path, master, func(k *keyring.Keyring) error { _, err := k.Stage(); return err }); err != nil {
		t.Fatal(err)
	}
	_, err = c.editKeyringFile(master, nil, func(k *keyring.Keyring) error { return unchangedSince(k, loaded) })
	checkChangedMeanwhile(t, err)
}

func checkChangedMeanwhile(t *testing.T, err error) {
	t.Helper()
	var ee *exitError
	if !errors.As(err, &ee) || ee.code != exitFailed {
		t.Fatalf("err = %v, want exit code %d", err, exitFailed)
	}
	if !errors.Is(err, keyring.ErrChangedMeanwhile) || !strings.Contains(err.Error(), "changed meanwhile: run again") {
		t.Fatalf("err = %v", err)
	}
}
