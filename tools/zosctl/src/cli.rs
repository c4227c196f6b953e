//! The command line: global flags (chain, key selection, output mode) and the command tree.
//! Only definitions; `cmd` runs them.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// zosctl: manage twins, farms, nodes and contracts on TFChain.
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
pub enum TwinCommand {
    /// Create the key's twin (accepts the terms and conditions first if needed).
    Create {
        /// The relay the twin is reachable through (RMB), e.g. relay.example.
        #[arg(long)]
        relay: Option<String>,
    },
    /// Show a twin (default: the key's twin).
    Show {
        /// Twin id.
        id: Option<u32>,
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
        /// Node id.
        id: u32,
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
        /// Contract id.
        id: u64,
    },
}
