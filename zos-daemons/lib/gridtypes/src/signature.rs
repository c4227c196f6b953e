//! Signature verification of a deployment (zos `Deployment.Verify`) and the signing message.
//!
//! Owns the message (raw MD5, or `<Bytes>{hex}</Bytes>` for the polka-wallet style), ed25519 and
//! sr25519 (signing context `substrate`) verification, and the request/weight rules. Twin keys
//! come from a [`KeyLookup`] the caller provides (the chain-backed cache); nothing here talks to
//! the chain.

use std::collections::HashMap;

use crate::deployment::{
    ChallengeError, Deployment, SIGNATURE_STYLE_POLKA, SIGNATURE_TYPE_ED25519,
    SIGNATURE_TYPE_SR25519,
};
use crate::Signature;

/// Signing context of substrate sr25519 signatures.
pub const SR25519_CONTEXT: &[u8] = b"substrate";

/// Finds a twin's public key: its 32-byte account id on the chain. The verification scheme comes
/// from each signature's `signature_type`, not from the key (the chain stores just the account id).
///
/// Implemented for closures `Fn(u32) -> Result<Vec<u8>, String>` and for maps twin → key. A
/// caller backed by the chain fetches the keys of [`Deployment::signer_twins`] first.
pub trait KeyLookup {
    fn public_key(&self, twin: u32) -> Result<Vec<u8>, String>;
}

impl<F> KeyLookup for F
where
    F: Fn(u32) -> Result<Vec<u8>, String>,
{
    fn public_key(&self, twin: u32) -> Result<Vec<u8>, String> {
        self(twin)
    }
}

impl KeyLookup for HashMap<u32, Vec<u8>> {
    fn public_key(&self, twin: u32) -> Result<Vec<u8>, String> {
        self.get(&twin)
            .cloned()
            .ok_or_else(|| format!("no key known for twin {twin}"))
    }
}

impl KeyLookup for HashMap<u32, [u8; 32]> {
    fn public_key(&self, twin: u32) -> Result<Vec<u8>, String> {
        self.get(&twin)
            .map(|k| k.to_vec())
            .ok_or_else(|| format!("no key known for twin {twin}"))
    }
}

/// Why a deployment's signatures are refused (zos's messages).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    #[error(transparent)]
    Challenge(#[from] ChallengeError),
    #[error("missing required signature for twin '{0}'")]
    MissingSignature(u32),
    #[error("failed to get public key for twin '{twin}': {reason}")]
    KeyLookup { twin: u32, reason: String },
    #[error("invalid signature of twin '{twin}': not hex")]
    SignatureNotHex { twin: u32 },
    #[error("failed to verify signature of twin '{0}'")]
    BadSignature(u32),
    #[error("originator twin id must be in the signature requests")]
    OriginatorNotRequested,
    #[error("required signature weight is not reached ({got} < {required})")]
    WeightNotReached { got: u64, required: u64 },
}

/// Verifies an ed25519 signature like Go's `ed25519.Verify` (a bad key or length is a failure).
pub fn verify_ed25519(public_key: &[u8], message: &[u8], signature: &[u8]) -> bool {
    let Ok(pk) = <[u8; 32]>::try_from(public_key) else {
        return false;
    };
    let Ok(sig) = <[u8; 64]>::try_from(signature) else {
        return false;
    };
    let Ok(vk) = ed25519_dalek::VerifyingKey::from_bytes(&pk) else {
        return false;
    };
    // Cofactorless check with canonical S, like Go's crypto/ed25519.
    ed25519_dalek::Verifier::verify(&vk, message, &ed25519_dalek::Signature::from_bytes(&sig))
        .is_ok()
}

/// Verifies an sr25519 signature (context `substrate`) like zos: key and signature are copied
/// into 32/64-byte arrays (shorter input zero-padded, longer cut), then schnorrkel-verified.
pub fn verify_sr25519(public_key: &[u8], message: &[u8], signature: &[u8]) -> bool {
    let mut pk = [0u8; 32];
    let n = public_key.len().min(32);
    pk[..n].copy_from_slice(&public_key[..n]);
    let mut sig = [0u8; 64];
    let n = signature.len().min(64);
    sig[..n].copy_from_slice(&signature[..n]);
    let Ok(pk) = schnorrkel::PublicKey::from_bytes(&pk) else {
        return false;
    };
    let Ok(sig) = schnorrkel::Signature::from_bytes(&sig) else {
        return false;
    };
    pk.verify_simple(SR25519_CONTEXT, message, &sig).is_ok()
}

