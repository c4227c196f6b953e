//! `zosctl flist pack|ls|cat`, the real binary on a real tree and a `dir://` store: the files
//! come back byte for byte, the listing shows every entry, bad paths and missing blocks fail
//! with a message, and a store password never appears in the output or the .fl. Needs nothing
//! but a temporary directory.

use std::path::Path;
use std::process::Output;

fn zosctl(args: &[&str]) -> Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_zosctl"))
        .args(args)
        .output()
        .expect("run zosctl")
}

fn ok(args: &[&str]) -> Vec<u8> {
    let out = zosctl(args);
    assert!(
        out.status.success(),
        "zosctl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

fn fails(args: &[&str]) -> String {
    let out = zosctl(args);
    assert!(!out.status.success(), "zosctl {args:?} succeeded");
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

#[test]
fn packs_lists_and_prints_files() {
    let tmp = tempfile::tempdir().unwrap();
    let (src, store, fl) = (
        tmp.path().join("src"),
        tmp.path().join("store"),
        tmp.path().join("t.fl"),
    );
    std::fs::create_dir_all(src.join("etc")).unwrap();
    let big: Vec<u8> = (0..1_300_000u32).map(|i| (i * 7 % 251) as u8).collect();
    std::fs::write(src.join("big"), &big).unwrap();
    std::fs::write(src.join("etc/os-release"), b"ID=zos\n").unwrap();
    std::os::unix::fs::symlink("etc/os-release", src.join("link")).unwrap();
    let store_url = format!("dir://{}", s(&store));

    let packed = ok(&[
        "--json",
        "flist",
        "pack",
        s(&src),
        s(&fl),
        "--store",
        &store_url,
    ]);
    let packed: serde_json::Value = serde_json::from_slice(&packed).unwrap();
    assert_eq!(packed["files"], 2);
    assert_eq!(packed["blocks"], 4);

    let listing = String::from_utf8(ok(&["flist", "ls", s(&fl)])).unwrap();
    for line in [
        "/etc/os-release",
        "/big",
        "/link -> etc/os-release",
        "drwxr-xr-x",
    ] {
        assert!(listing.contains(line), "{line} in:\n{listing}");
    }
    let entries: serde_json::Value =
        serde_json::from_slice(&ok(&["--json", "flist", "ls", s(&fl)])).unwrap();
    assert_eq!(entries.as_array().unwrap().len(), 5);

    // From the .fl's routes, then from an explicit store.
    assert_eq!(ok(&["flist", "cat", s(&fl), "/big"]), big);
    assert_eq!(
        ok(&[
            "flist",
            "cat",
            s(&fl),
            "etc/os-release",
            "--store",
            &store_url
        ]),
        b"ID=zos\n"
    );

    let err = fails(&["flist", "cat", s(&fl), "/etc/../../x"]);
    assert!(err.contains("leave the root"), "{err}");
    let err = fails(&["flist", "cat", s(&fl), "/link"]);
    assert!(err.contains("not a regular file"), "{err}");
    let empty = format!("dir://{}", s(&tmp.path().join("empty")));
    let err = fails(&["flist", "cat", s(&fl), "/big", "--store", &empty]);
    assert!(err.contains("not there"), "{err}");
    let err = fails(&["flist", "ls", s(&src.join("big"))]);
    assert!(err.contains("not a v2 flist"), "{err}");
}

#[test]
fn store_passwords_stay_secret() {
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("src");
    std::fs::create_dir(&src).unwrap();
    std::fs::write(src.join("f"), b"x").unwrap();
    // Nothing listens on port 1 of 127.0.0.1: the upload fails and says where, without the password.
    let fl = tmp.path().join("t.fl");
    let err = fails(&[
        "flist",
        "pack",
        s(&src),
        s(&fl),
        "--store",
        "zdb://user:hunter2@127.0.0.1:1/ns",
    ]);
    assert!(err.contains("zdb://user:***@127.0.0.1:1/ns"), "{err}");
    assert!(!err.contains("hunter2"), "{err}");
    assert!(!fl.exists(), "no .fl is left after a failed pack");
}
