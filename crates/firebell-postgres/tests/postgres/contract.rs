//! The shared storage contract, on a real PostgreSQL server (one server for
//! the test binary, a fresh database per test).

/// A fresh database's URL (see [`fresh_store`]).
pub async fn fresh_url() -> Option<String> {
    tokio::task::spawn_blocking(firebell_postgres::testing::fresh_database)
        .await
        .unwrap()
}

/// A store on a fresh database, or `None` when PostgreSQL is not installed
/// (and `CI` is not set): the test then passes after a loud message.
pub async fn fresh_store() -> Option<firebell_postgres::PgStore> {
    let url = fresh_url().await?;
    Some(firebell_postgres::PgStore::connect(&url, 4).await.unwrap())
}

firebell_store::store_contract_tests!(async { fresh_store().await.map(|s| (s, ())) });
