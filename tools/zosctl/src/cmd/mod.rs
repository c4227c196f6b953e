//! The commands. `run` dispatches; each submodule owns one noun (twin, farm, node, contract,
//! deployment, account, flist). Commands return an `Output` and never print (but for `deploy`'s progress,
//! through `output`); chain and node API errors become advice through `CliError::from_chain` and
//! `CliError::from_node`; flist errors through `CliError::flist`.
//!
//! A node request carries the key's twin id. The chain knows it, but a read from a node should not
//! need the chain: the id comes from `--twin`, else from what `known` remembered the last time it
//! was looked up, and only then from the chain.

mod account;
mod contract;
mod deployment;
mod farm;
mod flist;
mod node;
mod twin;

use std::time::Duration;

use serde::de::DeserializeOwned;
use serde_json::Value;
use zos_chain::{AccountId32, Chain, ReconnectPolicy, Signer};

use crate::cli::{
    CallerArgs, Cli, Command, ContractCommand, DeploymentCommand, FarmCommand, FlistCommand,
    KeyArgs, NodeCommand, TwinCommand,
};
use crate::error::CliError;
use crate::known::KnownTwins;
use crate::output::{self, Output};

/// A CLI call must not wait a minute for a chain that is not there.
const CONNECT_POLICY: ReconnectPolicy = ReconnectPolicy {
    initial_delay: Duration::from_millis(200),
    max_delay: Duration::from_secs(1),
    give_up_after: Some(Duration::from_secs(3)),
};

/// Runs one command line.
pub async fn run(cli: Cli) -> Result<Output, CliError> {
    let ctx = Ctx {
        url: cli.chain,
        node_url: cli.node_url,
        key: cli.key,
        known: KnownTwins::from_env(),
    };
    match cli.command {
        Command::Twin(TwinCommand::Create { relay }) => twin::create(&ctx, relay).await,
        Command::Twin(TwinCommand::Show { twin }) => twin::show(&ctx, twin.get()).await,
        Command::Farm(FarmCommand::Create {
            name,
            public_ips,
            gateways,
        }) => farm::create(&ctx, &name, &public_ips, &gateways).await,
        Command::Farm(FarmCommand::List) => farm::list(&ctx).await,
        Command::Node(NodeCommand::List { farm }) => node::list(&ctx, farm).await,
        Command::Node(NodeCommand::Show { node }) => node::show(&ctx, node.get()).await,
        Command::Node(NodeCommand::Stats { node, caller }) => {
            node::stats(&ctx, node.get(), &caller).await
        }
        Command::Node(NodeCommand::Status { caller }) => node::status(&ctx, &caller).await,
        Command::Contract(ContractCommand::CreateNode {
            node,
            hash,
            data,
            public_ips,
        }) => contract::create_node(&ctx, node, &hash, &data, public_ips).await,
        Command::Contract(ContractCommand::List { node, twin }) => {
            contract::list(&ctx, node, twin).await
        }
        Command::Contract(ContractCommand::Cancel { contract }) => {
            contract::cancel(&ctx, contract.get()).await
        }
        Command::Deploy { file, timeout } => deployment::deploy(&ctx, &file, timeout).await,
        Command::Deployment(DeploymentCommand::Get { contract, caller }) => {
            deployment::get(&ctx, contract.get(), &caller).await
        }
        Command::Deployment(DeploymentCommand::List { caller }) => {
            deployment::list(&ctx, &caller).await
        }
        Command::Deployment(DeploymentCommand::Changes { contract, caller }) => {
            deployment::changes(&ctx, contract.get(), &caller).await
        }
        Command::Deployment(DeploymentCommand::Hash { file }) => deployment::hash(&file),
        Command::Deployment(DeploymentCommand::Verify { file, twin_keys }) => {
            deployment::verify(&ctx, &file, &twin_keys).await
        }
        Command::Flist(FlistCommand::Pack {
            dir,
            out,
            stores,
            keep_passwords,
        }) => flist::pack(&dir, &out, &stores, keep_passwords).await,
        Command::Flist(FlistCommand::Ls { flist }) => flist::ls(&flist),
        Command::Flist(FlistCommand::Cat {
            flist,
            path,
            stores,
        }) => flist::cat(&flist, &path, &stores).await,
        Command::Completions { shell } => Ok(output::completions(shell)),
        Command::Transfer { to, amount } => account::transfer(&ctx, &to, amount).await,
        Command::Balance { address } => account::balance(&ctx, address.as_deref()).await,
    }
}

/// What every command needs: where the chain (and the node's API) is, which key to use, and the
/// twins remembered from earlier calls.
pub struct Ctx {
    url: String,
    node_url: Option<String>,
    key: KeyArgs,
    known: KnownTwins,
}

