//! The errors a request can end with, as the caller sees them: a stable `code`, an HTTP status and
//! a message.
//!
//! Handlers return these; the server uses the same variants for its own refusals. Nothing here
//! logs or decides policy.

/// Why a request was refused or failed. The string is the message sent to the caller: it must not
/// hold secrets or request bodies.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ApiError {
    /// The request is malformed (JSON, envelope, payload): 400 `bad_request`.
    #[error("bad request: {0}")]
    BadRequest(String),
    /// The caller is not authenticated (signature, timestamp, nonce, unknown twin): 401
    /// `unauthorized`.
    #[error("unauthorized: {0}")]
    Unauthorized(String),
    /// The caller is authenticated but may not do this: 403 `forbidden`.
    #[error("forbidden: {0}")]
    Forbidden(String),
    /// Unknown command, path or object: 404 `not_found`.
    #[error("not found: {0}")]
    NotFound(String),
    /// Any method but POST: 405 `method_not_allowed`.
    #[error("method not allowed: {0}")]
    MethodNotAllowed(String),
    /// The body is larger than the server accepts: 413 `payload_too_large`.
    #[error("payload too large: {0}")]
    PayloadTooLarge(String),
    /// The caller sent more requests than the node remembers per twin: 429 `too_many_requests`.
    #[error("too many requests: {0}")]
    TooManyRequests(String),
    /// The node cannot take the request now (e.g. the replay cache is full): 503 `unavailable`;
    /// what failed inside is for the node's log only.
    #[error("unavailable: {0}")]
    Unavailable(String),
    /// The node does not serve this yet, for a reason the caller may read (it is not
    /// registered, and why): 503 `unavailable`, with the message.
    #[error("not ready: {0}")]
    NotReady(String),
    /// The node failed: 500 `internal`.
    #[error("internal error: {0}")]
    Internal(String),
}

impl ApiError {
    /// The error for a command no handler knows.
    pub fn unknown_command(command: &str) -> Self {
        ApiError::NotFound(format!("unknown command {command:?}"))
    }

    /// The stable machine-readable code sent as `error.code`.
    pub fn code(&self) -> &'static str {
        match self {
            ApiError::BadRequest(_) => "bad_request",
            ApiError::Unauthorized(_) => "unauthorized",
            ApiError::Forbidden(_) => "forbidden",
            ApiError::NotFound(_) => "not_found",
            ApiError::MethodNotAllowed(_) => "method_not_allowed",
            ApiError::PayloadTooLarge(_) => "payload_too_large",
            ApiError::TooManyRequests(_) => "too_many_requests",
            ApiError::Unavailable(_) | ApiError::NotReady(_) => "unavailable",
            ApiError::Internal(_) => "internal",
        }
    }

    /// The HTTP status of the reply.
    pub fn status(&self) -> u16 {
        match self {
            ApiError::BadRequest(_) => 400,
            ApiError::Unauthorized(_) => 401,
            ApiError::Forbidden(_) => 403,
            ApiError::NotFound(_) => 404,
            ApiError::MethodNotAllowed(_) => 405,
            ApiError::PayloadTooLarge(_) => 413,
            ApiError::TooManyRequests(_) => 429,
            ApiError::Unavailable(_) | ApiError::NotReady(_) => 503,
            ApiError::Internal(_) => 500,
        }
    }

    /// The message sent as `error.message` (without the code prefix of `Display`).
    pub fn message(&self) -> &str {
        match self {
            ApiError::BadRequest(m)
            | ApiError::Unauthorized(m)
            | ApiError::Forbidden(m)
            | ApiError::NotFound(m)
            | ApiError::MethodNotAllowed(m)
            | ApiError::PayloadTooLarge(m)
            | ApiError::TooManyRequests(m)
            | ApiError::Unavailable(m)
            | ApiError::NotReady(m)
            | ApiError::Internal(m) => m,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_and_statuses_match_the_protocol() {
        let cases = [
            (ApiError::BadRequest("m".into()), "bad_request", 400),
            (ApiError::NotReady("m".into()), "unavailable", 503),
            (ApiError::Unauthorized("m".into()), "unauthorized", 401),
            (ApiError::Forbidden("m".into()), "forbidden", 403),
            (ApiError::NotFound("m".into()), "not_found", 404),
            (
                ApiError::MethodNotAllowed("m".into()),
                "method_not_allowed",
                405,
            ),
            (
                ApiError::PayloadTooLarge("m".into()),
                "payload_too_large",
                413,
            ),
            (
                ApiError::TooManyRequests("m".into()),
                "too_many_requests",
                429,
            ),
            (ApiError::Unavailable("m".into()), "unavailable", 503),
            (ApiError::Internal("m".into()), "internal", 500),
        ];
        for (error, code, status) in cases {
            assert_eq!(error.code(), code);
            assert_eq!(error.status(), status);
            assert_eq!(error.message(), "m");
        }
        let unknown = ApiError::unknown_command("zos.nope");
        assert_eq!(unknown.status(), 404);
        assert_eq!(unknown.message(), "unknown command \"zos.nope\"");
    }
}
