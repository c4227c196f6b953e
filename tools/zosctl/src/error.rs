//! zosctl's errors: each says what went wrong and what to do about it.
//!
//! Chain errors are translated here (and only here) from `zos_chain::Error` into advice: an
//! unreachable chain, an account without funds, a pallet refusing a call (by its name, e.g.
//! `TfgridModule.FarmNotExists`); node API errors likewise from `zos_api::ClientError`.

use zos_api::ClientError;
use zos_chain::Error as ChainError;

/// Everything a command can fail with.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    #[error("no key given: pass --key //Alice (dev), --mnemonic \"words\" (or set ZOSCTL_MNEMONIC) or --seed-file PATH")]
    NoKey,

    #[error("pass only one of --key, --mnemonic, --seed-file")]
    TwoKeys,

    #[error("invalid key: {0}")]
    BadKey(String),

    #[error("cannot reach the chain at {url}: is it running? (`make chain`)\n  cause: {reason}")]
    Unreachable { url: String, reason: String },

    /// The chain could not be reached for a step that needs it (`cause` says why).
    #[error("{cause}\n  the chain was needed to {step}")]
    ChainNeeded { step: String, cause: Box<CliError> },

    #[error("lost the connection to the chain at {url}: is it running? (`make chain`)\n  cause: {reason}")]
    ConnectionLost { url: String, reason: String },

    #[error("invalid chain URL {url:?}: use --chain ws://HOST:PORT (or env TFCHAIN_URL)")]
    BadUrl { url: String },

    #[error("account {account} has no funds to pay for this: fund it (dev: `zosctl --key //Alice transfer --to {account} --amount 1000000000000` or the activation service)")]
    NoFunds { account: String },

    #[error("this key has no twin: create one with `zosctl twin create`")]
    NoTwin,

    #[error("this key already has twin {id}: see it with `zosctl twin show`")]
    TwinExists { id: u32 },

    #[error("twin {0} does not exist")]
    TwinMissing(u32),

    #[error("farm {0} does not exist: create it with `zosctl farm create NAME`")]
    FarmMissing(u32),

    #[error("node {0} does not exist: see the registered nodes with `zosctl node list`")]
    NodeMissing(u32),

    #[error("contract {0} does not exist: see yours with `zosctl contract list`")]
    ContractMissing(u64),

    #[error("contract {id} belongs to twin {owner}, not to this key's twin {twin}")]
    NotYourContract { id: u64, owner: u32, twin: u32 },

    #[error("{0}")]
    InvalidArgument(String),

    /// A flist command failed on `what` (a .fl file, a directory).
    #[error("{what}: {reason}")]
    Flist { what: String, reason: String },

    #[error("the chain refused the call: {pallet}.{error}{}{}", docs_suffix(.docs), hint_suffix(.pallet, .error))]
    Refused {
        pallet: String,
        error: String,
        docs: String,
    },

    #[error("chain error: {0}")]
    Chain(ChainError),

    #[error("no node API URL: pass --node-url http://HOST:2021 (or set ZOSCTL_NODE_URL); there is no relay yet to reach a node by its id")]
    NoNodeUrl,

    /// A file that cannot be read or does not hold what the command expects.
    #[error("{path}: {reason}")]
    BadFile { path: String, reason: String },

    #[error("cannot reach the node API at {url}: is the node up and its API port reachable?\n  cause: {reason}")]
    NodeUnreachable { url: String, reason: String },

    #[error("the node at {url} refused the request ({code}): {message}{}", node_hint(.code))]
    NodeRefused {
        url: String,
        code: String,
        message: String,
    },

    #[error("node API at {url}: {reason}")]
    NodeApi { url: String, reason: String },

    #[error("{cause}\n  contract {contract} was canceled, so it is not billed")]
    DeployCanceled { contract: u64, cause: Box<CliError> },

    #[error("{cause}\n  canceling contract {contract} failed too ({cancel}): cancel it with `zosctl contract cancel {contract}`")]
    DeployNotCanceled {
        contract: u64,
        cause: Box<CliError>,
        cancel: Box<CliError>,
    },

    #[error("{cause}\n  the deployment was sent: contract {contract} stays; follow it with `zosctl deployment get {contract}` or remove it with `zosctl contract cancel {contract}`")]
    DeployUnfollowed { contract: u64, cause: Box<CliError> },

    #[error("not every workload is ready after {secs} s: contract {contract} stays; follow it with `zosctl deployment get {contract}` or remove it with `zosctl contract cancel {contract}`")]
    DeployTimeout { contract: u64, secs: u64 },

    #[error("workloads in error: {names}: remove the deployment with `zosctl contract cancel {contract}`")]
    WorkloadsFailed { contract: u64, names: String },

    #[error("{path}: the signatures do not meet the requirement: {reason}")]
    Unverified { path: String, reason: String },
}

