//! The real `zos-init` binary as a plain supervisor on the host: CLI verbs, dependencies,
//! readiness, restarts with backoff, stop escalation, ordered shutdown, config errors, log
//! rotation and orphan reaping. Needs `socat` (apt; `make deps`) for the socket readiness test.

mod common;

use std::time::{Duration, Instant};

use common::{line_time, read, wait_for, Init};

const S: Duration = Duration::from_secs(1);

#[test]
fn cli_verbs_and_ready_marker() {
    let init = Init::new(&[
        (
            "a",
            "exec: sh -c 'echo hello-a; exec sleep 1000'\nshutdown_timeout: 2\n",
        ),
        (
            "b",
            "exec: sh -c 'echo hello-b; echo err-b >&2'\noneshot: true\n",
        ),
    ])
    .start(&[]);
    init.wait_state("a", "Running", 5 * S);
    init.wait_state("b", "Success", 5 * S);
    wait_for("READY marker", 5 * S, || {
        init.console_text().contains("ZOS READY boot_ms=")
    });
    assert_eq!(init.console_text().matches("ZOS READY").count(), 1);

    let list = init.ok(&["list"]);
    assert!(
        list.contains("a: Running") && list.contains("b: Success"),
        "{list}"
    );
    let (_, pid_a, target) = init.status("a");
    assert!(pid_a > 0);
    assert_eq!(target, "Up");

    // Errors with zinit's texts.
    assert_eq!(
        init.err(&["status", "nope"]),
        "service name \"nope\" unknown"
    );
    assert_eq!(init.err(&["forget", "a"]), "service \"a\" is up");
    assert_eq!(
        init.err(&["monitor", "a"]),
        "service \"a\" already monitored"
    );

    // kill: the service is respawned (target stays Up).
    init.ok(&["kill", "a", "SIGKILL"]);
    wait_for("a respawned", 5 * S, || {
        let (st, pid, _) = init.status("a");
        st == "Running" && pid != pid_a && pid != 0
    });

    // restart: a new pid.
    let (_, before, _) = init.status("a");
    init.ok(&["restart", "a"]);
    wait_for("a restarted", 5 * S, || {
        let (st, pid, _) = init.status("a");
        st == "Running" && pid != before && pid != 0
    });

    // stop, kill on a down service, forget, monitor.
    init.ok(&["stop", "a"]);
    wait_for("a down", 5 * S, || init.status("a").1 == 0);
    assert_eq!(init.status("a").2, "Down");
    assert_eq!(init.err(&["kill", "a", "SIGTERM"]), "service \"a\" is down");
    init.ok(&["forget", "a"]);
    assert!(!init.ok(&["list"]).contains("a:"));
    init.ok(&["monitor", "a"]);
    init.wait_state("a", "Running", 5 * S);
    assert!(init.err(&["monitor", "../x"]).contains("not valid"));

    // start re-runs a finished oneshot.
    init.ok(&["start", "b"]);
    wait_for("b ran twice", 5 * S, || {
        init.ok(&["log"]).matches("hello-b").count() == 2
    });

    // log snapshot and per-service filter.
    let log = init.ok(&["log"]);
    assert!(
        log.contains("[+] a: hello-a") && log.contains("[-] b: err-b"),
        "{log}"
    );
    assert!(
        log.contains("[-] b: ------------ [start] ------------"),
        "{log}"
    );
    let only_b = init.ok(&["log", "b"]);
    assert!(
        only_b.contains("hello-b") && !only_b.contains("hello-a"),
        "{only_b}"
    );
    assert!(read(&init.logs.join("a.log")).contains("[+] a: hello-a"));

    // log -f follows new lines.
    let mut follow = std::process::Command::new(common::BIN)
        .args(["-s", init.socket.to_str().unwrap(), "log", "-f", "b"])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(300));
    init.ok(&["start", "b"]);
    std::thread::sleep(Duration::from_millis(700));
    follow.kill().unwrap();
    let out = follow.wait_with_output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(text.matches("hello-b").count(), 3, "{text}");

    // Transitions are on the console.
    let console = init.console_text();
    assert!(console.contains("zos-init: a running pid="), "{console}");
}

