//! Signers for TFChain extrinsics: ed25519 (node twins) and sr25519 (farmers, users, dev accounts).
//!
//! This module owns key material handling for chain signing only. It never reads or writes key
//! files: callers (noded's identity, zosctl) load seeds and pass them in.

use ed25519_dalek::Signer as _;
use subxt::config::substrate::MultiSignature;
use subxt::utils::AccountId32;
use subxt_signer::{bip39, sr25519, SecretUri};

use crate::TfConfig;

/// Errors building a signer from user-provided key material.
#[derive(Debug, thiserror::Error)]
pub enum SignerError {
    #[error("invalid hex seed: {0}")]
    Hex(String),
    #[error("seed must be 32 bytes, got {0}")]
    SeedLength(usize),
    #[error("invalid mnemonic: {0}")]
    Mnemonic(String),
    #[error("invalid secret URI {uri:?}: {reason}")]
    Uri { uri: String, reason: String },
}

/// A key that can sign TFChain extrinsics.
///
/// The account id is the 32-byte public key for both schemes; the signature is wrapped in
/// `MultiSignature::Ed25519` or `MultiSignature::Sr25519` accordingly.
#[derive(Clone)]
pub enum Signer {
    /// An ed25519 key: what a node's twin uses (zos identity seed).
    Ed25519(ed25519_dalek::SigningKey),
    /// An sr25519 key: farmers and users, and the dev accounts (//Alice, ...).
    Sr25519(sr25519::Keypair),
}

impl std::fmt::Debug for Signer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print key material: the scheme and public account are enough to debug.
        write!(f, "Signer({}, {})", self.scheme(), self.account_id())
    }
}

impl Signer {
    /// An ed25519 signer from a 32-byte seed (zos seed.txt v1.0.0 holds exactly this).
    pub fn ed25519_from_seed(seed: &[u8; 32]) -> Self {
        Signer::Ed25519(ed25519_dalek::SigningKey::from_bytes(seed))
    }

    /// An ed25519 signer from a hex seed (with or without `0x`).
    pub fn ed25519_from_hex_seed(hex_seed: &str) -> Result<Self, SignerError> {
        Ok(Self::ed25519_from_seed(&seed_from_hex(hex_seed)?))
    }

    /// An ed25519 signer from a BIP39 mnemonic, derived like substrate's `ed25519::Pair::from_phrase`
    /// (zos seed.txt v1.1.0 holds `{"mnemonic": ...}`): seed = PBKDF2-HMAC-SHA512(entropy,
    /// "mnemonic", 2048)[..32].
    pub fn ed25519_from_mnemonic(phrase: &str) -> Result<Self, SignerError> {
        let mnemonic = bip39::Mnemonic::parse_normalized(phrase.trim())
            .map_err(|e| SignerError::Mnemonic(zos_base::report(&e)))?;
        let entropy = mnemonic.to_entropy();
        let mut seed = [0u8; 64];
        pbkdf2::pbkdf2::<hmac::Hmac<sha2::Sha512>>(&entropy, b"mnemonic", 2048, &mut seed)
            .map_err(|e| SignerError::Mnemonic(zos_base::report(&e)))?;
        let mut mini = [0u8; 32];
        mini.copy_from_slice(&seed[..32]);
        Ok(Self::ed25519_from_seed(&mini))
    }

    /// An sr25519 signer from a secret URI: a dev URI like `//Alice`, or `<mnemonic>//path///pass`.
    pub fn sr25519_from_uri(uri: &str) -> Result<Self, SignerError> {
        let parsed: SecretUri =
            uri.parse()
                .map_err(|e: subxt_signer::SecretUriError| SignerError::Uri {
                    uri: redact(uri),
                    reason: zos_base::report(&e),
                })?;
        let pair = sr25519::Keypair::from_uri(&parsed).map_err(|e| SignerError::Uri {
            uri: redact(uri),
            reason: zos_base::report(&e),
        })?;
        Ok(Signer::Sr25519(pair))
    }

    /// An sr25519 signer from a BIP39 mnemonic (no derivation path, no password).
    pub fn sr25519_from_mnemonic(phrase: &str) -> Result<Self, SignerError> {
        let mnemonic = bip39::Mnemonic::parse_normalized(phrase.trim())
            .map_err(|e| SignerError::Mnemonic(zos_base::report(&e)))?;
        let pair = sr25519::Keypair::from_phrase(&mnemonic, None)
            .map_err(|e| SignerError::Mnemonic(zos_base::report(&e)))?;
        Ok(Signer::Sr25519(pair))
    }

    /// An sr25519 signer from a 32-byte hex mini-secret seed (with or without `0x`).
    pub fn sr25519_from_hex_seed(hex_seed: &str) -> Result<Self, SignerError> {
        let seed = seed_from_hex(hex_seed)?;
        let pair = sr25519::Keypair::from_secret_key(seed).map_err(|e| SignerError::Uri {
            uri: "<hex seed>".into(),
            reason: zos_base::report(&e),
        })?;
        Ok(Signer::Sr25519(pair))
    }

    /// The 32-byte public key, which is also the account id on TFChain.
    pub fn public_key(&self) -> [u8; 32] {
        match self {
            Signer::Ed25519(key) => key.verifying_key().to_bytes(),
            Signer::Sr25519(pair) => pair.public_key().0,
        }
    }

    /// The account id (= the public key).
    pub fn account_id(&self) -> AccountId32 {
        AccountId32(self.public_key())
    }

