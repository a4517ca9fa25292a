//! The crate's internal error, turned into a [`StoreError`] at the boundary.

use firebell_store::StoreError;
use tokio_postgres::error::SqlState;

#[derive(Debug)]
pub(crate) enum Error {
    Db(tokio_postgres::Error),
    /// A stored value could not be turned back into a domain value.
    Corrupt(String),
    /// Anything else: a value that could not be encoded, a refused input.
    Other(String),
    /// An error already in the contract's terms (from a shared helper).
    Store(StoreError),
}

pub(crate) type Result<T> = std::result::Result<T, Error>;

impl From<tokio_postgres::Error> for Error {
    fn from(e: tokio_postgres::Error) -> Self {
        Error::Db(e)
    }
}

impl From<StoreError> for Error {
    fn from(e: StoreError) -> Self {
        Error::Store(e)
    }
}

impl Error {
    /// PostgreSQL aborted the transaction to break a deadlock or a
    /// serialization conflict: running it again is the cure.
    pub(crate) fn is_transient(&self) -> bool {
        match self {
            Error::Db(e) => matches!(
                e.code(),
                Some(c) if *c == SqlState::T_R_DEADLOCK_DETECTED
                    || *c == SqlState::T_R_SERIALIZATION_FAILURE
            ),
            _ => false,
        }
    }
}

/// A driver error as one line: the server's message and code when the
/// server answered, else what went wrong with the connection.
pub fn describe(e: &tokio_postgres::Error) -> String {
    if let Some(db) = e.as_db_error() {
        return format!("{} ({})", db.message(), db.code().code());
    }
    match std::error::Error::source(e) {
        Some(cause) => format!("{e}: {cause}"),
        None => e.to_string(),
    }
}

/// The connection is gone or the server is going away: the server shutting
/// down or crashed (class 57P), a connection exception (class 08), or a
/// socket the driver found closed. Said as "database unreachable", as when
/// no connection can be made at all.
fn lost_connection(e: &tokio_postgres::Error) -> bool {
    match e.code() {
        Some(c) => {
            let c = c.code();
            c.starts_with("57P") || c.starts_with("08")
        }
        None => {
            e.is_closed() || std::error::Error::source(e).is_some_and(|s| s.is::<std::io::Error>())
        }
    }
}

impl From<Error> for StoreError {
    fn from(e: Error) -> Self {
        match e {
            Error::Db(e) if lost_connection(&e) => {
                StoreError::Backend(format!("database unreachable: {}", describe(&e)))
            }
            Error::Db(e) => StoreError::Backend(describe(&e)),
            Error::Corrupt(m) => StoreError::Corrupt(m),
            Error::Other(m) => StoreError::Backend(m),
            Error::Store(e) => e,
        }
    }
}

pub(crate) fn corrupt(what: &str, e: impl std::fmt::Display) -> Error {
    Error::Corrupt(format!("{what}: {e}"))
}
