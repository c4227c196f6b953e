//! `zosctl deploy` and `zosctl deployment`: deploy a description file on a node (contract,
//! signature, node API, wait for the workloads), read deployments back from the node, and the
//! offline checks of deployment JSON files (hash, signatures).

use std::collections::HashMap;
use std::path::Path;
use std::time::{Duration, Instant};

use gridtypes::{
    verify_ed25519, verify_sr25519, Deployment, ResultState, Workload, SIGNATURE_TYPE_SR25519,
};
use serde_json::json;

use super::contract::parse_hash;
use super::Ctx;
use crate::cli::CallerArgs;
use crate::description::{self, bad_file};
use crate::error::CliError;
use crate::figures;
use crate::output::{self, Output, SignerCheck};

/// How often `deploy` asks the node how the workloads are doing.
const POLL: Duration = Duration::from_secs(1);

pub async fn deploy(ctx: &Ctx, file: &Path, timeout_secs: u64) -> Result<Output, CliError> {
    let description = description::load(file)?;
    let node_url = ctx.node_url()?;
    let signer = ctx.signer()?;
    let chain = ctx.chain("create the deployment's contract").await?;
    let twin = ctx.own_twin(&chain, &signer).await?;
    let mut deployment = description
        .deployment(twin)
        .map_err(|reason| bad_file(file, reason))?;
    let node = description.node;
    if chain.node(node).await.map_err(|e| ctx.fail(e))?.is_none() {
        return Err(CliError::NodeMissing(node));
    }
    let client = ctx.node_client(node_url, &signer, twin)?;
    let hash = challenge_hash(file, &deployment)?;
    let mut public_ips = 0u64;
    for wl in &deployment.workloads {
        public_ips += wl
            .capacity()
            .map_err(|e| {
                bad_file(
                    file,
                    format!("workload '{}': {e}", wl.name, e = zos_base::Report(&e)),
                )
            })?
            .ipv4u;
    }
    let public_ips = u32::try_from(public_ips).map_err(|_| {
        bad_file(
            file,
            format!("{public_ips} public IPs is more than a contract can hold"),
        )
    })?;

    let contract = chain
        .create_node_contract(&signer, node, parse_hash(&hash)?, b"", public_ips, None)
        .await
        .map_err(|e| ctx.fail(e))?;
    deployment.contract_id = contract;
    let message = deployment
        .signing_message()
        .map_err(|e| bad_file(file, zos_base::report(&e)))?;
    deployment.add_signature(twin, &signer.sign(&message), signer.scheme());
    output::progress(&format!(
        "contract {contract} created on node {node} (hash {hash}); sending the deployment"
    ));
    if let Err(e) = client
        .call::<serde_json::Value>("zos.deployment.deploy", &deployment)
        .await
    {
        let cause = Box::new(CliError::from_node(node_url, e));
        return Err(match chain.cancel_contract(&signer, contract).await {
            Ok(()) => CliError::DeployCanceled { contract, cause },
            Err(e) => CliError::DeployNotCanceled {
                contract,
                cause,
                cancel: Box::new(ctx.fail(e)),
            },
        });
    }

    let start = Instant::now();
    let mut last = String::new();
    loop {
        let deployed: Deployment = client
            .call("zos.deployment.get", json!({ "contract_id": contract }))
            .await
            .map_err(|e| CliError::DeployUnfollowed {
                contract,
                cause: Box::new(CliError::from_node(node_url, e)),
            })?;
        let states = states(&deployed.workloads);
        if states != last {
            output::progress(&format!("contract {contract}: {states}"));
            last = states;
        }
        if deployed.workloads.iter().all(|w| settled(&w.result.state)) {
            let failed: Vec<&str> = deployed
                .workloads
                .iter()
                .filter(|w| !w.result.state.is_okay())
                .map(|w| w.name.as_str())
                .collect();
            let out = output::deployment(&deployed);
            if failed.is_empty() {
                return Ok(out);
            }
            return Ok(out.failed(CliError::WorkloadsFailed {
                contract,
                names: failed.join(", "),
            }));
        }
        if start.elapsed() >= Duration::from_secs(timeout_secs) {
            return Ok(
                output::deployment(&deployed).failed(CliError::DeployTimeout {
                    contract,
                    secs: timeout_secs,
                }),
            );
        }
        tokio::time::sleep(POLL).await;
    }
}

