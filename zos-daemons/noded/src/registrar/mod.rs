//! Registration of the node on TFChain, run in the background by noded after it serves the bus.
//!
//! On every start, and again on an interval (or when the uptime reporter says the chain no longer
//! knows the node), it makes sure that: the node's account is funded (activation service), has
//! accepted the terms and conditions and has a twin ([`account`]); the node exists in farm
//! `farmer_id` with the measured capacity, the `zos` interface (asked from networkd over the bus),
//! the baseboard serial and the platform flags, updated only when something differs ([`node`]).
//! The ids are kept next to the identity ([`record`]), published on the bus
//! (`tf.zos.Node1.Registration`) and printed once on stdout as
//! `ZOS REGISTERED node_id=<n> twin_id=<t>`.
//!
//! Failures never stop noded: each becomes state `failed` with an error saying what to do, an
//! ERROR log line, and a retry with capped exponential backoff. A node without `farmer_id` is an
//! orphan and registers nowhere. It never moves a node that is registered in another farm.
//! It signs only with the node's own key and talks only to the configured chain and activation
//! service, and to networkd over the bus.

pub mod account;
pub mod node;
pub mod record;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{watch, Notify};
use zbus::Connection;
use zos_bus::node::registration as state;
use zos_bus::RegistrationStatus;
use zos_chain::{Chain, ReconnectPolicy, Signer};

use crate::activation::ActivationError;
use crate::capacity::{self, platform, CapacityError, Roots};
use crate::timing::Backoff;
use node::Measured;

/// How long networkd may take to answer `Status`.
const NETWORK_TIMEOUT: Duration = Duration::from_secs(5);

/// Connecting to the chain: a boot without a reachable chain fails an attempt after ~10 s; the
/// registration backoff decides when to try again.
const CHAIN_POLICY: ReconnectPolicy = ReconnectPolicy {
    initial_delay: Duration::from_millis(200),
    max_delay: Duration::from_secs(5),
    give_up_after: Some(Duration::from_secs(10)),
};

/// What the registrar needs to know.
#[derive(Debug, Clone)]
pub struct Settings {
    /// `None`: an orphan node.
    pub farmer_id: Option<u32>,
    pub chain_url: String,
    pub activation_url: String,
    /// Backoff between failed attempts: `retry_initial` doubling to `retry_max`.
    pub retry_initial: Duration,
    pub retry_max: Duration,
    /// Re-check (capacity, interfaces, the node still on chain) this often once registered.
    pub recheck_interval: Duration,
    /// How long to wait for the activation service's funds to show up.
    pub funding_wait: Duration,
    /// The registration record (next to the identity).
    pub record_path: PathBuf,
}

/// Why an attempt failed. Messages say what happened and what to do.
#[derive(Debug, thiserror::Error)]
pub enum RegisterError {
    #[error("the chain URL is not usable; fix tfchain= on the kernel command line")]
    BadChainUrl(#[source] zos_chain::Error),
    #[error("the chain is not reachable ({step}); check tfchain= and the network, noded retries")]
    Unreachable {
        step: &'static str,
        #[source]
        source: zos_chain::Error,
    },
    #[error(
        "insufficient funds: the activation service could not fund the node account {account}; \
         check activation= on the kernel command line or fund the account by hand"
    )]
    Activation {
        account: String,
        #[source]
        source: ActivationError,
    },
    #[error(
        "insufficient funds: the node account {account} is still empty {seconds} s after the \
         activation service {url} accepted the request; check the activation service or fund the \
         account by hand"
    )]
    NotFunded {
        account: String,
        url: String,
        seconds: u64,
    },
    #[error(
        "insufficient funds for {step}; the activation service funds an account only while it \
         is empty: fund the node account by hand"
    )]
    Funds {
        step: &'static str,
        #[source]
        source: zos_chain::Error,
    },
    #[error(
        "farm {farm_id} does not exist on the chain at {url}: create it with zosctl farm create \
         (TfgridModule.FarmNotExists)"
    )]
    FarmNotExists { farm_id: u32, url: String },
    #[error(
        "this node's key is registered as node {node_id} in farm {registered_farm}, not in farm \
         {farmer_id} (farmer_id on the kernel command line); noded does not move a node between \
         farms: boot with farmer_id={registered_farm}, or move the node on the chain"
    )]
    OtherFarm {
        node_id: u32,
        registered_farm: u32,
        farmer_id: u32,
    },
    #[error("the chain refused {step}{docs}")]
    Refused {
        step: &'static str,
        #[source]
        source: zos_chain::Error,
        /// The runtime's documentation of the error, `" (...)"` or empty.
        docs: String,
    },
    #[error(
        "this node has {has}; TFChain requires at least {wants} (the chain refused create_node: \
         {pallet}.{error}): {advice}; noded asks again every {retry_min} min"
    )]
    TooSmall {
        has: String,
        wants: &'static str,
        advice: &'static str,
        pallet: String,
        error: String,
        retry_min: u64,
    },
    #[error("measuring the node failed")]
    Capacity(#[from] CapacityError),
    #[error("measuring the node did not finish: {0}")]
    Measure(String),
}

