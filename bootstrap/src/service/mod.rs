//! What the supervisor knows about one service: its state machine and its restart policy.
//!
//! Pure data and rules; no processes are started here (see `process`) and no I/O is done.

pub mod backoff;
pub mod state;
