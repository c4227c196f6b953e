//! The engine: zos's `CreateOrUpdate`, job loop and deprovisioning.
//!
//! A request (deploy or update) is checked completely before anything is stored: structure and
//! version rules, the caller is the deployment's twin, every signature against the twins' keys
//! on chain, the node contract (exists, this node, this twin, same hash), and capacity. A request
//! that fails any check changes nothing. An accepted one is stored with a job in one
//! transaction; the job loop then installs the workloads in zos's order (zmount, volume, qsfs,
//! network, ipv4, ip, zmachine, zlogs, then the rest; zmounts and volumes by size, largest
//! first) and records each result. Jobs survive restarts; after a reboot every active
//! deployment is provisioned again (idempotently: the managers find what exists).
//!
//! Owns the order of operations and the results; the managers ([`crate::provision`]) do the
//! work, the store ([`crate::store`]) keeps it, the chain view ([`crate::chain`]) answers.

use std::cmp::Reverse;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use gridtypes::{
    check_updatable, sort_ops, Deployment, OpKind, ResultState, Timestamp, Workload,
    WorkloadResult, WorkloadType,
};
use tokio::sync::{Mutex, Notify};
use zbus::Connection;
use zos_bus::node::ContractUsage;
use zos_bus::NodeProxy;

use crate::capacity::{self, Accounting, CapacityError};
use crate::chain::{ChainView, CheckError};
use crate::kyc::Kyc;
use crate::provision::zdb::ZdbSetup;
use crate::provision::Provisioners;
use crate::store::{Job, JobKind, Store, StoreError};

/// How many times a consumption report is tried, and how far apart (as zos).
pub const REPORT_TRIES: u32 = 4;
pub const REPORT_RETRY: Duration = Duration::from_secs(6);

#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error("invalid deployment: {0}")]
    Invalid(String),
    #[error("{0}")]
    Unauthorized(String),
    #[error(transparent)]
    Contract(#[from] CheckError),
    #[error("not enough capacity: {0}")]
    Capacity(String),
    #[error("deployment with contract {0} exists already")]
    Exists(u64),
    #[error("deployment not found")]
    NotFound,
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("{0}")]
    Bus(String),
}

impl From<CapacityError> for EngineError {
    fn from(error: CapacityError) -> Self {
        match error {
            CapacityError::NoRoom(m) => EngineError::Capacity(m),
            other => EngineError::Bus(zos_base::report(&other)),
        }
    }
}

/// The engine's view of the node.
#[derive(Debug)]
pub struct Engine {
    store: Mutex<Store>,
    chain: ChainView,
    provisioners: Provisioners,
    capacity: Accounting,
    bus: Connection,
    node_id: u32,
    kyc: Option<Kyc>,
    wake: Notify,
}

fn now() -> Timestamp {
    Timestamp(
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs() as i64)
            .unwrap_or(0),
    )
}

/// The install order of a deployment's workloads: type rank, then zmounts and volumes by size,
/// largest first (as zos).
fn install_order(d: &Deployment) -> Vec<Workload> {
    let mut order = d.workloads.clone();
    order.sort_by_key(|w| {
        let size = match w.workload_type {
            WorkloadType::ZMount | WorkloadType::Volume => w.capacity().map(|c| c.sru).unwrap_or(0),
            _ => 0,
        };
        (w.workload_type.install_rank(), Reverse(size))
    });
    order
}

fn same_result(a: &WorkloadResult, b: &WorkloadResult) -> bool {
    a.state == b.state && a.data == b.data && a.message == b.message
}

impl Engine {
    pub fn new(
        store: Store,
        chain: ChainView,
        bus: Connection,
        node_id: u32,
        kyc: Option<Kyc>,
        zdb: ZdbSetup,
    ) -> Arc<Engine> {
        Arc::new(Engine {
            store: Mutex::new(store),
            chain,
            provisioners: Provisioners::new(bus.clone(), zdb),
            capacity: Accounting::new(bus.clone()),
            bus,
            node_id,
            kyc,
            wake: Notify::new(),
        })
    }