impl RegisterError {
    /// Classifies a chain client error of `step`.
    pub fn from_chain(step: &'static str, source: zos_chain::Error) -> Self {
        match source {
            zos_chain::Error::InvalidUrl { .. } => RegisterError::BadChainUrl(source),
            e if e.is_connection() => RegisterError::Unreachable { step, source: e },
            e @ zos_chain::Error::InsufficientFunds { .. } => {
                RegisterError::Funds { step, source: e }
            }
            e => {
                let docs = match &e {
                    zos_chain::Error::Module { docs, .. } if !docs.trim().is_empty() => {
                        format!(" ({})", docs.trim())
                    }
                    _ => String::new(),
                };
                RegisterError::Refused {
                    step,
                    source: e,
                    docs,
                }
            }
        }
    }
}

/// How often a node the chain refused for its capacity asks again: storaged looks at the disks
/// only at boot and memory does not grow, so only the chain's rules could change meanwhile.
pub const CAPACITY_RETRY: Duration = Duration::from_secs(600);

const SSD_ADVICE: &str = "add an empty SSD of at least 100 GiB (storaged makes it a pool; HDDs \
     count as HRU, not SSD), or, in a VM, give the node a plain virtio disk of at least 100 GiB \
     (disks of a VM count as SSD unless they report a rotation rate)";
const MRU_ADVICE: &str = "give the node more memory (in a VM: raise its RAM)";
const CRU_ADVICE: &str = "give the node a CPU (in a VM: at least one vCPU)";

impl RegisterError {
    /// A refusal of the node's capacity in the farmer's words: what the node has (`capacity`,
    /// as sent), what the chain wants and what to do. Other errors are returned as they are.
    pub fn in_words(self, capacity: &zos_bus::Capacity) -> Self {
        let RegisterError::Refused {
            source: zos_chain::Error::Module { pallet, error, .. },
            ..
        } = &self
        else {
            return self;
        };
        let (has, wants, advice) = match error.as_str() {
            "InvalidSRUInput" | "InvalidSRU" => (
                format!(
                    "{} of SSD (and {} of HDD)",
                    zos_base::human(capacity.sru),
                    zos_base::human(capacity.hru)
                ),
                "100 GiB of SSD capacity",
                SSD_ADVICE,
            ),
            "InvalidMRUInput" | "InvalidMRU" => (
                format!("{} of memory", zos_base::human(capacity.mru)),
                "2 GiB of memory",
                MRU_ADVICE,
            ),
            "InvalidCRUInput" | "InvalidCRU" => {
                (format!("{} CPUs", capacity.cru), "1 CPU", CRU_ADVICE)
            }
            _ => return self,
        };
        RegisterError::TooSmall {
            has,
            wants,
            advice,
            pallet: pallet.clone(),
            error: error.clone(),
            retry_min: CAPACITY_RETRY.as_secs() / 60,
        }
    }
}

