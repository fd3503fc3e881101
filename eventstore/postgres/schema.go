package postgres

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	"github.com/jackc/pgx/v5"
)

// SchemaVersion is the version of the tables this package writes and
// reads; it is kept in the meta table under "schema_version".
const SchemaVersion = 1

// migrations[v-1] brings a schema from version v-1 to v. A new version
// appends its step; existing ones never change (they have run).
var migrations = []func(t tables) string{
	func(t tables) string {
		return `
CREATE TABLE ` + t.events + ` (
	position bigint  PRIMARY KEY CHECK (position > 0),
	stream   text    NOT NULL,
	revision bigint  NOT NULL CHECK (revision >= 0),
	id       text    NOT NULL,
	type     text    NOT NULL,
	time     text    NOT NULL,
	data     bytea   NOT NULL,
	chain    bytea   NOT NULL CHECK (length(chain) = 32),
	UNIQUE (stream, revision)
);
CREATE UNIQUE INDEX ` + t.idIndex + ` ON ` + t.events + ` (id);`
	},
}

// tables are the schema-qualified, quoted names of the log's objects.
type tables struct {
	schema, meta, events, idIndex string
	channel                       string // NOTIFY channel (a plain string)
}

func newTables(schema string) tables {
	return tables{
		schema:  pgx.Identifier{schema}.Sanitize(),
		meta:    pgx.Identifier{schema, "meta"}.Sanitize(),
		events:  pgx.Identifier{schema, "events"}.Sanitize(),
		idIndex: pgx.Identifier{"events_id"}.Sanitize(),
		channel: schema + "_events",
	}
}

// ensureSchema creates the log's schema and tables, or checks and
// migrates existing ones, in one transaction under an advisory lock so
// that processes opening the same log at once do it once.
func ensureSchema(ctx context.Context, conn *pgx.Conn, t tables) error {
	tx, err := conn.Begin(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback(context.Background())
	if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock(hashtext($1))", "epochledger schema "+t.schema); err != nil {
		return err
	}
	if _, err := tx.Exec(ctx, "CREATE SCHEMA IF NOT EXISTS "+t.schema+"; CREATE TABLE IF NOT EXISTS "+t.meta+" (key text PRIMARY KEY, value text NOT NULL)"); err != nil {
		return err
	}
	v := 0
	var s string
	err = tx.QueryRow(ctx, "SELECT value FROM "+t.meta+" WHERE key = 'schema_version'").Scan(&s)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
	case err != nil:
		return err
	default:
		if v, err = strconv.Atoi(s); err != nil {
			return fmt.Errorf("postgres: %s.meta schema_version %q is not a number", t.schema, s)
		}
	}
	if v > SchemaVersion {
		return fmt.Errorf("postgres: the log in schema %s is at version %d, newer than this program knows (%d): upgrade epochledger", t.schema, v, SchemaVersion)
	}
	if v == SchemaVersion {
		return tx.Commit(ctx)
	}
	for ; v < SchemaVersion; v++ {
		if _, err := tx.Exec(ctx, migrations[v](t)); err != nil {
			return fmt.Errorf("postgres: migrate schema %s to version %d: %w", t.schema, v+1, err)
		}
	}
	if _, err := tx.Exec(ctx, "INSERT INTO "+t.meta+" (key, value) VALUES ('schema_version', $1) ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value", strconv.Itoa(SchemaVersion)); err != nil {
		return err
	}
	return tx.Commit(ctx)
}
