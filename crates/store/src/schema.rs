//! The stores' migrations, embedded at build time from `migrations/<backend>/<store>/`.

mod ledger_sqlite {
    refinery::embed_migrations!("migrations/sqlite/ledger");
}
mod ledger_postgres {
    refinery::embed_migrations!("migrations/postgres/ledger");
}
mod events_sqlite {
    refinery::embed_migrations!("migrations/sqlite/events");
}
mod events_postgres {
    refinery::embed_migrations!("migrations/postgres/events");
}
mod metadata_sqlite {
    refinery::embed_migrations!("migrations/sqlite/metadata");
}
mod metadata_postgres {
    refinery::embed_migrations!("migrations/postgres/metadata");
}

use crate::db::Schema;

fn has_column(c: &rusqlite::Connection, table: &str, column: &str) -> bool {
    c.prepare(&format!("SELECT {column} FROM {table} LIMIT 0"))
        .is_ok()
}

/// Ledgers from before the metadata cache lack `saved`; V1 expects it.
fn adopt_ledger(c: &rusqlite::Connection) -> rusqlite::Result<()> {
    if has_column(c, "calls", "id") && !has_column(c, "calls", "saved") {
        c.execute_batch("ALTER TABLE calls ADD COLUMN saved INTEGER NOT NULL DEFAULT 0")?;
    }
    Ok(())
}

fn adopt_nothing(_: &rusqlite::Connection) -> rusqlite::Result<()> {
    Ok(())
}

pub const LEDGER: Schema = Schema {
    name: "ledger",
    sqlite: ledger_sqlite::migrations::runner,
    postgres: ledger_postgres::migrations::runner,
    adopt_sqlite: adopt_ledger,
};

pub const EVENTS: Schema = Schema {
    name: "events",
    sqlite: events_sqlite::migrations::runner,
    postgres: events_postgres::migrations::runner,
    adopt_sqlite: adopt_nothing,
};

pub const METADATA: Schema = Schema {
    name: "metadata",
    sqlite: metadata_sqlite::migrations::runner,
    postgres: metadata_postgres::migrations::runner,
    adopt_sqlite: adopt_nothing,
};
