package kms

import (
	"path/filepath"
	"testing"

	"github.com/tink-crypto/tink-go/v2/tink"
	"google.golang.org/api/option"

	"github.com/accountvault/accountvault/keyring"
)

// BenchmarkLoadFile loads a keyring of two keys from a file, the cost a
// replica pays at start-up and at each reload, with the environment master
// key (master=env, the baseline: a local AES-GCM decryption) and with each
// KMS master key over loopback: local-kms (a separate process, HTTP/1.1
// with SigV4 signing), the in-process Vault Transit server (HTTPS) and the
// in-process Cloud KMS server (gRPC without TLS). It measures the client
// side and a loopback round trip, not a real KMS's latency.
//
//	go test -run '^$' -bench LoadFile -benchmem -count 6 . > load.txt
//	benchstat -col /master load.txt
func BenchmarkLoadFile(b *testing.B) {
	encoded, err := keyring.NewMasterKey()
	if err != nil {
		b.Fatal(err)
	}
	env, err := keyring.ParseMasterKey(encoded)
	if err != nil {
		b.Fatal(err)
	}
	aws, _ := benchAWSKey(b)
	v := newFakeVault(b, "transit/accountvault")
	f := newFakeCloudKMS(b, gcpTestKey)
	gcp, err := MasterKey(b.Context(), SchemeGCP+gcpTestKey, WithGCPClientOptions(option.WithGRPCConn(gcpConn(b, f.addr))))
	if err != nil {
		b.Fatal(err)
	}
	for _, m := range []struct {
		name   string
		master tink.AEAD
	}{
		{"env", env},
		{"aws-localkms", aws},
		{"hcvault", vaultKey(b, v, "transit/accountvault")},
		{"gcp", gcp},
	} {
		b.Run("master="+m.name, func(b *testing.B) {
			path := filepath.Join(b.TempDir(), "keyring.json")
			kr, err := keyring.Generate()
			if err != nil {
				b.Fatal(err)
			}
			if _, err := kr.Stage(); err != nil {
				b.Fatal(err)
			}
			if err := kr.SaveFile(path, m.master); err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			for b.Loop() {
				if _, err := keyring.LoadFile(path, m.master); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func benchAWSKey(b *testing.B) (*AEAD, string) {
	b.Helper()
	uri, arn := localKMSKey(b)
	a, err := MasterKey(b.Context(), uri, WithAWSConfig(localKMSConfig(localKMSURL(b), nil)))
	if err != nil {
		b.Fatal(err)
	}
	return a, arn
}