/// A workload the node is done with (for now): up, failed, or removed.
fn settled(state: &ResultState) -> bool {
    matches!(
        state,
        ResultState::Ok | ResultState::Error | ResultState::Deleted | ResultState::Paused
    )
}

/// "data ok, disk init": the progress line of a deployment.
fn states(workloads: &[Workload]) -> String {
    workloads
        .iter()
        .map(|w| format!("{} {}", w.name, figures::workload_state(&w.result.state)))
        .collect::<Vec<_>>()
        .join(", ")
}

pub async fn get(ctx: &Ctx, contract: u64, caller: &CallerArgs) -> Result<Output, CliError> {
    let deployment: Deployment = ctx
        .node_call(
            "zos.deployment.get",
            json!({ "contract_id": contract }),
            caller,
        )
        .await?;
    Ok(output::deployment(&deployment))
}

pub async fn list(ctx: &Ctx, caller: &CallerArgs) -> Result<Output, CliError> {
    let deployments: Vec<Deployment> = ctx
        .node_call("zos.deployment.list", serde_json::Value::Null, caller)
        .await?;
    Ok(output::deployments(&deployments))
}

pub async fn changes(ctx: &Ctx, contract: u64, caller: &CallerArgs) -> Result<Output, CliError> {
    let changes: Vec<Workload> = ctx
        .node_call(
            "zos.deployment.changes",
            json!({ "contract_id": contract }),
            caller,
        )
        .await?;
    Ok(output::changes(contract, &changes))
}

pub fn hash(file: &Path) -> Result<Output, CliError> {
    let deployment = read_deployment(file)?;
    let hash = challenge_hash(file, &deployment)?;
    Ok(output::message(hash.clone(), json!({ "hash": hash })))
}

pub async fn verify(ctx: &Ctx, file: &Path, twin_keys: &[String]) -> Result<Output, CliError> {
    let deployment = read_deployment(file)?;
    let hash = challenge_hash(file, &deployment)?;
    let message = deployment
        .signing_message()
        .map_err(|e| bad_file(file, zos_base::report(&e)))?;
    let keys: HashMap<u32, Result<Vec<u8>, String>> = if twin_keys.is_empty() {
        let chain = ctx
            .chain("read the signers' keys (or pass --twin-key TWIN=HEX)")
            .await?;
        let mut keys = HashMap::new();
        for twin in deployment.signer_twins() {
            let key = chain
                .twin(twin)
                .await
                .map_err(|e| ctx.fail(e))?
                .map(|t| AsRef::<[u8]>::as_ref(&t.account_id).to_vec())
                .ok_or_else(|| format!("twin {twin} is not on the chain at {}", ctx.url));
            keys.insert(twin, key);
        }
        keys
    } else {
        twin_keys
            .iter()
            .map(|arg| parse_twin_key(arg).map(|(twin, key)| (twin, Ok(key))))
            .collect::<Result<_, _>>()?
    };
    let lookup = |twin: u32| -> Result<Vec<u8>, String> {
        keys.get(&twin)
            .cloned()
            .unwrap_or_else(|| Err(format!("no key given: pass --twin-key {twin}=HEX")))
    };

    let requirement = &deployment.signature_requirement;
    let checks: Vec<SignerCheck> = requirement
        .requests
        .iter()
        .map(|request| {
            let signature = requirement
                .signatures
                .iter()
                .find(|s| s.twin_id == request.twin_id);
            let status = match (signature, lookup(request.twin_id)) {
                (None, _) => "no signature".to_string(),
                (Some(_), Err(reason)) => reason,
                (Some(s), Ok(key)) => {
                    let valid = hex::decode(&s.signature).is_ok_and(|bytes| {
                        if s.signature_type == SIGNATURE_TYPE_SR25519 {
                            verify_sr25519(&key, &message, &bytes)
                        } else {
                            verify_ed25519(&key, &message, &bytes)
                        }
                    });
                    if valid { "valid" } else { "invalid" }.to_string()
                }
            };
            SignerCheck {
                twin: request.twin_id,
                required: request.required || request.twin_id == deployment.twin_id,
                weight: request.weight,
                signature_type: signature.map(|s| s.signature_type.clone()),
                status,
            }
        })
        .collect();
    let verdict = deployment.verify(&lookup);
    let out = output::verification(file, &hash, &deployment, &checks, verdict.is_ok());
    Ok(match verdict {
        Ok(()) => out,
        Err(e) => out.failed(CliError::Unverified {
            path: file.display().to_string(),
            reason: zos_base::report(&e),
        }),
    })
}

