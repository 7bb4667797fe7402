package sqlite

import "database/sql"

// DBForTest exposes the Backend's pool to the tests.
func DBForTest(b *Backend) *sql.DB { return b.db }
