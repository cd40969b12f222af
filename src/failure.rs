//! Why a bag failed, and whether running it again could help.
//!
//! The Lambda answers differently for the two: a retryable failure
//! (throttling, a storage error, a dropped connection) goes back to the
//! queue for another try; a permanent one (a missing object, a file that is
//! not a bag, a `bag_file` conflict, a configuration that names a field
//! the messages lack) would fail the same way again, so it is only
//! recorded.

use std::fmt;
use std::io;

/// A bag's failure.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    pub message: String,
    pub retryable: bool,
}

impl Failure {
    /// A failure that running again would repeat.
    pub fn permanent(message: impl Into<String>) -> Failure {
        Failure {
            message: message.into(),
            retryable: false,
        }
    }

    /// A failure of a service or storage that may pass.
    pub fn transient(message: impl Into<String>) -> Failure {
        Failure {
            message: message.into(),
            retryable: true,
        }
    }

    /// An I/O error of storage or a service, in `context`: retryable unless
    /// it says the thing is missing or invalid.
    pub fn io(context: impl fmt::Display, e: &io::Error) -> Failure {
        Failure {
            message: format!("{context}: {e}"),
            retryable: Failure::io_is_retryable(e),
        }
    }

    /// Whether an I/O error of storage or a service may pass: all but
    /// those saying the thing is missing or invalid.
    pub fn io_is_retryable(e: &io::Error) -> bool {
        !matches!(
            e.kind(),
            io::ErrorKind::NotFound
                | io::ErrorKind::InvalidInput
                | io::ErrorKind::InvalidData
                | io::ErrorKind::Unsupported
        )
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_or_invalid_is_permanent_the_rest_retryable() {
        let missing = io::Error::new(io::ErrorKind::NotFound, "no such key");
        let f = Failure::io("reading s3://b/k.bag", &missing);
        assert!(!f.retryable);
        assert_eq!(f.to_string(), "reading s3://b/k.bag: no such key");
        let slow = io::Error::other("503 SlowDown");
        assert!(Failure::io("writing", &slow).retryable);
    }
}
