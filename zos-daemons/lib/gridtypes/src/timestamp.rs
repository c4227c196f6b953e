//! `gridtypes.Timestamp`: unix seconds, decoded from an integer or an RFC 3339 date.
//!
//! Owns only the JSON form of timestamps (written as an integer); it must not read the clock
//! (callers pass "now").

use std::fmt;

use serde::de::{self, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Seconds since the unix epoch. Decodes like zos: a JSON integer, or an RFC 3339 string
/// (converted to unix seconds, fraction dropped).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default, Hash)]
pub struct Timestamp(pub i64);

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

impl Serialize for Timestamp {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_i64(self.0)
    }
}

const FORMAT_ERROR: &str = "unknown timestamp format, expecting a timestamp or an ISO-8601 date";

struct TimestampVisitor;

impl Visitor<'_> for TimestampVisitor {
    type Value = Timestamp;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a unix timestamp or an RFC 3339 date")
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Timestamp, E> {
        Ok(Timestamp(v))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Timestamp, E> {
        i64::try_from(v)
            .map(Timestamp)
            .map_err(|_| E::custom(FORMAT_ERROR))
    }

    fn visit_f64<E: de::Error>(self, _: f64) -> Result<Timestamp, E> {
        Err(E::custom(FORMAT_ERROR))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Timestamp, E> {
        parse_rfc3339(v)
            .map(Timestamp)
            .ok_or_else(|| E::custom(FORMAT_ERROR))
    }

    fn visit_unit<E: de::Error>(self) -> Result<Timestamp, E> {
        // Go leaves the value untouched on `null`.
        Ok(Timestamp(0))
    }
}

impl<'de> Deserialize<'de> for Timestamp {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(TimestampVisitor)
    }
}

fn digits(s: &str) -> Option<i64> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146097 + doe - 719468
}

fn days_in_month(y: i64, m: i64) -> i64 {
    match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        _ if (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 => 29,
        _ => 28,
    }
}

/// `YYYY-MM-DDTHH:MM:SS[.frac](Z|+HH:MM|-HH:MM)` to unix seconds.
pub(crate) fn parse_rfc3339(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    if b.len() < 20 || b[4] != b'-' || b[7] != b'-' || b[10] != b'T' || b[13] != b':' {
        return None;
    }
    if b[16] != b':' {
        return None;
    }
    let year = digits(s.get(0..4)?)?;
    let month = digits(s.get(5..7)?)?;
    let day = digits(s.get(8..10)?)?;
    let hour = digits(s.get(11..13)?)?;
    let minute = digits(s.get(14..16)?)?;
    let second = digits(s.get(17..19)?)?;
    if !(1..=12).contains(&month) || day < 1 || day > days_in_month(year, month) {
        return None;
    }
    if hour > 23 || minute > 59 || second > 59 {
        return None;
    }
    let mut rest = s.get(19..)?;
    if let Some(frac) = rest.strip_prefix('.') {
        let end = frac
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(frac.len());
        if end == 0 {
            return None;
        }
        rest = &frac[end..];
    }
    let offset = if rest == "Z" {
        0
    } else {
        let sign = match rest.as_bytes().first()? {
            b'+' => 1,
            b'-' => -1,
            _ => return None,
        };
        let tz = rest.get(1..)?;
        if tz.len() != 5 || tz.as_bytes()[2] != b':' {
            return None;
        }
        let (h, m) = (digits(&tz[0..2])?, digits(&tz[3..5])?);
        if h > 23 || m > 59 {
            return None;
        }
        sign * (h * 3600 + m * 60)
    };
    let days = days_from_civil(year, month, day);
    Some(days * 86400 + hour * 3600 + minute * 60 + second - offset)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integer_or_date() {
        let t: Timestamp = serde_json::from_str("1700000000").unwrap();
        assert_eq!(t, Timestamp(1_700_000_000));
        let t: Timestamp = serde_json::from_str("\"2023-11-14T22:13:20Z\"").unwrap();
        assert_eq!(t, Timestamp(1_700_000_000));
        let t: Timestamp = serde_json::from_str("\"2023-11-15T00:13:20.123+02:00\"").unwrap();
        assert_eq!(t, Timestamp(1_700_000_000));
        let t: Timestamp = serde_json::from_str("\"1970-01-01T00:00:00Z\"").unwrap();
        assert_eq!(t, Timestamp(0));
        let t: Timestamp = serde_json::from_str("-5").unwrap();
        assert_eq!(t, Timestamp(-5));
        assert_eq!(serde_json::to_string(&Timestamp(12)).unwrap(), "12");
    }

    #[test]
    fn bad_timestamps() {
        for bad in [
            "1.5",
            "\"yesterday\"",
            "\"2023-02-29T00:00:00Z\"",
            "\"2023-11-14 22:13:20Z\"",
            "\"2023-11-14T22:13:20\"",
            "\"2023-11-14T22:13:20.Z\"",
            "true",
            "18446744073709551615",
            "\"\"",
        ] {
            assert!(serde_json::from_str::<Timestamp>(bad).is_err(), "{bad}");
        }
    }
}
