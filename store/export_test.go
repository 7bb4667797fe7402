package store

// LeaseKey is the metadata name where l is kept.
func LeaseKey(l *Lease) string { return l.key }

// LeaseValue is the value l wrote.
func LeaseValue(l *Lease) []byte { return l.value }
