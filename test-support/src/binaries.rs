//! Locating server binaries installed by Debian packages.
//!
//! Debian puts daemons in /usr/sbin, which is not on a normal user's PATH, so the
//! search covers PATH and then /usr/sbin and /usr/bin explicitly.

use std::path::{Path, PathBuf};

use crate::error::{HarnessError, Result};

/// Finds `binary` on PATH, /usr/sbin or /usr/bin; the error names the package.
pub(crate) fn find_binary(binary: &'static str, package: &'static str) -> Result<PathBuf> {
    let path_dirs = std::env::var_os("PATH").map(|p| std::env::split_paths(&p).collect::<Vec<_>>()).unwrap_or_default();
    path_dirs
        .into_iter()
        .chain([PathBuf::from("/usr/sbin"), PathBuf::from("/usr/bin")])
        .map(|dir| dir.join(binary))
        .find(|candidate| is_executable_file(candidate))
        .ok_or(HarnessError::BinaryNotFound { binary, package })
}

fn is_executable_file(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_binary_error_names_the_install_script_and_package() {
        let error = find_binary("portcullis-no-such-server", "nats-server").unwrap_err();
        assert_eq!(
            error.to_string(),
            "portcullis-no-such-server not found: run scripts/install-deps.sh \
             (Debian package nats-server)"
        );
    }

    #[test]
    fn finds_sbin_daemons() {
        assert!(find_binary("nats-server", "nats-server").is_ok());
        assert!(find_binary("clickhouse-server", "clickhouse-server").is_ok());
    }
}
