//! zos's `Deployment.Verify` rules: required/owner, weights, key lookup, styles.

mod common;

use std::collections::HashMap;

use ed25519_dalek::SigningKey;
use gridtypes::{Deployment, SignatureRequest, VerifyError, SIGNATURE_STYLE_POLKA};

fn key(n: u8) -> SigningKey {
    SigningKey::from_bytes(&[n; 32])
}

fn keys() -> HashMap<u32, [u8; 32]> {
    (1..=3u8)
        .map(|n| (u32::from(n), key(n).verifying_key().to_bytes()))
        .collect()
}

/// Deployment of twin 1 with the given requests.
fn dl(requests: &[(u32, bool, u64)], weight_required: u64) -> Deployment {
    let mut d = common::full();
    d.twin_id = 1;
    d.signature_requirement.requests = requests
        .iter()
        .map(|&(twin_id, required, weight)| SignatureRequest {
            twin_id,
            required,
            weight,
        })
        .collect();
    d.signature_requirement.weight_required = weight_required;
    d
}

fn sign(d: &mut Deployment, twins: &[u32]) {
    for &t in twins {
        d.sign_ed25519(t, &key(t as u8)).unwrap();
    }
}

#[test]
fn owner_alone() {
    let mut d = dl(&[(1, false, 1)], 1);
    sign(&mut d, &[1]);
    d.verify(&keys()).unwrap();
}

#[test]
fn owner_is_forced_required() {
    let mut d = dl(&[(1, false, 1), (2, false, 1)], 1);
    sign(&mut d, &[2]);
    assert_eq!(d.verify(&keys()), Err(VerifyError::MissingSignature(1)));
}

#[test]
fn missing_required_signature() {
    let mut d = dl(&[(1, true, 1), (2, true, 1)], 1);
    sign(&mut d, &[1]);
    assert_eq!(d.verify(&keys()), Err(VerifyError::MissingSignature(2)));
}

#[test]
fn missing_optional_signature_fails_like_zos() {
    let mut d = dl(&[(1, true, 1), (2, false, 1)], 1);
    sign(&mut d, &[1]);
    assert_eq!(d.verify(&keys()), Err(VerifyError::BadSignature(2)));
}

#[test]
fn originator_must_be_requested() {
    let mut d = dl(&[(2, true, 1)], 1);
    sign(&mut d, &[2]);
    assert_eq!(d.verify(&keys()), Err(VerifyError::OriginatorNotRequested));
}

#[test]
fn weights() {
    let mut d = dl(&[(1, true, 1), (2, false, 2), (3, false, 1)], 4);
    sign(&mut d, &[1, 2, 3]);
    d.verify(&keys()).unwrap();
    d.signature_requirement.weight_required = 5;
    // weight_required is hashed: re-sign
    d.signature_requirement.signatures.clear();
    sign(&mut d, &[1, 2, 3]);
    assert_eq!(
        d.verify(&keys()),
        Err(VerifyError::WeightNotReached {
            got: 4,
            required: 5
        })
    );
}

#[test]
fn key_lookup_failure_and_bad_hex() {
    let mut d = dl(&[(1, true, 1)], 1);
    sign(&mut d, &[1]);
    let none = |_twin: u32| -> Result<Vec<u8>, String> { Err("chain down".into()) };
    let err = d.verify(&none).unwrap_err();
    assert_eq!(
        err,
        VerifyError::KeyLookup {
            twin: 1,
            reason: "chain down".into()
        }
    );
    assert!(err
        .to_string()
        .contains("failed to get public key for twin '1'"));

    d.signature_requirement.signatures[0].signature = "zz".into();
    assert_eq!(
        d.verify(&keys()),
        Err(VerifyError::SignatureNotHex { twin: 1 })
    );

    d.signature_requirement.signatures[0].signature = "00".repeat(63);
    assert_eq!(d.verify(&keys()), Err(VerifyError::BadSignature(1)));

    // a key of the wrong length is a failed verification, not a panic
    let short = |_twin: u32| -> Result<Vec<u8>, String> { Ok(vec![1, 2, 3]) };
    let mut d = dl(&[(1, true, 1)], 1);
    sign(&mut d, &[1]);
    assert_eq!(d.verify(&short), Err(VerifyError::BadSignature(1)));
}

#[test]
fn wrong_key() {
    let mut d = dl(&[(1, true, 1)], 1);
    d.sign_ed25519(1, &key(9)).unwrap();
    assert_eq!(d.verify(&keys()), Err(VerifyError::BadSignature(1)));
}

#[test]
fn resigning_replaces_the_signature() {
    let mut d = dl(&[(1, true, 1)], 1);
    d.sign_ed25519(1, &key(9)).unwrap();
    d.sign_ed25519(1, &key(1)).unwrap();
    assert_eq!(d.signature_requirement.signatures.len(), 1);
    d.verify(&keys()).unwrap();
}

#[test]
fn polka_wallet_style() {
    let mut d = dl(&[(1, true, 1)], 1);
    d.signature_requirement.signature_style = SIGNATURE_STYLE_POLKA.into();
    let msg = d.signing_message().unwrap();
    assert_eq!(
        String::from_utf8(msg).unwrap(),
        format!("<Bytes>{}</Bytes>", d.challenge_hash_hex().unwrap())
    );
    sign(&mut d, &[1]);
    d.verify(&keys()).unwrap();
    // a signature over the raw hash does not pass in polka style
    let raw = d.challenge_hash().unwrap();
    let sig = ed25519_dalek::Signer::sign(&key(1), &raw);
    d.add_signature(1, &sig.to_bytes(), "ed25519");
    assert_eq!(d.verify(&keys()), Err(VerifyError::BadSignature(1)));
}

#[test]
fn signatures_are_not_hashed_but_requests_are() {
    let mut d = dl(&[(1, true, 1)], 1);
    let before = d.challenge_hash_hex().unwrap();
    sign(&mut d, &[1]);
    assert_eq!(d.challenge_hash_hex().unwrap(), before);
    d.signature_requirement.requests[0].weight = 2;
    assert_ne!(d.challenge_hash_hex().unwrap(), before);
    assert_eq!(d.signer_twins(), vec![1]);
}
