//! The Python interpreter of the venv holding the pinned official `anthropic`
//! SDK, used by tests that drive the gateway with a real client
//! (`scripts/python/sdk_smoke.py`).

use std::path::{Path, PathBuf};

use crate::error::{HarnessError, Result};

/// Env var naming a venv dir to use instead of `<workspace>/.venv`.
pub const VENV_ENV: &str = "PORTCULLIS_TEST_VENV";

/// Root of the Cargo workspace (the parent of this crate's dir).
pub fn workspace_root() -> PathBuf {
    let manifest_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    manifest_dir.parent().map_or_else(|| manifest_dir.to_path_buf(), Path::to_path_buf)
}

/// The venv dir: `$PORTCULLIS_TEST_VENV` if set and non-empty, else `<workspace>/.venv`.
pub fn venv_dir() -> PathBuf {
    match std::env::var_os(VENV_ENV) {
        Some(dir) if !dir.is_empty() => PathBuf::from(dir),
        _ => workspace_root().join(".venv"),
    }
}

/// Path of the venv's `bin/python`; an error with the install hint if missing.
pub fn sdk_python() -> Result<PathBuf> {
    python_in(&venv_dir())
}

fn python_in(venv: &Path) -> Result<PathBuf> {
    let python = venv.join("bin").join("python");
    if python.is_file() { Ok(python) } else { Err(HarnessError::PythonVenvMissing { path: python }) }
}

/// Path of `scripts/python/sdk_smoke.py` in the workspace.
pub fn sdk_smoke_script() -> PathBuf {
    workspace_root().join("scripts/python/sdk_smoke.py")
}

/// The OpenAI SDK's checks against the compatibility endpoint (same venv).
pub fn openai_smoke_script() -> PathBuf {
    workspace_root().join("scripts/python/openai_smoke.py")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_venv_error_has_the_install_hint() {
        let error = python_in(Path::new("/nonexistent/venv")).unwrap_err();
        let message = error.to_string();
        assert!(message.contains("/nonexistent/venv/bin/python"), "{message}");
        assert!(message.contains("scripts/install-deps.sh"), "{message}");
    }
}
