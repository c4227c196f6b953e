//! The command line: global flags (chain, key selection, output mode) and the command tree.
//! Only definitions; `cmd` runs them.
//!
//! A command that names one thing takes it the same way everywhere: positional (`deployment get
//! 12`, `node stats 1`), with the flag of the same name as an alias (`--contract 12`, `--node 1`)
//! for the scripts written against older versions.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// zosctl: manage twins, farms, nodes, contracts and deployments on a zos grid.
///
/// Amounts are in chain units (1 TFT = 10 000 000 units).
#[derive(Debug, Parser)]
#[command(name = "zosctl", version)]
pub struct Cli {
    /// TFChain WebSocket URL.
    #[arg(
        long,
        global = true,
        env = "TFCHAIN_URL",
        default_value = "ws://127.0.0.1:8040"
    )]
    pub chain: String,

    /// A node's API URL, http://HOST:PORT (the node API listens on port 2021).
    #[arg(long, global = true, env = "ZOSCTL_NODE_URL", value_name = "URL")]
    pub node_url: Option<String>,

    #[command(flatten)]
    pub key: KeyArgs,

    /// Print JSON (for scripts) instead of tables.
    #[arg(long, global = true)]
    pub json: bool,

    #[command(subcommand)]
    pub command: Command,
}

/// Which key signs. One of --key, --mnemonic (or env ZOSCTL_MNEMONIC), --seed-file.
#[derive(Debug, Clone, Args)]
pub struct KeyArgs {
    /// An sr25519 secret URI: a dev URI like //Alice, or "<mnemonic>//path".
    #[arg(long, global = true, value_name = "URI")]
    pub key: Option<String>,

    /// A BIP39 mnemonic (also env ZOSCTL_MNEMONIC).
    #[arg(long, global = true, value_name = "WORDS")]
    pub mnemonic: Option<String>,

    /// A file holding a 32-byte hex seed (with or without 0x).
    #[arg(long, global = true, value_name = "PATH")]
    pub seed_file: Option<PathBuf>,

