//! Typed helpers for the TFChain calls and storage the node and its users need: twins, farms,
//! nodes, contracts, balances and chain time.
//!
//! Every call and storage item is resolved BY NAME from the chain's metadata (dynamic subxt);
//! arguments are built as `scale_value` values named like the runtime's call arguments.

use scale_decode::DecodeAsType;
use subxt::dynamic::Value;
use subxt::utils::AccountId32;

use crate::client::{AtBlock, Chain, TxOutcome};
use crate::error::Error;
use crate::signer::Signer;
use crate::types::*;

const TFGRID: &str = "TfgridModule";
/// The terms and conditions every twin accepts before it is created (zos's values).
pub const TC_LINK: &str = "http://zos.tf/terms/v0.1";
pub const TC_HASH: &str = "9021d4dee05a661e2cb6838152c67f25";
const CONTRACTS: &str = "SmartContractModule";

fn bytes(s: impl AsRef<[u8]>) -> Value {
    Value::from_bytes(s.as_ref())
}

fn uint(n: impl Into<u128>) -> Value {
    Value::u128(n.into())
}

fn option(v: Option<Value>) -> Value {
    match v {
        Some(v) => Value::unnamed_variant("Some", [v]),
        None => Value::unnamed_variant("None", []),
    }
}

fn resources(r: &Resources) -> Value {
    Value::named_composite([
        ("hru", uint(r.hru)),
        ("sru", uint(r.sru)),
        ("cru", uint(r.cru)),
        ("mru", uint(r.mru)),
    ])
}

fn node_args(input: &NodeInput) -> Vec<(&'static str, Value)> {
    let location = Value::named_composite([
        ("city", bytes(&input.location.city)),
        ("country", bytes(&input.location.country)),
        ("latitude", bytes(&input.location.latitude)),
        ("longitude", bytes(&input.location.longitude)),
    ]);
    let interfaces = Value::unnamed_composite(input.interfaces.iter().map(|i| {
        Value::named_composite([
            ("name", bytes(&i.name)),
            ("mac", bytes(&i.mac)),
            ("ips", Value::unnamed_composite(i.ips.iter().map(bytes))),
        ])
    }));
    vec![
        ("resources", resources(&input.resources)),
        ("location", location),
        ("interfaces", interfaces),
        ("secure_boot", Value::bool(input.secure_boot)),
        ("virtualized", Value::bool(input.virtualized)),
        (
            "serial_number",
            option(input.serial_number.as_ref().map(bytes)),
        ),
    ]
}

/// Finds the first `pallet.variant` event of an outcome and decodes its fields.
fn event<E: scale_decode::DecodeAsFields>(
    outcome: &TxOutcome,
    pallet: &'static str,
    call: &'static str,
    variant: &'static str,
) -> Result<E, Error> {
    outcome
        .events
        .iter()
        .find(|e| e.pallet == pallet && e.variant == variant)
        .ok_or(Error::MissingEvent {
            pallet,
            call,
            event: variant,
        })?
        .decode::<E>()
}

/// Fetches one storage value (None when absent).
async fn fetch<K, V>(at: &AtBlock, pallet: &str, entry: &str, key: K) -> Result<Option<V>, Error>
where
    K: subxt::ext::frame_decode::storage::IntoEncodableValues
        + subxt::ext::frame_decode::storage::IntoDecodableValues,
    V: DecodeAsType,
{
    let addr = subxt::dynamic::storage::<K, V>(pallet, entry);
    let value = at
        .storage()
        .try_fetch(addr, key)
        .await
        .map_err(|e| Error::rpc("reading storage", crate::client::error_text(&e)))?;
    match value {
        None => Ok(None),
        Some(v) => v
            .decode()
            .map(Some)
            .map_err(|e| Error::decode(format!("{pallet}.{entry}"), e)),
    }
}