/// What the uptime reporter needs once the node is on the chain.
#[derive(Debug, Clone)]
pub struct Registered {
    pub chain: Chain,
    pub node_id: u32,
}

/// The background registration job.
#[derive(Debug)]
pub struct Registrar {
    pub settings: Settings,
    pub signer: Signer,
    pub roots: Roots,
    pub bus: Connection,
    /// What `Registration()` answers.
    pub status: watch::Sender<RegistrationStatus>,
    /// Set once registered (and again when the node is created anew).
    pub registered: watch::Sender<Option<Registered>>,
    /// Wakes the loop for an early re-check (the uptime reporter uses it).
    pub recheck: Arc<Notify>,
}

impl Registrar {
    /// Runs until the process ends. Returns at once for an orphan node.
    pub async fn run(self) {
        let Some(farm_id) = self.settings.farmer_id else {
            tracing::warn!(
                "no farmer_id on the kernel command line: this node is an orphan and registers \
                 nowhere; boot it with farmer_id=<farm id> to put it on the grid"
            );
            self.status.send_modify(|s| {
                s.state = state::ORPHAN.into();
                s.error =
                    "no farmer_id on the kernel command line: the node registers nowhere".into();
            });
            return;
        };
        if let Some(r) = record::load(&self.settings.record_path) {
            if r.chain_url == self.settings.chain_url {
                tracing::info!(
                    node_id = r.node_id,
                    twin_id = r.twin_id,
                    farm_id = r.farm_id,
                    "last known registration"
                );
                self.status.send_modify(|s| {
                    s.node_id = r.node_id;
                    s.twin_id = r.twin_id;
                    s.farm_id = r.farm_id;
                });
            }
        }
        let mut chain: Option<Chain> = None;
        let mut backoff = Backoff::new(self.settings.retry_initial, self.settings.retry_max);
        let mut printed: Option<(u32, u32)> = None;
        loop {
            self.status.send_if_modified(|s| {
                let modify = s.state != state::REGISTERED;
                if modify {
                    s.state = state::REGISTERING.into();
                }
                modify
            });
            let wait = match self.attempt(&mut chain, farm_id).await {
                Ok((chain, twin_id, node_id, created)) => {
                    backoff.reset();
                    self.registered(chain, farm_id, twin_id, node_id, created, &mut printed);
                    self.settings.recheck_interval
                }
                Err(error) => {
                    let delay = match error {
                        RegisterError::TooSmall { .. } => CAPACITY_RETRY,
                        _ => backoff.next_delay(),
                    };
                    let text = zos_base::report(&error);
                    tracing::error!(
                        farm_id,
                        retry_in_ms = delay.as_millis() as u64,
                        "registration failed: {text}"
                    );
                    self.status.send_modify(|s| {
                        s.state = state::FAILED.into();
                        // The farm it asks to join, so a farmer sees which one.
                        s.farm_id = farm_id;
                        s.error = text;
                    });
                    delay
                }
            };
            tokio::select! {
                _ = tokio::time::sleep(wait) => {}
                _ = self.recheck.notified() => tracing::info!("re-checking the registration now"),
            }
        }
    }

    /// One pass: connect, account, twin, node. Returns (chain, twin, node, created now).
    async fn attempt(
        &self,
        chain: &mut Option<Chain>,
        farm_id: u32,
    ) -> Result<(Chain, u32, u32, bool), RegisterError> {
        let chain = match chain {
            Some(c) => c.clone(),
            None => {
                let c = Chain::connect_with(&self.settings.chain_url, CHAIN_POLICY)
                    .await
                    .map_err(|e| RegisterError::from_chain("connecting", e))?;
                *chain = Some(c.clone());
                c
            }
        };
        let twin_id = account::ensure_account(
            &chain,
            &self.signer,
            &self.settings.activation_url,
            self.settings.funding_wait,
        )
        .await?;
        let existing = node::find_node(&chain, twin_id, farm_id).await?;
        let measured = self.measure().await?;
        let (node_id, created) = node::apply(&chain, &self.signer, farm_id, existing, &measured)
            .await
            .map_err(|e| e.in_words(&measured.capacity))?;
        Ok((chain, twin_id, node_id, created))
    }

