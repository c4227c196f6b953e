//! `zosctl completions SHELL` (no chain, no node): the scripts come from the command line's
//! definition, so they name its commands and flags; bash loads its script and completes with it.

use std::process::Command;

fn completions(shell: &str) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_zosctl"))
        .args(["completions", shell])
        .output()
        .expect("run zosctl");
    assert!(
        out.status.success(),
        "{shell}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("utf-8 script")
}

#[test]
fn each_shell_gets_a_script_of_the_whole_command_line() {
    for (shell, opening, flag) in [
        ("bash", "_zosctl()", "--"),
        ("zsh", "#compdef zosctl", "--"),
        ("fish", "complete -c zosctl", "-l "),
    ] {
        let script = completions(shell);
        assert!(script.contains(opening), "{shell}:\n{script}");
        for command in ["deployment", "changes", "completions"] {
            assert!(script.contains(command), "{shell} script lacks {command}");
        }
        // The alias flags of the positional arguments, and the node reads' --twin.
        for name in ["contract", "node", "twin", "node-url"] {
            let flag = format!("{flag}{name}");
            assert!(script.contains(&flag), "{shell} script lacks {flag}");
        }
    }
    let out = Command::new(env!("CARGO_BIN_EXE_zosctl"))
        .args(["completions", "tcsh"])
        .output()
        .expect("run zosctl");
    assert_eq!(
        out.status.code(),
        Some(2),
        "an unknown shell is a usage error"
    );
    assert!(out.stdout.is_empty());
}

#[test]
fn bash_completes_subcommands_with_the_script() {
    let script = completions("bash");
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("zosctl.bash");
    std::fs::write(&path, script).expect("write script");
    // What bash does on `zosctl deployment g<TAB>`: call the registered function with the words.
    let probe = format!(
        "source {}; complete -p zosctl; COMP_WORDS=(zosctl deployment g); COMP_CWORD=2; \
         _zosctl zosctl g deployment; printf '%s\\n' \"${{COMPREPLY[@]}}\"",
        path.display()
    );
    let out = Command::new("bash")
        .args(["--norc", "--noprofile", "-c", &probe])
        .output()
        .expect("run bash");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout
            .lines()
            .next()
            .is_some_and(|l| l.starts_with("complete ")
                && l.contains("-F _zosctl")
                && l.ends_with(" zosctl")),
        "{stdout}"
    );
    assert!(stdout.lines().any(|l| l == "get"), "{stdout}");
}
