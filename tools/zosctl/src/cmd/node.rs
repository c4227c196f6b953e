//! `zosctl node`: list registered nodes (all or per farm), show one.

use super::Ctx;
use crate::error::CliError;
use crate::output::{self, Output};

pub async fn list(ctx: &Ctx, farm: Option<u32>) -> Result<Output, CliError> {
    let chain = ctx.chain().await?;
    if let Some(farm) = farm {
        if chain.farm(farm).await.map_err(|e| ctx.fail(e))?.is_none() {
            return Err(CliError::FarmMissing(farm));
        }
    }
    let nodes = chain.nodes(farm).await.map_err(|e| ctx.fail(e))?;
    Ok(output::nodes(&nodes, farm))
}

pub async fn show(ctx: &Ctx, id: u32) -> Result<Output, CliError> {
    let chain = ctx.chain().await?;
    let node = chain
        .node(id)
        .await
        .map_err(|e| ctx.fail(e))?
        .ok_or(CliError::NodeMissing(id))?;
    Ok(output::node(&node))
}
