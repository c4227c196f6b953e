//! The wire format of the node API: the one path, the authentication headers, the signed message
//! and the JSON envelopes of requests and replies.
//!
//! Shared by the server and the client so both build the signed message from one function. It
//! does no I/O, holds no keys and knows no command: what a command means is the handler's business.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// The one request target the node answers (`POST`, no query string).
pub const API_PATH: &str = "/api/v1";
/// The only method the node accepts.
pub const API_METHOD: &str = "POST";

/// The calling twin's id, decimal.
pub const HEADER_TWIN_ID: &str = "x-twin-id";
/// When the request was signed: unix seconds, decimal.
pub const HEADER_TIMESTAMP: &str = "x-timestamp";
/// A random value, lowercase hex, [`NONCE_MIN_LEN`] to [`NONCE_MAX_LEN`] digits, never reused.
pub const HEADER_NONCE: &str = "x-nonce";
/// The signature scheme: `ed25519` or `sr25519`.
pub const HEADER_SIGNATURE_TYPE: &str = "x-signature-type";
/// The 64-byte signature of [`signing_message`], hex.
pub const HEADER_SIGNATURE: &str = "x-signature";

/// Shortest nonce accepted, in hex digits (64 bits).
pub const NONCE_MIN_LEN: usize = 16;
/// Longest nonce accepted, in hex digits (256 bits).
pub const NONCE_MAX_LEN: usize = 64;

/// First line of every signed message: keeps these signatures apart from any other use of the
/// twin's key (extrinsics, deployment signatures).
pub const SIGNING_DOMAIN: &str = "zos-api-v1";

/// A request body: the zos command name and its payload (`null` when absent).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Envelope<D = serde_json::Value> {
    pub command: String,
    #[serde(default)]
    pub data: D,
}

/// A successful reply: `{"data": ...}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DataReply<D = serde_json::Value> {
    pub data: D,
}

/// A refused or failed request: `{"error": {"code": "...", "message": "..."}}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorReply {
    pub error: ErrorBody,
}

/// The machine-readable `code` (see [`crate::ApiError::code`]) and a message for people.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    pub code: String,
    pub message: String,
}

/// A signature scheme a twin may sign with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scheme {
    Ed25519,
    Sr25519,
}

impl Scheme {
    /// Parses the `X-Signature-Type` value (exact, lowercase).
    pub fn parse(name: &str) -> Option<Self> {
        match name {
            "ed25519" => Some(Scheme::Ed25519),
            "sr25519" => Some(Scheme::Sr25519),
            _ => None,
        }
    }

    /// The header value of this scheme.
    pub fn as_str(self) -> &'static str {
        match self {
            Scheme::Ed25519 => "ed25519",
            Scheme::Sr25519 => "sr25519",
        }
    }

    /// Whether `signature` by `public_key` over `message` is valid (sr25519: signing context
    /// `substrate`), with the grid's verifiers.
    pub fn verify(self, public_key: &[u8; 32], message: &[u8], signature: &[u8; 64]) -> bool {
        match self {
            Scheme::Ed25519 => gridtypes::verify_ed25519(public_key, message, signature),
            Scheme::Sr25519 => gridtypes::verify_sr25519(public_key, message, signature),
        }
    }
}

/// Lowercase hex of the SHA-256 of `body` (64 digits).
pub fn body_hash(body: &[u8]) -> String {
    hex::encode(Sha256::digest(body))
}

/// The bytes a caller signs: seven lines joined by `\n`, no trailing newline:
///
/// ```text
/// zos-api-v1
/// <method>            POST
/// <path>              /api/v1
/// <body sha256>       64 lowercase hex digits
/// <timestamp>         unix seconds, decimal without leading zeros
/// <nonce>             the X-Nonce value
/// <twin id>           decimal without leading zeros
/// ```
///
/// No field can hold a newline (the server checks the nonce is hex before building this), so the
/// layout is unambiguous.
pub fn signing_message(
    method: &str,
    path: &str,
    body_sha256_hex: &str,
    timestamp: u64,
    nonce: &str,
    twin_id: u32,
) -> Vec<u8> {
    format!(
        "{SIGNING_DOMAIN}\n{method}\n{path}\n{body_sha256_hex}\n{timestamp}\n{nonce}\n{twin_id}"
    )
    .into_bytes()
}

