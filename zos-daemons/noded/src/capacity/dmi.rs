//! DMI (SMBIOS) identification of the system and its baseboard, from `<sys>/class/dmi/id`.

use std::io;

use zos_bus::{Dmi, DmiSection};

use super::Roots;

/// Reads the system and baseboard sections. Attributes the firmware (or the platform) does not
/// provide are empty strings; values are trimmed.
pub fn read_dmi(roots: &Roots) -> Dmi {
    let dir = roots.sys.join("class/dmi/id");
    let field = |name: &str| {
        let path = dir.join(name);
        match std::fs::read(&path) {
            Ok(bytes) => String::from_utf8_lossy(&bytes).trim().to_string(),
            Err(e) if e.kind() == io::ErrorKind::NotFound => String::new(),
            Err(error) => {
                tracing::warn!(path = %path.display(), %error, "cannot read DMI attribute");
                String::new()
            }
        }
    };
    Dmi {
        system: DmiSection {
            manufacturer: field("sys_vendor"),
            product: field("product_name"),
            version: field("product_version"),
            serial: field("product_serial"),
        },
        baseboard: DmiSection {
            manufacturer: field("board_vendor"),
            product: field("board_name"),
            version: field("board_version"),
            serial: field("board_serial"),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::capacity::fixture::Tree;

    #[test]
    fn reads_both_sections() {
        let t = Tree::new();
        for (name, value) in [
            ("sys_vendor", "QEMU\n"),
            ("product_name", "Standard PC (i440FX + PIIX, 1996)\n"),
            ("product_version", "pc-i440fx-9.0\n"),
            ("product_serial", "  SN-123  \n"),
            ("board_vendor", "Supermicro\n"),
            ("board_name", "X11SSL-F\n"),
            ("board_version", "1.01\n"),
            ("board_serial", "BS-9\n"),
        ] {
            t.write(&format!("sys/class/dmi/id/{name}"), value);
        }
        let dmi = read_dmi(&t.roots);
        assert_eq!(
            dmi,
            Dmi {
                system: DmiSection {
                    manufacturer: "QEMU".into(),
                    product: "Standard PC (i440FX + PIIX, 1996)".into(),
                    version: "pc-i440fx-9.0".into(),
                    serial: "SN-123".into(),
                },
                baseboard: DmiSection {
                    manufacturer: "Supermicro".into(),
                    product: "X11SSL-F".into(),
                    version: "1.01".into(),
                    serial: "BS-9".into(),
                },
            }
        );
    }

    #[test]
    fn missing_attributes_are_empty() {
        let t = Tree::new();
        t.write("sys/class/dmi/id/board_name", "B\n");
        let dmi = read_dmi(&t.roots);
        assert_eq!(dmi.baseboard.product, "B");
        assert_eq!(dmi.system, DmiSection::default());
        // No DMI directory at all (platforms without SMBIOS): everything empty.
        assert_eq!(read_dmi(&Tree::new().roots), Dmi::default());
    }
}
