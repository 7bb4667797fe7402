//go:build tools

// Temporary: pins the dependencies that packages under construction import,
// so that parallel work does not race on go.mod. Removed once they are used.
package accountvault

import (
	_ "github.com/jackc/pgx/v5"
	_ "github.com/jackc/pgx/v5/pgxpool"
	_ "github.com/rogpeppe/go-internal/testscript"
	_ "github.com/schollz/progressbar/v3"
	_ "github.com/spf13/cobra"
	_ "github.com/tink-crypto/tink-go/v2/aead"
	_ "github.com/tink-crypto/tink-go/v2/aead/aesgcm"
	_ "github.com/tink-crypto/tink-go/v2/insecurecleartextkeyset"
	_ "github.com/tink-crypto/tink-go/v2/keyset"
	_ "github.com/tink-crypto/tink-go/v2/proto/aes_gcm_go_proto"
	_ "github.com/tink-crypto/tink-go/v2/proto/tink_go_proto"
	_ "github.com/tink-crypto/tink-go/v2/tink"
	_ "golang.org/x/crypto/argon2"
	_ "golang.org/x/crypto/bcrypt"
	_ "golang.org/x/crypto/scrypt"
	_ "golang.org/x/sync/semaphore"
	_ "golang.org/x/term"
	_ "golang.org/x/text/unicode/norm"
	_ "google.golang.org/protobuf/proto"
	_ "modernc.org/sqlite"
)
