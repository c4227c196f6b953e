//! SRU and HRU, asked from storaged over the bus: storaged owns the disks and knows which of
//! them are pools (SSD pools are SRU, HDD pools HRU; foreign disks, the boot medium and
//! removable disks count for nothing), so noded never looks at a disk itself.

use std::time::{Duration, Instant};

use zbus::Connection;
use zos_bus::storage::{self, Cache, StorageCapacity, StorageProxy};

use super::CapacityError;

/// How long one call to storaged may take.
pub const CALL_TIMEOUT: Duration = Duration::from_secs(30);

/// The node's storage capacity as storaged reports it.
pub async fn capacity(bus: &Connection) -> Result<StorageCapacity, CapacityError> {
    call(
        bus,
        "Capacity",
        |proxy| async move { proxy.capacity().await },
    )
    .await
}

/// The node's cache as storaged reports it.
pub async fn cache(bus: &Connection) -> Result<Cache, CapacityError> {
    call(bus, "Cache", |proxy| async move { proxy.cache().await }).await
}

/// Waits until storaged owns its bus name, logging every `report_every` while it does not.
/// Fails only when the broker cannot be asked (the bus is gone).
pub async fn wait_for_storaged(
    bus: &Connection,
    report_every: Duration,
) -> Result<(), zos_bus::inspect::InspectError> {
    let started = Instant::now();
    let mut reported = Instant::now();
    loop {
        if zos_bus::inspect::has_owner(bus, storage::NAME).await? {
            return Ok(());
        }
        if reported.elapsed() >= report_every {
            tracing::warn!(
                name = storage::NAME,
                waited_s = started.elapsed().as_secs(),
                "waiting for storaged: SRU and HRU come from it"
            );
            reported = Instant::now();
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

async fn call<T, F, Fut>(bus: &Connection, method: &'static str, op: F) -> Result<T, CapacityError>
where
    F: FnOnce(StorageProxy<'static>) -> Fut,
    Fut: std::future::Future<Output = Result<T, storage::StorageError>>,
{
    // busd never answers calls to a name nobody owns: ask the broker first.
    let owned = zos_bus::inspect::has_owner(bus, storage::NAME)
        .await
        .unwrap_or(false);
    if !owned {
        return Err(CapacityError::Storage(format!(
            "storaged ({}) is not on the bus",
            storage::NAME
        )));
    }
    let proxy = StorageProxy::new(bus).await.map_err(|e| {
        CapacityError::Storage(format!("storaged proxy: {e}", e = zos_base::Report(&e)))
    })?;
    match tokio::time::timeout(CALL_TIMEOUT, op(proxy)).await {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(error)) => Err(CapacityError::Storage(format!(
            "storaged {method} failed: {error}",
            error = zos_base::Report(&error)
        ))),
        Err(_) => Err(CapacityError::Storage(format!(
            "storaged did not answer {method} within {CALL_TIMEOUT:?}"
        ))),
    }
}
