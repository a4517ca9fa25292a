//! Statements through the connection's prepared-statement cache.

use crate::error::Result;
use deadpool_postgres::GenericClient;
use tokio_postgres::Row;
use tokio_postgres::types::ToSql;

pub(crate) type Params<'a> = &'a [&'a (dyn ToSql + Sync)];

pub(crate) async fn query<C: GenericClient>(c: &C, sql: &str, p: Params<'_>) -> Result<Vec<Row>> {
    let st = c.prepare_cached(sql).await?;
    Ok(c.query(&st, p).await?)
}

pub(crate) async fn query_opt<C: GenericClient>(
    c: &C,
    sql: &str,
    p: Params<'_>,
) -> Result<Option<Row>> {
    let st = c.prepare_cached(sql).await?;
    Ok(c.query_opt(&st, p).await?)
}

pub(crate) async fn query_one<C: GenericClient>(c: &C, sql: &str, p: Params<'_>) -> Result<Row> {
    let st = c.prepare_cached(sql).await?;
    Ok(c.query_one(&st, p).await?)
}

/// Runs a statement; returns how many rows it changed.
pub(crate) async fn exec<C: GenericClient>(c: &C, sql: &str, p: Params<'_>) -> Result<u64> {
    let st = c.prepare_cached(sql).await?;
    Ok(c.execute(&st, p).await?)
}

/// Converts every row.
pub(crate) fn collect<T>(rows: Vec<Row>, f: impl Fn(&Row) -> Result<T>) -> Result<Vec<T>> {
    rows.iter().map(f).collect()
}
