package postgres

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/accountvault/accountvault"
	"github.com/accountvault/accountvault/backends/internal/sqlrow"
)

// TableError is [accountvault.TableError]: why Migrate or Adopt cannot
// use or adopt an existing table, with at most the id of one offending row,
// never a stored value. A call that returns it changed nothing.
type TableError = accountvault.TableError

// colInfo is one column of an existing table, from pg_attribute.
type colInfo struct {
	typ     string // pg_type.typname: "text", "int8", "timestamptz", …
	format  string // format_type, for messages: "character varying(255)"
	notNull bool
	hasDef  bool // a DEFAULT, or an identity or generated column
}

// conform brings the existing table m.b.qualified to the schema of
// createTable, converting its columns in place as Migrate documents, or
// returns a *TableError. It changes nothing unless it succeeds (the caller
// rolls the transaction back on error). On a table createTable made it only
// reads the catalog.
func conform(ctx context.Context, tx pgx.Tx, m *migrator) error {
	b := m.b
	var oid *uint32
	if err := tx.QueryRow(ctx, `SELECT to_regclass($1)::oid`, b.qualified).Scan(&oid); err != nil {
		return err
	}
	if oid == nil {
		return &TableError{Table: b.table, Reason: "does not exist, but " + sqlrow.SchemaTable +
			" records a version for it (delete that row for Migrate to create the table)"}
	}
	rows, err := tx.Query(ctx, `SELECT a.attname, t.typname, format_type(a.atttypid, a.atttypmod),
			a.attnotnull, a.atthasdef OR a.attidentity <> '', a.attgenerated <> ''
		FROM pg_attribute a JOIN pg_type t ON t.oid = a.atttypid
		WHERE a.attrelid = $1 AND a.attnum > 0 AND NOT a.attisdropped`, *oid)
	if err != nil {
		return err
	}
	cols := map[string]colInfo{}
	var generated []string
	for rows.Next() {
		var name string
		var c colInfo
		var gen bool
		if err := rows.Scan(&name, &c.typ, &c.format, &c.notNull, &c.hasDef, &gen); err != nil {
			rows.Close()
			return err
		}
		cols[name] = c
		if gen {
			generated = append(generated, name)
		}
	}
	if err := rows.Err(); err != nil {
		return err
	}
	has := func(name string) bool { _, ok := cols[name]; return ok }
	if m.adopting {
		// better-auth's camelCase names. Postgres keeps the indexes,
		// constraints and views that use a column through a rename.
		for _, r := range sqlrow.Renames(has) {
			if _, err := tx.Exec(ctx, `ALTER TABLE `+b.qualified+` RENAME COLUMN `+
				pgx.Identifier{r.From}.Sanitize()+` TO `+pgx.Identifier{r.To}.Sanitize()); err != nil {
				return fmt.Errorf("renaming column %s to %s: %w", r.From, r.To, err)
			}
			cols[r.To] = cols[r.From]
			delete(cols, r.From)
			if i := slices.Index(generated, r.From); i >= 0 {
				generated[i] = r.To
			}
		}
	}

	t := b.qualified
	max := strconv.FormatInt(sqlrow.MaxEpochSeconds, 10)
	var (
		alter    []string // ALTER TABLE actions
		checks   []check  // conditions a row must not meet
		textToks bool     // a token column is text
	)
	for _, sc := range sqlrow.Schema {
		c, ok := cols[sc.Name]
		if !ok {
			return sqlrow.MissingColumn(b.table, sc.Name, has)
		}
		if slices.Contains(generated, sc.Name) {
			return &TableError{Table: b.table, Column: sc.Name, Reason: "is a generated column"}
		}
		q := pgx.Identifier{sc.Name}.Sanitize()
		var using, want string
		switch sc.Kind {
		case sqlrow.KindText:
			if c.typ != "text" && c.typ != "varchar" {
				return wrongType(b.table, sc.Name, c, "text")
			}
		case sqlrow.KindToken:
			switch c.typ {
			case "bytea":
			case "text", "varchar":
				want, using, textToks = "bytea", `NULLIF(convert_to(`+q+`, 'UTF8'), '\x'::bytea)`, true
			default:
				return wrongType(b.table, sc.Name, c, "bytea or text")
			}
		case sqlrow.KindTime:
			switch c.typ {
			case "int8":
			case "int2", "int4":
				want, using = "bigint", q+`::bigint`
			case "timestamptz", "timestamp", "date":
				want, using = "bigint", `floor(EXTRACT(EPOCH FROM `+q+`))::bigint`
				checks = append(checks, check{sc.Name, `NOT isfinite(` + q + `)`, "an infinite " + c.format})
			default:
				return wrongType(b.table, sc.Name, c, "bigint epoch seconds, or a timestamp")
			}
			if m.adopting && strings.HasPrefix(c.typ, "int") {
				checks = append(checks, check{sc.Name, q + ` NOT BETWEEN -` + max + ` AND ` + max,
					"an integer above " + max + " in absolute value, which looks like milliseconds, not epoch seconds"})
			}
		}
		if want != "" {
			if c.hasDef {
				alter = append(alter, `ALTER COLUMN `+q+` DROP DEFAULT`)
			}
			alter = append(alter, `ALTER COLUMN `+q+` TYPE `+want+` USING `+using)
		}
		if sc.NotNull && !c.notNull {
			checks = append(checks, check{sc.Name, q + ` IS NULL`, "NULL"})
			alter = append(alter, `ALTER COLUMN `+q+` SET NOT NULL`)
		}
	}
	// A column outside the schema that is NOT NULL without a default
	// would make every insert through the backend fail (better-auth 1.7.0
	// to 1.7.2's issuer column): it loses its NOT NULL.
	var others []string
	for name, c := range cols {
		if _, ours := schemaIndex(name); !ours && c.notNull && !c.hasDef {
			others = append(others, name)
		}
	}
	slices.Sort(others)
	for _, name := range others {
		alter = append(alter, `ALTER COLUMN `+pgx.Identifier{name}.Sanitize()+` DROP NOT NULL`)
	}
	if textToks {
		var enc string
		if err := tx.QueryRow(ctx, `SELECT current_setting('server_encoding')`).Scan(&enc); err != nil {
			return err
		}
		if enc != "UTF8" {
			return &TableError{Table: b.table, Reason: "has text tokens in a " + enc +
				" database: they cannot be converted to the UTF-8 bytes better-auth wrote"}
		}
	}
	if err := runChecks(ctx, tx, b, checks); err != nil {
		return err
	}

	idx, err := indexes(ctx, tx, *oid)
	if err != nil {
		return err
	}
	var hasPK, idKey, pairKey, userIdx bool
	for _, ix := range idx {
		hasPK = hasPK || ix.primary
		userIdx = userIdx || ix.cols[0] == "user_id"
		if !ix.unique {
			continue
		}
		idKey = idKey || slices.Equal(ix.cols, []string{"id"})
		pairKey = pairKey || slices.Equal(ix.cols, []string{"provider_id", "account_id"}) ||
			slices.Equal(ix.cols, []string{"account_id", "provider_id"})
	}
	var add []string // statements run after the ALTER
	if !idKey {
		if err := checkUnique(ctx, tx, b, "id", "id"); err != nil {
			return err
		}
		kind, suffix := "PRIMARY KEY", "pkey"
		if hasPK {
			kind, suffix = "UNIQUE", "id_key"
		}
		add = append(add, `ALTER TABLE `+t+` ADD CONSTRAINT `+sqlrow.Quote(sqlrow.IndexName(b.table, suffix))+` `+kind+` (id)`)
	}
	if !pairKey {
		if err := checkUnique(ctx, tx, b, "(provider_id, account_id)", "provider_id, account_id"); err != nil {
			return err
		}
		add = append(add, `ALTER TABLE `+t+` ADD CONSTRAINT `+sqlrow.Quote(sqlrow.IndexName(b.table, "provider_id_account_id_key"))+
			` UNIQUE (provider_id, account_id)`)
	}
	if !userIdx {
		add = append(add, `CREATE INDEX `+sqlrow.Quote(sqlrow.IndexName(b.table, "user_id_idx"))+` ON `+t+` (user_id)`)
	}
	if len(alter) > 0 {
		// One statement: one rewrite of the table.
		if _, err := tx.Exec(ctx, `ALTER TABLE `+t+` `+strings.Join(alter, ", ")); err != nil {
			return fmt.Errorf("converting the columns: %w", err)
		}
	}
	for _, s := range add {
		if _, err := tx.Exec(ctx, s); err != nil {
			return err
		}
	}
	return nil
}