    pub fn node_id(&self) -> u32 {
        self.node_id
    }

    /// The node's capacity accounting, which admission uses too.
    pub fn capacity(&self) -> &Accounting {
        &self.capacity
    }

    pub fn chain(&self) -> &ChainView {
        &self.chain
    }

    // ---- requests ----

    /// `zos.deployment.deploy`: checks everything, then stores and queues the deployment.
    pub async fn deploy(&self, caller: u32, mut d: Deployment) -> Result<(), EngineError> {
        d.validate_create()
            .map_err(|e| EngineError::Invalid(zos_base::report(&e)))?;
        self.authorize(caller, &d).await?;
        if self.store.lock().await.deployment(d.contract_id)?.is_some() {
            return Err(EngineError::Exists(d.contract_id));
        }
        self.chain.check_contract(&d, self.node_id).await?;
        self.admit(&d, None).await?;
        let created = now();
        for w in &mut d.workloads {
            w.result = WorkloadResult::new(ResultState::Init, created);
        }
        self.store.lock().await.create(&d).map_err(|e| match e {
            StoreError::Exists(c) => EngineError::Exists(c),
            other => other.into(),
        })?;
        tracing::info!(
            contract = d.contract_id,
            twin = d.twin_id,
            workloads = d.workloads.len(),
            "deployment accepted"
        );
        self.wake.notify_one();
        Ok(())
    }

    /// `zos.deployment.update`: the next version of an active deployment of the caller.
    pub async fn update(&self, caller: u32, new: Deployment) -> Result<(), EngineError> {
        new.validate()
            .map_err(|e| EngineError::Invalid(zos_base::report(&e)))?;
        self.authorize(caller, &new).await?;
        let old = self.own_active(caller, new.contract_id).await?;
        let mut probe = new.clone();
        let ops = old
            .upgrade(&mut probe)
            .map_err(|e| EngineError::Invalid(zos_base::report(&e)))?;
        // This node updates what it can provision: volumes, zmounts and zdb namespaces.
        check_updatable(&ops, |t| {
            matches!(
                t,
                WorkloadType::Volume | WorkloadType::ZMount | WorkloadType::Zdb
            )
        })
        .map_err(|e| EngineError::Invalid(zos_base::report(&e)))?;
        self.chain.check_contract(&new, self.node_id).await?;
        self.admit(&new, Some(&old)).await?;
        self.store
            .lock()
            .await
            .enqueue(new.contract_id, &JobKind::Update(Box::new(new.clone())))?;
        tracing::info!(
            contract = new.contract_id,
            version = new.version,
            "update accepted"
        );
        self.wake.notify_one();
        Ok(())
    }

    /// `zos.deployment.get`: the caller's deployment (active or not).
    pub async fn get(&self, caller: u32, contract_id: u64) -> Result<Deployment, EngineError> {
        match self.store.lock().await.deployment(contract_id)? {
            Some((d, _)) if d.twin_id == caller => Ok(d),
            _ => Err(EngineError::NotFound),
        }
    }

    /// `zos.deployment.list`: the caller's active deployments.
    pub async fn list(&self, caller: u32) -> Result<Vec<Deployment>, EngineError> {
        Ok(self.store.lock().await.active(Some(caller))?)
    }

    /// `zos.deployment.changes`: every result change of the caller's deployment.
    pub async fn changes(
        &self,
        caller: u32,
        contract_id: u64,
    ) -> Result<Vec<Workload>, EngineError> {
        self.get(caller, contract_id).await?;
        Ok(self.store.lock().await.changes(contract_id)?)
    }

    pub async fn meta(&self, key: &str) -> Result<Option<String>, EngineError> {
        Ok(self.store.lock().await.meta(key)?)
    }

    pub async fn set_meta(&self, key: &str, value: &str) -> Result<(), EngineError> {
        Ok(self.store.lock().await.set_meta(key, value)?)
    }

