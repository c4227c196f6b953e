//! Capacity units and the capacity a workload consumes (zos `gridtypes.Capacity`, `Unit`).
//!
//! Owns the `{cru, sru, hru, mru, ipv4u}` shape and byte units; the per-type amounts are computed
//! by each type in `types` (`WorkloadData::capacity`). It must not measure the node.

use std::ops::{Add, AddAssign};

use serde::{Deserialize, Serialize};

/// 1024 bytes (zos units are 1024-based).
pub const KIB: u64 = 1024;
pub const MIB: u64 = 1024 * KIB;
pub const GIB: u64 = 1024 * MIB;
pub const TIB: u64 = 1024 * GIB;
/// More bytes than any node holds (1 EiB): a larger size in a deployment is refused, so sums
/// of sizes stay far from 2^64.
pub const MAX_BYTES: u64 = 1 << 60;

/// Consumed (or offered) capacity: CPUs, bytes of SSD/HDD/memory, public IPv4 count.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Hash, Serialize, Deserialize)]
pub struct Capacity {
    #[serde(default)]
    pub cru: u64,
    #[serde(default)]
    pub sru: u64,
    #[serde(default)]
    pub hru: u64,
    #[serde(default)]
    pub mru: u64,
    #[serde(default)]
    pub ipv4u: u64,
}

impl Capacity {
    pub fn is_zero(&self) -> bool {
        *self == Capacity::default()
    }

    /// The sum, or None when a unit passes 2^64 - 1.
    pub fn checked_add(self, o: Capacity) -> Option<Capacity> {
        Some(Capacity {
            cru: self.cru.checked_add(o.cru)?,
            sru: self.sru.checked_add(o.sru)?,
            hru: self.hru.checked_add(o.hru)?,
            mru: self.mru.checked_add(o.mru)?,
            ipv4u: self.ipv4u.checked_add(o.ipv4u)?,
        })
    }
}

impl AddAssign for Capacity {
    /// Adds unit by unit, saturating: a sum past 2^64 - 1 stays at the most, which no node
    /// offers, so admission refuses it (Go's `Capacity.Add` wraps, and two zdb workloads whose
    /// sizes add past 2^64 would fit any node).
    fn add_assign(&mut self, o: Capacity) {
        self.cru = self.cru.saturating_add(o.cru);
        self.sru = self.sru.saturating_add(o.sru);
        self.hru = self.hru.saturating_add(o.hru);
        self.mru = self.mru.saturating_add(o.mru);
        self.ipv4u = self.ipv4u.saturating_add(o.ipv4u);
    }
}

impl Add for Capacity {
    type Output = Capacity;

    fn add(mut self, o: Capacity) -> Capacity {
        self += o;
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_and_add() {
        let c = Capacity {
            cru: 1,
            sru: 2,
            hru: 3,
            mru: 4,
            ipv4u: 5,
        };
        assert_eq!(
            serde_json::to_string(&c).unwrap(),
            r#"{"cru":1,"sru":2,"hru":3,"mru":4,"ipv4u":5}"#
        );
        assert_eq!(
            c + c,
            Capacity {
                cru: 2,
                sru: 4,
                hru: 6,
                mru: 8,
                ipv4u: 10
            }
        );
        assert!(Capacity::default().is_zero());
    }

    #[test]
    fn sums_past_2_64_do_not_wrap() {
        let half = Capacity {
            hru: 1 << 63,
            ..Default::default()
        };
        assert_eq!((half + half).hru, u64::MAX);
        assert_eq!(half.checked_add(half), None);
        assert_eq!(
            half.checked_add(Capacity::default()).map(|c| c.hru),
            Some(1 << 63)
        );
    }
}
