//! Uptime reports: `report_uptime_v2(uptime, hint)` right after the node is registered and then
//! every `interval` (zos: 40 min). The uptime is the first field of `<proc>/uptime`; the hint is
//! the chain's own time (`Timestamp.Now`, which the chain client reads), because the runtime
//! rejects a hint far from chain time.
//!
//! Failures are logged and retried with backoff; a failure that is an answer of the chain (not a
//! lost connection), e.g. the account or node gone after a chain reset, asks the registrar for an
//! early re-check. It signs with the node's key only and writes nothing.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{watch, Notify};
use zos_chain::Signer;

use crate::registrar::Registered;
use crate::timing::Backoff;

#[derive(Debug, thiserror::Error)]
pub enum UptimeError {
    #[error("cannot read {path}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path} does not start with the uptime in seconds: {text:?}")]
    Parse { path: PathBuf, text: String },
}

/// Seconds since boot, from `<proc>/uptime` (`"12345.67 54321.00"`).
pub fn read_uptime(proc_root: &Path) -> Result<u64, UptimeError> {
    let path = proc_root.join("uptime");
    let text = std::fs::read_to_string(&path).map_err(|source| UptimeError::Read {
        path: path.clone(),
        source,
    })?;
    parse_uptime(&text).ok_or(UptimeError::Parse {
        path,
        text: text.trim().to_string(),
    })
}

fn parse_uptime(text: &str) -> Option<u64> {
    let first = text.split_whitespace().next()?;
    let seconds: f64 = first.parse().ok()?;
    (seconds.is_finite() && seconds >= 0.0).then_some(seconds as u64)
}

/// The reporter's settings.
#[derive(Debug, Clone)]
pub struct Settings {
    pub interval: Duration,
    pub retry_initial: Duration,
    pub retry_max: Duration,
    pub proc_root: PathBuf,
}

/// Reports uptime for as long as the process runs (returns when the registrar is gone).
pub async fn run(
    settings: Settings,
    signer: Signer,
    mut registered: watch::Receiver<Option<Registered>>,
    recheck: Arc<Notify>,
) {
    let mut backoff = Backoff::new(settings.retry_initial, settings.retry_max);
    loop {
        let reg = match registered.wait_for(Option::is_some).await {
            Ok(r) => r.clone(),
            Err(_) => return,
        };
        let Some(Registered { chain, node_id }) = reg else {
            continue;
        };
        let result = match read_uptime(&settings.proc_root) {
            Ok(uptime) => chain
                .report_uptime(&signer, uptime)
                .await
                .map(|()| uptime)
                .map_err(|e| (e.is_connection(), zos_base::report(&e))),
            Err(e) => Err((true, zos_base::report(&e))),
        };
        let wait = match result {
            Ok(uptime) => {
                backoff.reset();
                tracing::info!(node_id, uptime, "uptime reported");
                settings.interval
            }
            Err((transient, error)) => {
                let delay = backoff.next_delay();
                tracing::error!(
                    node_id,
                    retry_in_ms = delay.as_millis() as u64,
                    "uptime report failed: {error}"
                );
                if !transient {
                    // The chain answered: the registration may be gone (reset chain, emptied
                    // account). Let the registrar look now.
                    recheck.notify_one();
                }
                delay
            }
        };
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            changed = registered.changed() => {
                if changed.is_err() {
                    return;
                }
                // Newly registered: report right away.
                backoff.reset();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_proc_uptime() {
        assert_eq!(parse_uptime("12345.67 54321.00\n"), Some(12345));
        assert_eq!(parse_uptime("0.50 0.10"), Some(0));
        assert_eq!(parse_uptime(""), None);
        assert_eq!(parse_uptime("abc 1"), None);
        assert_eq!(parse_uptime("-3.0 1"), None);
    }

    #[test]
    fn reads_the_host_uptime() {
        let up = read_uptime(Path::new("/proc")).expect("host /proc/uptime");
        assert!(up > 0);
        let err = read_uptime(Path::new("/nonexistent-proc")).unwrap_err();
        assert!(
            zos_base::report(&err).contains("/nonexistent-proc/uptime"),
            "{err}"
        );
    }
}
