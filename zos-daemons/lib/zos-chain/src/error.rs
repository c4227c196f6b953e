//! The chain client's error model.
//!
//! Callers branch on a few kinds: the runtime refused the call (`Module`, by pallet and error
//! NAME, e.g. `TfgridModule.FarmNotExists`), the account cannot pay (`InsufficientFunds`), the
//! transaction pool refused it (`Invalid`), the chain could not be reached (`Connect`/`Rpc`), or
//! something was not found / not decodable. Messages carry the context a person needs.

use subxt::error::DispatchError;

/// Errors of the chain client.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The URL is not a `ws://` or `wss://` URL with a host.
    #[error("invalid chain URL {url:?}: {reason}")]
    InvalidUrl { url: String, reason: String },

    /// The chain could not be reached within the reconnect policy's time budget.
    #[error("cannot connect to chain at {url} after {attempts} attempts: {reason}")]
    Connect {
        url: String,
        attempts: u32,
        reason: String,
    },

    /// An RPC failed (includes a connection lost mid-call; the next call reconnects).
    #[error("chain RPC failed while {context}: {message}")]
    Rpc {
        context: &'static str,
        message: String,
    },

    /// A pallet refused the call. Display is `Pallet.Error`, e.g. `TfgridModule.FarmNotExists`.
    #[error("{pallet}.{error}")]
    Module {
        pallet: String,
        error: String,
        /// The error's documentation from the metadata, if any.
        docs: String,
    },

    /// The runtime refused the call with a non-pallet dispatch error (BadOrigin, Token, ...).
    #[error("dispatch error: {0}")]
    Dispatch(String),

    /// The account cannot pay the fees (or the amount) of the transaction.
    #[error("account {account} has insufficient funds: {message}")]
    InsufficientFunds { account: String, message: String },

    /// The transaction pool rejected the transaction (bad nonce, stale, bad signature, ...).
    #[error("transaction rejected by the pool: {0}")]
    Invalid(String),

    /// The transaction was dropped from the pool before inclusion.
    #[error("transaction dropped: {0}")]
    Dropped(String),

    /// The transaction was not finalized in time.
    #[error("transaction {tx_hash} not finalized within {seconds} s")]
    Timeout { tx_hash: String, seconds: u64 },

    /// A storage item that must exist does not (e.g. `node 42`).
    #[error("{what} not found on chain")]
    NotFound { what: String },

    /// The extrinsic succeeded but the expected event is missing.
    #[error("extrinsic {pallet}.{call} succeeded but emitted no {event} event")]
    MissingEvent {
        pallet: &'static str,
        call: &'static str,
        event: &'static str,
    },

    /// The chain's data does not have the shape this client expects (metadata mismatch).
    #[error("cannot decode {what}: {message}")]
    Decode { what: String, message: String },

    /// The caller passed an argument the runtime would reject for sure.
    #[error("invalid argument: {0}")]
    InvalidArgument(String),
}

impl Error {
    /// True when the error says nothing about the call itself but about reaching the chain;
    /// retrying later (after a reconnect) can succeed.
    pub fn is_connection(&self) -> bool {
        matches!(self, Error::Connect { .. } | Error::Rpc { .. })
    }

    pub(crate) fn rpc(context: &'static str, err: impl std::fmt::Display) -> Self {
        Error::Rpc {
            context,
            message: err.to_string(),
        }
    }

    pub(crate) fn decode(what: impl Into<String>, err: impl std::fmt::Display) -> Self {
        Error::Decode {
            what: what.into(),
            message: err.to_string(),
        }
    }

    pub(crate) fn not_found(what: impl Into<String>) -> Self {
        Error::NotFound { what: what.into() }
    }

    /// Maps a runtime dispatch error, resolving pallet errors to names via the metadata.
    pub(crate) fn from_dispatch(err: DispatchError, account: &str) -> Self {
        match err {
            DispatchError::Module(module) => match module.details() {
                Ok(details) => {
                    let pallet = details.pallet.name().to_string();
                    let error = details.variant.name.clone();
                    let docs = details.variant.docs.join(" ");
                    if is_funds_error(&pallet, &error) {
                        Error::InsufficientFunds {
                            account: account.to_string(),
                            message: format!("{pallet}.{error}"),
                        }
                    } else {
                        Error::Module {
                            pallet,
                            error,
                            docs,
                        }
                    }
                }
                Err(e) => Error::Dispatch(format!(
                    "unresolved pallet error {module}: {e}",
                    e = zos_base::Report(&e)
                )),
            },
            DispatchError::Token(token) => {
                let text = format!("{token:?}");
                if text.contains("FundsUnavailable") {
                    Error::InsufficientFunds {
                        account: account.to_string(),
                        message: format!("Token.{text}"),
                    }
                } else {
                    Error::Dispatch(format!("Token.{text}"))
                }
            }
            other => Error::Dispatch(other.to_string()),
        }
    }

    /// Maps a transaction-pool or RPC error message of a submission.
    pub(crate) fn from_submission(message: String, account: &str) -> Self {
        if is_fee_message(&message) {
            Error::InsufficientFunds {
                account: account.to_string(),
                message,
            }
        } else if message.contains("Invalid Transaction")
            || message.contains("(1010)")
            || message.contains("(1014)")
        {
            Error::Invalid(message)
        } else {
            Error::Rpc {
                context: "submitting an extrinsic",
                message,
            }
        }
    }
}

/// The pool's words for "cannot pay the fees" (substrate `InvalidTransaction::Payment`).
pub(crate) fn is_fee_message(message: &str) -> bool {
    // substrate's text, and chopsticks' JSON form `{"invalid":{"payment":null}}`.
    message.contains("Inability to pay some fees")
        || message.contains("InvalidTransaction::Payment")
        || message.contains(r#"{"invalid":{"payment""#)
}

fn is_funds_error(pallet: &str, error: &str) -> bool {
    pallet == "Balances"
        && matches!(
            error,
            "InsufficientBalance" | "ExistentialDeposit" | "Expendability" | "FundsUnavailable"
        )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn module_error_displays_as_pallet_dot_error() {
        let err = Error::Module {
            pallet: "TfgridModule".into(),
            error: "FarmNotExists".into(),
            docs: String::new(),
        };
        assert_eq!(zos_base::report(&err), "TfgridModule.FarmNotExists");
        assert!(!err.is_connection());
    }

    #[test]
    fn pool_fee_rejection_maps_to_insufficient_funds() {
        let err = Error::from_submission(
            "RPC error: client error: Invalid Transaction: Inability to pay some fees (e.g. account balance too low)".into(),
            "5Abc",
        );
        assert!(matches!(err, Error::InsufficientFunds { .. }), "{err}");
        let err = Error::from_submission(
            r#"Cannot submit extrinsic: RPC error: User error: {"invalid":{"payment":null}} (1010)"#.into(),
            "5Abc",
        );
        assert!(matches!(err, Error::InsufficientFunds { .. }), "{err}");
        let err =
            Error::from_submission("Invalid Transaction: Transaction is outdated".into(), "x");
        assert!(matches!(err, Error::Invalid(_)), "{err}");
        let err = Error::from_submission("connection reset".into(), "x");
        assert!(err.is_connection(), "{err}");
    }
}
