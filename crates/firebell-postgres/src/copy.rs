//! Moving up from one node: everything an embedded (SQLite) database holds,
//! copied into an empty PostgreSQL database in one transaction (`firebell db
//! copy`). The tables and columns are the same on both sides; the source
//! streams rows table by table ([`TABLES`], in an order that keeps foreign
//! keys satisfied) and they go in with `COPY … FROM STDIN BINARY`. Identity
//! sequences continue after the highest id the source ever handed out, so
//! no id is reused. The counts are checked before the commit.

use crate::PgStore;
use crate::error::{Error, Result as R};
use firebell_store::{Result, StoreError};
use std::pin::pin;
use tokio::sync::mpsc;
use tokio_postgres::binary_copy::BinaryCopyInWriter;
use tokio_postgres::types::{IsNull, ToSql, Type, to_sql_checked};

/// A column's type on PostgreSQL (SQLite keeps booleans as integers).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Int,
    Text,
    Bool,
}

/// One value of a row, as read from the source.
#[derive(Clone, Debug, PartialEq)]
pub enum Cell {
    Int(Option<i64>),
    Text(Option<String>),
    Bool(Option<bool>),
}

impl ToSql for Cell {
    fn to_sql(
        &self,
        ty: &Type,
        out: &mut bytes::BytesMut,
    ) -> std::result::Result<IsNull, Box<dyn std::error::Error + Sync + Send>> {
        match self {
            Cell::Int(v) => v.to_sql(ty, out),
            Cell::Text(v) => v.to_sql(ty, out),
            Cell::Bool(v) => v.to_sql(ty, out),
        }
    }

    fn accepts(ty: &Type) -> bool {
        <Option<i64> as ToSql>::accepts(ty)
            || <Option<String> as ToSql>::accepts(ty)
            || <Option<bool> as ToSql>::accepts(ty)
    }

    to_sql_checked!();
}

/// A table to copy.
#[derive(Debug)]
pub struct Table {
    pub name: &'static str,
    pub columns: &'static [(&'static str, Kind)],
    /// Its identity column, whose sequence continues after the source's ids.
    pub id: Option<&'static str>,
    /// The source's order (silences keep theirs: it is how they are listed).
    pub order: &'static str,
    /// What the SQLite source reads when its schema differs from this
    /// table's: a query giving [`Table::columns`]. `None`: the table itself.
    pub sqlite_source: Option<&'static str>,
}

use Kind::{Bool, Int, Text};

