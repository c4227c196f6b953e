//! zos-flist's v2 metadata reader on arbitrary files: whatever the bytes (damaged SQLite,
//! tables of the wrong shape, rows with wrong types, names with `/` or NUL, loops in the parent
//! links), opening, walking, looking paths up and reading blocks, routes and tags either work or
//! return an error; they never panic and never hand out a name that could leave the root.
#![no_main]

use std::io::Write;

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // SQLite reads files: one per process, rewritten for each input.
    let path = std::env::temp_dir().join(format!("zos-fuzz-flist-{}.fl", std::process::id()));
    let written = std::fs::File::create(&path).and_then(|mut f| f.write_all(data));
    if written.is_ok() {
        check(&path);
    }
    let _ = std::fs::remove_file(&path);
});

fn check(path: &std::path::Path) {
    let Ok(flist) = zos_flist::Flist::open(path) else {
        return;
    };
    let _ = flist.walk(|p, entry| {
        assert!(!entry.name.contains('/') || entry.ino == 1);
        assert!(!p.split('/').any(|part| part == ".." || part.contains('\0')));
        let _ = flist.blocks(entry.ino);
    });
    for p in ["/", "/etc/passwd", "a/b/c", "../x"] {
        if let Ok(entry) = flist.lookup(p) {
            assert!(p != "../x");
            let _ = flist.blocks(entry.ino);
        }
    }
    let _ = flist.routes();
    let _ = flist.tags();
}
