//! Chain events and reconciliation: the node follows TFChain's finalized blocks and reacts to
//! its contracts' life (as zos's `provisiond/events.go`):
//! - node contract cancelled → deprovision everything of it;
//! - grace period started (the owner ran out of funds) → pause its workloads; ended → resume.
//!
//! The next block to read is persisted in the store after every event, so events missed while
//! provisiond was down or the node rebooting are caught up. A periodic reconciliation (at start
//! and every [`RECONCILE_EVERY`]) compares the stored active deployments with the node's
//! contracts on chain: a deployment whose contract is gone is deprovisioned, and the pause state
//! follows the contract's grace period.

use std::sync::Arc;
use std::time::Duration;

use zos_chain::NodeEvent;

use crate::engine::{Engine, EngineError};
use crate::store::JobKind;

/// How often stored deployments are compared with the chain.
pub const RECONCILE_EVERY: Duration = Duration::from_secs(60 * 60);
/// The store key of the next block to read.
pub const NEXT_BLOCK_KEY: &str = "next_block";

/// The job a chain event asks of this node, if any.
pub fn job_for(event: &NodeEvent, node_id: u32) -> Option<(u64, JobKind)> {
    match *event {
        NodeEvent::NodeContractCanceled {
            contract_id,
            node_id: node,
            ..
        } if node == node_id => Some((
            contract_id,
            JobKind::Deprovision {
                reason: "contract canceled event received".into(),
            },
        )),
        NodeEvent::ContractGracePeriodStarted {
            contract_id,
            node_id: node,
            ..
        } if node == node_id => Some((contract_id, JobKind::Pause)),
        NodeEvent::ContractGracePeriodEnded {
            contract_id,
            node_id: node,
            ..
        } if node == node_id => Some((contract_id, JobKind::Resume)),
        _ => None,
    }
}

/// Follows the chain's events forever, from the persisted next block (or from now).
pub async fn follow(engine: Arc<Engine>) {
    loop {
        let from = engine
            .meta(NEXT_BLOCK_KEY)
            .await
            .ok()
            .flatten()
            .and_then(|v| v.parse::<u64>().ok());
        let mut stream = match engine.chain().chain().subscribe_events(from).await {
            Ok(stream) => stream,
            Err(error) => {
                tracing::warn!(%error, "cannot follow the chain's events; retrying");
                tokio::time::sleep(Duration::from_secs(5)).await;
                continue;
            }
        };
        tracing::info!(from = stream.next_block(), "following the chain's events");
        while let Some(event) = stream.next().await {
            let event = match event {
                Ok(event) => event,
                Err(error) => {
                    tracing::warn!(%error, "an event could not be decoded");
                    continue;
                }
            };
            if let Some((contract, job)) = event
                .kind
                .as_ref()
                .and_then(|k| job_for(k, engine.node_id()))
            {
                tracing::info!(contract, ?job, block = event.block_number, "contract event");
                if let Err(error) = engine.enqueue(contract, job).await {
                    tracing::error!(contract, %error, "cannot queue the event's job");
                }
            }
            let next = stream.next_block().max(event.block_number + 1);
            if let Err(error) = engine.set_meta(NEXT_BLOCK_KEY, &next.to_string()).await {
                tracing::error!(%error, "cannot persist the next block");
            }
        }
    }
}

/// Compares the stored active deployments with the chain once; returns how many jobs it queued.
pub async fn reconcile(engine: &Engine) -> Result<usize, EngineError> {
    let on_chain = engine.chain().node_contracts(engine.node_id()).await?;
    let mut queued = 0;
    for d in engine.active().await? {
        let job = if !on_chain.contains(&d.contract_id) {
            Some(JobKind::Deprovision {
                reason: "contract not active on chain".into(),
            })
        } else {
            let grace = engine.chain().in_grace_period(d.contract_id).await?;
            let paused = d
                .workloads
                .iter()
                .any(|w| w.result.state == gridtypes::ResultState::Paused);
            let running = d
                .workloads
                .iter()
                .any(|w| w.result.state == gridtypes::ResultState::Ok);
            match (grace, paused, running) {
                (true, _, true) => Some(JobKind::Pause),
                (false, true, _) => Some(JobKind::Resume),
                _ => None,
            }
        };
        if let Some(job) = job {
            tracing::info!(contract = d.contract_id, ?job, "reconciliation");
            if engine.enqueue(d.contract_id, job).await? {
                queued += 1;
            }
        }
    }
    Ok(queued)
}

/// Reconciles at start and every [`RECONCILE_EVERY`], forever.
pub async fn keep_reconciling(engine: Arc<Engine>) {
    loop {
        match reconcile(&engine).await {
            Ok(queued) => tracing::debug!(queued, "reconciled with the chain"),
            Err(error) => tracing::warn!(%error, "cannot reconcile with the chain"),
        }
        tokio::time::sleep(RECONCILE_EVERY).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_this_nodes_contracts_make_jobs() {
        let cancel = |node| NodeEvent::NodeContractCanceled {
            contract_id: 9,
            node_id: node,
            twin_id: 3,
        };
        assert!(matches!(
            job_for(&cancel(1), 1),
            Some((9, JobKind::Deprovision { .. }))
        ));
        assert_eq!(job_for(&cancel(2), 1), None);
        let started = NodeEvent::ContractGracePeriodStarted {
            contract_id: 4,
            node_id: 1,
            twin_id: 3,
        };
        assert_eq!(job_for(&started, 1), Some((4, JobKind::Pause)));
        let ended = NodeEvent::ContractGracePeriodEnded {
            contract_id: 4,
            node_id: 1,
            twin_id: 3,
        };
        assert_eq!(job_for(&ended, 1), Some((4, JobKind::Resume)));
        assert_eq!(
            job_for(&NodeEvent::RentContractCanceled { contract_id: 4 }, 1),
            None
        );
    }
}