/// A deployment JSON file as zos sends it.
fn read_deployment(file: &Path) -> Result<Deployment, CliError> {
    let bytes = std::fs::read(file)
        .map_err(|e| bad_file(file, format!("cannot read: {e}", e = zos_base::Report(&e))))?;
    Deployment::from_json(&bytes).map_err(|e| {
        bad_file(
            file,
            format!("not a deployment (JSON): {e}", e = zos_base::Report(&e)),
        )
    })
}

/// The hex MD5 of the deployment's challenge (what its contract stores).
fn challenge_hash(file: &Path, deployment: &Deployment) -> Result<String, CliError> {
    deployment.challenge_hash_hex().map_err(|e| {
        bad_file(
            file,
            format!("cannot hash the deployment: {e}", e = zos_base::Report(&e)),
        )
    })
}

/// `TWIN=HEX`: a twin id and its 32-byte public key.
fn parse_twin_key(arg: &str) -> Result<(u32, Vec<u8>), CliError> {
    let bad = || {
        CliError::InvalidArgument(format!(
            "--twin-key {arg:?}: expected TWIN=HEX, a twin id and its 32-byte public key in hex"
        ))
    };
    let (twin, key) = arg.split_once('=').ok_or_else(bad)?;
    let twin: u32 = twin.trim().parse().map_err(|_| bad())?;
    let key = key.trim();
    let key = hex::decode(key.strip_prefix("0x").unwrap_or(key)).map_err(|_| bad())?;
    if key.len() != 32 {
        return Err(bad());
    }
    Ok((twin, key))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn twin_keys_are_twin_equals_32_hex_bytes() {
        let key = "ab".repeat(32);
        assert_eq!(
            parse_twin_key(&format!("7={key}")).expect("valid"),
            (7, vec![0xab; 32])
        );
        assert_eq!(
            parse_twin_key(&format!("7=0x{key}")).expect("0x").1,
            vec![0xab; 32]
        );
        for bad in ["7", "x=ab", "7=zz", "7=abab", ""] {
            let err = parse_twin_key(bad).expect_err(bad);
            assert!(zos_base::report(&err).contains("TWIN=HEX"), "{err}");
        }
    }

    #[test]
    fn progress_names_each_workload_state() {
        let mut a = Workload {
            name: "a".into(),
            ..Default::default()
        };
        let mut b = a.clone();
        b.name = "b".into();
        assert_eq!(states(&[a.clone(), b.clone()]), "a waiting, b waiting");
        a.result.state = ResultState::Ok;
        b.result.state = ResultState::Init;
        assert_eq!(states(&[a.clone(), b.clone()]), "a ok, b init");
        assert!(settled(&a.result.state));
        assert!(!settled(&b.result.state));
        assert!(settled(&ResultState::Error));
    }
}
