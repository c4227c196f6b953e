//! Platform facts the chain records about a node: whether it runs virtualized and whether it
//! booted with UEFI Secure Boot on. Read from `<sys>` and `<proc>` (fixture trees in tests).

use std::io;

use super::Roots;

/// The EFI variable that holds the Secure Boot state (global variable GUID).
pub const SECURE_BOOT_VAR: &str = "SecureBoot-8be4df61-93ca-11d2-aa0d-00e098032b8c";

/// True when the node runs under a hypervisor (`zos_env::platform`).
pub fn virtualized(roots: &Roots) -> bool {
    zos_env::platform::virtualized(&roots.sys, &roots.proc)
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
