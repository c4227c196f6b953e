//! Key selection: turns --key / --mnemonic (env ZOSCTL_MNEMONIC) / --seed-file and --key-type
//! into a `zos_chain::Signer`. Reads only the seed file it is pointed at; never writes keys.

use std::path::Path;

use zos_chain::Signer;

use crate::cli::{KeyArgs, KeyType};
use crate::error::CliError;

/// Environment variable holding a mnemonic when no key flag is given.
pub const MNEMONIC_ENV: &str = "ZOSCTL_MNEMONIC";

/// The signer the flags (or the environment) select; `Ok(None)` when none is given.
pub fn signer(args: &KeyArgs) -> Result<Option<Signer>, CliError> {
    let given = [
        args.key.is_some(),
        args.mnemonic.is_some(),
        args.seed_file.is_some(),
    ]
    .into_iter()
    .filter(|g| *g)
    .count();
    if given > 1 {
        return Err(CliError::TwoKeys);
    }
    let bad = |e: zos_chain::SignerError| CliError::BadKey(zos_base::report(&e));
    if let Some(uri) = &args.key {
        return match args.key_type {
            KeyType::Sr25519 => Signer::sr25519_from_uri(uri).map(Some).map_err(bad),
            KeyType::Ed25519 => Err(CliError::BadKey(
                "--key takes sr25519 secret URIs only; for an ed25519 key use --mnemonic or --seed-file"
                    .into(),
            )),
        };
    }
    if let Some(path) = &args.seed_file {
        let hex_seed = read_seed_file(path)?;
        return match args.key_type {
            KeyType::Sr25519 => Signer::sr25519_from_hex_seed(&hex_seed),
            KeyType::Ed25519 => Signer::ed25519_from_hex_seed(&hex_seed),
        }
        .map(Some)
        .map_err(|e| {
            CliError::BadKey(format!(
                "seed file {}: {e}",
                path.display(),
                e = zos_base::Report(&e)
            ))
        });
    }
    let phrase = match &args.mnemonic {
        Some(phrase) => phrase.clone(),
        None => match std::env::var(MNEMONIC_ENV) {
            Ok(phrase) if !phrase.trim().is_empty() => phrase,
            _ => return Ok(None),
        },
    };
    match args.key_type {
        KeyType::Sr25519 => Signer::sr25519_from_mnemonic(&phrase),
        KeyType::Ed25519 => Signer::ed25519_from_mnemonic(&phrase),
    }
    .map(Some)
    .map_err(bad)
}

fn read_seed_file(path: &Path) -> Result<String, CliError> {
    std::fs::read_to_string(path)
        .map(|text| text.trim().to_string())
        .map_err(|e| {
            CliError::BadKey(format!(
                "cannot read seed file {}: {e}",
                path.display(),
                e = zos_base::Report(&e)
            ))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args() -> KeyArgs {
        KeyArgs {
            key: None,
            mnemonic: None,
            seed_file: None,
            key_type: KeyType::Sr25519,
        }
    }

    #[test]
    fn dev_uri_and_seed_file_give_the_expected_keys() {
        let alice = signer(&KeyArgs {
            key: Some("//Alice".into()),
            ..args()
        })
        .expect("dev uri")
        .expect("a signer");
        assert_eq!(
            alice.account_id().to_string(),
            "5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQY"
        );

        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("seed");
        std::fs::write(&path, format!("0x{}\n", "07".repeat(32))).expect("write");
        let ed = signer(&KeyArgs {
            seed_file: Some(path),
            key_type: KeyType::Ed25519,
            ..args()
        })
        .expect("seed file")
        .expect("a signer");
        assert_eq!(
            ed.public_key(),
            Signer::ed25519_from_seed(&[7u8; 32]).public_key()
        );
    }

    #[test]
    fn conflicting_or_bad_keys_are_refused() {
        let both = KeyArgs {
            key: Some("//Alice".into()),
            mnemonic: Some("x".into()),
            ..args()
        };
        assert!(matches!(signer(&both), Err(CliError::TwoKeys)));
        let ed_uri = KeyArgs {
            key: Some("//Alice".into()),
            key_type: KeyType::Ed25519,
            ..args()
        };
        assert!(matches!(signer(&ed_uri), Err(CliError::BadKey(_))));
        let bad = KeyArgs {
            mnemonic: Some("not a real mnemonic".into()),
            ..args()
        };
        let err = signer(&bad).expect_err("bad mnemonic");
        assert!(
            zos_base::report(&err).starts_with("invalid key: invalid mnemonic"),
            "{err}"
        );
    }
}
