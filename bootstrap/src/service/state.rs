//! zinit's service states and targets, printed exactly as zinit prints them on the wire
//! (`Running`, `Error(Exited(Pid(123), 1))`), because zos parses those strings.

use std::fmt;

use nix::sys::wait::WaitStatus;

/// What the operator wants: the service running (`Up`) or not (`Down`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    Up,
    Down,
}

/// Where the service is in its life cycle.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    /// Known but not acted on yet.
    Unknown,
    /// Waiting for its `after` dependencies (or one of them is unknown).
    Blocked,
    /// Process started, readiness not yet confirmed.
    Spawned,
    /// Ready (test passed, socket accepts, bus name owned), or a live oneshot.
    Running,
    /// Exited with status 0.
    Success,
    /// Exited otherwise.
    Error(WaitStatus),
    /// The readiness test could not be run at all.
    TestFailure,
    /// The process could not be spawned.
    Failure,
}

impl State {
    /// True when dependents of a service in this state may start.
    pub fn satisfies_dependents(self, oneshot: bool) -> bool {
        if oneshot {
            self == State::Success
        } else {
            self == State::Running
        }
    }
}

impl fmt::Display for State {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            State::Error(status) => write!(f, "Error({status:?})"),
            other => write!(f, "{other:?}"),
        }
    }
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{self:?}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use nix::unistd::Pid;

    #[test]
    fn wire_spelling_matches_zinit() {
        assert_eq!(State::Running.to_string(), "Running");
        assert_eq!(
            State::Error(WaitStatus::Exited(Pid::from_raw(123), 1)).to_string(),
            "Error(Exited(Pid(123), 1))"
        );
        assert_eq!(Target::Up.to_string(), "Up");
    }

    #[test]
    fn dependency_rule() {
        assert!(State::Running.satisfies_dependents(false));
        assert!(!State::Running.satisfies_dependents(true));
        assert!(State::Success.satisfies_dependents(true));
        assert!(!State::Success.satisfies_dependents(false));
    }
}
