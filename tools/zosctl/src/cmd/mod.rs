//! The commands. `run` dispatches; each submodule owns one noun (twin, farm, node, contract,
//! deployment, account). Commands return an `Output` and never print (but for `deploy`'s progress,
//! through `output`); chain and node API errors become advice through `CliError::from_chain` and
//! `CliError::from_node`.

mod account;
mod contract;
mod deployment;
mod farm;
mod node;
mod twin;

use std::time::Duration;

use serde::de::DeserializeOwned;
use serde::Serialize;
use zos_chain::{AccountId32, Chain, ReconnectPolicy, Signer};

use crate::cli::{
    Cli, Command, ContractCommand, DeploymentCommand, FarmCommand, KeyArgs, NodeCommand,
    TwinCommand,
};
use crate::error::CliError;
use crate::output::Output;

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
    };
    match cli.command {
        Command::Twin(TwinCommand::Create { relay }) => twin::create(&ctx, relay).await,
        Command::Twin(TwinCommand::Show { id }) => twin::show(&ctx, id).await,
        Command::Farm(FarmCommand::Create {
            name,
            public_ips,
            gateways,
        }) => farm::create(&ctx, &name, &public_ips, &gateways).await,
        Command::Farm(FarmCommand::List) => farm::list(&ctx).await,
        Command::Node(NodeCommand::List { farm }) => node::list(&ctx, farm).await,
        Command::Node(NodeCommand::Show { id }) => node::show(&ctx, id).await,
        Command::Node(NodeCommand::Stats { id }) => node::stats(&ctx, id).await,
        Command::Contract(ContractCommand::CreateNode {
            node,
            hash,
            data,
            public_ips,
        }) => contract::create_node(&ctx, node, &hash, &data, public_ips).await,
        Command::Contract(ContractCommand::List { node, twin }) => {
            contract::list(&ctx, node, twin).await
        }
        Command::Contract(ContractCommand::Cancel { id }) => contract::cancel(&ctx, id).await,
        Command::Deploy { file, timeout } => deployment::deploy(&ctx, &file, timeout).await,
        Command::Deployment(DeploymentCommand::Get { contract }) => {
            deployment::get(&ctx, contract).await
        }
        Command::Deployment(DeploymentCommand::List) => deployment::list(&ctx).await,
        Command::Deployment(DeploymentCommand::Changes { contract }) => {
            deployment::changes(&ctx, contract).await
        }
        Command::Deployment(DeploymentCommand::Hash { file }) => deployment::hash(&file),
        Command::Deployment(DeploymentCommand::Verify { file, twin_keys }) => {
            deployment::verify(&ctx, &file, &twin_keys).await
        }
        Command::Transfer { to, amount } => account::transfer(&ctx, &to, amount).await,
        Command::Balance { address } => account::balance(&ctx, address.as_deref()).await,
    }
}

/// What every command needs: where the chain (and the node's API) is and which key to use.
pub struct Ctx {
    url: String,
    node_url: Option<String>,
    key: KeyArgs,
}

impl Ctx {
    /// The selected key; an error when none is given.
    fn signer(&self) -> Result<Signer, CliError> {
        crate::key::signer(&self.key)?.ok_or(CliError::NoKey)
    }

    /// Connects (giving up after a few seconds).
    async fn chain(&self) -> Result<Chain, CliError> {
        Chain::connect_with(&self.url, CONNECT_POLICY)
            .await
            .map_err(|e| self.fail(e))
    }

    /// Translates a chain error for people.
    fn fail(&self, err: zos_chain::Error) -> CliError {
        CliError::from_chain(&self.url, err)
    }

    /// The twin of the key's account.
    async fn own_twin(&self, chain: &Chain, signer: &Signer) -> Result<u32, CliError> {
        chain
            .twin_id_by_account(&signer.account_id())
            .await
            .map_err(|e| self.fail(e))?
            .ok_or(CliError::NoTwin)
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

    /// One node API call as the key's twin (its id read from the chain).
    async fn node_call<T: DeserializeOwned>(
        &self,
        command: &str,
        data: impl Serialize,
    ) -> Result<T, CliError> {
        let url = self.node_url()?;
        let signer = self.signer()?;
        let chain = self.chain().await?;
        let twin = self.own_twin(&chain, &signer).await?;
        self.node_client(url, &signer, twin)?
            .call(command, data)
            .await
            .map_err(|e| CliError::from_node(url, e))
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
