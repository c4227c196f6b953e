//! The node's account on TFChain: funded (through the activation service when its balance is 0),
//! terms and conditions accepted, and a twin.
//!
//! Order and arguments follow zos's `EnsureAccount` + twin lookup: activation only when the free
//! balance is 0; `user_accept_tc` with zos's document only when nothing was accepted yet;
//! `create_twin(relay None, pk None)` only when the account has no twin.

use std::time::{Duration, Instant};

use zos_chain::{Chain, Signer};

use super::RegisterError;
use crate::activation;
use crate::timing::Backoff;

/// How long one activation HTTP exchange may take.
const ACTIVATION_TIMEOUT: Duration = Duration::from_secs(30);

/// Makes sure the account can act on the chain; returns its twin id.
pub async fn ensure_account(
    chain: &Chain,
    signer: &Signer,
    activation_url: &str,
    funding_wait: Duration,
) -> Result<u32, RegisterError> {
    let account = signer.account_id();
    let chain_err = |step| move |source| RegisterError::from_chain(step, source);
    let balance = chain
        .free_balance(&account)
        .await
        .map_err(chain_err("reading the account balance"))?;
    if balance == 0 {
        let ss58 = account.to_string();
        tracing::info!(account = %ss58, url = activation_url, "account has no funds: asking the activation service");
        activation::request_funds(activation_url, &ss58, ACTIVATION_TIMEOUT)
            .await
            .map_err(|source| RegisterError::Activation {
                account: ss58.clone(),
                source,
            })?;
        wait_funded(chain, signer, activation_url, funding_wait).await?;
    }
    if !chain
        .has_accepted_tc(&account)
        .await
        .map_err(chain_err("reading accepted terms and conditions"))?
    {
        tracing::info!(
            link = zos_chain::TC_LINK,
            "accepting the terms and conditions"
        );
        chain
            .accept_tc(signer, zos_chain::TC_LINK, zos_chain::TC_HASH)
            .await
            .map_err(chain_err("user_accept_tc"))?;
    }
    match chain
        .twin_id_by_account(&account)
        .await
        .map_err(chain_err("looking up the twin"))?
    {
        Some(twin_id) => Ok(twin_id),
        None => {
            tracing::info!(account = %account, "creating the node's twin");
            chain
                .create_twin(signer, None, None)
                .await
                .map_err(chain_err("create_twin"))
        }
    }
}

/// Polls the balance (backoff 500 ms doubling to 5 s) until it is above 0, at most `limit`.
async fn wait_funded(
    chain: &Chain,
    signer: &Signer,
    activation_url: &str,
    limit: Duration,
) -> Result<(), RegisterError> {
    let account = signer.account_id();
    let started = Instant::now();
    let mut backoff = Backoff::new(Duration::from_millis(500), Duration::from_secs(5));
    loop {
        let balance = chain
            .free_balance(&account)
            .await
            .map_err(|source| RegisterError::from_chain("reading the account balance", source))?;
        if balance > 0 {
            tracing::info!(account = %account, balance, "account funded");
            return Ok(());
        }
        let delay = backoff.next_delay();
        if started.elapsed() + delay > limit {
            return Err(RegisterError::NotFunded {
                account: account.to_string(),
                url: activation_url.to_string(),
                seconds: limit.as_secs(),
            });
        }
        tokio::time::sleep(delay).await;
    }
}