    /// The signature scheme's name as the grid writes it: `ed25519` or `sr25519`.
    pub fn scheme(&self) -> &'static str {
        match self {
            Signer::Ed25519(_) => "ed25519",
            Signer::Sr25519(_) => "sr25519",
        }
    }

    /// Signs an arbitrary message (not an extrinsic): plain ed25519, or sr25519 with the signing
    /// context `substrate`, which is what the grid's verifiers (gridtypes) expect.
    pub fn sign(&self, message: &[u8]) -> [u8; 64] {
        match self {
            Signer::Ed25519(key) => key.sign(message).to_bytes(),
            Signer::Sr25519(pair) => pair.sign(message).0,
        }
    }
}

impl subxt::tx::Signer<TfConfig> for Signer {
    fn account_id(&self) -> AccountId32 {
        Signer::account_id(self)
    }

    fn sign(&self, signer_payload: &[u8]) -> MultiSignature {
        match self {
            Signer::Ed25519(key) => MultiSignature::Ed25519(key.sign(signer_payload).to_bytes()),
            Signer::Sr25519(pair) => MultiSignature::Sr25519(pair.sign(signer_payload).0),
        }
    }
}

fn seed_from_hex(hex_seed: &str) -> Result<[u8; 32], SignerError> {
    let trimmed = hex_seed.trim();
    let digits = trimmed.strip_prefix("0x").unwrap_or(trimmed);
    let bytes = hex::decode(digits).map_err(|e| SignerError::Hex(zos_base::report(&e)))?;
    <[u8; 32]>::try_from(bytes.as_slice()).map_err(|_| SignerError::SeedLength(bytes.len()))
}

/// Keeps only the derivation path of a secret URI for error messages (a phrase is a secret).
fn redact(uri: &str) -> String {
    match uri.find("//") {
        Some(0) => uri.to_string(),
        Some(i) => format!("<secret>{}", &uri[i..]),
        None => "<secret>".to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn alice_dev_uri_gives_the_well_known_account() {
        let alice = Signer::sr25519_from_uri("//Alice").expect("dev uri");
        // The well-known public key of //Alice (sr25519).
        assert_eq!(
            hex::encode(alice.public_key()),
            "d43593c715fdd31c61141abd04a99fd6822c8558854ccde39a5684e7a56da27d"
        );
    }

    #[test]
    fn ed25519_signature_verifies_and_account_is_public_key() {
        let signer = Signer::ed25519_from_seed(&[7u8; 32]);
        let sig = subxt::tx::Signer::<TfConfig>::sign(&signer, b"payload");
        let MultiSignature::Ed25519(bytes) = sig else {
            panic!("expected an ed25519 signature");
        };
        let key = ed25519_dalek::VerifyingKey::from_bytes(&signer.public_key()).expect("key");
        key.verify_strict(b"payload", &ed25519_dalek::Signature::from_bytes(&bytes))
            .expect("signature verifies");
        assert_eq!(signer.account_id().0, signer.public_key());
    }

    #[test]
    fn ed25519_from_mnemonic_matches_substrate_derivation() {
        // subkey inspect --scheme ed25519 "bottom drive obey lake curtain smoke basket hold race
        // lonely fit walk" gives the secret seed below (the substrate DEV_PHRASE).
        let from_phrase = Signer::ed25519_from_mnemonic(subxt_signer::DEV_PHRASE).expect("phrase");
        let from_seed = Signer::ed25519_from_hex_seed(
            "0xfac7959dbfe72f052e5a0c3c8d6530f202b02fd8f9f5ca3580ec8deb7797479e",
        )
        .expect("seed");
        assert_eq!(from_phrase.public_key(), from_seed.public_key());
    }

    #[test]
    fn bad_key_material_is_rejected_with_a_reason() {
        assert!(matches!(
            Signer::ed25519_from_hex_seed("0x1234"),
            Err(SignerError::SeedLength(2))
        ));
        assert!(matches!(
            Signer::ed25519_from_hex_seed("zz"),
            Err(SignerError::Hex(_))
        ));
        assert!(matches!(
            Signer::ed25519_from_mnemonic("not a mnemonic"),
            Err(SignerError::Mnemonic(_))
        ));
        let err = Signer::sr25519_from_uri("word word//x").expect_err("bad phrase");
        assert!(
            !zos_base::report(&err).contains("word word"),
            "phrase leaked: {err}"
        );
    }

    #[test]
    fn message_signatures_verify_with_the_grid_verifiers() {
        let message = b"zos-api-v1 message";
        let ed = Signer::ed25519_from_seed(&[3u8; 32]);
        assert_eq!(ed.scheme(), "ed25519");
        let sig = ed.sign(message);
        assert!(gridtypes::verify_ed25519(&ed.public_key(), message, &sig));
        assert!(!gridtypes::verify_ed25519(&ed.public_key(), b"other", &sig));
        assert!(!gridtypes::verify_sr25519(&ed.public_key(), message, &sig));

        let sr = Signer::sr25519_from_uri("//Alice").expect("dev uri");
        assert_eq!(sr.scheme(), "sr25519");
        let sig = sr.sign(message);
        assert!(gridtypes::verify_sr25519(&sr.public_key(), message, &sig));
        assert!(!gridtypes::verify_sr25519(&sr.public_key(), b"other", &sig));
        assert!(!gridtypes::verify_ed25519(&sr.public_key(), message, &sig));
    }

    #[test]
    fn debug_does_not_print_secrets() {
        let signer = Signer::ed25519_from_seed(&[9u8; 32]);
        let text = format!("{signer:?}");
        assert!(text.starts_with("Signer(ed25519, "));
        assert!(!text.contains(&hex::encode([9u8; 32])));
    }
}
