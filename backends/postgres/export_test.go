package postgres

// ListQueryForTest returns the SQL text List runs.
func ListQueryForTest(b *Backend) string { return b.q.list }
