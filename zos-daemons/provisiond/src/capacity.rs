//! Capacity accounting, in one place: what the node has (noded's CRU and MRU, storaged's SRU and
//! HRU), what the system keeps for itself (zos's reserve: the cache volume's size on SSD and the
//! larger of 10 % of memory and 2 GiB), what deployments have booked (their ok, paused and
//! unchanged workloads), whether a deployment fits (admission, as zos checks it) and zos's
//! statistics. The engine asks it before it accepts a deployment, the node API for
//! `zos.statistics.get`. It only reads: it never books or frees anything itself.

use gridtypes::{Capacity, Deployment, GIB};
use serde::Serialize;
use zbus::Connection;
use zos_bus::{NodeProxy, StorageProxy};

/// zos's system reserve of memory: the larger of 10 % of the total and this.
pub const RESERVED_MRU_MIN: u64 = 2 * GIB;

#[derive(Debug, thiserror::Error)]
pub enum CapacityError {
    /// The deployment does not fit; the words say what it needs and what is free.
    #[error("not enough capacity: {0}")]
    NoRoom(String),
    #[error("asking {daemon} for {what}")]
    Daemon {
        daemon: &'static str,
        what: &'static str,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// A stored workload whose data does not parse (it was validated when stored).
    #[error("the capacity of a workload")]
    Workload(#[from] gridtypes::ChallengeError),
}

/// The memory the system keeps out of `total`.
pub fn reserved_mru(total: u64) -> u64 {
    (total / 10).max(RESERVED_MRU_MIN)
}

/// What `deployments` hold (ok, paused and unchanged workloads).
pub fn booked<'a>(
    deployments: impl IntoIterator<Item = &'a Deployment>,
) -> Result<Capacity, CapacityError> {
    let mut sum = Capacity::default();
    for d in deployments {
        sum += d.used_capacity()?;
    }
    Ok(sum)
}

/// What every workload of `d` asks for, whatever its state.
pub fn wanted(d: &Deployment) -> Result<Capacity, CapacityError> {
    let mut sum = Capacity::default();
    for w in &d.workloads {
        sum += w.capacity().map_err(|source| gridtypes::ChallengeError {
            name: w.name.clone(),
            source,
        })?;
    }
    Ok(sum)
}

/// zos's `zos.statistics.get` answer.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Statistics {
    pub total: Capacity,
    /// The system reserve plus what deployments hold.
    pub used: Capacity,
    pub system: Capacity,
    pub users: Users,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Users {
    pub deployments: usize,
    /// Workloads in an okay state.
    pub workloads: usize,
    pub last_deployment_timestamp: i64,
}

/// The node's capacity, asked of the daemons that measure it.
#[derive(Debug, Clone)]
pub struct Accounting {
    bus: Connection,
}

fn daemon<E: std::error::Error + Send + Sync + 'static>(
    daemon: &'static str,
    what: &'static str,
) -> impl FnOnce(E) -> CapacityError {
    move |source| CapacityError::Daemon {
        daemon,
        what,
        source: Box::new(source),
    }
}

impl Accounting {
    pub fn new(bus: Connection) -> Self {
        Accounting { bus }
    }

    async fn node(&self) -> Result<zos_bus::Capacity, CapacityError> {
        NodeProxy::new(&self.bus)
            .await
            .map_err(daemon("noded", "the node's capacity"))?
            .capacity()
            .await
            .map_err(daemon("noded", "the node's capacity"))
    }

    async fn storage(&self) -> Result<StorageProxy<'static>, CapacityError> {
        StorageProxy::new(&self.bus)
            .await
            .map_err(daemon("storaged", "its pools"))
    }

    /// zos's admission of `d`: its storage must fit the pools' free bytes, its memory what is
    /// left after the system reserve and what `others` (every other active deployment) booked.
    /// `old` is the version `d` replaces: what it holds is freed.
    pub async fn admit(
        &self,
        d: &Deployment,
        old: Option<&Deployment>,
        others: &[Deployment],
    ) -> Result<(), CapacityError> {
        let wanted = wanted(d)?;
        let freed = booked(old)?;
        let storage = self
            .storage()
            .await?
            .capacity()
            .await
            .map_err(daemon("storaged", "SRU and HRU"))?;
        let sru_free = storage.sru_total.saturating_sub(storage.sru_used) + freed.sru;
        let hru_free = storage.hru_total.saturating_sub(storage.hru_used) + freed.hru;
        if wanted.sru > sru_free {
            return Err(CapacityError::NoRoom(format!(
                "the deployment needs {} bytes of SSD, the node has {sru_free} free",
                wanted.sru
            )));
        }
        if wanted.hru > hru_free {
            return Err(CapacityError::NoRoom(format!(
                "the deployment needs {} bytes of HDD, the node has {hru_free} free",
                wanted.hru
            )));
        }
        if wanted.mru > freed.mru {
            let total = self.node().await?.mru;
            let booked = booked(others.iter().filter(|o| o.contract_id != d.contract_id))?.mru;
            let free = total.saturating_sub(booked + reserved_mru(total));
            if wanted.mru > free {
                return Err(CapacityError::NoRoom(format!(
                    "the deployment needs {} bytes of memory, the node has {free} free",
                    wanted.mru
                )));
            }
        }
        Ok(())
    }

    /// zos's statistics: the total, the system reserve, what is used (the reserve plus ok,
    /// paused and unchanged workloads) and the users' counters, over the `active` deployments.
    pub async fn statistics(&self, active: &[Deployment]) -> Result<Statistics, CapacityError> {
        let node = self.node().await?;
        let cache = self
            .storage()
            .await?
            .cache()
            .await
            .map_err(daemon("storaged", "the cache's size"))?;
        let system = Capacity {
            sru: cache.size,
            mru: reserved_mru(node.mru),
            ..Default::default()
        };
        let okay = |d: &Deployment| {
            d.workloads
                .iter()
                .filter(|w| w.result.state.is_okay())
                .count()
        };
        Ok(Statistics {
            total: Capacity {
                cru: node.cru,
                sru: node.sru,
                hru: node.hru,
                mru: node.mru,
                ipv4u: 0,
            },
            used: system + booked(active)?,
            system,
            users: Users {
                deployments: active.len(),
                workloads: active.iter().map(okay).sum(),
                last_deployment_timestamp: active
                    .iter()
                    .flat_map(|d| d.workloads.iter().map(|w| w.result.created.0))
                    .max()
                    .unwrap_or(0),
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_reserve_is_a_tenth_of_memory_and_at_least_2_gib() {
        assert_eq!(reserved_mru(4 * GIB), 2 * GIB);
        assert_eq!(reserved_mru(64 * GIB), 64 * GIB / 10);
    }
}
