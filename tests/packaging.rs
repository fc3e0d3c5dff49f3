//! The files of the Debian package (packaging/): the systemd unit passes
//! `systemd-analyze verify` and stays well hardened, and the packaged
//! configuration (config.toml with its data in /var/lib/banter) passes
//! `banterd check-config`. `packaging/test-deb.sh` (run by .ci/run) builds and
//! installs the package itself.

use std::path::Path;
use std::process::Command;

const UNIT: &str = include_str!("../packaging/banterd.service");

/// The unit with this build's banterd where the package puts /usr/bin/banterd
/// (systemd-analyze checks that every command exists).
fn unit_here(dir: &Path) -> std::path::PathBuf {
    let path = dir.join("banterd.service");
    std::fs::write(&path, UNIT.replace("/usr/bin/banterd", env!("CARGO_BIN_EXE_banterd"))).unwrap();
    path
}

fn systemd_analyze(args: &[&str], unit: &Path) -> std::process::Output {
    Command::new("systemd-analyze")
        .args(args)
        .arg(unit)
        .output()
        .expect("systemd-analyze (Debian package systemd) must be installed; .ci/run installs it")
}

#[test]
fn the_unit_passes_systemd_analyze_verify() {
    let dir = tempfile::tempdir().unwrap();
    let out = systemd_analyze(&["verify"], &unit_here(dir.path()));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success() && stderr.trim().is_empty(), "systemd-analyze verify: {stderr}");
}

/// `systemd-analyze security` rates the unit's exposure from 0 (locked down)
/// to 10 (`--threshold` counts tenths); the unit is at 1.1 ("OK"): it must
/// not drift above 2.
#[test]
fn the_unit_stays_hardened() {
    let dir = tempfile::tempdir().unwrap();
    let out = systemd_analyze(&["security", "--offline=true", "--threshold=20"], &unit_here(dir.path()));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "exposure above 2:\n{stdout}{}", String::from_utf8_lossy(&out.stderr));
    for line in [
        "Type=notify",
        "User=banter",
        "StateDirectory=banter",
        "CapabilityBoundingSet=",
        "AmbientCapabilities=",
        "NoNewPrivileges=yes",
        "ProtectSystem=strict",
        "ProtectHome=yes",
        "PrivateTmp=yes",
        "ExecReload=/bin/kill -HUP $MAINPID",
        "LimitNOFILE=65536",
    ] {
        assert!(UNIT.lines().any(|l| l == line), "{line} missing from packaging/banterd.service");
    }
}

/// What packaging/build-deb.sh installs as /etc/banter/config.toml.
fn packaged_config() -> String {
    let shipped = include_str!("../config.toml");
    assert_eq!(shipped.lines().filter(|l| *l == "data_dir = \"data\"").count(), 1, "build-deb.sh rewrites this line");
    shipped.replace("\ndata_dir = \"data\"\n", "\ndata_dir = \"/var/lib/banter\"\n")
}

#[test]
fn the_packaged_config_passes_check_config() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("config.toml");
    std::fs::write(&config, packaged_config()).unwrap();
    // The data directory as the unit's ExecStartPre would find it (StateDirectory).
    let data = dir.path().join("state");
    std::fs::create_dir(&data).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_banterd"))
        .args(["check-config", "--config"])
        .arg(&config)
        .arg("--data-dir")
        .arg(&data)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains("would listen on 127.0.0.1:6667 (IRC)"), "{stdout}");
    let parsed = banter::config::Config::parse(&packaged_config()).unwrap();
    assert_eq!(parsed.server.data_dir, Path::new("/var/lib/banter"));
}