    /// Publishes a successful pass: record, bus status, console line, uptime reporter.
    fn registered(
        &self,
        chain: Chain,
        farm_id: u32,
        twin_id: u32,
        node_id: u32,
        created: bool,
        printed: &mut Option<(u32, u32)>,
    ) {
        let rec = record::Record {
            version: 1,
            chain_url: self.settings.chain_url.clone(),
            farm_id,
            twin_id,
            node_id,
        };
        if record::load(&self.settings.record_path).as_ref() != Some(&rec) {
            if let Err(error) = record::store(&self.settings.record_path, &rec) {
                tracing::error!("{}", zos_base::Report(&error));
            }
        }
        // The console line first: whoever sees `registered` on the bus finds it printed.
        if created || *printed != Some((node_id, twin_id)) {
            tracing::info!(node_id, twin_id, farm_id, created, "node registered");
            // The one console line operators and boot tests look for.
            println!("ZOS REGISTERED node_id={node_id} twin_id={twin_id}");
            *printed = Some((node_id, twin_id));
        }
        self.status.send_replace(RegistrationStatus {
            state: state::REGISTERED.into(),
            node_id,
            twin_id,
            farm_id,
            error: String::new(),
        });
        self.registered.send_if_modified(|r| {
            let modify = created || r.as_ref().map(|r| r.node_id) != Some(node_id);
            if modify {
                *r = Some(Registered { chain, node_id });
            }
            modify
        });
    }

    /// Capacity (SRU/HRU from storaged), DMI serial, platform flags (blocking reads) and the
    /// `zos` interface (bus).
    async fn measure(&self) -> Result<Measured, RegisterError> {
        let storage = capacity::storage::capacity(&self.bus).await?;
        let roots = self.roots.clone();
        let (hw, secure_boot, virtualized) = tokio::task::spawn_blocking(move || {
            capacity::measure(&roots, &storage).map(|hw| {
                (
                    hw,
                    platform::secure_boot(&roots),
                    platform::virtualized(&roots),
                )
            })
        })
        .await
        .map_err(|e| RegisterError::Measure(e.to_string()))??;
        Ok(Measured {
            capacity: hw.capacity,
            zos_interface: self.zos_interface().await,
            serial: hw.dmi.baseboard.serial,
            secure_boot,
            virtualized,
        })
    }

    /// The `zos` bridge as networkd reports it; `None` (logged) when networkd is not on the bus
    /// or does not answer in time. The MAC is read from `<sys>/class/net/<bridge>/address`.
    async fn zos_interface(&self) -> Option<zos_chain::Interface> {
        // busd never answers calls to a name nobody owns: ask the broker first.
        let owned = zos_bus::inspect::has_owner(&self.bus, zos_bus::network::NAME)
            .await
            .unwrap_or(false);
        if !owned {
            tracing::warn!(name = zos_bus::network::NAME, "networkd is not on the bus: registering without the zos interface (kept as the chain has it)");
            return None;
        }
        let status = async {
            let proxy = zos_bus::NetworkProxy::new(&self.bus).await?;
            proxy.status().await
        };
        let status = match tokio::time::timeout(NETWORK_TIMEOUT, status).await {
            Ok(Ok(s)) => s,
            Ok(Err(error)) => {
                tracing::warn!(%error, "networkd Status failed: registering without the zos interface");
                return None;
            }
            Err(_) => {
                tracing::warn!(
                    "networkd did not answer Status in time: registering without the zos interface"
                );
                return None;
            }
        };
        let mac_path = self
            .roots
            .sys
            .join("class/net")
            .join(&status.bridge)
            .join("address");
        let mac = std::fs::read_to_string(&mac_path)
            .map(|m| m.trim().to_string())
            .unwrap_or_else(|error| {
                tracing::warn!(path = %mac_path.display(), %error, "cannot read the bridge MAC");
                String::new()
            });
        Some(zos_interface_from(&status, mac))
    }
}