impl Deployment {
    /// The bytes a twin signs: the 16 MD5 bytes, or for `polka-wallet` style the ASCII
    /// `<Bytes>{lowercase hex md5}</Bytes>`.
    pub fn signing_message(&self) -> Result<Vec<u8>, ChallengeError> {
        let hash = self.challenge_hash()?;
        if self.signature_requirement.signature_style == SIGNATURE_STYLE_POLKA {
            Ok(format!("<Bytes>{}</Bytes>", hex::encode(hash)).into_bytes())
        } else {
            Ok(hash.to_vec())
        }
    }

    /// Twins whose keys [`Deployment::verify`] will look up (the signature requests).
    pub fn signer_twins(&self) -> Vec<u32> {
        self.signature_requirement
            .requests
            .iter()
            .map(|r| r.twin_id)
            .collect()
    }

    /// Adds (or replaces) `twin`'s signature (`signature` raw bytes, `signature_type`
    /// `ed25519`/`sr25519`), like zos's `Sign` does after signing [`Deployment::signing_message`].
    pub fn add_signature(&mut self, twin: u32, signature: &[u8], signature_type: &str) {
        let signature = hex::encode(signature);
        let sigs = &mut self.signature_requirement.signatures;
        match sigs.iter_mut().find(|s| s.twin_id == twin) {
            Some(s) => s.signature = signature,
            None => sigs.push(Signature {
                twin_id: twin,
                signature,
                signature_type: signature_type.to_string(),
            }),
        }
    }

    /// Signs with an ed25519 key (node and test twins) and adds the signature.
    pub fn sign_ed25519(
        &mut self,
        twin: u32,
        key: &ed25519_dalek::SigningKey,
    ) -> Result<(), ChallengeError> {
        let message = self.signing_message()?;
        let sig = ed25519_dalek::Signer::sign(key, &message);
        self.add_signature(twin, &sig.to_bytes(), SIGNATURE_TYPE_ED25519);
        Ok(())
    }

    /// zos's `Deployment.Verify`. For each signature request in order: the deployment's own twin
    /// is forced `required`; a missing required signature fails; every request's signature must
    /// verify (so in practice a missing optional one fails too, as in zos); weights add up. Then
    /// the owner must be among the requests and the weight must reach `weight_required`.
    pub fn verify(&self, keys: &impl KeyLookup) -> Result<(), VerifyError> {
        let message = self.signing_message()?;
        let req = &self.signature_requirement;
        let mut originator = false;
        let mut weight: u64 = 0;
        for request in &req.requests {
            let mut required = request.required;
            if request.twin_id == self.twin_id {
                originator = true;
                required = true;
            }
            let signature = req.signatures.iter().find(|s| s.twin_id == request.twin_id);
            if signature.is_none() && required {
                return Err(VerifyError::MissingSignature(request.twin_id));
            }
            let key =
                keys.public_key(request.twin_id)
                    .map_err(|reason| VerifyError::KeyLookup {
                        twin: request.twin_id,
                        reason,
                    })?;
            let (text, ty) = signature
                .map(|s| (s.signature.as_str(), s.signature_type.as_str()))
                .unwrap_or(("", ""));
            let bytes = hex::decode(text).map_err(|_| VerifyError::SignatureNotHex {
                twin: request.twin_id,
            })?;
            let ok = if ty == SIGNATURE_TYPE_SR25519 {
                verify_sr25519(&key, &message, &bytes)
            } else {
                verify_ed25519(&key, &message, &bytes)
            };
            if !ok {
                return Err(VerifyError::BadSignature(request.twin_id));
            }
            weight = weight.saturating_add(request.weight);
        }
        if !originator {
            return Err(VerifyError::OriginatorNotRequested);
        }
        if weight < req.weight_required {
            return Err(VerifyError::WeightNotReached {
                got: weight,
                required: req.weight_required,
            });
        }
        Ok(())
    }
}