impl CliError {
    /// Translates a chain client error into advice for the person at the keyboard.
    pub fn from_chain(url: &str, err: ChainError) -> Self {
        match err {
            ChainError::Connect { reason, .. } => CliError::Unreachable {
                url: url.to_string(),
                reason,
            },
            ChainError::Rpc { context, message } => CliError::ConnectionLost {
                url: url.to_string(),
                reason: format!("while {context}: {message}"),
            },
            ChainError::InvalidUrl { .. } => CliError::BadUrl {
                url: url.to_string(),
            },
            ChainError::InsufficientFunds { account, .. } => CliError::NoFunds { account },
            ChainError::Module {
                pallet,
                error,
                docs,
            } => CliError::Refused {
                pallet,
                error,
                docs,
            },
            other => CliError::Chain(other),
        }
    }
}

impl CliError {
    /// A flist library error about `what` (a path), with its causes.
    pub fn flist(what: &std::path::Path, err: &dyn std::error::Error) -> Self {
        CliError::Flist {
            what: what.display().to_string(),
            reason: zos_base::report(err),
        }
    }

    /// Whether the node refused the request's signature (or the twin it names).
    pub fn is_unauthorized(&self) -> bool {
        matches!(self, CliError::NodeRefused { code, .. } if code == "unauthorized")
    }

    /// Translates a node API client error into advice.
    pub fn from_node(url: &str, err: ClientError) -> Self {
        let url = url.to_string();
        match err {
            ClientError::Url { .. } => CliError::InvalidArgument(format!(
                "{err}: use --node-url http://HOST:PORT",
                err = zos_base::Report(&err)
            )),
            ClientError::Transport { reason, .. } => CliError::NodeUnreachable { url, reason },
            ClientError::Api { code, message, .. } => CliError::NodeRefused { url, code, message },
            other => CliError::NodeApi {
                url,
                reason: other.to_string(),
            },
        }
    }
}

/// What to do about the node API's refusals.
fn node_hint(code: &str) -> &'static str {
    match code {
        "unauthorized" => ": the node checks request signatures against the twin keys on its chain; is --chain the chain the node uses?",
        "not_found" => ": see this twin's deployments on the node with `zosctl deployment list`",
        _ => "",
    }
}

fn docs_suffix(docs: &str) -> String {
    let docs = docs.trim();
    if docs.is_empty() {
        String::new()
    } else {
        format!(" ({docs})")
    }
}

/// What to do about the pallet errors people run into with zosctl.
fn hint_suffix(pallet: &str, error: &str) -> &'static str {
    match (pallet, error) {
        ("TfgridModule", "FarmExists") => {
            ": a farm with this name exists, pick another NAME (`zosctl farm list`)"
        }
        ("TfgridModule", "TwinNotExists") | ("SmartContractModule", "TwinNotExists") => {
            ": create a twin with `zosctl twin create`"
        }
        ("TfgridModule", "TwinWithPubkeyExists") => ": this key has a twin (`zosctl twin show`)",
        ("TfgridModule", "FarmNotExists") => ": create it with `zosctl farm create NAME`",
        ("SmartContractModule", "NodeNotExists") => ": see the nodes with `zosctl node list`",
        ("SmartContractModule", "NotEnoughIpsOnNode" | "FarmHasNotEnoughPublicIPs") => {
            ": the node's farm has fewer free public IPs than asked (`zosctl farm list`)"
        }
        _ => "",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pallet_errors_keep_their_name_and_get_a_hint() {
        let err = CliError::from_chain(
            "ws://x:1",
            ChainError::Module {
                pallet: "TfgridModule".into(),
                error: "FarmExists".into(),
                docs: String::new(),
            },
        );
        assert_eq!(
            zos_base::report(&err),
            "the chain refused the call: TfgridModule.FarmExists: a farm with this name exists, pick another NAME (`zosctl farm list`)"
        );
    }

    #[test]
    fn connection_and_funds_errors_say_what_to_do() {
        let err = CliError::from_chain(
            "ws://127.0.0.1:1",
            ChainError::Connect {
                url: "ws://127.0.0.1:1".into(),
                attempts: 3,
                reason: "refused".into(),
            },
        );
        assert!(zos_base::report(&err).starts_with(
            "cannot reach the chain at ws://127.0.0.1:1: is it running? (`make chain`)"
        ));
        let err = CliError::from_chain(
            "ws://x:1",
            ChainError::InsufficientFunds {
                account: "5Abc".into(),
                message: "Inability to pay some fees".into(),
            },
        );
        assert!(
            zos_base::report(&err).contains("transfer --to 5Abc"),
            "{err}"
        );
    }
}
