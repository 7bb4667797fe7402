package password

import "errors"

// Sentinel errors. Every error this package returns for one of these causes
// wraps the matching sentinel, so callers test with [errors.Is]. No error
// string contains a password or a hash.
var (
	// ErrPasswordEmpty: the password is empty. Nothing was hashed.
	ErrPasswordEmpty = errors.New("password: password is empty")

	// ErrPasswordTooLong: the password is longer than [MaxPasswordLen]
	// bytes, before or after NFKC normalisation, or longer than 72 bytes for
	// a bcrypt hash. Passwords are never truncated. Nothing was hashed.
	ErrPasswordTooLong = errors.New("password: password is too long")

	// ErrMalformedHash: the stored hash is not in a recognised format, or is
	// not well-formed in its format (syntax, encoding, unsupported variant or
	// version). Nothing was hashed.
	ErrMalformedHash = errors.New("password: malformed password hash")

	// ErrHashBounds: the stored hash is well-formed, but a parameter
	// (argon2id memory, time, threads, salt or hash length; bcrypt cost) is
	// outside the accepted [Bounds]. Nothing was hashed: a tampered row can
	// not make a login burn unbounded memory or time.
	ErrHashBounds = errors.New("password: password hash parameters out of bounds")

	// ErrInvalidConfig: [New] was given a policy, bounds or option it can not
	// use.
	ErrInvalidConfig = errors.New("password: invalid configuration")
)
