//! The shared storage contract, on SQLite.

firebell_store::store_contract_tests!(async {
    let dir = tempfile::tempdir().unwrap();
    (firebell_sqlite::SqliteStore::open(dir.path()).unwrap(), dir)
});
