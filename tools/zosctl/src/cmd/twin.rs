//! `zosctl twin`: create the key's twin (accepting terms and conditions first), show a twin.

use super::Ctx;
use crate::error::CliError;
use crate::output::{self, Output};

pub async fn create(ctx: &Ctx, relay: Option<String>) -> Result<Output, CliError> {
    let signer = ctx.signer()?;
    let chain = ctx.chain("create the twin").await?;
    let account = signer.account_id();
    if let Some(id) = chain
        .twin_id_by_account(&account)
        .await
        .map_err(|e| ctx.fail(e))?
    {
        ctx.remember_twin(&signer, id);
        return Err(CliError::TwinExists { id });
    }
    if !chain
        .has_accepted_tc(&account)
        .await
        .map_err(|e| ctx.fail(e))?
    {
        chain
            .accept_tc(&signer, zos_chain::TC_LINK, zos_chain::TC_HASH)
            .await
            .map_err(|e| ctx.fail(e))?;
    }
    let id = chain
        .create_twin(&signer, relay.as_deref(), None)
        .await
        .map_err(|e| ctx.fail(e))?;
    ctx.remember_twin(&signer, id);
    let twin = chain
        .twin(id)
        .await
        .map_err(|e| ctx.fail(e))?
        .ok_or(CliError::TwinMissing(id))?;
    Ok(output::twin(&twin))
}

pub async fn show(ctx: &Ctx, id: Option<u32>) -> Result<Output, CliError> {
    let (chain, id) = match id {
        Some(id) => (ctx.chain(&format!("read twin {id}")).await?, id),
        None => {
            let signer = ctx.signer()?;
            let chain = ctx.chain("read this key's twin").await?;
            let id = ctx.own_twin(&chain, &signer).await?;
            (chain, id)
        }
    };
    let twin = chain
        .twin(id)
        .await
        .map_err(|e| ctx.fail(e))?
        .ok_or(CliError::TwinMissing(id))?;
    Ok(output::twin(&twin))
}
