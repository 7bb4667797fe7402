package postgres

import "github.com/accountvault/accountvault/backends/internal/sqlrow"

// ListQueryForTest returns the SQL text List runs.
func ListQueryForTest(b *Backend) string { return b.sql[sqlrow.StmtList] }