/// Every table that holds state, parents before children.
pub const TABLES: &[Table] = &[
    Table {
        name: "alerts",
        columns: &[
            ("id", Int),
            ("service", Text),
            ("dedup_key", Text),
            ("status", Text),
            ("summary", Text),
            ("severity", Text),
            ("source", Text),
            ("labels", Text),
            ("details", Text),
            ("count", Int),
            ("created_at", Int),
            ("updated_at", Int),
            ("acknowledged_at", Int),
            ("resolved_at", Int),
            ("expires_at", Int),
        ],
        id: Some("id"),
        order: "id",
        sqlite_source: None,
    },
    Table {
        name: "timeline",
        columns: &[
            ("id", Int),
            ("alert_id", Int),
            ("at", Int),
            ("kind", Text),
            ("message", Text),
            ("data", Text),
        ],
        id: Some("id"),
        order: "id",
        sqlite_source: None,
    },
    Table {
        name: "escalations",
        columns: &[
            ("alert_id", Int),
            ("policy", Text),
            ("phase", Text),
            ("step", Int),
            ("loop", Int),
            ("due_at", Int),
            ("targets", Text),
            ("version", Int),
            ("held", Text),
            ("retriggered", Int),
        ],
        id: None,
        order: "alert_id",
        sqlite_source: None,
    },
    Table {
        name: "notifications",
        columns: &[
            ("id", Int),
            ("alert_id", Int),
            ("message", Text),
            ("idem_key", Text),
            ("user_id", Text),
            ("contact_index", Int),
            ("channel", Text),
            ("address", Text),
            ("kind", Text),
            ("step", Int),
            ("loop", Int),
            ("status", Text),
            ("attempts", Int),
            ("next_attempt_at", Int),
            ("lease_until", Int),
            ("last_error", Text),
            ("detail", Text),
            ("created_at", Int),
            ("updated_at", Int),
            ("held_back", Bool),
            ("bundled_into", Int),
            ("sent_at", Int),
            ("rate_key", Text),
            ("follow_up", Bool),
        ],
        id: Some("id"),
        order: "id",
        sqlite_source: None,
    },
    Table {
        name: "schedule_overrides",
        columns: &[
            ("id", Int),
            ("schedule", Text),
            ("start_at", Int),
            ("end_at", Int),
            ("kind", Text),
            ("user_id", Text),
            ("replacement", Text),
            ("created_by", Text),
            ("created_at", Int),
        ],
        id: Some("id"),
        order: "id",
        sqlite_source: None,
    },
    Table {
        name: "changes",
        columns: &[
            ("id", Int),
            ("service", Text),
            ("summary", Text),
            ("source", Text),
            ("occurred_at", Int),
            ("received_at", Int),
            ("details", Text),
        ],
        id: Some("id"),
        order: "id",
        sqlite_source: None,
    },
    Table {
        name: "receipts",
        columns: &[("key", Text), ("received_at", Int)],
        id: None,
        order: "key",
        sqlite_source: None,
    },
    Table {
        name: "silences",
        columns: &[
            ("id", Text),
            ("matchers", Text),
            ("starts_at", Int),
            ("ends_at", Int),
            ("created_by", Text),
            ("comment", Text),
            ("updated_at", Int),
            ("expire_on_resolve", Bool),
            ("service", Text),
        ],
        id: None,
        order: "rowid",
        sqlite_source: None,
    },
    Table {
        name: "maintenance_windows",
        columns: &[
            ("id", Int),
            ("service", Text),
            ("starts_at", Int),
            ("ends_at", Int),
            ("created_by", Text),
            ("comment", Text),
            ("created_at", Int),
        ],
        id: Some("id"),
        order: "id",
        sqlite_source: None,
    },
    Table {
        name: "heartbeats",
        columns: &[
            ("service", Text),
            ("name", Text),
            ("last_ping", Int),
            ("overdue", Bool),
        ],
        id: None,
        order: "service, name",
        sqlite_source: None,
    },
    Table {
        name: "probes",
        columns: &[
            ("name", Text),
            ("next_run", Int),
            ("failures", Int),
            ("successes", Int),
            ("status", Text),
            ("cert_status", Text),
        ],
        id: None,
        order: "name",
        sqlite_source: None,
    },
    Table {
        name: "passwords",
        columns: &[("user_id", Text), ("hash", Text), ("set_at", Int)],
        id: None,
        order: "user_id",
        sqlite_source: None,
    },
    Table {
        name: "alert_labels",
        columns: &[("name", Text), ("value", Text), ("alert_id", Int)],
        id: None,
        order: "alert_id, name, value",
        // SQLite indexes labels in memory (firebell-sqlite/src/open_index.rs);
        // the pairs are the open alerts' labels, and the dedup key as
        // alertname where they have none.
        sqlite_source: Some(
            "SELECT j.key AS name, j.value AS value, a.id AS alert_id \
             FROM alerts a, json_each(a.labels) j \
             WHERE a.status != 'resolved' AND j.type = 'text' \
             UNION ALL \
             SELECT 'alertname', a.dedup_key, a.id FROM alerts a \
             WHERE a.status != 'resolved' AND json_extract(a.labels, '$.alertname') IS NULL",
        ),
    },
];