/// Iterates all values of a one-key storage map.
async fn iter_values<K, V>(at: &AtBlock, pallet: &str, entry: &str) -> Result<Vec<V>, Error>
where
    K: subxt::ext::frame_decode::storage::IntoEncodableValues
        + subxt::ext::frame_decode::storage::IntoDecodableValues,
    V: DecodeAsType,
    (): subxt::storage::PrefixOf<K>,
{
    let addr = subxt::dynamic::storage::<K, V>(pallet, entry);
    let mut entries = at
        .storage()
        .iter(addr, ())
        .await
        .map_err(|e| Error::rpc("iterating storage", crate::client::error_text(&e)))?;
    let mut out = Vec::new();
    while let Some(kv) = entries.next().await {
        let kv = kv.map_err(|e| Error::rpc("iterating storage", crate::client::error_text(&e)))?;
        out.push(
            kv.value()
                .decode()
                .map_err(|e| Error::decode(format!("{pallet}.{entry}"), e))?,
        );
    }
    Ok(out)
}

/// Ids start at 1; maps with a default return 0 for "absent".
fn nonzero<T: Into<u64> + Copy>(id: Option<T>) -> Option<T> {
    id.filter(|v| (*v).into() != 0)
}

impl Chain {
    // ---------------- chain time & balances ----------------

    /// `Timestamp.Now`: chain time in milliseconds (advances 6 s per block, not with the wall clock).
    pub async fn chain_time_ms(&self) -> Result<u64, Error> {
        self.read(|at| async move {
            fetch::<(), u64>(&at, "Timestamp", "Now", ())
                .await?
                .ok_or_else(|| Error::not_found("Timestamp.Now"))
        })
        .await
    }

    /// The free balance of an account (0 for an account that does not exist).
    pub async fn free_balance(&self, account: &AccountId32) -> Result<u128, Error> {
        let key = account.0;
        self.read(|at| async move {
            Ok(
                fetch::<([u8; 32],), RawAccountInfo>(&at, "System", "Account", (key,))
                    .await?
                    .map(|info| info.data.free)
                    .unwrap_or(0),
            )
        })
        .await
    }

    /// What an account can spend: its free balance minus what pallets lock (TFChain locks a
    /// contract's bills there before distributing them).
    pub async fn spendable_balance(&self, account: &AccountId32) -> Result<u128, Error> {
        let key = account.0;
        self.read(|at| async move {
            Ok(
                fetch::<([u8; 32],), RawAccountInfo>(&at, "System", "Account", (key,))
                    .await?
                    .map(|info| info.data.free.saturating_sub(info.data.frozen))
                    .unwrap_or(0),
            )
        })
        .await
    }

    /// Transfers `amount` and refuses to kill the sender's account.
    pub async fn transfer_keep_alive(
        &self,
        signer: &Signer,
        dest: &AccountId32,
        amount: u128,
    ) -> Result<TxOutcome, Error> {
        self.transfer(signer, "transfer_keep_alive", dest, amount)
            .await
    }

    /// Transfers `amount`, possibly emptying the sender's account.
    pub async fn transfer_allow_death(
        &self,
        signer: &Signer,
        dest: &AccountId32,
        amount: u128,
    ) -> Result<TxOutcome, Error> {
        self.transfer(signer, "transfer_allow_death", dest, amount)
            .await
    }

    /// Transfers everything the sender can spend, fees accounted by the runtime
    /// (`transfer_all`); with `keep_alive` the existential deposit stays.
    pub async fn transfer_all(
        &self,
        signer: &Signer,
        dest: &AccountId32,
        keep_alive: bool,
    ) -> Result<TxOutcome, Error> {
        let dest = Value::unnamed_variant("Id", [bytes(dest.0)]);
        self.submit(
            signer,
            "Balances",
            "transfer_all",
            vec![("dest", dest), ("keep_alive", Value::bool(keep_alive))],
        )
        .await
    }

    async fn transfer(
        &self,
        signer: &Signer,
        call: &str,
        dest: &AccountId32,
        amount: u128,
    ) -> Result<TxOutcome, Error> {
        let dest = Value::unnamed_variant("Id", [bytes(dest.0)]);
        self.submit(
            signer,
            "Balances",
            call,
            vec![("dest", dest), ("value", Value::u128(amount))],
        )
        .await
    }

