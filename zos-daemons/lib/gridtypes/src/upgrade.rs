//! The diff between two versions of a deployment (zos `Deployment.Upgrade`, engine
//! `sortOperations`).
//!
//! Owns the update rules: same twin and contract, version = old + 1, new workloads at the new
//! version are added, existing ones at the new version are updated (type must not change),
//! others are untouched and keep their result, missing ones are removed. It must not apply
//! anything (the engine does).

use crate::{Deployment, ValidationError, WorkloadId, WorkloadType};

/// What the engine does to one workload.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OpKind {
    Remove,
    Add,
    Update,
}

impl std::fmt::Display for OpKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            OpKind::Remove => "remove",
            OpKind::Add => "add",
            OpKind::Update => "update",
        })
    }
}

/// One step of an update. `name` is the workload's name in the new deployment (for `Add`/`Update`)
/// or in the old one (for `Remove`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpgradeOp {
    pub kind: OpKind,
    pub id: WorkloadId,
    pub name: String,
    pub workload_type: WorkloadType,
}

/// Why an update is refused (zos's messages).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UpgradeError {
    #[error("new deployment is invalid")]
    Invalid(#[from] ValidationError),
    #[error("cannot change deployment or twin id")]
    IdChanged,
    #[error("expecting deployment version {expected}, got {got}")]
    Version { expected: u32, got: u32 },
    #[error("invalid version number for workload '{name}' expected '{expected}'")]
    NewWorkloadVersion { name: String, expected: u32 },
    #[error("cannot change workload type '{0}'")]
    TypeChanged(String),
    #[error("workload '{name}' of type '{workload_type}' does not support upgrade")]
    NotUpdatable {
        name: String,
        workload_type: WorkloadType,
    },
}

impl Deployment {
    /// zos's `Upgrade`: validates `new` as the next version of `self` and returns the ops, in
    /// order: adds/updates in `new`'s workload order, then removes in `self`'s order. Workloads
    /// that exist in both get the old result copied onto `new` (as zos does).
    ///
    /// Then the engine refuses the whole update if an `Update` op's type cannot be updated (see
    /// [`check_updatable`]); at deployment level only version, signature_requirement, description
    /// and metadata change.
    pub fn upgrade(&self, new: &mut Deployment) -> Result<Vec<UpgradeOp>, UpgradeError> {
        new.validate()?;
        if self.twin_id != new.twin_id || self.contract_id != new.contract_id {
            return Err(UpgradeError::IdChanged);
        }
        let expected = self.version.wrapping_add(1);
        if new.version != expected {
            return Err(UpgradeError::Version {
                expected,
                got: new.version,
            });
        }
        let mut ops = Vec::new();
        for wl in &mut new.workloads {
            // names were validated above
            let id = WorkloadId::new(new.twin_id, new.contract_id, &wl.name).map_err(|source| {
                ValidationError::InvalidName {
                    name: wl.name.clone(),
                    source,
                }
            })?;
            match self.get(&wl.name) {
                None if wl.version == expected => ops.push(UpgradeOp {
                    kind: OpKind::Add,
                    id,
                    name: wl.name.clone(),
                    workload_type: wl.workload_type.clone(),
                }),
                None => {
                    return Err(UpgradeError::NewWorkloadVersion {
                        name: wl.name.clone(),
                        expected,
                    })
                }
                Some(old) => {
                    if old.workload_type != wl.workload_type {
                        return Err(UpgradeError::TypeChanged(wl.name.clone()));
                    }
                    wl.result = old.result.clone();
                    if wl.version == expected {
                        ops.push(UpgradeOp {
                            kind: OpKind::Update,
                            id,
                            name: wl.name.clone(),
                            workload_type: wl.workload_type.clone(),
                        });
                    }
                }
            }
        }
        for old in &self.workloads {
            if new.get(&old.name).is_none() {
                ops.push(UpgradeOp {
                    kind: OpKind::Remove,
                    id: WorkloadId::new(self.twin_id, self.contract_id, &old.name).map_err(
                        |source| ValidationError::InvalidName {
                            name: old.name.clone(),
                            source,
                        },
                    )?,
                    name: old.name.clone(),
                    workload_type: old.workload_type.clone(),
                });
            }
        }
        Ok(ops)
    }
}

/// zos's engine check: an `Update` op whose type cannot be updated (by `can_update`, usually
/// [`WorkloadType::can_update`]) rejects the whole update.
pub fn check_updatable(
    ops: &[UpgradeOp],
    can_update: impl Fn(&WorkloadType) -> bool,
) -> Result<(), UpgradeError> {
    match ops
        .iter()
        .find(|op| op.kind == OpKind::Update && !can_update(&op.workload_type))
    {
        Some(op) => Err(UpgradeError::NotUpdatable {
            name: op.name.clone(),
            workload_type: op.workload_type.clone(),
        }),
        None => Ok(()),
    }
}

/// zos's `sortOperations`: removes first in reverse install order, then adds/updates in install
/// order (stable within a type).
pub fn sort_ops(ops: &mut [UpgradeOp]) {
    ops.sort_by_key(|op| match op.kind {
        OpKind::Remove => -i32::from(op.workload_type.install_rank()) - 1,
        OpKind::Add | OpKind::Update => i32::from(op.workload_type.install_rank()) + 1,
    });
}
