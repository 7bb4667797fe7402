package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"

	"github.com/accountvault/accountvault"
	"github.com/accountvault/accountvault/backends/internal/sqlrow"
)

// TableError is [accountvault.TableError]: why Migrate or Adopt cannot
// use or adopt an existing table, with at most the id of one offending row,
// never a stored value. A call that returns it changed nothing.
type TableError = accountvault.TableError

// declType is the declared type of each kind of column in createTable.
var declType = map[sqlrow.Kind]string{
	sqlrow.KindText:  "TEXT",
	sqlrow.KindToken: "BLOB",
	sqlrow.KindTime:  "INTEGER",
}

// colInfo is one column of an existing table, as PRAGMA table_xinfo
// describes it.
type colInfo struct {
	name    string
	typ     string // as declared
	notNull bool
	dflt    sql.NullString // the DEFAULT expression, as written
	pk      int            // position in the primary key, 0 if not in it
	hidden  int            // 0 for an ordinary column
}

// conform brings the existing table m.table to the schema of createTable,
// converting its columns and values as Migrate documents, or returns a
// *TableError and changes nothing. On a table createTable made it only
// reads the catalog and scans the table once.
func conform(ctx context.Context, m *migrator) error {
	cols, err := tableColumns(ctx, m.c, m.table)
	if err != nil {
		return fmt.Errorf("reading the columns: %w", err)
	}
	if len(cols) == 0 {
		return &TableError{Table: m.table, Reason: "does not exist, but " + sqlrow.SchemaTable +
			" records a version for it (delete that row for Migrate to create the table)"}
	}
	byName := make(map[string]*colInfo, len(cols))
	for i := range cols {
		byName[strings.ToLower(cols[i].name)] = &cols[i]
	}
	has := func(name string) bool { return byName[strings.ToLower(name)] != nil }
	if renames := sqlrow.Renames(has); m.adopting && len(renames) > 0 {
		// better-auth's camelCase names. RENAME COLUMN also rewrites the
		// indexes, triggers, views and foreign keys that name them.
		for _, r := range renames {
			if _, err := m.c.ExecContext(ctx, `ALTER TABLE `+sqlrow.Quote(m.table)+
				` RENAME COLUMN `+sqlrow.Quote(r.From)+` TO `+sqlrow.Quote(r.To)); err != nil {
				return fmt.Errorf("renaming column %s to %s: %w", r.From, r.To, err)
			}
		}
		return conform(ctx, m)
	}
	for _, sc := range sqlrow.Schema {
		c := byName[sc.Name]
		if c == nil {
			return sqlrow.MissingColumn(m.table, sc.Name, has)
		}
		if c.hidden != 0 {
			return &TableError{Table: m.table, Column: sc.Name, Reason: "is a generated or hidden column"}
		}
	}
	convert, err := survey(ctx, m)
	if err != nil {
		return stage("surveying the values", err)
	}
	if convert || !schemaMatches(cols, byName) {
		if err := rebuild(ctx, m, cols); err != nil {
			return stage("rebuilding the table", err)
		}
	}
	return stage("adding keys", ensureKeys(ctx, m))
}

// stage prefixes err, unless it is nil or a *TableError, with the stage
// of conform that failed.
func stage(name string, err error) error {
	var te *TableError
	if err == nil || errors.As(err, &te) {
		return err
	}
	return fmt.Errorf("%s: %w", name, err)
}

