//! What noded's tests share: a real storaged (the library, in-process) on the test bus, with
//! pools on loop devices, so noded gets its SRU/HRU and its cache the way it does on a node.
//! Needs root, losetup and mkfs.btrfs (`make deps`).

use zos_testkit::disks::Env;
use zos_testkit::PrivateBus;

pub const GIB: u64 = 1 << 30;

/// storaged serving on a test bus; unmounts and detaches everything on drop.
pub struct Storaged {
    // Dropped first: the service stops before its pools are unmounted.
    _conn: zbus::Connection,
    _env: Env,
}

impl Storaged {
    /// One pool per `(bytes, rotational)` disk (sparse files), served on `bus`.
    pub async fn start(bus: &PrivateBus, disks: &[(u64, bool)]) -> Storaged {
        let mut env = Env::new();
        for &(size, rotational) in disks {
            env.add_disk(size, rotational);
        }
        let conn = env.serve(bus.address()).await;
        Storaged {
            _conn: conn,
            _env: env,
        }
    }
}
