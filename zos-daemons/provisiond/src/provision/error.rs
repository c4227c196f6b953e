//! What a workload manager reports when it cannot do what a workload asks; the engine records it
//! as the workload's `error` (or `unchanged`) message, which the deployment's owner reads.

use gridtypes::WorkloadType;
use zos_bus::storage::StorageError;

#[derive(Debug, thiserror::Error)]
pub enum ProvisionError {
    #[error("this node cannot run {0} workloads yet")]
    Unsupported(WorkloadType),
    #[error("invalid workload data: {0}")]
    Data(String),
    /// A daemon or process the manager needs failed (its words).
    #[error("{0}")]
    Storage(String),
    /// The request cannot be met as asked (no room, a shrink, a mode change).
    #[error("{0}")]
    Refused(String),
}

impl From<StorageError> for ProvisionError {
    fn from(error: StorageError) -> Self {
        match error {
            StorageError::NoSpace(m) | StorageError::InvalidArgument(m) => {
                ProvisionError::Refused(m)
            }
            other => ProvisionError::Storage(other.to_string()),
        }
    }
}
