package oauth2store

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"time"

	"golang.org/x/oauth2"
	"golang.org/x/sync/singleflight"

	"github.com/accountvault/accountvault"
	"github.com/accountvault/accountvault/store"
)

// ErrNoRefreshToken is returned when the stored access token has expired
// and the account holds no refresh token to get another with.
var ErrNoRefreshToken = errors.New("oauth2store: access token expired and the account has no refresh token")

// Defaults of the options.
const (
	// DefaultExpiryDelta is how long before its expiry a token is
	// refreshed: golang.org/x/oauth2's own delta.
	DefaultExpiryDelta = 10 * time.Second
	// DefaultLeaseTTL is the life of the refresh lease (see the package
	// documentation): the token request must finish within half of it.
	DefaultLeaseTTL = 30 * time.Second
	// DefaultPollInterval is how often a caller that waits for another
	// replica's refresh reads the account again.
	DefaultPollInterval = 100 * time.Millisecond
)

// Source is an [oauth2.TokenSource] over one account of a [store.Store]:
// it serves the stored access token while it is valid, and refreshes it
// through an [oauth2.Config] when it is not, storing the result with
// [store.Store.CompareAndSwap]. Of all the Sources and replicas that find
// the token expired at once, exactly one asks the token endpoint, and the
// others use what it stores (see the package documentation).
//
// A Source is safe for concurrent use. It keeps the last token it returned
// in memory and serves it, without reading the store, while it is valid.
type Source struct {
	ctx               context.Context
	s                 *store.Store
	cfg               *oauth2.Config
	provider, account string
	o                 options

	mu  sync.Mutex
	tok *oauth2.Token // the last token returned; nil before the first
}

var _ oauth2.TokenSource = (*Source)(nil)

// An Option configures a [Source].
type Option func(*options)

type options struct {
	expiryDelta time.Duration
	leaseTTL    time.Duration
	poll        time.Duration
	log         *slog.Logger
	counters    *counters // tests only
	beforeLease func()    // tests only: runs before each attempt to take the lease
}

// WithExpiryDelta refreshes tokens d before their expiry instead of
// [DefaultExpiryDelta], like [oauth2.ReuseTokenSourceWithExpiry]. A token
// without an expiry never expires. d must not be negative.
func WithExpiryDelta(d time.Duration) Option { return func(o *options) { o.expiryDelta = d } }

// WithLeaseTTL sets the life of the refresh lease instead of
// [DefaultLeaseTTL]. The token request of a refresh is cancelled after
// ttl/2, so that the result is stored while the lease holds. After a
// holder crashed, the other replicas wait up to ttl before one of them
// refreshes. ttl must be positive.
func WithLeaseTTL(ttl time.Duration) Option { return func(o *options) { o.leaseTTL = ttl } }

// WithPollInterval sets how often a caller that waits for another
// replica's refresh reads the account again, instead of
// [DefaultPollInterval]. d must be positive.
func WithPollInterval(d time.Duration) Option { return func(o *options) { o.poll = d } }

// WithLogger logs, at level Warn, the errors that do not reach a caller
// because its token was served anyway: a failed release of the refresh
// lease (the lease then lapses after its TTL, and other replicas wait up
// to that long to refresh the next time). The default is [slog.Default].
// No token is ever logged.
func WithLogger(l *slog.Logger) Option { return func(o *options) { o.log = l } }

// New returns a Source for the account (providerID, accountID) of s,
// which refreshes through cfg (its Endpoint.TokenURL, client id and
// secret; RedirectURL and Scopes are not used by a refresh).
//
// ctx is used by [Source.Token] for every read and write of s and every
// token request, as by [oauth2.Config.TokenSource]: its
// [oauth2.HTTPClient] value, if any, is the HTTP client of the token
// requests. It should live as long as the Source. [Source.TokenContext]
// takes a context per call instead.
//
// New does no I/O: an account that does not exist is reported by the
// first Token call, as an error wrapping [accountvault.ErrNotFound]. The
// store's backend must keep metadata ([accountvault.Metadata]; both
// backends of this module do), where the refresh lease is kept; a refresh
// over a backend without fails with an error wrapping
// [errors.ErrUnsupported]. Invalid arguments give an error wrapping
// [accountvault.ErrInvalidArgument].
func New(ctx context.Context, s *store.Store, cfg *oauth2.Config, providerID, accountID string, opts ...Option) (*Source, error) {
	o := options{expiryDelta: DefaultExpiryDelta, leaseTTL: DefaultLeaseTTL, poll: DefaultPollInterval}
	for _, opt := range opts {
		opt(&o)
	}
	switch {
	case ctx == nil:
		return nil, invalid("nil context")
	case s == nil:
		return nil, invalid("nil store")
	case cfg == nil:
		return nil, invalid("nil oauth2.Config")
	case providerID == "" || accountID == "":
		return nil, invalid("empty provider or account id")
	case o.expiryDelta < 0:
		return nil, invalid("negative expiry delta")
	case o.leaseTTL <= 0:
		return nil, invalid("lease ttl is not positive")
	case o.poll <= 0:
		return nil, invalid("poll interval is not positive")
	}
	return &Source{ctx: ctx, s: s, cfg: cfg, provider: providerID, account: accountID, o: o}, nil
}

