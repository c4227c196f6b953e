//! Reads the authentication headers of a request into typed values (server side).
//!
//! Only parses: the clock, key and replay checks are the server's. Every failure is an
//! [`ApiError::Unauthorized`] naming the header, never echoing a signature.

use hyper::header::{HeaderMap, HeaderValue};

use crate::error::ApiError;
use crate::wire::{
    valid_nonce, Scheme, HEADER_NONCE, HEADER_SIGNATURE, HEADER_SIGNATURE_TYPE, HEADER_TIMESTAMP,
    HEADER_TWIN_ID, NONCE_MAX_LEN, NONCE_MIN_LEN,
};

/// The parsed authentication headers of one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct AuthHeaders {
    pub(crate) twin_id: u32,
    pub(crate) timestamp: u64,
    pub(crate) nonce: String,
    pub(crate) scheme: Scheme,
    pub(crate) signature: [u8; 64],
}

impl AuthHeaders {
    pub(crate) fn parse(headers: &HeaderMap) -> Result<Self, ApiError> {
        let twin_id = one(headers, HEADER_TWIN_ID)?
            .parse::<u32>()
            .map_err(|_| invalid(HEADER_TWIN_ID, "expected a decimal twin id"))?;
        let timestamp = one(headers, HEADER_TIMESTAMP)?
            .parse::<u64>()
            .map_err(|_| invalid(HEADER_TIMESTAMP, "expected unix seconds"))?;
        let nonce = one(headers, HEADER_NONCE)?;
        if !valid_nonce(nonce) {
            return Err(invalid(
                HEADER_NONCE,
                &format!("expected {NONCE_MIN_LEN} to {NONCE_MAX_LEN} lowercase hex digits"),
            ));
        }
        let scheme = Scheme::parse(one(headers, HEADER_SIGNATURE_TYPE)?)
            .ok_or_else(|| invalid(HEADER_SIGNATURE_TYPE, "expected ed25519 or sr25519"))?;
        let mut signature = [0u8; 64];
        hex::decode_to_slice(one(headers, HEADER_SIGNATURE)?, &mut signature)
            .map_err(|_| invalid(HEADER_SIGNATURE, "expected 128 hex digits"))?;
        Ok(AuthHeaders {
            twin_id,
            timestamp,
            nonce: nonce.to_string(),
            scheme,
            signature,
        })
    }
}

/// The value of a header that must appear exactly once, as text.
fn one<'a>(headers: &'a HeaderMap, name: &str) -> Result<&'a str, ApiError> {
    let mut values = headers.get_all(name).iter();
    let value: &HeaderValue = values
        .next()
        .ok_or_else(|| ApiError::Unauthorized(format!("missing header {name}")))?;
    if values.next().is_some() {
        return Err(invalid(name, "given more than once"));
    }
    value
        .to_str()
        .map_err(|_| invalid(name, "not visible ASCII"))
}

fn invalid(name: &str, reason: &str) -> ApiError {
    ApiError::Unauthorized(format!("invalid header {name}: {reason}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(*name, HeaderValue::from_str(value).expect("header value"));
        }
        map
    }

    fn good() -> Vec<(&'static str, String)> {
        vec![
            (HEADER_TWIN_ID, "7".into()),
            (HEADER_TIMESTAMP, "1700000000".into()),
            (HEADER_NONCE, "0123456789abcdef".into()),
            (HEADER_SIGNATURE_TYPE, "sr25519".into()),
            (HEADER_SIGNATURE, "ab".repeat(64)),
        ]
    }

    fn parse(pairs: &[(&'static str, String)]) -> Result<AuthHeaders, ApiError> {
        let borrowed: Vec<(&'static str, &str)> =
            pairs.iter().map(|(n, v)| (*n, v.as_str())).collect();
        AuthHeaders::parse(&headers(&borrowed))
    }

    #[test]
    fn good_headers_parse() {
        let auth = parse(&good()).expect("parses");
        assert_eq!(auth.twin_id, 7);
        assert_eq!(auth.timestamp, 1_700_000_000);
        assert_eq!(auth.nonce, "0123456789abcdef");
        assert_eq!(auth.scheme, Scheme::Sr25519);
        assert_eq!(auth.signature, [0xab; 64]);
    }

    #[test]
    fn each_missing_header_is_named() {
        for skip in 0..5 {
            let mut pairs = good();
            let (name, _) = pairs.remove(skip);
            let err = parse(&pairs).expect_err("missing header");
            assert_eq!(
                err,
                ApiError::Unauthorized(format!("missing header {name}"))
            );
        }
    }

    #[test]
    fn malformed_values_are_refused() {
        let cases = [
            (0, "-1"),
            (0, "4294967296"),
            (1, "soon"),
            (2, "0123"),
            (2, "0123456789ABCDEF"),
            (3, "ecdsa"),
            (4, "abcd"),
            (4, &"zz".repeat(64)),
        ];
        for (index, value) in cases {
            let mut pairs = good();
            pairs[index].1 = value.to_string();
            let err = parse(&pairs).expect_err(value);
            assert_eq!(err.status(), 401, "{err}");
            assert!(err.message().contains(pairs[index].0), "{err}");
        }
    }

    #[test]
    fn duplicated_headers_are_refused() {
        let mut pairs = good();
        pairs.push((HEADER_NONCE, "fedcba9876543210".into()));
        let err = parse(&pairs).expect_err("duplicate");
        assert!(err.message().contains("more than once"), "{err}");
    }
}
