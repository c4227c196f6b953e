//! `zosctl contract`: create node contracts, list contracts (of a twin or a node), cancel.

use zos_chain::Contract;

use super::Ctx;
use crate::error::CliError;
use crate::output::{self, Output};

/// The runtime's limit on deployment data.
const MAX_DEPLOYMENT_DATA: usize = 512;

pub async fn create_node(
    ctx: &Ctx,
    node: u32,
    hash: &str,
    data: &str,
    public_ips: u32,
) -> Result<Output, CliError> {
    let hash = parse_hash(hash)?;
    if data.len() > MAX_DEPLOYMENT_DATA {
        return Err(CliError::InvalidArgument(format!(
            "--data is {} bytes; the chain takes at most {MAX_DEPLOYMENT_DATA}",
            data.len()
        )));
    }
    let signer = ctx.signer()?;
    let chain = ctx.chain("create the contract").await?;
    ctx.own_twin(&chain, &signer).await?;
    if chain.node(node).await.map_err(|e| ctx.fail(e))?.is_none() {
        return Err(CliError::NodeMissing(node));
    }
    let id = chain
        .create_node_contract(&signer, node, hash, data.as_bytes(), public_ips, None)
        .await
        .map_err(|e| ctx.fail(e))?;
    let contract = chain
        .contract(id)
        .await
        .map_err(|e| ctx.fail(e))?
        .ok_or(CliError::ContractMissing(id))?;
    Ok(output::contract(&contract))
}

pub async fn list(ctx: &Ctx, node: Option<u32>, twin: Option<u32>) -> Result<Output, CliError> {
    if let Some(node) = node {
        let chain = ctx.chain("list the node's contracts").await?;
        if chain.node(node).await.map_err(|e| ctx.fail(e))?.is_none() {
            return Err(CliError::NodeMissing(node));
        }
        let ids = chain.node_contracts(node).await.map_err(|e| ctx.fail(e))?;
        let mut contracts: Vec<Contract> = Vec::with_capacity(ids.len());
        for id in ids {
            // A contract removed between the two reads is simply not listed.
            if let Some(c) = chain.contract(id).await.map_err(|e| ctx.fail(e))? {
                contracts.push(c);
            }
        }
        contracts.sort_by_key(|c| c.contract_id);
        return Ok(output::contracts(
            &contracts,
            format!("no active contracts on node {node}"),
        ));
    }
    let (chain, twin) = match twin {
        Some(twin) => {
            let chain = ctx.chain("list the twin's contracts").await?;
            if chain.twin(twin).await.map_err(|e| ctx.fail(e))?.is_none() {
                return Err(CliError::TwinMissing(twin));
            }
            (chain, twin)
        }
        None => {
            let signer = ctx.signer()?;
            let chain = ctx.chain("list this key's contracts").await?;
            let twin = ctx.own_twin(&chain, &signer).await?;
            (chain, twin)
        }
    };
    let contracts = chain.twin_contracts(twin).await.map_err(|e| ctx.fail(e))?;
    Ok(output::contracts(
        &contracts,
        format!("no contracts of twin {twin}"),
    ))
}

pub async fn cancel(ctx: &Ctx, id: u64) -> Result<Output, CliError> {
    let signer = ctx.signer()?;
    let chain = ctx.chain(&format!("cancel contract {id}")).await?;
    let twin = ctx.own_twin(&chain, &signer).await?;
    let contract = chain
        .contract(id)
        .await
        .map_err(|e| ctx.fail(e))?
        .ok_or(CliError::ContractMissing(id))?;
    if contract.twin_id != twin {
        return Err(CliError::NotYourContract {
            id,
            owner: contract.twin_id,
            twin,
        });
    }
    chain
        .cancel_contract(&signer, id)
        .await
        .map_err(|e| ctx.fail(e))?;
    Ok(output::message(
        format!("contract {id} canceled"),
        serde_json::json!({ "id": id, "canceled": true }),
    ))
}

/// A deployment hash: 32 characters taken as bytes (zos: the md5 hex digest of the deployment)
/// or `0x` + 64 hex digits.
pub(super) fn parse_hash(hash: &str) -> Result<[u8; 32], CliError> {
    let bad = || {
        CliError::InvalidArgument(format!(
            "--hash {hash:?}: expected 32 characters (zos: the md5 hex digest of the deployment) or 0x + 64 hex digits"
        ))
    };
    let bytes = match hash.strip_prefix("0x") {
        Some(digits) if digits.len() == 64 => hex::decode(digits).map_err(|_| bad())?,
        _ => hash.as_bytes().to_vec(),
    };
    <[u8; 32]>::try_from(bytes.as_slice()).map_err(|_| bad())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_are_32_characters_or_64_hex_digits() {
        let md5 = "9021d4dee05a661e2cb6838152c67f25";
        assert_eq!(&parse_hash(md5).expect("md5 hex"), md5.as_bytes());
        let hex_hash = format!("0x{}", "ab".repeat(32));
        assert_eq!(parse_hash(&hex_hash).expect("hex"), [0xab; 32]);
        assert!(parse_hash("short").is_err());
        assert!(parse_hash(&format!("0x{}", "zz".repeat(32))).is_err());
    }
}
