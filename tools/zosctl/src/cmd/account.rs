//! `zosctl transfer` and `zosctl balance`: move funds (dev: fund fresh accounts from //Alice)
//! and read a free balance.

use super::{parse_address, Ctx};
use crate::error::CliError;
use crate::output::{self, Output};

pub async fn transfer(ctx: &Ctx, to: &str, amount: u128) -> Result<Output, CliError> {
    let dest = parse_address(to)?;
    if amount == 0 {
        return Err(CliError::InvalidArgument(
            "--amount must be greater than 0".into(),
        ));
    }
    let signer = ctx.signer()?;
    let chain = ctx.chain("transfer the funds").await?;
    chain
        .transfer_keep_alive(&signer, &dest, amount)
        .await
        .map_err(|e| ctx.fail(e))?;
    let from = signer.account_id().to_string();
    Ok(output::message(
        format!("transferred {amount} from {from} to {dest}"),
        serde_json::json!({
            "from": from,
            "to": dest.to_string(),
            "amount": amount.to_string(),
        }),
    ))
}

pub async fn balance(ctx: &Ctx, address: Option<&str>) -> Result<Output, CliError> {
    let account = match address {
        Some(address) => parse_address(address)?,
        None => ctx.signer()?.account_id(),
    };
    let chain = ctx.chain("read the balance").await?;
    let free = chain
        .free_balance(&account)
        .await
        .map_err(|e| ctx.fail(e))?;
    Ok(output::balance(&account.to_string(), free))
}
