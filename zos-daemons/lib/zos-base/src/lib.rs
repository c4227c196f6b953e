//! The helpers every crate of the node needs, written once: [`write_atomic`] (a file
//! replaced whole or not at all, surviving a power cut once it returns), [`report`] (an
//! error with its causes, on one line) and [`human`] (bytes for people).
//!
//! No dependency beyond std: the zdb server and PID 1 use it too.

mod fs;
mod report;
mod size;

pub use fs::write_atomic;
pub use report::{report, Report};
pub use size::human;
