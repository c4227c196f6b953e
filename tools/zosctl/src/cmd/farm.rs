//! `zosctl farm`: create a farm (with public IPv4s) owned by the key's twin, list farms.

use std::net::Ipv4Addr;

use zos_chain::PublicIpInput;

use super::Ctx;
use crate::error::CliError;
use crate::output::{self, Output};

pub async fn create(
    ctx: &Ctx,
    name: &str,
    public_ips: &[String],
    gateways: &[String],
) -> Result<Output, CliError> {
    let ips = public_ip_inputs(public_ips, gateways)?;
    let signer = ctx.signer()?;
    let chain = ctx.chain("create the farm").await?;
    ctx.own_twin(&chain, &signer).await?;
    let id = chain
        .create_farm(&signer, name, &ips)
        .await
        .map_err(|e| ctx.fail(e))?;
    let farm = chain
        .farm(id)
        .await
        .map_err(|e| ctx.fail(e))?
        .ok_or(CliError::FarmMissing(id))?;
    Ok(output::farm(&farm))
}

pub async fn list(ctx: &Ctx) -> Result<Output, CliError> {
    let chain = ctx.chain("list the farms").await?;
    let farms = chain.farms().await.map_err(|e| ctx.fail(e))?;
    Ok(output::farms(&farms))
}

/// Pairs each `--public-ip a.b.c.d/nn` with the `--gw` at the same position.
fn public_ip_inputs(ips: &[String], gateways: &[String]) -> Result<Vec<PublicIpInput>, CliError> {
    if ips.len() != gateways.len() {
        return Err(CliError::InvalidArgument(format!(
            "each --public-ip needs a --gw (got {} --public-ip and {} --gw)",
            ips.len(),
            gateways.len()
        )));
    }
    ips.iter()
        .zip(gateways)
        .map(|(ip, gw)| {
            let (addr, prefix) = ip.split_once('/').ok_or_else(|| {
                CliError::InvalidArgument(format!(
                    "--public-ip {ip:?}: expected an IPv4 with prefix length, e.g. 185.0.0.2/24"
                ))
            })?;
            let addr: Ipv4Addr = addr.parse().map_err(|e| {
                CliError::InvalidArgument(format!(
                    "--public-ip {ip:?}: {e}",
                    e = zos_base::Report(&e)
                ))
            })?;
            let prefix: u8 = prefix.parse().ok().filter(|p| *p <= 32).ok_or_else(|| {
                CliError::InvalidArgument(format!(
                    "--public-ip {ip:?}: prefix length must be 0..=32"
                ))
            })?;
            let gw: Ipv4Addr = gw.parse().map_err(|e| {
                CliError::InvalidArgument(format!("--gw {gw:?}: {e}", e = zos_base::Report(&e)))
            })?;
            Ok(PublicIpInput {
                ip: format!("{addr}/{prefix}"),
                gw: gw.to_string(),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn public_ips_pair_with_gateways_and_are_validated() {
        let ips = public_ip_inputs(
            &["185.0.0.2/24".into(), "185.0.0.3/24".into()],
            &["185.0.0.1".into(), "185.0.0.1".into()],
        )
        .expect("valid");
        assert_eq!(ips.len(), 2);
        assert_eq!(ips[1].ip, "185.0.0.3/24");
        assert_eq!(ips[1].gw, "185.0.0.1");

        for (ip, gw, needle) in [
            ("185.0.0.2", "185.0.0.1", "prefix length"),
            ("185.0.0.2/33", "185.0.0.1", "0..=32"),
            ("300.0.0.2/24", "185.0.0.1", "--public-ip"),
            ("185.0.0.2/24", "gw", "--gw"),
        ] {
            let err = public_ip_inputs(&[ip.into()], &[gw.into()]).expect_err(ip);
            assert!(zos_base::report(&err).contains(needle), "{err}");
        }
        let err = public_ip_inputs(&["185.0.0.2/24".into()], &[]).expect_err("unpaired");
        assert!(zos_base::report(&err).contains("needs a --gw"), "{err}");
    }
}