func tableColumns(ctx context.Context, c *sql.Conn, table string) ([]colInfo, error) {
	rows, err := c.QueryContext(ctx, `SELECT name, type, "notnull", dflt_value, pk, hidden
		FROM pragma_table_xinfo(?) ORDER BY cid`, table)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var cols []colInfo
	for rows.Next() {
		var ci colInfo
		if err := rows.Scan(&ci.name, &ci.typ, &ci.notNull, &ci.dflt, &ci.pk, &ci.hidden); err != nil {
			return nil, err
		}
		cols = append(cols, ci)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	return cols, rows.Close()
}

// schemaMatches reports whether the columns of the schema have the
// declared types and NOT NULL of createTable, and id alone is the primary
// key.
func schemaMatches(cols []colInfo, byName map[string]*colInfo) bool {
	for _, sc := range sqlrow.Schema {
		c := byName[sc.Name]
		if !strings.EqualFold(strings.TrimSpace(c.typ), declType[sc.Kind]) || (sc.NotNull && !c.notNull) {
			return false
		}
	}
	for _, c := range cols {
		if (c.pk != 0) != strings.EqualFold(c.name, "id") {
			return false
		}
		if _, ours := schemaColumn(c.name); !ours && mustRelax(&c) {
			return false
		}
	}
	return true
}

// schemaColumn returns the column of sqlrow.Schema named name, matched as
// SQLite matches names.
func schemaColumn(name string) (sqlrow.Column, bool) {
	for _, sc := range sqlrow.Schema {
		if strings.EqualFold(sc.Name, name) {
			return sc, true
		}
	}
	return sqlrow.Column{}, false
}

// mustRelax reports whether c, a column outside the schema, is NOT NULL
// without a DEFAULT: every insert through the backend, which writes the
// schema's columns only, would fail on it (better-auth 1.7.0 to 1.7.2's
// issuer column). The rebuild drops its NOT NULL.
func mustRelax(c *colInfo) bool {
	return c.notNull && !c.dflt.Valid && c.pk == 0
}

// timeExpr converts the time column q (quoted) to epoch seconds: an
// INTEGER as is, a TEXT of digits as epoch seconds, a TEXT that starts
// like an ISO-8601 date through strftime (which floors to the second, as
// time.Time.Unix does, and reads a date without an offset as UTC). Any
// other value yields NULL. The GLOB keeps strftime from its other inputs:
// 'now', and bare numbers it would read as Julian days.
func timeExpr(q string) string {
	return `(CASE typeof(` + q + `)
		WHEN 'integer' THEN ` + q + `
		WHEN 'text' THEN CASE
			WHEN ` + q + ` <> '' AND ` + q + ` NOT GLOB '*[^0-9]*' THEN CAST(` + q + ` AS INTEGER)
			WHEN ` + isoDate(q) + ` THEN CAST(strftime('%s', ` + q + `) AS INTEGER)
			END
		END)`
}

// isoDate is the condition that the TEXT value q (quoted) is taken for an
// ISO-8601 date and given to strftime: it starts with a date that exists
// (strftime would roll 2026-02-30 over to March 2; date() of the date part
// must give it back unchanged), followed by nothing or by a 'T' or a
// space and a time. strftime refuses, as NULL, a time or offset it cannot
// read.
func isoDate(q string) string {
	return `(` + q + ` GLOB '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]*' AND date(substr(` + q + `, 1, 10)) IS substr(` + q + `, 1, 10)` +
		` AND (length(` + q + `) = 10 OR substr(` + q + `, 11, 1) IN ('T', ' ')))`
}

// tokenExpr converts the token column q (quoted) to a BLOB of the same
// bytes, an empty value to NULL.
func tokenExpr(q string) string {
	return `NULLIF(CAST(` + q + ` AS BLOB), X'')`
}

// A check is a condition on one row of the table. A row that meets a
// check with a reason makes Migrate refuse the table; one that meets a
// check without a reason needs converting.
type check struct {
	column, cond, reason string
}

// survey scans the table once for the values Migrate refuses and the ones
// it must convert, and reports whether there are any of the latter.
func survey(ctx context.Context, m *migrator) (convert bool, err error) {
	max := strconv.FormatInt(sqlrow.MaxEpochSeconds, 10)
	var checks []check
	// The rows, with each time column converted once.
	cols := make([]string, 0, 2*len(sqlrow.Schema))
	for _, sc := range sqlrow.Schema {
		cols = append(cols, sqlrow.Quote(sc.Name))
		if sc.Kind == sqlrow.KindTime {
			cols = append(cols, timeExpr(sqlrow.Quote(sc.Name))+` AS `+sqlrow.Quote("accountvault_"+sc.Name))
		}
	}
	from := `(SELECT ` + strings.Join(cols, ", ") + ` FROM ` + sqlrow.Quote(m.table) + `)`
	for _, sc := range sqlrow.Schema {
		q := sqlrow.Quote(sc.Name)
		if sc.NotNull {
			checks = append(checks, check{sc.Name, q + ` IS NULL`, "NULL"})
		}
		switch sc.Kind {
		case sqlrow.KindText:
			checks = append(checks,
				check{sc.Name, `typeof(` + q + `) IN ('real', 'blob')`, "a REAL or BLOB value, which is not text"},
				check{sc.Name, `typeof(` + q + `) = 'integer'`, ""})
		case sqlrow.KindToken:
			checks = append(checks,
				check{sc.Name, `typeof(` + q + `) IN ('integer', 'real')`, "a number, which is not a token: converting it to bytes would be a guess"},
				check{sc.Name, `typeof(` + q + `) = 'text' OR (typeof(` + q + `) = 'blob' AND length(` + q + `) = 0)`, ""})
		case sqlrow.KindTime:
			conv := sqlrow.Quote("accountvault_" + sc.Name)
			bad := q + ` IS NOT NULL AND (` + conv + ` IS NULL OR ` + conv + ` NOT BETWEEN -` + max + ` AND ` + max + `)`
			if !m.adopting {
				// Integers written through this package are whatever
				// the application chose: only converted values are
				// checked.
				bad += ` AND typeof(` + q + `) <> 'integer'`
			}
			checks = append(checks,
				check{sc.Name, bad, "a value that is neither epoch seconds (an integer up to " + max +
					" in absolute value: a larger one looks like milliseconds) nor an ISO-8601 date"},
				check{sc.Name, `typeof(` + q + `) NOT IN ('integer', 'null')`, ""})
		}
	}
	exprs := make([]string, len(checks))
	for i, ch := range checks {
		exprs[i] = `count(*) FILTER (WHERE ` + ch.cond + `)`
	}
	counts := make([]int64, len(checks))
	dest := make([]any, len(checks))
	for i := range counts {
		dest[i] = &counts[i]
	}
	if err := m.c.QueryRowContext(ctx, `SELECT `+strings.Join(exprs, ", ")+` FROM `+from).Scan(dest...); err != nil {
		return false, err
	}
	for i, ch := range checks {
		if counts[i] == 0 {
			continue
		}
		if ch.reason == "" {
			convert = true
			continue
		}
		return false, &TableError{Table: m.table, Column: ch.column,
			Reason: fmt.Sprintf("has, in %d row(s)%s, %s", counts[i], exampleRow(ctx, m, from, ch.cond), ch.reason)}
	}
	if convert {
		// CAST(text AS BLOB) yields the bytes of the database's encoding.
		var enc string
		if err := m.c.QueryRowContext(ctx, `PRAGMA encoding`).Scan(&enc); err != nil {
			return false, err
		}
		if enc != "UTF-8" {
			return false, &TableError{Table: m.table, Reason: "is in a " + enc +
				" database: its TEXT values cannot be converted to the UTF-8 bytes better-auth wrote"}
		}
	}
	return convert, nil
}

// exampleRow returns sqlrow.RowHint for one row of from that meets cond,
// or "" if there is none or it cannot be read: the hint only helps, the
// error stands without it.
func exampleRow(ctx context.Context, m *migrator, from, cond string) string {
	var id sql.NullString
	err := m.c.QueryRowContext(ctx, `SELECT CAST(id AS TEXT) FROM `+from+` WHERE `+cond+` LIMIT 1`).Scan(&id)
	if err != nil || !id.Valid {
		return ""
	}
	return sqlrow.RowHint(&id.String)
}

// typeRE matches the declared types that rebuild copies into a CREATE
// TABLE: SQLite's type names, such as VARCHAR(255) or UNSIGNED BIG INT.
var typeRE = regexp.MustCompile(`^[A-Za-z0-9_ (),+-]*$`)

// rebuild replaces the table by one of createTable's schema holding the
// same rows, as Migrate documents: SQLite's "other kinds of table schema
// changes" procedure, within Migrate's transaction.
func rebuild(ctx context.Context, m *migrator, cols []colInfo) error {
	t := sqlrow.Quote(m.table)
	tmp := sqlrow.Quote("accountvault_new_" + m.table)
	kinds := make(map[string]sqlrow.Column, len(sqlrow.Schema))
	for _, sc := range sqlrow.Schema {
		kinds[sc.Name] = sc
	}

	// id becomes the primary key.
	var dups int64
	if err := m.c.QueryRowContext(ctx, `SELECT count(*) FROM
		(SELECT 1 FROM `+t+` GROUP BY CAST(id AS TEXT) HAVING count(*) > 1)`).Scan(&dups); err != nil {
		return err
	}
	if dups > 0 {
		return &TableError{Table: m.table, Column: "id", Reason: fmt.Sprintf("has %d value(s) that occur in more than one row%s",
			dups, exampleRow(ctx, m, t, `CAST(id AS TEXT) IN (SELECT CAST(id AS TEXT) FROM `+t+` GROUP BY 1 HAVING count(*) > 1)`))}
	}

	var defs, names, exprs []string
	for _, c := range cols {
		sc, ours := kinds[strings.ToLower(c.name)]
		if !ours {
			if c.hidden != 0 {
				return &TableError{Table: m.table, Column: c.name, Reason: "is a generated or hidden column, which the rebuild cannot copy"}
			}
			if !typeRE.MatchString(c.typ) {
				return &TableError{Table: m.table, Column: c.name, Reason: "has a declared type the rebuild cannot copy"}
			}
			def := sqlrow.Quote(c.name) + " " + c.typ
			if c.notNull && !mustRelax(&c) {
				def += " NOT NULL"
			}
			if c.dflt.Valid {
				// The pragma gives the expression without the parentheses
				// it may have needed.
				def += " DEFAULT (" + c.dflt.String + ")"
			}
			defs = append(defs, def)
			names = append(names, sqlrow.Quote(c.name))
			exprs = append(exprs, sqlrow.Quote(c.name))
			continue
		}
		q := sqlrow.Quote(sc.Name)
		def := q + " " + declType[sc.Kind]
		switch {
		case sc.Name == "id":
			def += " NOT NULL PRIMARY KEY"
		case sc.NotNull:
			def += " NOT NULL"
		}
		defs = append(defs, def)
		names = append(names, q)
		switch sc.Kind {
		case sqlrow.KindToken:
			exprs = append(exprs, tokenExpr(q))
		case sqlrow.KindTime:
			exprs = append(exprs, timeExpr(q))
		default:
			exprs = append(exprs, q) // TEXT affinity turns an INTEGER into its text
		}
	}
	fks, err := foreignKeys(ctx, m.c, m.table)
	if err != nil {
		return err
	}
	defs = append(defs, fks...)

	// What DROP TABLE takes with it: indexes and triggers written in SQL,
	// and the indexes of UNIQUE and PRIMARY KEY constraints.
	var saved []string
	rows, err := m.c.QueryContext(ctx, `SELECT sql FROM sqlite_schema
		WHERE tbl_name = ? COLLATE NOCASE AND type IN ('index', 'trigger') AND sql IS NOT NULL
		ORDER BY type = 'trigger', rowid`, m.table)
	if err != nil {
		return err
	}
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			rows.Close()
			return err
		}
		saved = append(saved, s)
	}
	if err := errors.Join(rows.Err(), rows.Close()); err != nil {
		return err
	}
	idx, err := tableIndexes(ctx, m.c, m.table)
	if err != nil {
		return err
	}
	for _, ix := range idx {
		if ix.origin == "c" || len(ix.cols) == 0 || (len(ix.cols) == 1 && strings.EqualFold(ix.cols[0].name, "id")) {
			continue // written in SQL (saved above), or id's, which the new primary key covers
		}
		var cs, parts []string
		for _, ic := range ix.cols {
			p := sqlrow.Quote(ic.name)
			if !strings.EqualFold(ic.coll, "BINARY") {
				p += " COLLATE " + sqlrow.Quote(ic.coll)
			}
			if ic.desc {
				p += " DESC"
			}
			parts = append(parts, p)
			cs = append(cs, strings.ToLower(ic.name))
		}
		name := sqlrow.Quote(sqlrow.IndexName(m.table, strings.Join(cs, "_")+"_key"))
		saved = append(saved, `CREATE UNIQUE INDEX `+name+` ON `+t+` (`+strings.Join(parts, ", ")+`)`)
	}

	var before, after int64
	if err := m.c.QueryRowContext(ctx, `SELECT count(*) FROM `+t).Scan(&before); err != nil {
		return err
	}
	if err := execAll(ctx, m.c,
		`CREATE TABLE `+tmp+` (`+strings.Join(defs, ", ")+`)`,
		`INSERT INTO `+tmp+` (`+strings.Join(names, ", ")+`) SELECT `+strings.Join(exprs, ", ")+` FROM `+t,
	); err != nil {
		return fmt.Errorf("copying the rows: %w", err)
	}
	if err := m.c.QueryRowContext(ctx, `SELECT count(*) FROM `+tmp).Scan(&after); err != nil {
		return err
	}
	if after != before {
		return fmt.Errorf("copied %d rows of %d", after, before)
	}
	if err := renameOver(ctx, m, tmp, t); err != nil {
		return err
	}
	if err := execAll(ctx, m.c, saved...); err != nil {
		return fmt.Errorf("recreating the indexes and triggers: %w", err)
	}
	if m.foreignKeys {
		var n int64
		if err := m.c.QueryRowContext(ctx, `SELECT count(*) FROM pragma_foreign_key_check(?)`, m.table).Scan(&n); err != nil {
			return err
		}
		if n > 0 {
			return &TableError{Table: m.table, Reason: fmt.Sprintf("has %d row(s) that break its foreign keys", n)}
		}
	}
	return nil
}