#[test]
fn dependencies_and_readiness() {
    let init = Init::new(&[]);
    let flag = init.path("flag");
    let sock = init.path("ready.sock");
    let order = init.path("order");
    let cfg = &init.config;
    std::fs::write(
        cfg.join("tested.yaml"),
        format!("exec: sleep 1000\ntest: test -e {}\n", flag.display()),
    )
    .unwrap();
    std::fs::write(
        cfg.join("sock.yaml"),
        format!(
            "exec: sh -c 'sleep 1; exec socat UNIX-LISTEN:{},fork SYSTEM:true'\nready:\n  socket: {}\n",
            sock.display(),
            sock.display()
        ),
    )
    .unwrap();
    std::fs::write(
        cfg.join("one.yaml"),
        format!(
            "exec: sh -c 'sleep 0.3; echo one >> {}'\noneshot: true\n",
            order.display()
        ),
    )
    .unwrap();
    std::fs::write(
        cfg.join("last.yaml"),
        format!(
            "exec: sh -c 'echo last >> {}; exec sleep 1000'\nafter: [tested, sock, one]\n",
            order.display()
        ),
    )
    .unwrap();
    std::fs::write(
        cfg.join("lonely.yaml"),
        "exec: sleep 1000\nafter: [missing]\n",
    )
    .unwrap();
    let init = init.start(&[]);

    init.wait_state("sock", "Running", 10 * S);
    init.wait_state("one", "Success", 5 * S);
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(init.status("tested").0, "Spawned");
    assert_eq!(init.status("last").0, "Blocked");
    assert_eq!(read(&order), "one\n");

    std::fs::write(&flag, "").unwrap();
    init.wait_state("tested", "Running", 5 * S);
    init.wait_state("last", "Running", 5 * S);
    assert_eq!(read(&order), "one\nlast\n");
    let status = init.ok(&["status", "last"]);
    assert!(
        status.contains("- one: Success") && status.contains("- sock: Running"),
        "{status}"
    );

    // An unknown dependency keeps a service blocked forever, so no READY marker either.
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(init.status("lonely").0, "Blocked");
    assert!(!init.console_text().contains("ZOS READY"));
}

#[test]
fn crashing_service_backs_off() {
    let init = Init::new(&[("crash", "exec: sh -c 'echo boom; exit 3'\n")]).start(&[]);
    std::thread::sleep(Duration::from_millis(3500));
    let (state, _, _) = init.status("crash");
    assert!(
        state.starts_with("Error(Exited(Pid(") || state == "Running",
        "{state}"
    );
    let log = read(&init.logs.join("crash.log"));
    let starts: Vec<f64> = log
        .lines()
        .filter(|l| l.contains("[start]"))
        .map(line_time)
        .collect();
    // 100, 200, 400, 800, 1600 ms delays: about 6 starts in 3.5 s (not 2 as with a fixed 2 s).
    assert!(
        (4..=7).contains(&starts.len()),
        "{} starts: {log}",
        starts.len()
    );
    let gaps: Vec<f64> = starts.windows(2).map(|w| w[1] - w[0]).collect();
    assert!(gaps[0] < 0.5, "first gap {gaps:?}");
    let last = gaps[gaps.len() - 1];
    assert!(
        last > 2.0 * gaps[0] && last > 0.6,
        "gaps do not grow: {gaps:?}"
    );
    assert!(init.console_text().contains("crash restarting in 400ms"));
}

#[test]
fn stop_escalates_to_sigkill() {
    let init = Init::new(&[(
        "stubborn",
        "exec: sh -c 'trap \"\" TERM; while :; do sleep 0.1; done'\nshutdown_timeout: 1\n",
    )])
    .start(&[]);
    init.wait_state("stubborn", "Running", 5 * S);
    let t = Instant::now();
    init.ok(&["stop", "stubborn"]);
    wait_for("stubborn down", 6 * S, || init.status("stubborn").1 == 0);
    let took = t.elapsed();
    assert!(
        took >= Duration::from_millis(900),
        "stopped too early: {took:?}"
    );
    let state = init.status("stubborn").0;
    assert!(state.contains("SIGKILL"), "{state}");
    assert!(init
        .console_text()
        .contains("stubborn did not stop within 1s, sending SIGKILL"));
}

#[test]
fn a_stop_timeout_spares_the_process_of_a_service_monitored_again() {
    // The timer of a stop outlives the service when it is forgotten; the process started
    // after `monitor` under the same name is not the one it was meant for.
    let init = Init::new(&[("again", "exec: sleep 1000\nshutdown_timeout: 1\n")]).start(&[]);
    init.wait_state("again", "Running", 5 * S);
    init.ok(&["stop", "again"]);
    wait_for("again down", 5 * S, || init.status("again").1 == 0);
    init.ok(&["forget", "again"]);
    init.ok(&["monitor", "again"]);
    init.wait_state("again", "Running", 5 * S);
    let (_, pid, _) = init.status("again");
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(
        init.status("again"),
        ("Running".to_string(), pid, "Up".to_string())
    );
    assert!(!init.console_text().contains("sending SIGKILL"));
}

