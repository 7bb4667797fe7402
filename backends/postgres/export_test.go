package postgres

// ListQueryForTest returns the SQL text List runs.
func ListQueryForTest(b *Backend) string { return b.q.list }

// FindForUserQueryForTest returns the SQL text FindForUser runs.
func FindForUserQueryForTest(b *Backend) string { return b.q.findForUser }
