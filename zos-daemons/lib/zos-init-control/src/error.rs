//! What the init answers when it refuses a command. The texts are zinit's own, byte for byte:
//! zos (and scripts written for zinit) decide on them, so [`ControlError::from_message`] reads
//! them back into the same variants on the client side.

/// A refusal of the init, as sent in the body of an `error` reply.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ControlError {
    #[error("service name {0:?} unknown")]
    UnknownService(String),
    #[error("service {0:?} already monitored")]
    AlreadyMonitored(String),
    #[error("service {0:?} is up")]
    IsUp(String),
    #[error("service {0:?} is down")]
    IsDown(String),
    #[error("zinit is shutting down")]
    ShuttingDown,
    /// The line is not a command of the protocol (`unknown command 'x' or wrong arguments count`,
    /// an unknown signal).
    #[error("{0}")]
    BadCommand(String),
    /// Anything else the init reports (a service file that does not load, a signal that cannot
    /// be sent), in its own words.
    #[error("{0}")]
    Failed(String),
}

impl ControlError {
    /// The refusal a reply body names; unrecognised texts stay [`ControlError::Failed`].
    pub fn from_message(message: &str) -> ControlError {
        let quoted = |prefix: &str, suffix: &str| {
            let inner = message.strip_prefix(prefix)?.strip_suffix(suffix)?;
            serde_json::from_str::<String>(inner).ok()
        };
        if let Some(name) = quoted("service name ", " unknown") {
            ControlError::UnknownService(name)
        } else if let Some(name) = quoted("service ", " already monitored") {
            ControlError::AlreadyMonitored(name)
        } else if let Some(name) = quoted("service ", " is up") {
            ControlError::IsUp(name)
        } else if let Some(name) = quoted("service ", " is down") {
            ControlError::IsDown(name)
        } else if message == "zinit is shutting down" {
            ControlError::ShuttingDown
        } else if message.starts_with("unknown command ") || message.starts_with("unknown signal ")
        {
            ControlError::BadCommand(message.to_string())
        } else {
            ControlError::Failed(message.to_string())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn texts_are_zinits_and_read_back() {
        let cases = [
            (
                ControlError::UnknownService("foo".into()),
                r#"service name "foo" unknown"#,
            ),
            (
                ControlError::AlreadyMonitored("zdb".into()),
                r#"service "zdb" already monitored"#,
            ),
            (ControlError::IsUp("a b".into()), r#"service "a b" is up"#),
            (ControlError::IsDown("x".into()), r#"service "x" is down"#),
            (ControlError::ShuttingDown, "zinit is shutting down"),
            (
                ControlError::BadCommand("unknown command 'frob' or wrong arguments count".into()),
                "unknown command 'frob' or wrong arguments count",
            ),
            (
                ControlError::Failed("cannot read /etc/zinit/x.yaml".into()),
                "cannot read /etc/zinit/x.yaml",
            ),
        ];
        for (error, text) in cases {
            assert_eq!(zos_base::report(&error), text);
            assert_eq!(ControlError::from_message(text), error);
        }
    }
}