    /// Key scheme: sr25519 for users and farmers, ed25519 for node twins.
    #[arg(long, global = true, value_enum, default_value_t = KeyType::Sr25519)]
    pub key_type: KeyType,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum KeyType {
    Sr25519,
    Ed25519,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Twins: the on-chain identity of an account.
    #[command(subcommand)]
    Twin(TwinCommand),
    /// Farms: created by a farmer's twin; nodes register into them.
    #[command(subcommand)]
    Farm(FarmCommand),
    /// Nodes registered on the chain.
    #[command(subcommand)]
    Node(NodeCommand),
    /// Contracts: what users deploy on nodes.
    #[command(subcommand)]
    Contract(ContractCommand),
    /// Deploy the workloads of a description file (YAML or JSON) on its node: creates the
    /// contract, signs, sends, waits until every workload is ok or in error.
    Deploy {
        /// The description: {node, description?, metadata?, workloads: [{name, type, data}]}.
        file: PathBuf,
        /// Seconds to wait for the workloads.
        #[arg(long, value_name = "SECS", default_value_t = 300)]
        timeout: u64,
    },
    /// Deployments on a node (get, list, changes) and offline checks of deployment files.
    #[command(subcommand)]
    Deployment(DeploymentCommand),
    /// Flists (v2 `.fl`, as rfs): pack a directory, list one, print one of its files. Offline
    /// but for the block stores.
    #[command(subcommand)]
    Flist(FlistCommand),
    /// Print a completion script for a shell, e.g. `zosctl completions bash >
    /// /etc/bash_completion.d/zosctl`.
    Completions {
        /// The shell.
        shell: clap_complete::Shell,
    },
    /// Transfer funds from the key's account (dev: fund a fresh account from //Alice).
    Transfer {
        /// Destination ss58 address.
        #[arg(long)]
        to: String,
        /// Amount in chain units.
        #[arg(long)]
        amount: u128,
    },
    /// Free balance of an address (default: the key's account).
    Balance {
        /// An ss58 address.
        address: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
pub enum FlistCommand {
    /// Pack the tree at DIR into a new OUT (.fl), uploading its blocks to the stores.
    Pack {
        /// The directory to pack (symlinks in it are stored, never followed).
        dir: PathBuf,
        /// The .fl to write (replaced only when complete).
        out: PathBuf,
        /// A block store: dir:///PATH, zdb://[:PASSWORD@]HOST[:PORT][/NAMESPACE]; prefix xx-yy=
        /// (hex) for ids starting in that range. Repeat for several.
        #[arg(long = "store", value_name = "URL", required = true)]
        stores: Vec<String>,
        /// Keep the stores' passwords in the .fl's routes (stripped by default).
        #[arg(long)]
        keep_passwords: bool,
    },
    /// List every entry of a .fl: type and mode, owner, size, path, link target.
    Ls {
        /// The .fl file.
        flist: PathBuf,
    },
    /// Print a file of a .fl, its blocks fetched and checked.
    Cat {
        /// The .fl file.
        flist: PathBuf,
        /// The file's path inside the flist, e.g. /etc/os-release.
        path: String,
        /// Read blocks from these stores (URL or xx-yy=URL; also http(s)://) instead of the .fl's
        /// routes.
        #[arg(long = "store", value_name = "URL")]
        stores: Vec<String>,
    },
}

#[derive(Debug, Subcommand)]
pub enum TwinCommand {
    /// Create the key's twin (accepts the terms and conditions first if needed).
    Create {
        /// The relay the twin is reachable through (RMB), e.g. relay.example.
        #[arg(long)]
        relay: Option<String>,
    },
    /// Show a twin (default: the key's twin).
    Show {
        #[command(flatten)]
        twin: TwinArg,
    },
}

#[derive(Debug, Subcommand)]
pub enum FarmCommand {
    /// Create a farm owned by the key's twin.
    Create {
        /// Farm name (unique on the chain).
        name: String,
        /// A public IPv4 with prefix length (e.g. 185.0.0.2/24); repeat, one --gw per --public-ip.
        #[arg(long = "public-ip", value_name = "IP/NN")]
        public_ips: Vec<String>,
        /// Gateway of the --public-ip at the same position.
        #[arg(long = "gw", value_name = "GW")]
        gateways: Vec<String>,
    },
    /// List all farms.
    List,
}

#[derive(Debug, Subcommand)]
pub enum NodeCommand {
    /// List nodes (all, or those of one farm).
    List {
        /// Only nodes of this farm.
        #[arg(long)]
        farm: Option<u32>,
    },
    /// Show one node.
    Show {
        #[command(flatten)]
        node: NodeArg,
    },
    /// A node's capacity statistics (total, used, system, free) from its API (needs --node-url).
    Stats {
        #[command(flatten)]
        node: NodeArg,
        #[command(flatten)]
        caller: CallerArgs,
    },
    /// What a node says about itself from its API (needs --node-url): its registration and,
    /// when it is not registered, why, in words.
    Status {
        #[command(flatten)]
        caller: CallerArgs,
    },
}

#[derive(Debug, Subcommand)]
pub enum ContractCommand {
    /// Create a node contract signed by the key's twin.
    CreateNode {
        /// Node id.
        #[arg(long)]
        node: u32,
        /// Deployment hash: 32 characters (zos: md5 hex digest) or 0x + 64 hex digits.
        #[arg(long)]
        hash: String,
        /// Deployment data (at most 512 bytes).
        #[arg(long, default_value = "")]
        data: String,
        /// Number of public IPv4s to reserve from the node's farm.
        #[arg(long, default_value_t = 0)]
        public_ips: u32,
    },
    /// List contracts (default: the key's twin's).
    List {
        /// Active contracts of this node.
        #[arg(long, conflicts_with = "twin")]
        node: Option<u32>,
        /// Contracts of this twin.
        #[arg(long)]
        twin: Option<u32>,
    },
    /// Cancel a contract of the key's twin.
    Cancel {
        #[command(flatten)]
        contract: ContractArg,
    },
}

#[derive(Debug, Subcommand)]
pub enum DeploymentCommand {
    /// Show one of the key's twin's deployments on the node (needs --node-url).
    Get {
        #[command(flatten)]
        contract: ContractArg,
        #[command(flatten)]
        caller: CallerArgs,
    },
    /// List the key's twin's active deployments on the node (needs --node-url).
    List {
        #[command(flatten)]
        caller: CallerArgs,
    },
    /// Every result change of a deployment's workloads (needs --node-url).
    Changes {
        #[command(flatten)]
        contract: ContractArg,
        #[command(flatten)]
        caller: CallerArgs,
    },
    /// Print the hash (hex) of a deployment JSON file: what its contract stores.
    Hash {
        /// A deployment as zos sends it (JSON).
        file: PathBuf,
    },
    /// Check the signatures of a deployment JSON file against its signature requirement.
    Verify {
        /// A deployment as zos sends it (JSON).
        file: PathBuf,
        /// A twin's 32-byte public key (hex); repeat for each signer. Without it the keys come
        /// from the chain (--chain).
        #[arg(long = "twin-key", value_name = "TWIN=HEX")]
        twin_keys: Vec<String>,
    },
}

/// Who asks a node: the key signs, and the node wants the key's twin id with each request.
#[derive(Debug, Clone, Args)]
pub struct CallerArgs {
    /// The key's twin id, so the node can be asked without the chain (zosctl also remembers it
    /// from the last time it looked it up).
    #[arg(long, value_name = "TWIN")]
    pub twin: Option<u32>,
}

/// An argument that names one thing: `VALUE` or `--flag VALUE`, exactly one of them.
macro_rules! named_arg {
    ($(#[$doc:meta])* $name:ident: $ty:ty, $flag:literal, $value:literal, $help:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Args)]
        #[group(required = true, multiple = false)]
        pub struct $name {
            #[arg(id = $flag, value_name = $value, help = $help)]
            positional: Option<$ty>,
            #[arg(
                id = concat!($flag, "-flag"),
                long = $flag,
                value_name = $value,
                help = concat!("The same as ", $value)
            )]
            flag: Option<$ty>,
        }

        impl $name {
            pub fn get(&self) -> $ty {
                match (self.positional, self.flag) {
                    (Some(value), _) | (None, Some(value)) => value,
                    (None, None) => unreachable!(concat!(
                        "clap requires ",
                        $value,
                        " or --",
                        $flag
                    )),
                }
            }
        }
    };
}

named_arg!(
    /// One contract: `CONTRACT` or `--contract CONTRACT`.
    ContractArg: u64, "contract", "CONTRACT", "The contract id (of the deployment)"
);
named_arg!(
    /// One node: `NODE` or `--node NODE`.
    NodeArg: u32, "node", "NODE", "The node id"
);

/// One twin, or none for the key's own: `[TWIN]` or `--twin TWIN`.
#[derive(Debug, Clone, Args)]
#[group(multiple = false)]
pub struct TwinArg {
    /// The twin id (default: the key's twin).
    #[arg(id = "twin", value_name = "TWIN")]
    positional: Option<u32>,
    /// The same as TWIN.
    #[arg(id = "twin-flag", long = "twin", value_name = "TWIN")]
    flag: Option<u32>,
}

impl TwinArg {
    pub fn get(&self) -> Option<u32> {
        self.positional.or(self.flag)
    }
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    use super::*;

    fn parse(args: &[&str]) -> Result<Command, clap::Error> {
        Cli::try_parse_from([&["zosctl"], args].concat()).map(|cli| cli.command)
    }

    #[test]
    fn the_command_tree_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn one_thing_is_named_positionally_or_by_its_flag() {
        for args in [
            &["deployment", "get", "12"][..],
            &["deployment", "get", "--contract", "12"],
        ] {
            match parse(args).expect("parses") {
                Command::Deployment(DeploymentCommand::Get { contract, caller }) => {
                    assert_eq!((contract.get(), caller.twin), (12, None), "{args:?}");
                }
                other => panic!("{args:?}: {other:?}"),
            }
        }
        match parse(&["node", "stats", "--node", "3", "--twin", "7"]).expect("parses") {
            Command::Node(NodeCommand::Stats { node, caller }) => {
                assert_eq!((node.get(), caller.twin), (3, Some(7)));
            }
            other => panic!("{other:?}"),
        }
        match parse(&["contract", "cancel", "--contract", "9"]).expect("parses") {
            Command::Contract(ContractCommand::Cancel { contract }) => {
                assert_eq!(contract.get(), 9)
            }
            other => panic!("{other:?}"),
        }
        match parse(&["twin", "show", "--twin", "4"]).expect("parses") {
            Command::Twin(TwinCommand::Show { twin }) => assert_eq!(twin.get(), Some(4)),
            other => panic!("{other:?}"),
        }
        match parse(&["twin", "show"]).expect("parses") {
            Command::Twin(TwinCommand::Show { twin }) => assert_eq!(twin.get(), None),
            other => panic!("{other:?}"),
        }
        for args in [
            &["deployment", "get"][..],
            &["deployment", "get", "1", "--contract", "2"],
            &["deployment", "changes"],
            &["node", "show"],
            &["node", "stats", "1", "--node", "1"],
            &["contract", "cancel"],
            &["twin", "show", "1", "--twin", "1"],
            &["deployment", "get", "x"],
        ] {
            let err = parse(args).expect_err(&format!("{args:?}"));
            assert_eq!(err.exit_code(), 2, "{args:?}: {err}");
        }
    }
}
