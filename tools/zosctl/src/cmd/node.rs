//! `zosctl node`: list registered nodes (all or per farm), show one, ask one for its statistics
//! or its status.

use super::Ctx;
use crate::cli::CallerArgs;
use crate::error::CliError;
use crate::output::{self, NodeStatus, Output, Statistics};

pub async fn list(ctx: &Ctx, farm: Option<u32>) -> Result<Output, CliError> {
    let chain = ctx.chain("list the nodes").await?;
    if let Some(farm) = farm {
        if chain.farm(farm).await.map_err(|e| ctx.fail(e))?.is_none() {
            return Err(CliError::FarmMissing(farm));
        }
    }
    let nodes = chain.nodes(farm).await.map_err(|e| ctx.fail(e))?;
    Ok(output::nodes(&nodes, farm))
}

pub async fn show(ctx: &Ctx, id: u32) -> Result<Output, CliError> {
    let chain = ctx.chain(&format!("read node {id}")).await?;
    let node = chain
        .node(id)
        .await
        .map_err(|e| ctx.fail(e))?
        .ok_or(CliError::NodeMissing(id))?;
    Ok(output::node(&node))
}

pub async fn stats(ctx: &Ctx, id: u32, caller: &CallerArgs) -> Result<Output, CliError> {
    let url = ctx.node_url()?;
    let raw: serde_json::Value = ctx
        .node_call("zos.statistics.get", serde_json::Value::Null, caller)
        .await?;
    let stats: Statistics = serde_json::from_value(raw.clone()).map_err(|e| CliError::NodeApi {
        url: url.to_string(),
        reason: format!("unexpected statistics: {e}", e = zos_base::Report(&e)),
    })?;
    Ok(output::stats(id, &stats, raw))
}

pub async fn status(ctx: &Ctx, caller: &CallerArgs) -> Result<Output, CliError> {
    let url = ctx.node_url()?;
    let raw: serde_json::Value = ctx
        .node_call("zos.system.status", serde_json::Value::Null, caller)
        .await?;
    let status: NodeStatus =
        serde_json::from_value(raw.clone()).map_err(|e| CliError::NodeApi {
            url: url.to_string(),
            reason: format!("unexpected status: {e}", e = zos_base::Report(&e)),
        })?;
    Ok(output::node_status(&status, raw))
}
