//! Whether the node runs under a hypervisor, from DMI and the CPU flags. Shared by noded (the
//! chain records it) and storaged (in a VM a disk's measured speed is the host's, not the disk's).
//! Reads `<sys>` and `<proc>` (fixture trees in tests); writes nothing.

use std::path::Path;

/// DMI system vendors of hypervisors.
const VM_VENDORS: &[&str] = &[
    "QEMU",
    "KVM",
    "Bochs",
    "VMware",
    "innotek GmbH",
    "Xen",
    "Parallels",
    "Firecracker",
];
/// DMI product names of hypervisors (vendors like "Microsoft Corporation" also make hardware).
const VM_PRODUCTS: &[&str] = &["KVM", "Virtual Machine", "VirtualBox", "HVM domU"];

/// True when the node runs under a hypervisor: a hypervisor's DMI vendor or product, or the
/// `hypervisor` CPU flag in `<proc>/cpuinfo` (set by the kernel for every guest).
pub fn virtualized(sys: &Path, proc: &Path) -> bool {
    let dmi = sys.join("class/dmi/id");
    let read = |name: &str| std::fs::read_to_string(dmi.join(name)).unwrap_or_default();
    let vendor = read("sys_vendor");
    let product = read("product_name");
    if VM_VENDORS.iter().any(|v| vendor.trim().starts_with(v))
        || VM_PRODUCTS.iter().any(|p| product.contains(p))
    {
        return true;
    }
    let cpuinfo = std::fs::read_to_string(proc.join("cpuinfo")).unwrap_or_default();
    cpuinfo.lines().any(|line| {
        line.split_once(':').is_some_and(|(key, value)| {
            key.trim() == "flags" && value.split_whitespace().any(|f| f == "hypervisor")
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    const BARE_METAL_CPUINFO: &str =
        "processor\t: 0\nflags\t\t: fpu vme de pse tsc msr pae mce cx8 apic sse sse2 ht\n";

    struct Tree(tempfile::TempDir);

    impl Tree {
        fn new() -> Tree {
            Tree(tempfile::tempdir().unwrap())
        }
        fn write(&self, path: &str, text: &str) {
            let path = self.0.path().join(path);
            fs::create_dir_all(path.parent().unwrap()).unwrap();
            fs::write(path, text).unwrap();
        }
        fn virtualized(&self) -> bool {
            virtualized(&self.0.path().join("sys"), &self.0.path().join("proc"))
        }
    }

    #[test]
    fn bare_metal_is_not_virtualized() {
        let t = Tree::new();
        t.write("proc/cpuinfo", BARE_METAL_CPUINFO);
        t.write("sys/class/dmi/id/sys_vendor", "Supermicro\n");
        t.write("sys/class/dmi/id/product_name", "SYS-5019C-M\n");
        assert!(!t.virtualized());
        // No DMI and no cpuinfo at all: nothing says "virtual".
        assert!(!Tree::new().virtualized());
    }

    #[test]
    fn hypervisor_vendor_product_or_cpu_flag_is_virtualized() {
        let t = Tree::new();
        t.write("proc/cpuinfo", BARE_METAL_CPUINFO);
        t.write("sys/class/dmi/id/sys_vendor", "QEMU\n");
        assert!(t.virtualized());

        let t = Tree::new();
        t.write("sys/class/dmi/id/sys_vendor", "Microsoft Corporation\n");
        t.write("sys/class/dmi/id/product_name", "Virtual Machine\n");
        assert!(t.virtualized());

        let t = Tree::new();
        t.write("sys/class/dmi/id/sys_vendor", "Dell Inc.\n");
        t.write(
            "proc/cpuinfo",
            "processor\t: 0\nflags\t\t: fpu vme hypervisor lahf_lm\n",
        );
        assert!(t.virtualized());
    }
}
