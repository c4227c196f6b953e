//! How zosctl writes figures for people: sizes (binary units, one decimal, one unit per column),
//! times (local date and time, and how long ago) and states (of workloads, contracts, flags).
//!
//! Only text for tables and key/value blocks: `--json` keeps the raw numbers, so nothing here is
//! ever parsed back. Reads the clock and the local time zone only through its callers' `now` and
//! [`TimeZone::system`]; the `_at`/`_in` forms take both, for the tests.

use gridtypes::ResultState;
use jiff::tz::TimeZone;
use jiff::Timestamp;
use zos_chain::{Cause, ContractState};

/// Binary units, each 1024 times the one before.
const UNITS: [&str; 6] = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];

/// A column of sizes in bytes, all in the unit of the largest: "2.9 GiB", "0.5 GiB", "0 B".
/// Bytes are whole ("512 B"); larger units have one decimal, and a size that would round to
/// zero but is not zero shows as "<0.1 GiB".
pub fn sizes(values: &[u64]) -> Vec<String> {
    let unit = unit_of(values.iter().copied().max().unwrap_or(0));
    values.iter().map(|&v| size_in(v, unit)).collect()
}

/// One size on its own (a column of one).
pub fn size(value: u64) -> String {
    size_in(value, unit_of(value))
}

/// The largest unit `value` holds at least one of.
fn unit_of(value: u64) -> usize {
    (1..UNITS.len())
        .rev()
        .find(|unit| value >= 1u64 << (10 * unit))
        .unwrap_or(0)
}

fn size_in(value: u64, unit: usize) -> String {
    if unit == 0 {
        return format!("{value} B");
    }
    // Display only: f64 keeps far more than the one decimal shown.
    let scaled = value as f64 / (1u64 << (10 * unit)) as f64;
    if value > 0 && scaled < 0.05 {
        return format!("<0.1 {}", UNITS[unit]);
    }
    format!("{scaled:.1} {}", UNITS[unit])
}

/// The clock, as unix seconds (0 if the clock is before 1970).
pub fn now() -> i64 {
    Timestamp::now().as_second()
}

/// A unix time as the local date and time, "2026-12-02 14:05:09"; 0 (zos: never) is "never".
pub fn time(unix: i64) -> String {
    time_in(unix, &TimeZone::system())
}

fn time_in(unix: i64, tz: &TimeZone) -> String {
    if unix == 0 {
        return "never".into();
    }
    match Timestamp::from_second(unix) {
        Ok(ts) => ts
            .to_zoned_datetime(tz.clone())
            .strftime("%Y-%m-%d %H:%M:%S")
            .to_string(),
        // Outside the years -9999..=9999: no date to show, so the number as it came.
        Err(_) => unix.to_string(),
    }
}

/// A unix time as the local date and time and how long ago it was:
/// "2026-12-02 14:05:09 (3 min ago)"; "never" for 0.
pub fn time_ago(unix: i64) -> String {
    time_ago_in(unix, now(), &TimeZone::system())
}

fn time_ago_in(unix: i64, now: i64, tz: &TimeZone) -> String {
    if unix == 0 {
        return "never".into();
    }
    format!("{} ({})", time_in(unix, tz), ago(unix, now))
}

/// How long before `now` `unix` was, in the largest unit that is at least one: "just now",
/// "40 s ago", "3 min ago", "5 h ago", "2 days ago"; "in 3 min" for a time still to come.
pub fn ago(unix: i64, now: i64) -> String {
    let seconds = now.saturating_sub(unix);
    let span = seconds.unsigned_abs();
    let amount = if span < 5 {
        return "just now".into();
    } else if span < 60 {
        format!("{span} s")
    } else if span < 3600 {
        format!("{} min", span / 60)
    } else if span < 48 * 3600 {
        format!("{} h", span / 3600)
    } else {
        format!("{} days", span / 86_400)
    };
    if seconds < 0 {
        format!("in {amount}")
    } else {
        format!("{amount} ago")
    }
}

/// A workload's state as the node reports it; "waiting" before the node set any.
pub fn workload_state(state: &ResultState) -> &str {
    match state {
        ResultState::Unset => "waiting",
        state => state.as_str(),
    }
}