func invalid(why string) error {
	return fmt.Errorf("oauth2store: New: %w: %s", accountvault.ErrInvalidArgument, why)
}

// Token returns a valid token for the account, refreshing and storing it
// if the stored one has expired, with the context given to [New]. It
// implements [oauth2.TokenSource].
func (src *Source) Token() (*oauth2.Token, error) { return src.TokenContext(src.ctx) }

// TokenContext is [Source.Token] with ctx in place of the Source's
// context for this call.
//
// Errors: an account that does not exist wraps [accountvault.ErrNotFound];
// one that fails to open is an *[accountvault.RowError]; an expired token
// without a refresh token is [ErrNoRefreshToken]; a token endpoint that
// refuses the refresh gives an *[oauth2.RetrieveError] (invalid_grant when
// the grant is revoked: the user must link the account again), and a
// network failure the HTTP client's error, both reachable with
// [errors.As]. On every error, nothing is written. No error holds a token.
//
// If ctx ends first, TokenContext returns its error, but a refresh that
// is under way is finished and stored (within the lease's life), and
// other callers get its token: a refresh token that the provider rotated
// is never dropped because a caller went away.
func (src *Source) TokenContext(ctx context.Context) (*oauth2.Token, error) {
	src.mu.Lock()
	t := src.tok
	src.mu.Unlock()
	if t != nil && !expired(t.AccessToken, t.Expiry, src.o.expiryDelta) {
		return t, nil
	}
	t, err := src.shared(ctx)
	if err != nil {
		return nil, err
	}
	src.mu.Lock()
	src.tok = t
	src.mu.Unlock()
	return t, nil
}

// flights holds the calls under way in this process, one per store and
// account: Sources over the same store and account share them.
var flights singleflight.Group

func flightKey(s *store.Store, provider, account string) string {
	return fmt.Sprintf("%p %s %s", s, strconv.Quote(provider), strconv.Quote(account))
}

// shared runs fetch once for all the callers of this process that want a
// token for the same store and account at the same time. The work runs on
// a context that no caller cancels, bounded by the lease: two lease lives
// for reading and waiting, then, once the lease is taken, half a life for
// the token request and one for storing its answer (see refresh).
func (src *Source) shared(ctx context.Context) (*oauth2.Token, error) {
	ch := flights.DoChan(flightKey(src.s, src.provider, src.account), func() (any, error) {
		return src.fetch(context.WithoutCancel(ctx))
	})
	select {
	case r := <-ch:
		if r.Err != nil {
			return nil, r.Err
		}
		return r.Val.(*oauth2.Token), nil
	case <-ctx.Done():
		return nil, fmt.Errorf("oauth2store: waiting for a token: %w", context.Cause(ctx))
	}
}

// expired reports whether an access token with that expiry is expired (or
// empty) delta early, as [oauth2.Token.Valid] judges it.
func expired(access string, expiry time.Time, delta time.Duration) bool {
	if access == "" {
		return true
	}
	return !expiry.IsZero() && expiry.Round(0).Add(-delta).Before(time.Now())
}

// token returns a's tokens as an oauth2.Token: the ID token, if any, is
// its "id_token" extra, and the scope its "scope".
func token(a *accountvault.Account) *oauth2.Token {
	t := &oauth2.Token{AccessToken: a.AccessToken.Reveal(), RefreshToken: a.RefreshToken.Reveal()}
	if a.AccessTokenExpiresAt != nil {
		t.Expiry = *a.AccessTokenExpiresAt
	}
	extra := map[string]any{}
	if !a.IDToken.IsZero() {
		extra["id_token"] = a.IDToken.Reveal()
	}
	if a.Scope != "" {
		extra["scope"] = a.Scope
	}
	if len(extra) > 0 {
		t = t.WithExtra(extra)
	}
	return t
}

func (src *Source) logger() *slog.Logger {
	if src.o.log != nil {
		return src.o.log
	}
	return slog.Default()
}
