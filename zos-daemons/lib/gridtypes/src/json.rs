//! JSON helpers shared by the types: Go's decoding leniency where grid clients rely on it.
//!
//! Go marshals nil slices and maps as `null` and leaves a field at its zero value when it reads
//! `null`; serde would refuse `null` for a `Vec`, `String` or map, so those fields go through
//! [`null_default`]. Owns nothing else.

use serde::{Deserialize, Deserializer};

/// Deserializes `null` as `T::default()`.
pub(crate) fn null_default<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de> + Default,
{
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}
