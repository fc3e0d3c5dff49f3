//! `banterd check-config`: a good configuration prints what it would listen
//! on; a broken one exits 2 listing every problem, not only the first.

use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, Output};

/// Runs `banterd check-config --config FILE` with `config` written in `dir`.
fn check(dir: &Path, config: &str, extra: &[&str]) -> Output {
    let file = dir.join("banterd.toml");
    std::fs::write(&file, config).unwrap();
    Command::new(env!("CARGO_BIN_EXE_banterd"))
        .arg("check-config")
        .arg("--config")
        .arg(&file)
        .args(extra)
        .output()
        .unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn a_good_configuration_says_what_it_would_listen_on() {
    let dir = tempfile::tempdir().unwrap();
    let cert = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
    std::fs::write(dir.path().join("cert.pem"), cert.cert.pem()).unwrap();
    std::fs::write(dir.path().join("key.pem"), cert.key_pair.serialize_pem()).unwrap();
    std::fs::write(dir.path().join("motd.txt"), "hello\n").unwrap();
    let hash = banter::accounts::password::hash(
        "operpass",
        banter::accounts::password::Cost { memory_kib: 1024, iterations: 1, parallelism: 1 },
    )
    .unwrap();
    let config = format!(
        "[server]\nlisten = [\"127.0.0.1:16667\", \"[::1]:16667\"]\nmotd_file = \"motd.txt\"\ndata_dir = \"data\"\n\
         [tls]\nlisten = [\"127.0.0.1:16697\"]\ncert = \"cert.pem\"\nkey = \"key.pem\"\n\
         [[websocket]]\nlisten = \"127.0.0.1:18080\"\n\
         [[oper]]\nname = \"admin\"\npassword_hash = \"{hash}\"\n"
    );
    let out = check(dir.path(), &config, &[]);
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}{}", text(&out.stderr));
    for line in [
        "would listen on 127.0.0.1:16667 (IRC)",
        "would listen on [::1]:16667 (IRC)",
        "would listen on 127.0.0.1:16697 (IRC over TLS)",
        "would listen on 127.0.0.1:18080 (WebSocket)",
        "operators: 1",
        "configuration OK",
    ] {
        assert!(stdout.lines().any(|l| l == line), "{line:?} missing from:\n{stdout}");
    }
    let data = dir.path().join("data");
    assert!(stdout.contains(&format!("data directory: {} (writable)", data.display())), "{stdout}");
    assert!(!data.exists(), "checking creates nothing");

    // The command line's overrides are checked as the server would use them.
    let out = check(dir.path(), &config, &["--listen", "127.0.0.1:17000"]);
    let stdout = text(&out.stdout);
    assert!(stdout.contains("would listen on 127.0.0.1:17000 (IRC)") && !stdout.contains(":16667"), "{stdout}");
}

#[test]
fn a_broken_configuration_lists_every_problem() {
    let dir = tempfile::tempdir().unwrap();
    let other = rcgen::generate_simple_self_signed(vec!["other".into()]).unwrap();
    let cert = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
    std::fs::write(dir.path().join("cert.pem"), cert.cert.pem()).unwrap();
    // A key that is not the certificate's: readable, but TLS cannot use the pair.
    std::fs::write(dir.path().join("key.pem"), other.key_pair.serialize_pem()).unwrap();
    let config = "[server]\nname = \"nodot\"\nlog = \"verbose\"\nmotd_file = \"missing-motd.txt\"\n\
                  listen = [\"127.0.0.1:16667\"]\n\
                  [limits]\nsendq = 10\n\
                  [tls]\nlisten = [\"127.0.0.1:16667\"]\ncert = \"cert.pem\"\nkey = \"key.pem\"\n\
                  [[oper]]\nname = \"admin\"\npassword_hash = \"not-a-hash\"\n";
    let out = check(dir.path(), config, &[]);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("7 problems in the configuration"), "{stderr}");
    for needle in [
        "line 2: invalid value for `server.name`",
        "line 3: invalid value for `server.log`: `verbose` is not a log level",
        "line 4: invalid value for `server.motd_file`",
        "line 7: invalid value for `limits.sendq`",
        "invalid value for `oper.password_hash`",
        "127.0.0.1:16667 is listened on twice",
        "cert.pem and tls.key",
    ] {
        assert!(stderr.contains(needle), "{needle:?} missing from:\n{stderr}");
    }
    assert!(!text(&out.stdout).contains("configuration OK"));
}

#[test]
fn a_file_that_is_not_toml_is_one_problem() {
    let dir = tempfile::tempdir().unwrap();
    let out = check(dir.path(), "[server\nname = ", &[]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("1 problem in the configuration"), "{}", text(&out.stderr));
    let missing = Command::new(env!("CARGO_BIN_EXE_banterd"))
        .args(["check-config", "--config", "/nonexistent/banterd.toml"])
        .output()
        .unwrap();
    assert_eq!(missing.status.code(), Some(2));
    assert!(text(&missing.stderr).contains("/nonexistent/banterd.toml"));
}

/// What only the user the service runs as can tell: a data directory (or a
/// database in it) it cannot write, a port below 1024 it cannot bind. Run as
/// `nobody` when the tests run as root (CI), else as oneself with a read-only
/// directory.
#[test]
fn the_service_user_must_be_able_to_write_the_data_and_bind_the_ports() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let data = dir.path().join("data");
    std::fs::create_dir(&data).unwrap();
    std::fs::write(data.join("banter.db"), "").unwrap();
    let file = dir.path().join("banterd.toml");
    std::fs::write(&file, "[server]\nlisten = [\"127.0.0.1:194\"]\ndata_dir = \"data\"\n").unwrap();
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).unwrap();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_banterd"));
    cmd.arg("check-config").arg("--config").arg(&file);
    // SAFETY: getuid has no preconditions.
    if unsafe { libc::getuid() } == 0 {
        cmd.uid(65534).gid(65534);
    } else {
        std::fs::set_permissions(&data, std::fs::Permissions::from_mode(0o555)).unwrap();
    }
    let out = cmd.output().unwrap();
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}{}", text(&out.stdout));
    assert!(stderr.contains(&format!("data directory {} is not writable", data.display())), "{stderr}");
    let privileged = std::fs::read_to_string("/proc/sys/net/ipv4/ip_unprivileged_port_start")
        .map_or(true, |s| s.trim().parse::<u16>().is_ok_and(|p| p > 194));
    if privileged {
        assert!(stderr.contains("127.0.0.1:194 (IRC): ports below"), "{stderr}");
    }
    std::fs::set_permissions(&data, std::fs::Permissions::from_mode(0o755)).unwrap();
}