    // ---------------- twins ----------------

    /// Accepts the terms and conditions (`user_accept_tc`); required before creating a twin.
    pub async fn accept_tc(
        &self,
        signer: &Signer,
        document_link: &str,
        document_hash: &str,
    ) -> Result<(), Error> {
        self.submit(
            signer,
            TFGRID,
            "user_accept_tc",
            vec![
                ("document_link", bytes(document_link)),
                ("document_hash", bytes(document_hash)),
            ],
        )
        .await?;
        Ok(())
    }

    /// Whether the account has accepted terms and conditions at least once.
    pub async fn has_accepted_tc(&self, account: &AccountId32) -> Result<bool, Error> {
        #[derive(DecodeAsType)]
        struct Accepted {
            #[allow(dead_code)]
            timestamp: u64,
        }
        let key = account.0;
        self.read(|at| async move {
            Ok(
                fetch::<([u8; 32],), Vec<Accepted>>(&at, TFGRID, "UsersTermsAndConditions", (key,))
                    .await?
                    .is_some_and(|list| !list.is_empty()),
            )
        })
        .await
    }

    /// Creates the signer's twin; returns its id (from `TwinStored`).
    pub async fn create_twin(
        &self,
        signer: &Signer,
        relay: Option<&str>,
        pk: Option<&[u8]>,
    ) -> Result<u32, Error> {
        let outcome = self
            .submit(
                signer,
                TFGRID,
                "create_twin",
                vec![
                    ("relay", option(relay.map(bytes))),
                    ("pk", option(pk.map(bytes))),
                ],
            )
            .await?;
        let (twin,): (RawTwin,) = event(&outcome, TFGRID, "create_twin", "TwinStored")?;
        Ok(Twin::from(twin).id)
    }

    /// The signer's twin, created (after accepting the terms and conditions) if it has none;
    /// the account must hold funds.
    pub async fn ensure_twin(&self, signer: &Signer) -> Result<u32, Error> {
        let account = signer.account_id();
        if let Some(id) = self.twin_id_by_account(&account).await? {
            return Ok(id);
        }
        if !self.has_accepted_tc(&account).await? {
            self.accept_tc(signer, TC_LINK, TC_HASH).await?;
        }
        self.create_twin(signer, None, None).await
    }

    /// A twin by id.
    pub async fn twin(&self, id: u32) -> Result<Option<Twin>, Error> {
        self.read(|at| async move {
            Ok(fetch::<(u32,), RawTwin>(&at, TFGRID, "Twins", (id,))
                .await?
                .map(Twin::from))
        })
        .await
    }

    /// The twin id of an account.
    pub async fn twin_id_by_account(&self, account: &AccountId32) -> Result<Option<u32>, Error> {
        let key = account.0;
        self.read(|at| async move {
            Ok(nonzero(
                fetch::<([u8; 32],), u32>(&at, TFGRID, "TwinIdByAccountID", (key,)).await?,
            ))
        })
        .await
    }

    // ---------------- farms ----------------

    /// Creates a farm owned by the signer's twin; returns its id (from `FarmStored`).
    pub async fn create_farm(
        &self,
        signer: &Signer,
        name: &str,
        public_ips: &[PublicIpInput],
    ) -> Result<u32, Error> {
        let ips = Value::unnamed_composite(
            public_ips
                .iter()
                .map(|ip| Value::named_composite([("ip", bytes(&ip.ip)), ("gw", bytes(&ip.gw))])),
        );
        let outcome = self
            .submit(
                signer,
                TFGRID,
                "create_farm",
                vec![("name", bytes(name)), ("public_ips", ips)],
            )
            .await?;
        let (farm,): (RawFarm,) = event(&outcome, TFGRID, "create_farm", "FarmStored")?;
        Ok(Farm::from(farm).id)
    }

