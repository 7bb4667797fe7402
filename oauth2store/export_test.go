package oauth2store

// Counters counts what the Sources given WithCounters did.
type Counters struct{ c counters }

// CountersSnapshot is a copy of a Counters.
type CountersSnapshot struct {
	Flights      int64 // shared reads (one per group of concurrent callers)
	Refreshes    int64 // token requests made
	LeaseWaits   int64 // refreshes that found the lease held and waited
	FromOther    int64 // waits for the lease that ended with the token another caller stored
	UnderLease   int64 // leases taken to find another caller's token already stored
	CASConflicts int64 // swaps lost and resolved by a re-read
	LeaseLost    int64 // leases found taken over at release

	TransientRetries int64 // swaps written again after a transient error
}

func (c *Counters) Snapshot() CountersSnapshot {
	return CountersSnapshot{
		Flights: c.c.flights.Load(), Refreshes: c.c.refreshes.Load(), LeaseWaits: c.c.leaseWaits.Load(), FromOther: c.c.fromOther.Load(), UnderLease: c.c.underLease.Load(),
		CASConflicts: c.c.casConflicts.Load(), LeaseLost: c.c.leaseLost.Load(),
		TransientRetries: c.c.transientRetries.Load(),
	}
}

// WithCounters makes a Source count into c.
func WithCounters(c *Counters) Option { return func(o *options) { o.counters = &c.c } }

// LeaseName is the name of an account's refresh lease.
var LeaseName = leaseName

// WithBeforeLease makes a Source call f before each attempt to take the
// refresh lease.
func WithBeforeLease(f func()) Option { return func(o *options) { o.beforeLease = f } }