/// What the source sends, table by table in [`TABLES`] order.
#[derive(Debug)]
pub enum Msg {
    Row(Vec<Cell>),
    /// The table is done: how many rows the source holds, and the highest
    /// id it ever handed out (SQLite's `sqlite_sequence`), if it has one.
    End {
        rows: u64,
        last_id: Option<i64>,
    },
    /// The source failed; nothing is committed.
    Failed(String),
}

/// Rows copied per table.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Copied {
    pub table: &'static str,
    pub rows: u64,
}

impl PgStore {
    /// Copies what arrives on `source` into this (empty) database, in one
    /// transaction; refuses a database that holds anything, and rolls back
    /// unless every table's count equals the source's.
    pub async fn import(&self, mut source: mpsc::Receiver<Msg>) -> Result<Vec<Copied>> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(Error::from)?;
        let out = import(&tx, &mut source).await.map_err(StoreError::from)?;
        tx.commit().await.map_err(Error::from)?;
        Ok(out)
    }
}

async fn import(
    tx: &deadpool_postgres::Transaction<'_>,
    source: &mut mpsc::Receiver<Msg>,
) -> R<Vec<Copied>> {
    for t in TABLES {
        let n: i64 = tx
            .query_one(&format!("SELECT count(*) FROM {}", t.name), &[])
            .await?
            .get(0);
        if n > 0 {
            return Err(Error::Other(format!(
                "the target database is not empty ({} holds {n} rows): copy into a new database",
                t.name
            )));
        }
    }
    let mut copied = Vec::new();
    for t in TABLES {
        let names: Vec<&str> = t.columns.iter().map(|(n, _)| *n).collect();
        let types: Vec<Type> = t
            .columns
            .iter()
            .map(|(_, k)| match k {
                Int => Type::INT8,
                Text => Type::TEXT,
                Bool => Type::BOOL,
            })
            .collect();
        let sink = tx
            .copy_in(&format!(
                "COPY {} ({}) FROM STDIN BINARY",
                t.name,
                names.join(", ")
            ))
            .await?;
        let mut writer = pin!(BinaryCopyInWriter::new(sink, &types));
        let (rows, last_id) = loop {
            match source.recv().await {
                Some(Msg::Row(cells)) => {
                    let refs: Vec<&(dyn ToSql + Sync)> =
                        cells.iter().map(|c| c as &(dyn ToSql + Sync)).collect();
                    writer.as_mut().write(&refs).await?;
                }
                Some(Msg::End { rows, last_id }) => break (rows, last_id),
                Some(Msg::Failed(e)) => {
                    return Err(Error::Other(format!("reading {}: {e}", t.name)));
                }
                None => {
                    return Err(Error::Other(format!(
                        "the source stopped in the middle of {}",
                        t.name
                    )));
                }
            }
        };
        let written = writer.as_mut().finish().await?;
        if written != rows {
            return Err(Error::Other(format!(
                "{}: the source holds {rows} rows, {written} were copied",
                t.name
            )));
        }
        if let Some(id) = t.id {
            let max: Option<i64> = tx
                .query_one(&format!("SELECT max({id}) FROM {}", t.name), &[])
                .await?
                .get(0);
            if let Some(next) = max.max(last_id) {
                tx.execute(
                    &format!(
                        "SELECT setval(pg_get_serial_sequence('{}', '{id}'), $1)",
                        t.name
                    ),
                    &[&next],
                )
                .await?;
            }
        }
        let n: i64 = tx
            .query_one(&format!("SELECT count(*) FROM {}", t.name), &[])
            .await?
            .get(0);
        if n as u64 != rows {
            return Err(Error::Other(format!(
                "{}: the source holds {rows} rows, the target {n}",
                t.name
            )));
        }
        copied.push(Copied {
            table: t.name,
            rows,
        });
    }
    // Nodes re-read silences when this moves.
    tx.execute(
        "UPDATE generations SET n = n + 1 WHERE name = 'silences'",
        &[],
    )
    .await?;
    Ok(copied)
}
