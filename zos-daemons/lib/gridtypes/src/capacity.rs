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
}

impl AddAssign for Capacity {
    /// Adds like Go's `Capacity.Add` (wrapping on overflow, which real values never reach).
    fn add_assign(&mut self, o: Capacity) {
        self.cru = self.cru.wrapping_add(o.cru);
        self.sru = self.sru.wrapping_add(o.sru);
        self.hru = self.hru.wrapping_add(o.hru);
        self.mru = self.mru.wrapping_add(o.mru);
        self.ipv4u = self.ipv4u.wrapping_add(o.ipv4u);
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
}
