//! The state store: SQLite (rusqlite) in the node's cache. Deployments with their current
//! results, every result change (the history `zos.deployment.changes` returns), the job queue,
//! and small values such as the last processed chain block.
//!
//! Every state change is one transaction, and the database runs with `synchronous=FULL` in WAL
//! mode, so a kill -9 or a power cut leaves either the old or the new state, never a mix. Owns
//! only its database file; it never calls the chain, the bus or a provisioner.

use std::path::Path;

use gridtypes::{Deployment, Workload};
use rusqlite::{params, Connection, OptionalExtension};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("state database")]
    Sql(#[from] rusqlite::Error),
    #[error("cannot create the state directory {path}")]
    Dir {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("stored deployment {contract_id} does not decode")]
    Corrupt {
        contract_id: u64,
        #[source]
        source: serde_json::Error,
    },
    #[error("deployment {contract_id} does not encode")]
    Encode {
        contract_id: u64,
        #[source]
        source: serde_json::Error,
    },
    #[error("deployment with contract {0} exists already")]
    Exists(u64),
    #[error("no deployment with contract {0}")]
    NotFound(u64),
}

/// What a job does to a deployment.
#[derive(Debug, Clone, PartialEq)]
pub enum JobKind {
    /// Install every workload that is not installed yet (a new deployment, or after a reboot).
    Provision,
    /// Apply the new version stored in the job.
    Update(Box<Deployment>),
    /// Remove every workload, then mark the deployment inactive.
    Deprovision {
        reason: String,
    },
    Pause,
    Resume,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Job {
    pub id: i64,
    pub contract_id: u64,
    pub kind: JobKind,
}

#[derive(Debug)]
pub struct Store {
    db: Connection,
}

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS deployments (
    contract_id INTEGER PRIMARY KEY,
    twin_id     INTEGER NOT NULL,
    body        TEXT    NOT NULL,
    active      INTEGER NOT NULL DEFAULT 1
);
CREATE INDEX IF NOT EXISTS deployments_by_twin ON deployments (twin_id);
CREATE TABLE IF NOT EXISTS changes (
    seq         INTEGER PRIMARY KEY AUTOINCREMENT,
    contract_id INTEGER NOT NULL,
    workload    TEXT    NOT NULL
);
CREATE INDEX IF NOT EXISTS changes_by_contract ON changes (contract_id);
CREATE TABLE IF NOT EXISTS jobs (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    contract_id INTEGER NOT NULL,
    kind        TEXT    NOT NULL,
    body        TEXT
);
CREATE TABLE IF NOT EXISTS meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
";

fn encode(d: &Deployment) -> Result<String, StoreError> {
    serde_json::to_string(d).map_err(|source| StoreError::Encode {
        contract_id: d.contract_id,
        source,
    })
}

fn decode(contract_id: u64, body: &str) -> Result<Deployment, StoreError> {
    serde_json::from_str(body).map_err(|source| StoreError::Corrupt {
        contract_id,
        source,
    })
}

impl Store {
    /// Opens (creating if needed) the database at `path`.
    pub fn open(path: &Path) -> Result<Store, StoreError> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(|source| StoreError::Dir {
                path: dir.display().to_string(),
                source,
            })?;
        }
        let db = Connection::open(path)?;
        db.pragma_update(None, "journal_mode", "WAL")?;
        db.pragma_update(None, "synchronous", "FULL")?;
        db.busy_timeout(std::time::Duration::from_secs(5))?;
        db.execute_batch(SCHEMA)?;
        Ok(Store { db })
    }

    /// Stores a new deployment (its workloads' results as given) and queues its provisioning,
    /// in one transaction.
    pub fn create(&mut self, deployment: &Deployment) -> Result<(), StoreError> {
        let tx = self.db.transaction()?;
        let exists: Option<i64> = tx
            .query_row(
                "SELECT 1 FROM deployments WHERE contract_id = ?1",
                params![deployment.contract_id as i64],
                |r| r.get(0),
            )
            .optional()?;
        if exists.is_some() {
            return Err(StoreError::Exists(deployment.contract_id));
        }
        tx.execute(
            "INSERT INTO deployments (contract_id, twin_id, body, active) VALUES (?1, ?2, ?3, 1)",
            params![
                deployment.contract_id as i64,
                deployment.twin_id,
                encode(deployment)?
            ],
        )?;
        for w in &deployment.workloads {
            insert_change(&tx, deployment.contract_id, w)?;
        }
        insert_job(&tx, deployment.contract_id, &JobKind::Provision)?;
        tx.commit()?;
        Ok(())
    }

    /// Queues a job.
    pub fn enqueue(&mut self, contract_id: u64, kind: &JobKind) -> Result<(), StoreError> {
        insert_job(&self.db, contract_id, kind)
    }

    /// The oldest queued job.
    pub fn next_job(&self) -> Result<Option<Job>, StoreError> {
        let row: Option<(i64, i64, String, Option<String>)> = self
            .db
            .query_row(
                "SELECT id, contract_id, kind, body FROM jobs ORDER BY id LIMIT 1",
                [],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
            )
            .optional()?;
        let Some((id, contract, kind, body)) = row else {
            return Ok(None);
        };
        let contract_id = contract as u64;
        let body = body.unwrap_or_default();
        let kind = match kind.as_str() {
            "update" => JobKind::Update(Box::new(decode(contract_id, &body)?)),
            "deprovision" => JobKind::Deprovision { reason: body },
            "pause" => JobKind::Pause,
            "resume" => JobKind::Resume,
            _ => JobKind::Provision,
        };
        Ok(Some(Job {
            id,
            contract_id,
            kind,
        }))
    }

    /// Removes a finished job.
    pub fn finish_job(&mut self, id: i64) -> Result<(), StoreError> {
        self.db
            .execute("DELETE FROM jobs WHERE id = ?1", params![id])?;
        Ok(())
    }

    /// The stored deployment of `contract_id`, active or not.
    pub fn deployment(&self, contract_id: u64) -> Result<Option<(Deployment, bool)>, StoreError> {
        let row: Option<(String, bool)> = self
            .db
            .query_row(
                "SELECT body, active FROM deployments WHERE contract_id = ?1",
                params![contract_id as i64],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()?;
        row.map(|(body, active)| Ok((decode(contract_id, &body)?, active)))
            .transpose()
    }

    /// The active deployments, of one twin or of everyone.
    pub fn active(&self, twin_id: Option<u32>) -> Result<Vec<Deployment>, StoreError> {
        let mut stmt = self.db.prepare(
            "SELECT contract_id, body FROM deployments
             WHERE active = 1 AND (?1 IS NULL OR twin_id = ?1) ORDER BY contract_id",
        )?;
        let rows = stmt.query_map(params![twin_id], |r| {
            Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?))
        })?;
        let mut out = Vec::new();
        for row in rows {
            let (contract, body) = row?;
            out.push(decode(contract as u64, &body)?);
        }
        Ok(out)
    }

    /// Sets the result of workload `workload.name` (the whole workload is recorded as a change)
    /// and saves the deployment, in one transaction.
    pub fn record(&mut self, contract_id: u64, workload: &Workload) -> Result<(), StoreError> {
        let tx = self.db.transaction()?;
        let body: String = tx
            .query_row(
                "SELECT body FROM deployments WHERE contract_id = ?1",
                params![contract_id as i64],
                |r| r.get(0),
            )
            .optional()?
            .ok_or(StoreError::NotFound(contract_id))?;
        let mut deployment = decode(contract_id, &body)?;
        match deployment.get_mut(&workload.name) {
            Some(w) => *w = workload.clone(),
            None => deployment.workloads.push(workload.clone()),
        }
        tx.execute(
            "UPDATE deployments SET body = ?2 WHERE contract_id = ?1",
            params![contract_id as i64, encode(&deployment)?],
        )?;
        insert_change(&tx, contract_id, workload)?;
        tx.commit()?;
        Ok(())
    }

    /// Replaces the deployment (an applied update: version, requirement, workloads; removed
    /// workloads are gone) and records the results of the `changed` workloads, in one
    /// transaction: a kill between the two would leave the new version without its changes.
    pub fn replace<'a>(
        &mut self,
        deployment: &Deployment,
        changed: impl IntoIterator<Item = &'a Workload>,
    ) -> Result<(), StoreError> {
        let tx = self.db.transaction()?;
        let updated = tx.execute(
            "UPDATE deployments SET body = ?2 WHERE contract_id = ?1",
            params![deployment.contract_id as i64, encode(deployment)?],
        )?;
        if updated == 0 {
            return Err(StoreError::NotFound(deployment.contract_id));
        }
        for w in changed {
            insert_change(&tx, deployment.contract_id, w)?;
        }
        tx.commit()?;
        Ok(())
    }

    /// Marks the deployment inactive (every workload deprovisioned).
    pub fn deactivate(&mut self, contract_id: u64) -> Result<(), StoreError> {
        self.db.execute(
            "UPDATE deployments SET active = 0 WHERE contract_id = ?1",
            params![contract_id as i64],
        )?;
        Ok(())
    }

    /// Every recorded change of the deployment's workloads, oldest first.
    pub fn changes(&self, contract_id: u64) -> Result<Vec<Workload>, StoreError> {
        let mut stmt = self
            .db
            .prepare("SELECT workload FROM changes WHERE contract_id = ?1 ORDER BY seq")?;
        let rows = stmt.query_map(params![contract_id as i64], |r| r.get::<_, String>(0))?;
        let mut out = Vec::new();
        for row in rows {
            let text = row?;
            out.push(
                serde_json::from_str(&text).map_err(|source| StoreError::Corrupt {
                    contract_id,
                    source,
                })?,
            );
        }
        Ok(out)
    }

    pub fn meta(&self, key: &str) -> Result<Option<String>, StoreError> {
        Ok(self
            .db
            .query_row("SELECT value FROM meta WHERE key = ?1", params![key], |r| {
                r.get(0)
            })
            .optional()?)
    }

    pub fn set_meta(&mut self, key: &str, value: &str) -> Result<(), StoreError> {
        self.db.execute(
            "INSERT INTO meta (key, value) VALUES (?1, ?2)
             ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            params![key, value],
        )?;
        Ok(())
    }
}

