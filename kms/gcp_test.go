package kms

import (
	"bytes"
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"errors"
	"hash/crc32"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"cloud.google.com/go/kms/apiv1/kmspb"
	"google.golang.org/api/option"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

// There is no Cloud KMS emulator. fakeCloudKMS is an in-process gRPC
// server (a real grpc-go server on 127.0.0.1) implementing the two methods
// the Tink client calls, Encrypt and Decrypt of
// google.cloud.kms.v1.KeyManagementService, as Cloud KMS documents them:
// CRC32C checks of the request's fields, the verified_* flags and the
// ciphertext's CRC32C in the answer, the CryptoKeyVersion name, and
// PERMISSION_DENIED, NOT_FOUND, FAILED_PRECONDITION (disabled key) and
// INVALID_ARGUMENT (ciphertext that does not decrypt). The client reaches
// it through WithGCPClientOptions(option.WithGRPCConn(…)): this tests the
// Tink client and this package's handling of the answers, not Google's
// authentication or the public endpoint.
type fakeCloudKMS struct {
	kmspb.UnimplementedKeyManagementServiceServer
	keys     map[string]cipher.AEAD // CryptoKey resource name
	denied   atomic.Bool
	disabled atomic.Bool

	encrypts, decrypts atomic.Int64
	addr               string
}

var crc32c = crc32.MakeTable(crc32.Castagnoli)

func checksum(b []byte) int64 { return int64(crc32.Checksum(b, crc32c)) }

func newFakeCloudKMS(t testing.TB, keys ...string) *fakeCloudKMS {
	t.Helper()
	f := &fakeCloudKMS{keys: map[string]cipher.AEAD{}}
	for _, k := range keys {
		block, err := aes.NewCipher(randBytes(t, 32))
		if err != nil {
			t.Fatal(err)
		}
		g, err := cipher.NewGCM(block)
		if err != nil {
			t.Fatal(err)
		}
		f.keys[k] = g
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer()
	kmspb.RegisterKeyManagementServiceServer(srv, f)
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	t.Cleanup(func() {
		srv.Stop()
		if err := <-served; err != nil {
			t.Errorf("gRPC server: %v", err)
		}
	})
	f.addr = ln.Addr().String()
	return f
}

func (f *fakeCloudKMS) key(name string) (cipher.AEAD, error) {
	if f.denied.Load() {
		return nil, status.Errorf(codes.PermissionDenied, "Permission 'cloudkms.cryptoKeyVersions.useToDecrypt' denied on resource '%s' (or it may not exist).", name)
	}
	k := f.keys[name]
	if k == nil {
		return nil, status.Errorf(codes.NotFound, "CryptoKey %s not found.", name)
	}
	if f.disabled.Load() {
		return nil, status.Errorf(codes.FailedPrecondition, "%s/cryptoKeyVersions/1 is not enabled, current state is: DISABLED.", name)
	}
	return k, nil
}

func (f *fakeCloudKMS) Encrypt(_ context.Context, req *kmspb.EncryptRequest) (*kmspb.EncryptResponse, error) {
	f.encrypts.Add(1)
	k, err := f.key(req.GetName())
	if err != nil {
		return nil, err
	}
	if c := req.GetPlaintextCrc32C(); c != nil && c.GetValue() != checksum(req.GetPlaintext()) {
		return nil, status.Error(codes.InvalidArgument, "The checksum in field plaintext_crc32c did not match the data in field plaintext.")
	}
	if c := req.GetAdditionalAuthenticatedDataCrc32C(); c != nil && c.GetValue() != checksum(req.GetAdditionalAuthenticatedData()) {
		return nil, status.Error(codes.InvalidArgument, "The checksum in field additional_authenticated_data_crc32c did not match.")
	}
	nonce := make([]byte, k.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return nil, status.Error(codes.Internal, "randomness")
	}
	ct := k.Seal(nonce, nonce, req.GetPlaintext(), req.GetAdditionalAuthenticatedData())
	return &kmspb.EncryptResponse{
		Name:                    req.GetName() + "/cryptoKeyVersions/1",
		Ciphertext:              ct,
		CiphertextCrc32C:        wrapperspb.Int64(checksum(ct)),
		VerifiedPlaintextCrc32C: req.GetPlaintextCrc32C() != nil,
		VerifiedAdditionalAuthenticatedDataCrc32C: req.GetAdditionalAuthenticatedDataCrc32C() != nil,
		ProtectionLevel: kmspb.ProtectionLevel_SOFTWARE,
	}, nil
}

func (f *fakeCloudKMS) Decrypt(_ context.Context, req *kmspb.DecryptRequest) (*kmspb.DecryptResponse, error) {
	f.decrypts.Add(1)
	k, err := f.key(req.GetName())
	if err != nil {
		return nil, err
	}
	if c := req.GetCiphertextCrc32C(); c != nil && c.GetValue() != checksum(req.GetCiphertext()) {
		return nil, status.Error(codes.InvalidArgument, "The checksum in field ciphertext_crc32c did not match the data in field ciphertext.")
	}
	ct := req.GetCiphertext()
	if len(ct) < k.NonceSize() {
		return nil, status.Error(codes.InvalidArgument, "Decryption failed: the ciphertext is invalid.")
	}
	pt, err := k.Open(nil, ct[:k.NonceSize()], ct[k.NonceSize():], req.GetAdditionalAuthenticatedData())
	if err != nil {
		return nil, status.Error(codes.InvalidArgument, "Decryption failed: verify that 'name' refers to the correct CryptoKey.")
	}
	return &kmspb.DecryptResponse{Plaintext: pt, PlaintextCrc32C: wrapperspb.Int64(checksum(pt)), ProtectionLevel: kmspb.ProtectionLevel_SOFTWARE}, nil
}

const gcpTestKey = "projects/accountvault-test/locations/global/keyRings/accountvault/cryptoKeys/master"

// gcpConn returns a gRPC connection to addr without TLS.
func gcpConn(t testing.TB, addr string) *grpc.ClientConn {
	t.Helper()
	conn, err := grpc.NewClient("passthrough:///"+addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := conn.Close(); err != nil {
			t.Error(err)
		}
	})
	return conn
}

// gcpKey returns the AEAD of key name served at addr.
func gcpKey(t testing.TB, addr, name string, opts ...Option) *AEAD {
	t.Helper()
	a, err := MasterKey(t.Context(), SchemeGCP+name,
		append([]Option{WithGCPClientOptions(option.WithGRPCConn(gcpConn(t, addr)))}, opts...)...)
	if err != nil {
		t.Fatalf("MasterKey: %v", err)
	}
	return a
}

func TestGCPRoundTrip(t *testing.T) {
	f := newFakeCloudKMS(t, gcpTestKey)
	a := gcpKey(t, f.addr, gcpTestKey)
	pt, ad := randBytes(t, 5000), []byte("accountvault keyring v1\x00metadata")
	ct, err := a.Encrypt(pt, ad)
	if err != nil {
		t.Fatalf("Encrypt: %v", err)
	}
	got, err := a.Decrypt(ct, ad)
	if err != nil {
		t.Fatalf("Decrypt: %v", err)
	}
	if !bytes.Equal(got, pt) {
		t.Fatal("Decrypt returned other bytes than were encrypted")
	}
	if e, d := f.encrypts.Load(), f.decrypts.Load(); e != 1 || d != 1 {
		t.Errorf("server served %d encrypts and %d decrypts; want 1 and 1", e, d)
	}
	if _, err := a.Decrypt(ct, []byte("other")); !errors.Is(err, ErrDecrypt) {
		t.Errorf("Decrypt with other associated data: %v; want ErrDecrypt", err)
	}
	if _, err := a.Encrypt(make([]byte, gcpMax+1), nil); !errors.Is(err, ErrTooLarge) {
		t.Errorf("Encrypt of %d bytes: %v; want ErrTooLarge", gcpMax+1, err)
	}
	if e := f.encrypts.Load(); e != 1 {
		t.Errorf("the refused Encrypt reached the server (%d encrypts)", e)
	}
}

func TestGCPErrors(t *testing.T) {
	f := newFakeCloudKMS(t, gcpTestKey)
	a := gcpKey(t, f.addr, gcpTestKey)
	ct, err := a.Encrypt([]byte("keyset"), nil)
	if err != nil {
		t.Fatal(err)
	}
	f.denied.Store(true)
	if _, err := a.Decrypt(ct, nil); !errors.Is(err, ErrAccessDenied) {
		t.Errorf("Decrypt, permission denied: %v; want ErrAccessDenied", err)
	}
	f.denied.Store(false)
	f.disabled.Store(true)
	if _, err := a.Decrypt(ct, nil); !errors.Is(err, ErrKeyUnavailable) {
		t.Errorf("Decrypt, key version disabled: %v; want ErrKeyUnavailable", err)
	}
	f.disabled.Store(false)
	other := gcpKey(t, f.addr, gcpTestKey+"x")
	if _, err := other.Decrypt(ct, nil); !errors.Is(err, ErrKeyUnavailable) {
		t.Errorf("Decrypt, no such key: %v; want ErrKeyUnavailable", err)
	}
	if _, err := a.Decrypt(ct, nil); err != nil {
		t.Errorf("Decrypt after the errors: %v", err)
	}
}

func TestGCPUnreachable(t *testing.T) {
	a := gcpKey(t, closedPort(t), gcpTestKey, WithTimeout(2*time.Second))
	if _, err := a.Decrypt([]byte("ciphertext"), nil); !errors.Is(err, ErrUnreachable) {
		t.Errorf("Decrypt, connection refused: %v; want ErrUnreachable", err)
	}
}