/// The chain's view of the `zos` interface: addresses without their prefix length.
pub fn zos_interface_from(status: &zos_bus::NetworkStatus, mac: String) -> zos_chain::Interface {
    zos_chain::Interface {
        name: "zos".into(),
        mac,
        ips: status.ips(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zos_interface_drops_prefix_lengths() {
        let status = zos_bus::NetworkStatus {
            bridge: "zos".into(),
            uplink: "eth0".into(),
            addresses: vec!["10.0.2.15/24".into(), "fe80::1/64".into()],
            gateway: "10.0.2.2".into(),
            dns: vec![],
        };
        let i = zos_interface_from(&status, "52:54:00:12:34:56".into());
        assert_eq!(i.name, "zos");
        assert_eq!(i.ips, vec!["10.0.2.15", "fe80::1"]);
    }

    #[test]
    fn chain_errors_are_classified_with_hints() {
        let e = RegisterError::from_chain(
            "connecting",
            zos_chain::Error::InvalidUrl {
                url: "http://x".into(),
                reason: "not ws".into(),
            },
        );
        assert!(e.to_string().contains("fix tfchain="), "{e}");
        let e = RegisterError::from_chain(
            "reading",
            zos_chain::Error::Connect {
                url: "ws://127.0.0.1:1".into(),
                attempts: 3,
                reason: "refused".into(),
            },
        );
        assert!(matches!(e, RegisterError::Unreachable { .. }), "{e}");
        let e = RegisterError::from_chain(
            "create_twin",
            zos_chain::Error::InsufficientFunds {
                account: "5X".into(),
                message: "Inability to pay some fees".into(),
            },
        );
        assert!(e.to_string().starts_with("insufficient funds"), "{e}");
        let e = RegisterError::from_chain(
            "create_node",
            zos_chain::Error::Module {
                pallet: "TfgridModule".into(),
                error: "InvalidSRU".into(),
                docs: "sru too small".into(),
            },
        );
        assert_eq!(
            zos_base::report(&e),
            "the chain refused create_node (sru too small): TfgridModule.InvalidSRU"
        );
        // The same refusal with what the node offered: in the farmer's words.
        let offered = zos_bus::Capacity {
            cru: 2,
            mru: 3 << 30,
            sru: 0,
            hru: 120 << 30,
        };
        let words = zos_base::report(&e.in_words(&offered));
        assert!(
            words.starts_with(
                "this node has 0 B of SSD (and 120 GiB of HDD); TFChain requires at least 100 GiB \
                 of SSD capacity (the chain refused create_node: TfgridModule.InvalidSRU): add an \
                 empty SSD"
            ),
            "{words}"
        );
        assert!(words.ends_with("noded asks again every 10 min"), "{words}");
        let mru = RegisterError::from_chain(
            "create_node",
            zos_chain::Error::Module {
                pallet: "TfgridModule".into(),
                error: "InvalidMRUInput".into(),
                docs: String::new(),
            },
        )
        .in_words(&zos_bus::Capacity {
            mru: 1 << 30,
            ..offered
        });
        assert!(
            mru.to_string().starts_with(
                "this node has 1 GiB of memory; TFChain requires at least 2 GiB of memory"
            ),
            "{mru}"
        );
        // Anything else is left as it was.
        let other = RegisterError::from_chain(
            "create_node",
            zos_chain::Error::Module {
                pallet: "TfgridModule".into(),
                error: "NodeWithTwinIdExists".into(),
                docs: String::new(),
            },
        )
        .in_words(&offered);
        assert!(matches!(other, RegisterError::Refused { .. }), "{other}");
        let e = RegisterError::FarmNotExists {
            farm_id: 7,
            url: "ws://127.0.0.1:8040".into(),
        };
        assert!(e.to_string().starts_with(
            "farm 7 does not exist on the chain at ws://127.0.0.1:8040: create it with zosctl farm create"
        ));
    }
}