    /// Every active deployment (statistics, reconciliation).
    pub async fn active(&self) -> Result<Vec<Deployment>, EngineError> {
        Ok(self.store.lock().await.active(None)?)
    }

    /// Queues a job for a stored deployment (chain events, reconciliation); unknown contracts
    /// are ignored.
    pub async fn enqueue(&self, contract_id: u64, kind: JobKind) -> Result<bool, EngineError> {
        let mut store = self.store.lock().await;
        if store
            .deployment(contract_id)?
            .is_none_or(|(_, active)| !active)
        {
            return Ok(false);
        }
        store.enqueue(contract_id, &kind)?;
        drop(store);
        self.wake.notify_one();
        Ok(true)
    }

    /// After a (re)start: provision every active deployment again and report its consumption.
    pub async fn requeue_active(&self) -> Result<usize, EngineError> {
        let active = self.active().await?;
        for d in &active {
            self.store
                .lock()
                .await
                .enqueue(d.contract_id, &JobKind::Provision)?;
        }
        self.wake.notify_one();
        Ok(active.len())
    }

    async fn own_active(&self, caller: u32, contract_id: u64) -> Result<Deployment, EngineError> {
        match self.store.lock().await.deployment(contract_id)? {
            Some((d, true)) if d.twin_id == caller => Ok(d),
            _ => Err(EngineError::NotFound),
        }
    }

    /// The caller is the deployment's twin, verified by the KYC service when one is configured,
    /// and the signatures satisfy its requirement.
    async fn authorize(&self, caller: u32, d: &Deployment) -> Result<(), EngineError> {
        if d.twin_id != caller {
            return Err(EngineError::Unauthorized(format!(
                "twin {caller} cannot send a deployment of twin {}",
                d.twin_id
            )));
        }
        if let Some(kyc) = &self.kyc {
            match kyc.verified(caller).await {
                Ok(true) => {}
                Ok(false) => {
                    return Err(EngineError::Unauthorized(format!(
                        "twin {caller} is not verified (KYC)"
                    )))
                }
                Err(error) => return Err(EngineError::Bus(zos_base::report(&error))),
            }
        }
        let keys = self.chain.twin_keys(&d.signer_twins()).await?;
        d.verify(&keys).map_err(|e| {
            EngineError::Unauthorized(format!(
                "signature verification failed: {e}",
                e = zos_base::Report(&e)
            ))
        })
    }

    /// zos's admission (see [`crate::capacity`]); `old` is the version being replaced.
    async fn admit(&self, d: &Deployment, old: Option<&Deployment>) -> Result<(), EngineError> {
        let others = self.active().await?;
        Ok(self.capacity.admit(d, old, &others).await?)
    }

    // ---- the job loop ----