    /// A farm by id.
    pub async fn farm(&self, id: u32) -> Result<Option<Farm>, Error> {
        self.read(|at| async move {
            Ok(fetch::<(u32,), RawFarm>(&at, TFGRID, "Farms", (id,))
                .await?
                .map(Farm::from))
        })
        .await
    }

    /// All farms (iterates `TfgridModule.Farms`), sorted by id.
    pub async fn farms(&self) -> Result<Vec<Farm>, Error> {
        let mut farms = self
            .read(|at| async move { iter_values::<(u32,), RawFarm>(&at, TFGRID, "Farms").await })
            .await?
            .into_iter()
            .map(Farm::from)
            .collect::<Vec<_>>();
        farms.sort_by_key(|f| f.id);
        Ok(farms)
    }

    /// The id of the farm with this name.
    pub async fn farm_id_by_name(&self, name: &str) -> Result<Option<u32>, Error> {
        let key = name.as_bytes().to_vec();
        self.read(|at| {
            let key = key.clone();
            async move {
                Ok(nonzero(
                    fetch::<(Vec<u8>,), u32>(&at, TFGRID, "FarmIdByName", (key,)).await?,
                ))
            }
        })
        .await
    }

    // ---------------- nodes ----------------

    /// Registers a node (signed by the node's twin); returns its id (from `NodeStored`).
    pub async fn create_node(
        &self,
        signer: &Signer,
        farm_id: u32,
        input: &NodeInput,
    ) -> Result<u32, Error> {
        let mut args = vec![("farm_id", uint(farm_id))];
        args.extend(node_args(input));
        let outcome = self.submit(signer, TFGRID, "create_node", args).await?;
        let (node,): (RawNode,) = event(&outcome, TFGRID, "create_node", "NodeStored")?;
        Ok(Node::from(node).id)
    }

    /// Updates a node's registration (capacity, location, interfaces, ...).
    pub async fn update_node(
        &self,
        signer: &Signer,
        node_id: u32,
        farm_id: u32,
        input: &NodeInput,
    ) -> Result<(), Error> {
        let mut args = vec![("node_id", uint(node_id)), ("farm_id", uint(farm_id))];
        args.extend(node_args(input));
        self.submit(signer, TFGRID, "update_node", args).await?;
        Ok(())
    }

    /// A node by id.
    pub async fn node(&self, id: u32) -> Result<Option<Node>, Error> {
        self.read(|at| async move {
            Ok(fetch::<(u32,), RawNode>(&at, TFGRID, "Nodes", (id,))
                .await?
                .map(Node::from))
        })
        .await
    }

    /// The node registered by a twin.
    pub async fn node_id_by_twin(&self, twin_id: u32) -> Result<Option<u32>, Error> {
        self.read(|at| async move {
            Ok(nonzero(
                fetch::<(u32,), u32>(&at, TFGRID, "NodeIdByTwinID", (twin_id,)).await?,
            ))
        })
        .await
    }

    /// Nodes, sorted by id: all of them, or those of one farm (`NodesByFarmID`).
    pub async fn nodes(&self, farm_id: Option<u32>) -> Result<Vec<Node>, Error> {
        let mut nodes = self
            .read(|at| async move {
                match farm_id {
                    None => iter_values::<(u32,), RawNode>(&at, TFGRID, "Nodes").await,
                    Some(farm) => {
                        let ids = fetch::<(u32,), Vec<u32>>(&at, TFGRID, "NodesByFarmID", (farm,))
                            .await?
                            .unwrap_or_default();
                        let mut out = Vec::with_capacity(ids.len());
                        for id in ids {
                            if let Some(node) =
                                fetch::<(u32,), RawNode>(&at, TFGRID, "Nodes", (id,)).await?
                            {
                                out.push(node);
                            }
                        }
                        Ok(out)
                    }
                }
            })
            .await?
            .into_iter()
            .map(Node::from)
            .collect::<Vec<_>>();
        nodes.sort_by_key(|n| n.id);
        Ok(nodes)
    }

