//! Consumption reports: provisiond knows what each contract uses, but only noded holds the
//! node's key, so provisiond asks noded over the bus (`Node1.ReportContractResources`) and noded
//! submits TFChain's `report_contract_resources`, signed as the node's twin.
//!
//! Owns one chain connection, opened on the first report and reopened after a connection
//! error. It never decides what to report.

use tokio::sync::Mutex;
use zos_bus::node::ContractUsage;
use zos_chain::{Chain, ContractResources, Resources, Signer};

#[derive(Debug)]
pub struct ContractReporter {
    chain_url: String,
    signer: Signer,
    chain: Mutex<Option<Chain>>,
}

impl ContractReporter {
    pub fn new(chain_url: String, signer: Signer) -> Self {
        ContractReporter {
            chain_url,
            signer,
            chain: Mutex::new(None),
        }
    }

    /// Submits one `report_contract_resources` extrinsic with every contract of `usage`.
    pub async fn report(&self, usage: &[ContractUsage]) -> Result<(), String> {
        let reports: Vec<ContractResources> = usage
            .iter()
            .map(|u| ContractResources {
                contract_id: u.contract_id,
                used: Resources {
                    hru: u.hru,
                    sru: u.sru,
                    cru: u.cru,
                    mru: u.mru,
                },
            })
            .collect();
        let mut chain = self.chain.lock().await;
        if chain.is_none() {
            let connected = Chain::connect(&self.chain_url).await.map_err(|e| {
                format!(
                    "cannot reach the chain at {}: {e}",
                    self.chain_url,
                    e = zos_base::Report(&e)
                )
            })?;
            *chain = Some(connected);
        }
        let Some(connected) = chain.as_ref() else {
            return Err("no chain connection".into());
        };
        match connected
            .report_contract_resources(&self.signer, &reports)
            .await
        {
            Ok(()) => {
                tracing::info!(contracts = reports.len(), "contract resources reported");
                Ok(())
            }
            Err(error) => {
                if error.is_connection() {
                    *chain = None;
                }
                Err(format!(
                    "report_contract_resources failed: {error}",
                    error = zos_base::Report(&error)
                ))
            }
        }
    }
}