/// A contract's state: "created", "deleted (canceled by user)", "grace period since block 12".
pub fn contract_state(state: &ContractState) -> String {
    match state {
        ContractState::Created => "created".into(),
        ContractState::Deleted(Cause::CanceledByUser) => "deleted (canceled by user)".into(),
        ContractState::Deleted(Cause::OutOfFunds) => "deleted (out of funds)".into(),
        ContractState::GracePeriod(block) => format!("grace period since block {block}"),
    }
}

/// A flag: "yes" or "no".
pub fn yes_no(flag: bool) -> &'static str {
    if flag {
        "yes"
    } else {
        "no"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KIB: u64 = 1 << 10;
    const MIB: u64 = 1 << 20;
    const GIB: u64 = 1 << 30;

    #[test]
    fn a_column_of_sizes_shares_the_unit_of_its_largest() {
        // The node: 3043260 KiB of memory beside 2 GiB used.
        assert_eq!(
            sizes(&[3_043_260 * KIB, 2 * GIB, 0]),
            ["2.9 GiB", "2.0 GiB", "0.0 GiB"]
        );
        assert_eq!(sizes(&[16 * GIB, MIB]), ["16.0 GiB", "<0.1 GiB"]);
        assert_eq!(sizes(&[1536 * MIB, 512 * MIB]), ["1.5 GiB", "0.5 GiB"]);
        assert_eq!(sizes(&[2048 * GIB]), ["2.0 TiB"]);
        assert_eq!(sizes(&[1000, 12]), ["1000 B", "12 B"]);
        assert_eq!(sizes(&[0, 0]), ["0 B", "0 B"]);
        assert_eq!(sizes(&[u64::MAX]), ["16384.0 PiB"]);
        assert!(sizes(&[]).is_empty());
        assert_eq!(size(KIB), "1.0 KiB");
        assert_eq!(size(3 * GIB / 2), "1.5 GiB");
        assert_eq!(size(0), "0 B");
    }

    #[test]
    fn times_are_local_dates_and_how_long_ago() {
        let utc = TimeZone::UTC;
        // The "last deployment 1796187978".
        assert_eq!(time_in(1_796_187_978, &utc), "2026-12-02 05:06:18");
        let brussels = TimeZone::fixed(jiff::tz::offset(1));
        assert_eq!(time_in(1_796_187_978, &brussels), "2026-12-02 06:06:18");
        assert_eq!(time_in(0, &utc), "never");
        assert_eq!(time_in(i64::MAX, &utc), i64::MAX.to_string());
        let t = 1_796_187_978;
        assert_eq!(
            time_ago_in(t, t + 180, &utc),
            "2026-12-02 05:06:18 (3 min ago)"
        );
        assert_eq!(time_ago_in(0, t, &utc), "never");
        for (delta, text) in [
            (0, "just now"),
            (4, "just now"),
            (40, "40 s ago"),
            (60, "1 min ago"),
            (3599, "59 min ago"),
            (5 * 3600, "5 h ago"),
            (47 * 3600, "47 h ago"),
            (3 * 86_400, "3 days ago"),
            (-180, "in 3 min"),
        ] {
            assert_eq!(ago(t - delta, t), text, "{delta} s");
        }
        assert_eq!(
            ago(i64::MIN, i64::MAX),
            format!("{} days ago", i64::MAX / 86_400)
        );
    }

    #[test]
    fn states_are_words() {
        assert_eq!(workload_state(&ResultState::Unset), "waiting");
        assert_eq!(workload_state(&ResultState::Ok), "ok");
        assert_eq!(workload_state(&ResultState::Other("odd".into())), "odd");
        assert_eq!(contract_state(&ContractState::Created), "created");
        assert_eq!(
            contract_state(&ContractState::Deleted(Cause::CanceledByUser)),
            "deleted (canceled by user)"
        );
        assert_eq!(
            contract_state(&ContractState::GracePeriod(12)),
            "grace period since block 12"
        );
        assert_eq!((yes_no(true), yes_no(false)), ("yes", "no"));
    }
}
