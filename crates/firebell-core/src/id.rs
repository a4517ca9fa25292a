//! Ids from the configuration (users, policies, services, schedules):
//! [`Id`], made only by parsing. A leaf: it imports nothing of this crate.

use std::borrow::Borrow;
use std::fmt;
use std::ops::Deref;

/// An id as written in the configuration (`alice`, `checkout`,
/// `ops-24x7`): 1–64 ASCII letters, digits, `-`, `_` or `.`. Made only by
/// [`Id::parse`], so every user, policy and service id in a loaded
/// configuration is one that can appear in a URL path and a log line as it is.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Id(String);

/// What an id may be, for hints.
pub const ID_RULE: &str = "use 1-64 letters, digits, '-', '_' or '.'";

impl Id {
    pub fn parse(text: &str) -> Result<Self, String> {
        let ok = !text.is_empty()
            && text.len() <= 64
            && text
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.');
        if ok {
            Ok(Self(text.to_string()))
        } else {
            Err(format!("{text:?} is not a valid id"))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl Deref for Id {
    type Target = str;
    fn deref(&self) -> &str {
        &self.0
    }
}

impl Borrow<str> for Id {
    fn borrow(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Id {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl PartialEq<str> for Id {
    fn eq(&self, other: &str) -> bool {
        self.0 == other
    }
}

impl PartialEq<&str> for Id {
    fn eq(&self, other: &&str) -> bool {
        self.0 == *other
    }
}

impl PartialEq<String> for Id {
    fn eq(&self, other: &String) -> bool {
        &self.0 == other
    }
}

impl serde::Serialize for Id {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

impl PartialEq<Id> for String {
    fn eq(&self, other: &Id) -> bool {
        *self == other.0
    }
}

impl PartialEq<Id> for &str {
    fn eq(&self, other: &Id) -> bool {
        *self == other.0
    }
}

impl PartialEq<Id> for str {
    fn eq(&self, other: &Id) -> bool {
        self == other.0
    }
}

impl From<Id> for String {
    fn from(id: Id) -> String {
        id.0
    }
}

#[cfg(test)]
mod tests {
    use super::Id;

    #[test]
    fn only_valid_ids_parse() {
        for good in ["alice", "ops-24x7", "a.b_c", &"x".repeat(64)] {
            assert_eq!(Id::parse(good).unwrap().as_str(), good);
        }
        for bad in ["", "has space", "ümlaut", "a/b", &"x".repeat(65)] {
            assert!(Id::parse(bad).is_err(), "{bad:?}");
        }
    }
}