// schemaIndex returns the position in sqlrow.Schema of the column named
// name.
func schemaIndex(name string) (int, bool) {
	for i, sc := range sqlrow.Schema {
		if sc.Name == name {
			return i, true
		}
	}
	return 0, false
}

func wrongType(table, column string, c colInfo, want string) *TableError {
	return &TableError{Table: table, Column: column, Reason: "has type " + c.format + "; it must be " + want}
}

// A check is a condition that no row of the table may meet.
type check struct {
	column, cond, what string
}

// runChecks counts, in one scan of the table, the rows that meet each
// check, and returns a *TableError for the first check that any meets.
func runChecks(ctx context.Context, tx pgx.Tx, b *Backend, checks []check) error {
	if len(checks) == 0 {
		return nil
	}
	exprs := make([]string, len(checks))
	for i, c := range checks {
		exprs[i] = `count(*) FILTER (WHERE ` + c.cond + `)`
	}
	counts := make([]int64, len(checks))
	dest := make([]any, len(checks))
	for i := range counts {
		dest[i] = &counts[i]
	}
	if err := tx.QueryRow(ctx, `SELECT `+strings.Join(exprs, ", ")+` FROM `+b.qualified).Scan(dest...); err != nil {
		return err
	}
	for i, c := range checks {
		if counts[i] > 0 {
			return &TableError{Table: b.table, Column: c.column, Reason: fmt.Sprintf("has, in %d row(s)%s, %s",
				counts[i], exampleRow(ctx, tx, b, c.cond), c.what)}
		}
	}
	return nil
}

