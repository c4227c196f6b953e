//! Platform facts the chain records about a node: whether it runs virtualized and whether it
//! booted with UEFI Secure Boot on. Read from `<sys>` and `<proc>` (fixture trees in tests).

use std::io;

use super::Roots;

/// The EFI variable that holds the Secure Boot state (global variable GUID).
pub const SECURE_BOOT_VAR: &str = "SecureBoot-8be4df61-93ca-11d2-aa0d-00e098032b8c";

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
pub fn virtualized(roots: &Roots) -> bool {
    let dmi = roots.sys.join("class/dmi/id");
    let read = |name: &str| std::fs::read_to_string(dmi.join(name)).unwrap_or_default();
    let vendor = read("sys_vendor");
    let product = read("product_name");
    if VM_VENDORS.iter().any(|v| vendor.trim().starts_with(v))
        || VM_PRODUCTS.iter().any(|p| product.contains(p))
    {
        return true;
    }
    let cpuinfo = std::fs::read_to_string(roots.proc.join("cpuinfo")).unwrap_or_default();
    cpuinfo.lines().any(|line| {
        line.split_once(':').is_some_and(|(key, value)| {
            key.trim() == "flags" && value.split_whitespace().any(|f| f == "hypervisor")
        })
    })
}

/// True when UEFI Secure Boot is on: byte 4 of the `SecureBoot` EFI variable (after its 4
/// attribute bytes) is 1. No EFI, no variable or an unreadable one: false.
pub fn secure_boot(roots: &Roots) -> bool {
    let path = roots.sys.join("firmware/efi/efivars").join(SECURE_BOOT_VAR);
    match std::fs::read(&path) {
        Ok(bytes) => bytes.get(4) == Some(&1),
        Err(e) if e.kind() == io::ErrorKind::NotFound => false,
        Err(error) => {
            tracing::warn!(path = %path.display(), %error, "cannot read the SecureBoot variable");
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::capacity::fixture::Tree;

    const BARE_METAL_CPUINFO: &str =
        "processor\t: 0\nflags\t\t: fpu vme de pse tsc msr pae mce cx8 apic sse sse2 ht\n";

    #[test]
    fn bare_metal_is_not_virtualized() {
        let t = Tree::new();
        t.write("proc/cpuinfo", BARE_METAL_CPUINFO);
        t.write("sys/class/dmi/id/sys_vendor", "Supermicro\n");
        t.write("sys/class/dmi/id/product_name", "SYS-5019C-M\n");
        assert!(!virtualized(&t.roots));
        // No DMI and no cpuinfo at all: nothing says "virtual".
        assert!(!virtualized(&Tree::new().roots));
    }

    #[test]
    fn hypervisor_vendor_product_or_cpu_flag_is_virtualized() {
        let t = Tree::new();
        t.write("proc/cpuinfo", BARE_METAL_CPUINFO);
        t.write("sys/class/dmi/id/sys_vendor", "QEMU\n");
        assert!(virtualized(&t.roots));

        let t = Tree::new();
        t.write("sys/class/dmi/id/sys_vendor", "Microsoft Corporation\n");
        t.write("sys/class/dmi/id/product_name", "Virtual Machine\n");
        assert!(virtualized(&t.roots));

        let t = Tree::new();
        t.write("sys/class/dmi/id/sys_vendor", "Dell Inc.\n");
        t.write(
            "proc/cpuinfo",
            "processor\t: 0\nflags\t\t: fpu vme hypervisor lahf_lm\n",
        );
        assert!(virtualized(&t.roots));
    }

    #[test]
    fn secure_boot_reads_byte_four_of_the_efi_variable() {
        let var = format!("sys/firmware/efi/efivars/{SECURE_BOOT_VAR}");
        let t = Tree::new();
        assert!(!secure_boot(&t.roots), "no EFI at all");
        std::fs::create_dir_all(t.roots.sys.join("firmware/efi/efivars")).unwrap();
        assert!(!secure_boot(&t.roots), "EFI without the variable");
        std::fs::write(t.dir.path().join(&var), [0x06, 0, 0, 0, 1]).unwrap();
        assert!(secure_boot(&t.roots));
        std::fs::write(t.dir.path().join(&var), [0x06, 0, 0, 0, 0]).unwrap();
        assert!(!secure_boot(&t.roots));
        std::fs::write(t.dir.path().join(&var), [0x06, 0, 0, 0]).unwrap();
        assert!(!secure_boot(&t.roots), "truncated variable");
    }
}