/// Whether `nonce` is a valid `X-Nonce`: lowercase hex, [`NONCE_MIN_LEN`]..=[`NONCE_MAX_LEN`]
/// digits.
pub fn valid_nonce(nonce: &str) -> bool {
    (NONCE_MIN_LEN..=NONCE_MAX_LEN).contains(&nonce.len())
        && nonce
            .bytes()
            .all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signing_message_has_the_documented_layout() {
        let hash = body_hash(b"{}");
        assert_eq!(
            hash,
            "44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a"
        );
        let message = signing_message(
            "POST",
            "/api/v1",
            &hash,
            1_700_000_000,
            "00ff00ff00ff00ff",
            42,
        );
        assert_eq!(
            String::from_utf8(message).expect("ascii"),
            "zos-api-v1\nPOST\n/api/v1\n\
             44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a\n\
             1700000000\n00ff00ff00ff00ff\n42"
        );
    }

    #[test]
    fn every_field_changes_the_message() {
        let base = || {
            signing_message(
                "POST",
                "/api/v1",
                &body_hash(b"a"),
                10,
                "0123456789abcdef",
                7,
            )
        };
        let variants = [
            signing_message(
                "GET",
                "/api/v1",
                &body_hash(b"a"),
                10,
                "0123456789abcdef",
                7,
            ),
            signing_message(
                "POST",
                "/api/v2",
                &body_hash(b"a"),
                10,
                "0123456789abcdef",
                7,
            ),
            signing_message(
                "POST",
                "/api/v1",
                &body_hash(b"b"),
                10,
                "0123456789abcdef",
                7,
            ),
            signing_message(
                "POST",
                "/api/v1",
                &body_hash(b"a"),
                11,
                "0123456789abcdef",
                7,
            ),
            signing_message(
                "POST",
                "/api/v1",
                &body_hash(b"a"),
                10,
                "0123456789abcdee",
                7,
            ),
            signing_message(
                "POST",
                "/api/v1",
                &body_hash(b"a"),
                10,
                "0123456789abcdef",
                8,
            ),
        ];
        for variant in variants {
            assert_ne!(variant, base());
        }
    }

    #[test]
    fn nonces_are_lowercase_hex_of_bounded_length() {
        assert!(valid_nonce("0123456789abcdef"));
        assert!(valid_nonce(&"a".repeat(NONCE_MAX_LEN)));
        assert!(!valid_nonce("0123456789abcde"));
        assert!(!valid_nonce(&"a".repeat(NONCE_MAX_LEN + 1)));
        assert!(!valid_nonce("0123456789ABCDEF"));
        assert!(!valid_nonce("0123456789abcdeg"));
        assert!(!valid_nonce("0123456789abcde\n"));
        assert!(!valid_nonce(""));
    }

    #[test]
    fn schemes_parse_exactly() {
        assert_eq!(Scheme::parse("ed25519"), Some(Scheme::Ed25519));
        assert_eq!(Scheme::parse("sr25519"), Some(Scheme::Sr25519));
        assert_eq!(Scheme::parse("ED25519"), None);
        assert_eq!(Scheme::parse(""), None);
        assert_eq!(Scheme::Sr25519.as_str(), "sr25519");
    }

    #[test]
    fn envelopes_default_data_to_null_and_refuse_unknown_fields() {
        let envelope: Envelope =
            serde_json::from_str(r#"{"command": "zos.system.version"}"#).expect("data is optional");
        assert_eq!(envelope.data, serde_json::Value::Null);
        assert!(serde_json::from_str::<Envelope>(r#"{"command": "x", "extra": 1}"#).is_err());
        assert!(serde_json::from_str::<Envelope>(r#"{"data": 1}"#).is_err());
    }
}
