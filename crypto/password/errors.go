package password

import "errors"

// Sentinel errors. Every error this package returns for one of these causes
// wraps the matching sentinel, so callers test with [errors.Is]. No error
// string contains a password or a hash.
var (
	// ErrPasswordEmpty: the password is empty. Nothing was hashed.
	ErrPasswordEmpty = errors.New("password: password is empty")

	// ErrPasswordTooLong: the password is longer than [MaxPasswordLen]
	// bytes, before or after NFKC normalisation, whatever the stored hash.
	// Passwords are never truncated. Nothing was hashed. (A password that
	// only a stored hash's format can not hold, such as one over bcrypt's
	// 72 bytes, is not an error: it does not match.)
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