// renameOver drops the table old and renames tmp to its name. Views that
// name the table would make a modern RENAME fail ("error in view"): the
// legacy behaviour renames the table alone, and the views then see the
// new one. The setting outlives transactions: it is restored whatever
// happens.
func renameOver(ctx context.Context, m *migrator, tmp, old string) (err error) {
	var legacy int
	if err := m.c.QueryRowContext(ctx, `PRAGMA legacy_alter_table`).Scan(&legacy); err != nil {
		return err
	}
	if _, err := m.c.ExecContext(ctx, `PRAGMA legacy_alter_table = ON`); err != nil {
		return err
	}
	defer func() {
		if _, rerr := m.c.ExecContext(context.Background(), `PRAGMA legacy_alter_table = `+strconv.Itoa(legacy)); rerr != nil {
			err = errors.Join(err, fmt.Errorf("restoring legacy_alter_table: %w", rerr))
		}
	}()
	return execAll(ctx, m.c, `DROP TABLE `+old, `ALTER TABLE `+tmp+` RENAME TO `+old)
}

// foreignKeys returns the FOREIGN KEY clauses of the table.
func foreignKeys(ctx context.Context, c *sql.Conn, table string) ([]string, error) {
	rows, err := c.QueryContext(ctx, `SELECT id, "table", "from", "to", on_update, on_delete
		FROM pragma_foreign_key_list(?) ORDER BY id, seq`, table)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	type fk struct {
		parent, onUpdate, onDelete string
		from, to                   []string
		toAll                      bool
	}
	var fks []*fk
	last := -1
	for rows.Next() {
		var id int
		var parent, from, onUpdate, onDelete string
		var to sql.NullString
		if err := rows.Scan(&id, &parent, &from, &to, &onUpdate, &onDelete); err != nil {
			return nil, err
		}
		if id != last {
			fks = append(fks, &fk{parent: parent, onUpdate: onUpdate, onDelete: onDelete, toAll: true})
			last = id
		}
		f := fks[len(fks)-1]
		f.from = append(f.from, sqlrow.Quote(from))
		f.to = append(f.to, sqlrow.Quote(to.String))
		f.toAll = f.toAll && to.Valid
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	var out []string
	for _, f := range fks {
		s := `FOREIGN KEY (` + strings.Join(f.from, ", ") + `) REFERENCES ` + sqlrow.Quote(f.parent)
		if f.toAll {
			s += ` (` + strings.Join(f.to, ", ") + `)`
		}
		for _, a := range []struct{ on, action string }{{"UPDATE", f.onUpdate}, {"DELETE", f.onDelete}} {
			switch strings.ToUpper(a.action) {
			case "SET NULL", "SET DEFAULT", "CASCADE", "RESTRICT":
				s += ` ON ` + a.on + ` ` + strings.ToUpper(a.action)
			}
		}
		out = append(out, s)
	}
	return out, rows.Close()
}

type indexCol struct {
	name, coll string
	desc       bool
}

// index is one index of the table, as PRAGMA index_list and index_xinfo
// describe it. cols is nil for an index on an expression.
type index struct {
	name    string
	unique  bool
	partial bool
	origin  string // "c" for CREATE INDEX, "u" for UNIQUE, "pk" for PRIMARY KEY
	cols    []indexCol
}

func tableIndexes(ctx context.Context, c *sql.Conn, table string) ([]index, error) {
	rows, err := c.QueryContext(ctx, `SELECT name, "unique", partial, origin FROM pragma_index_list(?)`, table)
	if err != nil {
		return nil, err
	}
	var idx []index
	for rows.Next() {
		var ix index
		if err := rows.Scan(&ix.name, &ix.unique, &ix.partial, &ix.origin); err != nil {
			rows.Close()
			return nil, err
		}
		idx = append(idx, ix)
	}
	if err := errors.Join(rows.Err(), rows.Close()); err != nil {
		return nil, err
	}
	for i := range idx {
		if err := indexColumns(ctx, c, &idx[i]); err != nil {
			return nil, err
		}
	}
	return idx, nil
}

func indexColumns(ctx context.Context, c *sql.Conn, ix *index) error {
	rows, err := c.QueryContext(ctx, `SELECT name, coll, "desc" FROM pragma_index_xinfo(?) WHERE key ORDER BY seqno`, ix.name)
	if err != nil {
		return err
	}
	defer rows.Close()
	expr := false
	for rows.Next() {
		var name, coll sql.NullString
		var ic indexCol
		if err := rows.Scan(&name, &coll, &ic.desc); err != nil {
			return err
		}
		expr = expr || !name.Valid
		ic.name, ic.coll = name.String, coll.String
		ix.cols = append(ix.cols, ic)
	}
	if err := rows.Err(); err != nil {
		return err
	}
	if expr {
		ix.cols = nil
	}
	return rows.Close()
}

// ensureKeys adds the unique index on (provider_id, account_id) that
// Upsert's ON CONFLICT needs and the index on user_id that FindForUser
// uses, unless the table has equivalent ones.
func ensureKeys(ctx context.Context, m *migrator) error {
	idx, err := tableIndexes(ctx, m.c, m.table)
	if err != nil {
		return err
	}
	var pair, user bool
	for _, ix := range idx {
		if ix.partial || len(ix.cols) == 0 {
			continue
		}
		user = user || strings.EqualFold(ix.cols[0].name, "user_id")
		if ix.unique && len(ix.cols) == 2 {
			a, b := strings.ToLower(ix.cols[0].name), strings.ToLower(ix.cols[1].name)
			pair = pair || (a == "provider_id" && b == "account_id") || (a == "account_id" && b == "provider_id")
		}
	}
	t := sqlrow.Quote(m.table)
	if !pair {
		const dupPairs = `SELECT provider_id, account_id FROM %s GROUP BY 1, 2 HAVING count(*) > 1`
		var n int64
		if err := m.c.QueryRowContext(ctx, `SELECT count(*) FROM (`+fmt.Sprintf(dupPairs, t)+`)`).Scan(&n); err != nil {
			return err
		}
		if n > 0 {
			return &TableError{Table: m.table, Column: "(provider_id, account_id)", Reason: fmt.Sprintf(
				"has %d pair(s) of values that occur in more than one row%s; the pair must be unique",
				n, exampleRow(ctx, m, t, `(provider_id, account_id) IN (`+fmt.Sprintf(dupPairs, t)+`)`))}
		}
		if _, err := m.c.ExecContext(ctx, `CREATE UNIQUE INDEX `+sqlrow.Quote(sqlrow.IndexName(m.table, "provider_id_account_id_key"))+
			` ON `+t+` (provider_id, account_id)`); err != nil {
			return err
		}
	}
	if !user {
		if _, err := m.c.ExecContext(ctx, `CREATE INDEX `+sqlrow.Quote(sqlrow.IndexName(m.table, "user_id_idx"))+
			` ON `+t+` (user_id)`); err != nil {
			return err
		}
	}
	return nil
}
