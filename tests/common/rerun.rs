//! Running one test of this test binary again, alone, in a fresh process
//! (`#[path = "common/rerun.rs"] mod rerun;`): for tests that change
//! process-wide state (limits, the descriptor table) or need it untouched.

use std::process::Command;

/// Run test `name` of this binary again in a fresh process with the
/// environment variable `var` set to `role`, and return what it printed;
/// fails unless it passed and printed `marker` (so a filter that matched
/// nothing cannot pass).
pub fn rerun_as(name: &str, var: &str, role: &str, marker: &str) -> String {
    let out = Command::new(std::env::current_exe().unwrap())
        .args([name, "--exact", "--nocapture", "--test-threads=1"])
        .env(var, role)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "{role} run failed: {}\n{stdout}\n{stderr}",
        out.status
    );
    assert!(
        stdout.contains(marker),
        "{role} run did not finish its checks:\n{stdout}\n{stderr}"
    );
    stdout
}