/// The chain step of a node read: the only one, and skipped when the twin is known.
const TWIN_LOOKUP: &str = "look up this key's twin for the node request (pass --twin ID to skip it; zosctl remembers the twin after one lookup)";

impl Ctx {
    /// The selected key; an error when none is given.
    fn signer(&self) -> Result<Signer, CliError> {
        crate::key::signer(&self.key)?.ok_or(CliError::NoKey)
    }

    /// Connects (giving up after a few seconds). `step` says what the chain is needed for
    /// ("create the farm"): the error says it when the chain cannot be reached.
    async fn chain(&self, step: &str) -> Result<Chain, CliError> {
        Chain::connect_with(&self.url, CONNECT_POLICY)
            .await
            .map_err(|e| match self.fail(e) {
                unreachable @ CliError::Unreachable { .. } => CliError::ChainNeeded {
                    step: step.to_string(),
                    cause: Box::new(unreachable),
                },
                other => other,
            })
    }

    /// Translates a chain error for people.
    fn fail(&self, err: zos_chain::Error) -> CliError {
        CliError::from_chain(&self.url, err)
    }

    /// The twin of the key's account, from the chain; remembered for the node reads.
    async fn own_twin(&self, chain: &Chain, signer: &Signer) -> Result<u32, CliError> {
        let twin = chain
            .twin_id_by_account(&signer.account_id())
            .await
            .map_err(|e| self.fail(e))?
            .ok_or(CliError::NoTwin)?;
        self.remember_twin(signer, twin);
        Ok(twin)
    }

    /// Notes `twin` as the key's on this chain. A cache: failing to write it is only a warning.
    fn remember_twin(&self, signer: &Signer, twin: u32) {
        let account = signer.account_id().to_string();
        if let Err(e) = self.known.remember(&self.url, &account, twin) {
            output::warning(&e);
        }
    }

    /// The twin remembered for the key on this chain, if any (an unreadable file is a warning).
    fn remembered_twin(&self, signer: &Signer) -> Option<u32> {
        let account = signer.account_id().to_string();
        self.known.get(&self.url, &account).unwrap_or_else(|e| {
            output::warning(&e);
            None
        })
    }

    /// The twin a node request is made as: `--twin`, else the remembered one, else the chain's;
    /// and whether it was the remembered one.
    async fn caller_twin(
        &self,
        signer: &Signer,
        caller: &CallerArgs,
    ) -> Result<(u32, bool), CliError> {
        if let Some(twin) = caller.twin {
            return Ok((twin, false));
        }
        if let Some(twin) = self.remembered_twin(signer) {
            return Ok((twin, true));
        }
        let chain = self.chain(TWIN_LOOKUP).await?;
        Ok((self.own_twin(&chain, signer).await?, false))
    }

    /// The node API URL (required: there is no relay to reach a node by its id yet).
    fn node_url(&self) -> Result<&str, CliError> {
        self.node_url.as_deref().ok_or(CliError::NoNodeUrl)
    }

    /// A node API client at `url` acting as `twin`, signing with `signer`.
    fn node_client(
        &self,
        url: &str,
        signer: &Signer,
        twin: u32,
    ) -> Result<zos_api::Client, CliError> {
        zos_api::Client::new(url, signer.clone(), twin).map_err(|e| CliError::from_node(url, e))
    }

    /// One node API call as the key's twin. A remembered twin the node refuses may be stale (a
    /// local chain started again from genesis gives the account another id): then the chain is
    /// asked once, if it answers, and the call made again as the twin it names.
    async fn node_call<T: DeserializeOwned>(
        &self,
        command: &str,
        data: Value,
        caller: &CallerArgs,
    ) -> Result<T, CliError> {
        let url = self.node_url()?;
        let signer = self.signer()?;
        let (twin, remembered) = self.caller_twin(&signer, caller).await?;
        let call = |twin| {
            let data = &data;
            let signer = &signer;
            async move {
                self.node_client(url, signer, twin)?
                    .call(command, data)
                    .await
                    .map_err(|e| CliError::from_node(url, e))
            }
        };
        match call(twin).await {
            Err(refused) if remembered && refused.is_unauthorized() => {
                let fresh = match self.chain(TWIN_LOOKUP).await {
                    Ok(chain) => self.own_twin(&chain, &signer).await.ok(),
                    Err(_) => None,
                };
                match fresh {
                    Some(fresh) if fresh != twin => call(fresh).await,
                    _ => Err(refused),
                }
            }
            result => result,
        }
    }
}

/// Parses an ss58 address.
fn parse_address(address: &str) -> Result<AccountId32, CliError> {
    address.trim().parse().map_err(|e| {
        CliError::InvalidArgument(format!(
            "{address:?} is not an ss58 address: {e}",
            e = zos_base::Report(&e)
        ))
    })
}