    /// Reports uptime (`report_uptime_v2`) with the chain's own time as the hint (the runtime
    /// rejects a hint more than about a minute away from `Timestamp.Now`).
    pub async fn report_uptime(&self, signer: &Signer, uptime_seconds: u64) -> Result<(), Error> {
        let hint = self.chain_time_ms().await? / 1000;
        self.submit(
            signer,
            TFGRID,
            "report_uptime_v2",
            vec![
                ("uptime", uint(uptime_seconds)),
                ("timestamp_hint", uint(hint)),
            ],
        )
        .await?;
        Ok(())
    }

    /// Sets the signer node's power state.
    pub async fn change_power_state(&self, signer: &Signer, state: Power) -> Result<(), Error> {
        let state = match state {
            Power::Up => "Up",
            Power::Down => "Down",
        };
        self.submit(
            signer,
            TFGRID,
            "change_power_state",
            vec![("power_state", Value::unnamed_variant(state, []))],
        )
        .await?;
        Ok(())
    }

    // ---------------- contracts ----------------

    /// Creates a node contract; returns its id (from `ContractCreated`). `deployment_data` must
    /// be at most 512 bytes.
    pub async fn create_node_contract(
        &self,
        signer: &Signer,
        node_id: u32,
        deployment_hash: [u8; 32],
        deployment_data: &[u8],
        public_ips: u32,
        solution_provider_id: Option<u64>,
    ) -> Result<u64, Error> {
        let outcome = self
            .submit(
                signer,
                CONTRACTS,
                "create_node_contract",
                vec![
                    ("node_id", uint(node_id)),
                    ("deployment_hash", bytes(deployment_hash)),
                    ("deployment_data", bytes(deployment_data)),
                    ("public_ips", uint(public_ips)),
                    (
                        "solution_provider_id",
                        option(solution_provider_id.map(uint)),
                    ),
                ],
            )
            .await?;
        let (contract,): (RawContract,) = event(
            &outcome,
            CONTRACTS,
            "create_node_contract",
            "ContractCreated",
        )?;
        Ok(Contract::from(contract).contract_id)
    }

    /// Updates a node contract's deployment hash and data.
    pub async fn update_node_contract(
        &self,
        signer: &Signer,
        contract_id: u64,
        deployment_hash: [u8; 32],
        deployment_data: &[u8],
    ) -> Result<(), Error> {
        self.submit(
            signer,
            CONTRACTS,
            "update_node_contract",
            vec![
                ("contract_id", uint(contract_id)),
                ("deployment_hash", bytes(deployment_hash)),
                ("deployment_data", bytes(deployment_data)),
            ],
        )
        .await?;
        Ok(())
    }

    /// Cancels a contract.
    pub async fn cancel_contract(&self, signer: &Signer, contract_id: u64) -> Result<(), Error> {
        self.submit(
            signer,
            CONTRACTS,
            "cancel_contract",
            vec![("contract_id", uint(contract_id))],
        )
        .await?;
        Ok(())
    }

    /// A contract by id.
    pub async fn contract(&self, id: u64) -> Result<Option<Contract>, Error> {
        self.read(|at| async move {
            Ok(
                fetch::<(u64,), RawContract>(&at, CONTRACTS, "Contracts", (id,))
                    .await?
                    .map(Contract::from),
            )
        })
        .await
    }

    /// What the node last reported a contract uses (`NodeContractResources`); `None` before
    /// its first report.
    pub async fn contract_resources(&self, contract_id: u64) -> Result<Option<Resources>, Error> {
        #[derive(DecodeAsType)]
        struct Reported {
            #[allow(dead_code)]
            contract_id: u64,
            used: Resources,
        }
        self.read(|at| async move {
            Ok(
                fetch::<(u64,), Reported>(&at, CONTRACTS, "NodeContractResources", (contract_id,))
                    .await?
                    .map(|r| r.used),
            )
        })
        .await
    }

