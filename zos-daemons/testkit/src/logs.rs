//! Test logs: tracing to the test's captured output, filtered by `RUST_LOG` or by the test's
//! default (`"provisiond=info,zos_chain=warn"`), installed once per test binary.

/// Installs the subscriber (later calls do nothing).
pub fn init(default_filter: &str) {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| default_filter.into()),
        )
        .with_test_writer()
        .try_init();
}