#[test]
fn shutdown_in_reverse_dependency_order() {
    let init = Init::new(&[]);
    let out = init.path("stopped");
    let svc = |name: &str, after: &str| {
        format!(
            "exec: sh -c 'trap \"echo {name} >> {}; exit 0\" TERM; while :; do sleep 0.1; done'\n{after}",
            out.display()
        )
    };
    std::fs::write(init.config.join("a.yaml"), svc("a", "")).unwrap();
    std::fs::write(init.config.join("b.yaml"), svc("b", "after: [a]\n")).unwrap();
    std::fs::write(init.config.join("c.yaml"), svc("c", "after: [b]\n")).unwrap();
    std::fs::write(init.config.join("d.yaml"), svc("d", "after: [a]\n")).unwrap();
    let mut init = init.start(&[]);
    for s in ["a", "b", "c", "d"] {
        init.wait_state(s, "Running", 5 * S);
    }
    init.ok(&["shutdown"]);
    assert_eq!(init.wait_exit(15 * S), 0);
    let order: Vec<String> = read(&out).lines().map(String::from).collect();
    assert_eq!(order.len(), 4, "{order:?}");
    let pos = |n: &str| order.iter().position(|x| x == n).unwrap();
    assert!(
        pos("c") < pos("b") && pos("b") < pos("a") && pos("d") < pos("a"),
        "{order:?}"
    );
    assert!(!init.socket.exists());
}

#[test]
fn malformed_file_is_reported_and_skipped_and_sigterm_stops() {
    let mut init = Init::new(&[
        ("good", "exec: sleep 1000\n"),
        ("bad", "exec: sleep 1000\nafter: [good]\nlog: [ring\n"),
        ("badsig", "exec: sleep 1\nsignal:\n  stop: SIGFOO\n"),
    ])
    .start(&[]);
    init.wait_state("good", "Running", 5 * S);
    let console = init.console_text();
    let path = init.config.join("bad.yaml");
    assert!(
        console.contains(&format!("{}: line 3", path.display())),
        "{console}"
    );
    assert!(
        console.contains("badsig.yaml: line 3") && console.contains("SIGFOO"),
        "{console}"
    );
    assert!(!init.ok(&["list"]).contains("bad"));
    let pid = init.status("good").1;
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(init.pid() as i32),
        nix::sys::signal::Signal::SIGTERM,
    )
    .unwrap();
    assert_eq!(init.wait_exit(15 * S), 0);
    assert!(
        !std::path::Path::new(&format!("/proc/{pid}")).exists(),
        "service survived shutdown"
    );
}

#[test]
fn log_files_rotate_within_bounds() {
    let init = Init::new(&[(
        "chatty",
        "exec: sh -c 'i=0; while [ $i -lt 400 ]; do echo line-$i-xxxxxxxxxxxxxxxxxxxxxxxx; i=$((i+1)); done; exec sleep 1000'\n",
    )])
    .start(&["--log-max-bytes", "2000", "--log-keep", "3"]);
    wait_for("all lines logged", 10 * S, || {
        read(&init.logs.join("chatty.log")).contains("line-399-")
    });
    let mut files: Vec<String> = std::fs::read_dir(&init.logs)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    files.sort();
    assert_eq!(files, vec!["chatty.log", "chatty.log.1", "chatty.log.2"]);
    for f in &files {
        let size = std::fs::metadata(init.logs.join(f)).unwrap().len();
        assert!(size <= 2000, "{f}: {size} bytes");
    }
}

#[test]
fn orphans_are_adopted_and_reaped() {
    let init = Init::new(&[]);
    let pidfile = init.path("orphan.pid");
    std::fs::write(
        init.config.join("parent.yaml"),
        format!(
            "exec: sh -c 'sh -c \"sleep 1 & echo \\$! > {}\"; exec sleep 1000'\n",
            pidfile.display()
        ),
    )
    .unwrap();
    let init = init.start(&[]);
    wait_for("orphan pid", 5 * S, || {
        read(&pidfile).trim().parse::<u32>().is_ok()
    });
    let orphan: u32 = read(&pidfile).trim().parse().unwrap();
    let status = read(std::path::Path::new(&format!("/proc/{orphan}/status")));
    let ppid = status
        .lines()
        .find_map(|l| l.strip_prefix("PPid:"))
        .map(|p| p.trim().to_string());
    assert_eq!(
        ppid,
        Some(init.pid().to_string()),
        "orphan not adopted by the supervisor"
    );
    // Reaped: the /proc entry disappears (a zombie would keep it with State: Z).
    wait_for("orphan reaped", 5 * S, || {
        !std::path::Path::new(&format!("/proc/{orphan}")).exists()
    });
}