    /// Ids of the active contracts on a node (`ActiveNodeContracts`).
    pub async fn node_contracts(&self, node_id: u32) -> Result<Vec<u64>, Error> {
        self.read(|at| async move {
            Ok(
                fetch::<(u32,), Vec<u64>>(&at, CONTRACTS, "ActiveNodeContracts", (node_id,))
                    .await?
                    .unwrap_or_default(),
            )
        })
        .await
    }

    /// The active rent contract of a node, if any.
    pub async fn rent_contract_of_node(&self, node_id: u32) -> Result<Option<u64>, Error> {
        self.read(|at| async move {
            Ok(nonzero(
                fetch::<(u32,), u64>(&at, CONTRACTS, "ActiveRentContractForNode", (node_id,))
                    .await?,
            ))
        })
        .await
    }

    /// Contracts of a twin, sorted by id. The runtime has no index by twin, so this iterates all
    /// contracts: fine for tools and tests, not for a hot path.
    pub async fn twin_contracts(&self, twin_id: u32) -> Result<Vec<Contract>, Error> {
        let mut contracts = self
            .read(|at| async move {
                iter_values::<(u64,), RawContract>(&at, CONTRACTS, "Contracts").await
            })
            .await?
            .into_iter()
            .map(Contract::from)
            .filter(|c| c.twin_id == twin_id)
            .collect::<Vec<_>>();
        contracts.sort_by_key(|c| c.contract_id);
        Ok(contracts)
    }

    /// Reports the resources used by node contracts (signed by the node's twin).
    pub async fn report_contract_resources(
        &self,
        signer: &Signer,
        reports: &[ContractResources],
    ) -> Result<(), Error> {
        let list = Value::unnamed_composite(reports.iter().map(|r| {
            Value::named_composite([
                ("contract_id", uint(r.contract_id)),
                ("used", resources(&r.used)),
            ])
        }));
        self.submit(
            signer,
            CONTRACTS,
            "report_contract_resources",
            vec![("contract_resources", list)],
        )
        .await?;
        Ok(())
    }

    /// Reports network usage of contracts (signed by the node's twin).
    pub async fn add_nru_reports(
        &self,
        signer: &Signer,
        reports: &[NruConsumption],
    ) -> Result<(), Error> {
        let list = Value::unnamed_composite(reports.iter().map(|r| {
            Value::named_composite([
                ("contract_id", uint(r.contract_id)),
                ("timestamp", uint(r.timestamp)),
                ("window", uint(r.window)),
                ("nru", uint(r.nru)),
            ])
        }));
        self.submit(
            signer,
            CONTRACTS,
            "add_nru_reports",
            vec![("reports", list)],
        )
        .await?;
        Ok(())
    }

    /// Bills a contract now (offchain workers do not run on the local chain); returns the
    /// amount billed (`ContractBilled`), `None` when nothing was due.
    pub async fn bill_contract_for_block(
        &self,
        signer: &Signer,
        contract_id: u64,
    ) -> Result<Option<u128>, Error> {
        #[derive(DecodeAsType)]
        #[allow(dead_code)]
        enum DiscountLevel {
            None,
            Default,
            Bronze,
            Silver,
            Gold,
        }
        #[derive(DecodeAsType)]
        #[allow(dead_code)]
        struct ContractBill {
            contract_id: u64,
            timestamp: u64,
            discount_level: DiscountLevel,
            amount_billed: u128,
        }
        let outcome = self
            .submit(
                signer,
                CONTRACTS,
                "bill_contract_for_block",
                vec![("contract_id", uint(contract_id))],
            )
            .await?;
        if !outcome
            .events
            .iter()
            .any(|e| e.pallet == CONTRACTS && e.variant == "ContractBilled")
        {
            return Ok(None);
        }
        let (bill,): (ContractBill,) = event(
            &outcome,
            CONTRACTS,
            "bill_contract_for_block",
            "ContractBilled",
        )?;
        Ok(Some(bill.amount_billed))
    }
}
