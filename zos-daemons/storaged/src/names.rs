//! The naming rules for volumes and virtual disks, checked before any path is built from a name.
//!
//! A name is 1 to [`MAX_LEN`] characters of `[A-Za-z0-9_-]` and does not start with `-`. So a
//! name can never contain `/`, `.` or `..`, and never collides with the in-progress suffix
//! [`PARTIAL_SUFFIX`] (which has a dot) or with the reserved subvolumes [`VDISKS`] and [`CACHE`].

/// Longest name accepted.
pub const MAX_LEN: usize = 128;

/// Suffix of a volume or virtual disk being created (removed at start, never reported).
pub const PARTIAL_SUFFIX: &str = ".partial";

/// The subvolume of each pool that holds the virtual disks.
pub const VDISKS: &str = "vdisks";

/// The subvolume of one pool that holds the node's cache (see [`crate::cache`]).
pub const CACHE: &str = "zos-cache";

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NameError {
    #[error("name is empty")]
    Empty,
    #[error("name {0:?} is longer than {MAX_LEN} characters")]
    TooLong(String),
    #[error("name {0:?} may only hold letters, digits, '_' and '-'")]
    BadCharacter(String),
    #[error("name {0:?} may not start with '-'")]
    LeadingDash(String),
    #[error("name {0:?} is reserved")]
    Reserved(String),
}

/// Checks `name` against the rules.
pub fn validate(name: &str) -> Result<(), NameError> {
    if name.is_empty() {
        return Err(NameError::Empty);
    }
    if name.len() > MAX_LEN {
        return Err(NameError::TooLong(name.chars().take(MAX_LEN).collect()));
    }
    if !name
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
    {
        return Err(NameError::BadCharacter(name.to_string()));
    }
    if name.starts_with('-') {
        return Err(NameError::LeadingDash(name.to_string()));
    }
    if name == VDISKS || name == CACHE {
        return Err(NameError::Reserved(name.to_string()));
    }
    Ok(())
}

/// The in-progress name for `name`.
pub fn partial(name: &str) -> String {
    format!("{name}{PARTIAL_SUFFIX}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn good_names() {
        for name in ["a", "vol-1", "Z_9", &"x".repeat(MAX_LEN)] {
            assert_eq!(validate(name), Ok(()), "{name}");
        }
    }

    #[test]
    fn bad_names() {
        assert_eq!(validate(""), Err(NameError::Empty));
        assert!(matches!(
            validate(&"x".repeat(MAX_LEN + 1)),
            Err(NameError::TooLong(_))
        ));
        for name in ["a/b", "..", ".", "a.partial", "a b", "é", "a\0", "/etc"] {
            assert!(
                matches!(validate(name), Err(NameError::BadCharacter(_))),
                "{name}"
            );
        }
        assert!(matches!(validate("-x"), Err(NameError::LeadingDash(_))));
        assert!(matches!(validate(VDISKS), Err(NameError::Reserved(_))));
        assert!(matches!(validate(CACHE), Err(NameError::Reserved(_))));
    }
}
