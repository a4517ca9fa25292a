//! The crate's internal error, turned into a [`StoreError`] at the boundary.

use firebell_store::StoreError;

#[derive(Debug)]
pub(crate) enum Error {
    Db(rusqlite::Error),
    /// A stored value could not be turned back into a domain value.
    Corrupt(String),
    /// Anything else: a value that could not be encoded, a bad setting.
    Other(String),
    /// An error already in the contract's terms (from a shared helper).
    Store(StoreError),
}

impl From<StoreError> for Error {
    fn from(e: StoreError) -> Self {
        Error::Store(e)
    }
}

pub(crate) type Result<T> = std::result::Result<T, Error>;

impl From<rusqlite::Error> for Error {
    fn from(e: rusqlite::Error) -> Self {
        Error::Db(e)
    }
}

impl From<Error> for StoreError {
    fn from(e: Error) -> Self {
        match e {
            Error::Db(
                e @ (rusqlite::Error::FromSqlConversionFailure(..)
                | rusqlite::Error::InvalidColumnType(..)
                | rusqlite::Error::IntegralValueOutOfRange(..)),
            ) => StoreError::Corrupt(e.to_string()),
            Error::Db(e) => StoreError::Backend(e.to_string()),
            Error::Corrupt(m) => StoreError::Corrupt(m),
            Error::Other(m) => StoreError::Backend(m),
            Error::Store(e) => e,
        }
    }
}

pub(crate) fn corrupt(what: &str, e: impl std::fmt::Display) -> Error {
    Error::Corrupt(format!("{what}: {e}"))
}