// checkUnique returns a *TableError if two rows share a value of cols.
func checkUnique(ctx context.Context, tx pgx.Tx, b *Backend, column, cols string) error {
	dups := `SELECT ` + cols + ` FROM ` + b.qualified + ` GROUP BY ` + cols + ` HAVING count(*) > 1`
	var n int64
	if err := tx.QueryRow(ctx, `SELECT count(*) FROM (`+dups+`) d`).Scan(&n); err != nil {
		return err
	}
	if n == 0 {
		return nil
	}
	return &TableError{Table: b.table, Column: column, Reason: fmt.Sprintf(
		"has %d value(s) that occur in more than one row%s; they must be unique",
		n, exampleRow(ctx, tx, b, `(`+cols+`) IN (`+dups+`)`))}
}

// exampleRow returns sqlrow.RowHint for one row that meets cond, or "" if
// it cannot be read: the hint only helps, the error stands without it.
// It runs under a savepoint, so that a failure leaves the transaction
// usable for the rollback that follows.
func exampleRow(ctx context.Context, tx pgx.Tx, b *Backend, cond string) string {
	sp, err := tx.Begin(ctx)
	if err != nil {
		return ""
	}
	var id *string
	err = sp.QueryRow(ctx, `SELECT id::text FROM `+b.qualified+` WHERE `+cond+` LIMIT 1`).Scan(&id)
	if rerr := sp.Rollback(ctx); err != nil || rerr != nil {
		return ""
	}
	return sqlrow.RowHint(id)
}

// index is one usable index of the table: valid, on plain columns, not
// partial. cols are its key columns, in order.
type index struct {
	unique, primary bool
	cols            []string
}

func indexes(ctx context.Context, tx pgx.Tx, oid uint32) ([]index, error) {
	// An ON CONFLICT arbiter must be immediate: a deferrable unique
	// constraint does not count.
	rows, err := tx.Query(ctx, `SELECT i.indisunique AND i.indimmediate, i.indisprimary,
			ARRAY(SELECT a.attname::text
				FROM unnest(i.indkey::int2[]) WITH ORDINALITY AS k(attnum, n)
				JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum
				WHERE k.n <= i.indnkeyatts ORDER BY k.n)
		FROM pg_index i
		WHERE i.indrelid = $1 AND i.indisvalid AND i.indpred IS NULL AND i.indexprs IS NULL`, oid)
	if err != nil {
		return nil, err
	}
	var out []index
	for rows.Next() {
		var ix index
		if err := rows.Scan(&ix.unique, &ix.primary, &ix.cols); err != nil {
			rows.Close()
			return nil, err
		}
		if len(ix.cols) > 0 {
			out = append(out, ix)
		}
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	return out, nil
}