    /// Runs queued jobs forever, oldest first.
    pub async fn run(self: Arc<Self>) {
        loop {
            let next = self.store.lock().await.next_job();
            match next {
                Ok(Some(job)) => {
                    let id = job.id;
                    self.process(job).await;
                    if let Err(error) = self.store.lock().await.finish_job(id) {
                        tracing::error!(%error, "cannot remove a finished job");
                        tokio::time::sleep(Duration::from_secs(1)).await;
                    }
                }
                Ok(None) => {
                    let _ =
                        tokio::time::timeout(Duration::from_secs(5), self.wake.notified()).await;
                }
                Err(error) => {
                    tracing::error!(%error, "cannot read the job queue");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
            }
        }
    }

    async fn process(&self, job: Job) {
        let contract = job.contract_id;
        let stored = match self.store.lock().await.deployment(contract) {
            Ok(Some((d, true))) => d,
            Ok(_) => return,
            Err(error) => {
                tracing::error!(contract, %error, "cannot read the deployment of a job");
                return;
            }
        };
        let outcome = match job.kind {
            JobKind::Provision => self.provision(&stored).await,
            JobKind::Update(new) => self.apply_update(&stored, *new).await,
            JobKind::Deprovision { reason } => self.deprovision(&stored, &reason).await,
            JobKind::Pause => self.set_paused(&stored, true).await,
            JobKind::Resume => self.set_paused(&stored, false).await,
        };
        match outcome {
            Ok(report) => {
                if report {
                    self.report(contract).await;
                }
            }
            Err(error) => tracing::error!(contract, %error, "job failed"),
        }
    }

    async fn record(&self, contract: u64, w: &Workload) -> Result<(), StoreError> {
        self.store.lock().await.record(contract, w)
    }

    /// Installs every workload that is not deleted or failed; returns whether to report.
    async fn provision(&self, d: &Deployment) -> Result<bool, EngineError> {
        for mut w in install_order(d) {
            if matches!(w.result.state, ResultState::Deleted | ResultState::Error) {
                continue;
            }
            let result = self.install(d, &w, false).await;
            // Installed again as it was: a paused workload stays paused, and one whose last
            // update was refused keeps saying so.
            let keep_state = matches!(w.result.state, ResultState::Paused | ResultState::Unchanged)
                && result.state == ResultState::Ok;
            let result = if keep_state {
                WorkloadResult {
                    state: w.result.state.clone(),
                    message: w.result.message.clone(),
                    ..result
                }
            } else {
                result
            };
            if !same_result(&w.result, &result) {
                w.result = result;
                self.record(d.contract_id, &w).await?;
            }
        }
        Ok(true)
    }

    /// Installs (or updates) one workload and returns its new result.
    async fn install(&self, d: &Deployment, w: &Workload, update: bool) -> WorkloadResult {
        let at = now();
        let id = match d.workload_id(&w.name) {
            Ok(id) => id,
            Err(e) => return WorkloadResult::error(at, zos_base::report(&e)),
        };
        let data = match w.data() {
            Ok(data) => data,
            Err(e) => return WorkloadResult::error(at, zos_base::report(&e)),
        };
        let done = if update {
            self.provisioners.update(&id, &data).await
        } else {
            self.provisioners.install(&id, &data).await
        };
        match done {
            Ok(value) => {
                tracing::info!(workload = %id, "workload ok");
                WorkloadResult::ok(at, value)
            }
            Err(error) => {
                tracing::warn!(workload = %id, %error, "workload failed");
                WorkloadResult::error(at, zos_base::report(&error))
            }
        }
    }

    async fn apply_update(
        &self,
        old: &Deployment,
        mut new: Deployment,
    ) -> Result<bool, EngineError> {
        let mut ops = match old.upgrade(&mut new) {
            Ok(ops) => ops,
            Err(e) => {
                tracing::warn!(contract = old.contract_id, error = %zos_base::Report(&e), "update no longer applies");
                return Ok(false);
            }
        };
        sort_ops(&mut ops);
        for op in &ops {
            match op.kind {
                OpKind::Remove => {
                    if let Some(w) = old.get(&op.name) {
                        let mut w = w.clone();
                        w.result = self.remove(old, &w, "removed by an update").await;
                        self.record(old.contract_id, &w).await?;
                    }
                }
                OpKind::Add | OpKind::Update => {
                    let Some(w) = new.get(&op.name).cloned() else {
                        continue;
                    };
                    let result = self.install(&new, &w, op.kind == OpKind::Update).await;
                    let refused = op.kind == OpKind::Update && result.state == ResultState::Error;
                    if let Some(slot) = new.get_mut(&op.name) {
                        match old.get(&op.name) {
                            // A refused update leaves the workload as it was (zos: `unchanged`,
                            // an error that did not break the previous state): its previous
                            // definition stays, so what is stored, shown and billed is what
                            // runs.
                            Some(previous) if refused => {
                                *slot = Workload {
                                    result: WorkloadResult {
                                        state: ResultState::Unchanged,
                                        message: result.message,
                                        ..previous.result.clone()
                                    },
                                    ..previous.clone()
                                };
                            }
                            _ => slot.result = result,
                        }
                    }
                }
            }
        }
        // The new version with its results replaces the old one; removed workloads are gone.
        let changed = ops
            .iter()
            .filter(|o| o.kind != OpKind::Remove)
            .filter_map(|o| new.get(&o.name));
        self.store.lock().await.replace(&new, changed)?;
        tracing::info!(
            contract = new.contract_id,
            version = new.version,
            "update applied"
        );
        Ok(true)
    }

    async fn remove(&self, d: &Deployment, w: &Workload, reason: &str) -> WorkloadResult {
        let at = now();
        let removed = match d.workload_id(&w.name) {
            Ok(id) => self.provisioners.remove(&id, &w.workload_type).await,
            Err(_) => Ok(()),
        };
        match removed {
            Ok(()) => WorkloadResult {
                state: ResultState::Deleted,
                message: reason.to_string(),
                ..WorkloadResult::new(ResultState::Deleted, at)
            },
            Err(e) => {
                WorkloadResult::error(at, format!("cannot remove: {e}", e = zos_base::Report(&e)))
            }
        }
    }

    /// Removes every workload in reverse install order; the deployment becomes inactive once
    /// all are gone.
    async fn deprovision(&self, d: &Deployment, reason: &str) -> Result<bool, EngineError> {
        let mut all_gone = true;
        for mut w in install_order(d).into_iter().rev() {
            if w.result.state == ResultState::Deleted {
                continue;
            }
            w.result = self.remove(d, &w, reason).await;
            all_gone &= w.result.state == ResultState::Deleted;
            self.record(d.contract_id, &w).await?;
        }
        if all_gone {
            self.store.lock().await.deactivate(d.contract_id)?;
            tracing::info!(contract = d.contract_id, reason, "deployment removed");
        }
        Ok(false)
    }

    /// Grace period started (pause) or ended (resume): ok ↔ paused.
    async fn set_paused(&self, d: &Deployment, pause: bool) -> Result<bool, EngineError> {
        let (from, to) = if pause {
            (ResultState::Ok, ResultState::Paused)
        } else {
            (ResultState::Paused, ResultState::Ok)
        };
        for w in &d.workloads {
            if w.result.state == from {
                if let Ok(id) = d.workload_id(&w.name) {
                    if let Err(error) = self.provisioners.pause(&id, &w.workload_type, pause).await
                    {
                        tracing::warn!(workload = %id, %error, "cannot pause or resume");
                    }
                }
                let mut w = w.clone();
                w.result.state = to.clone();
                w.result.created = now();
                self.record(d.contract_id, &w).await?;
            }
        }
        Ok(true)
    }

    // ---- consumption ----

    /// Reports the contract's used capacity (ok and paused workloads) through noded, retrying
    /// in the background.
    pub async fn report(&self, contract_id: u64) {
        let used = match self.store.lock().await.deployment(contract_id) {
            Ok(Some((d, _))) => match capacity::booked(Some(&d)) {
                Ok(used) => used,
                Err(error) => {
                    tracing::error!(
                        contract_id,
                        error = &error as &dyn std::error::Error,
                        "no consumption report"
                    );
                    return;
                }
            },
            _ => return,
        };
        let usage = ContractUsage {
            contract_id,
            cru: used.cru,
            mru: used.mru,
            sru: used.sru,
            hru: used.hru,
        };
        let bus = self.bus.clone();
        tokio::spawn(async move {
            for attempt in 1..=REPORT_TRIES {
                let sent = async {
                    NodeProxy::new(&bus)
                        .await?
                        .report_contract_resources(&[usage])
                        .await
                        .map_err(zbus::Error::from)
                };
                match sent.await {
                    Ok(()) => {
                        tracing::info!(contract = contract_id, ?usage, "consumption reported");
                        return;
                    }
                    Err(error) => {
                        tracing::warn!(contract = contract_id, attempt, %error, "consumption report failed");
                        tokio::time::sleep(REPORT_RETRY).await;
                    }
                }
            }
        });
    }
}