fn insert_change(db: &Connection, contract_id: u64, w: &Workload) -> Result<(), StoreError> {
    let text = serde_json::to_string(w).map_err(|source| StoreError::Encode {
        contract_id,
        source,
    })?;
    db.execute(
        "INSERT INTO changes (contract_id, workload) VALUES (?1, ?2)",
        params![contract_id as i64, text],
    )?;
    Ok(())
}

fn insert_job(db: &Connection, contract_id: u64, kind: &JobKind) -> Result<(), StoreError> {
    let (word, body) = match kind {
        JobKind::Provision => ("provision", None),
        JobKind::Update(d) => ("update", Some(encode(d)?)),
        JobKind::Deprovision { reason } => ("deprovision", Some(reason.clone())),
        JobKind::Pause => ("pause", None),
        JobKind::Resume => ("resume", None),
    };
    db.execute(
        "INSERT INTO jobs (contract_id, kind, body) VALUES (?1, ?2, ?3)",
        params![contract_id as i64, word, body],
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use gridtypes::types::Volume;
    use gridtypes::{ResultState, Timestamp, WorkloadData, WorkloadResult, GIB};

    fn deployment(contract: u64) -> Deployment {
        let mut d = Deployment {
            twin_id: 7,
            contract_id: contract,
            ..Default::default()
        };
        d.workloads.push(Workload::new(
            "data",
            &WorkloadData::Volume(Volume { size: GIB }),
        ));
        d
    }

    #[test]
    fn deployments_results_changes_and_jobs_survive_reopening() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state/provisiond.sqlite");
        {
            let mut store = Store::open(&path).unwrap();
            store.create(&deployment(1)).unwrap();
            assert!(matches!(
                store.create(&deployment(1)),
                Err(StoreError::Exists(1))
            ));
            let job = store.next_job().unwrap().unwrap();
            assert_eq!((job.contract_id, &job.kind), (1, &JobKind::Provision));
            let mut w = deployment(1).workloads[0].clone();
            w.result = WorkloadResult::ok(Timestamp(5), serde_json::json!({"id": "7-1-data"}));
            store.record(1, &w).unwrap();
            store.finish_job(job.id).unwrap();
            store.set_meta("last_block", "42").unwrap();
        }
        let mut store = Store::open(&path).unwrap();
        assert!(store.next_job().unwrap().is_none());
        let (d, active) = store.deployment(1).unwrap().unwrap();
        assert!(active);
        assert_eq!(d.workloads[0].result.state, ResultState::Ok);
        assert_eq!(store.changes(1).unwrap().len(), 2);
        assert_eq!(store.active(Some(7)).unwrap().len(), 1);
        assert!(store.active(Some(8)).unwrap().is_empty());
        assert_eq!(store.meta("last_block").unwrap().as_deref(), Some("42"));
        store.deactivate(1).unwrap();
        assert!(store.active(None).unwrap().is_empty());
        let reason = "contract canceled".to_string();
        store
            .enqueue(
                1,
                &JobKind::Deprovision {
                    reason: reason.clone(),
                },
            )
            .unwrap();
        assert_eq!(
            store.next_job().unwrap().unwrap().kind,
            JobKind::Deprovision { reason }
        );
    }
}
