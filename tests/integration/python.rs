//! The Python tools some tests drive (the official MCP client, Selenium),
//! installed from PyPI into one virtual environment under the target
//! directory the first time a test needs them, pinned by
//! `tests/requirements.txt`. Without Python or PyPI those tests are skipped
//! with a message, except under CI (`CI` set), where they fail.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;

const REQUIREMENTS: &str = include_str!("../requirements.txt");

static VENV: Mutex<Option<Result<PathBuf, String>>> = Mutex::new(None);

/// The environment's `python`, or `None` (after saying why) when it cannot
/// be made on this machine and CI does not require it.
pub fn python() -> Option<PathBuf> {
    let mut venv = VENV.lock().unwrap_or_else(|p| p.into_inner());
    let made = venv.get_or_insert_with(make).clone();
    match made {
        Ok(python) => Some(python),
        Err(why) if std::env::var_os("CI").is_some() => {
            panic!("the test's Python environment could not be made: {why}")
        }
        Err(why) => {
            eprintln!("skipped: the test's Python environment could not be made: {why}");
            None
        }
    }
}

fn make() -> Result<PathBuf, String> {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("py-venv");
    let python = dir.join("bin/python");
    let marker = dir.join("requirements.txt");
    if std::fs::read_to_string(&marker).is_ok_and(|r| r == REQUIREMENTS) && python.exists() {
        return Ok(python);
    }
    let _ = std::fs::remove_dir_all(&dir);
    run(Command::new("python3").args(["-m", "venv"]).arg(&dir))?;
    let requirements = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/requirements.txt");
    run(Command::new(&python)
        .args([
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
            "-r",
        ])
        .arg(&requirements))?;
    std::fs::write(&marker, REQUIREMENTS).map_err(|e| e.to_string())?;
    Ok(python)
}

fn run(command: &mut Command) -> Result<(), String> {
    let out = command.output().map_err(|e| format!("{command:?}: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{command:?} failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        ))
    }
}

/// Runs `script` (a path under the repository) with `args` and `env` in the
/// tests' Python environment and returns the JSON object it printed last.
pub fn scenario(
    python: &Path,
    script: &str,
    args: &[&str],
    env: &[(&str, &str)],
) -> serde_json::Value {
    let out = Command::new(python)
        .arg(
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("..")
                .join(script),
        )
        .args(args)
        .envs(env.iter().copied())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{script} {args:?} failed: {}\n{stdout}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_str(stdout.lines().last().unwrap_or_default())
        .unwrap_or_else(|e| panic!("{script} printed no JSON ({e}): {stdout}"))
}
