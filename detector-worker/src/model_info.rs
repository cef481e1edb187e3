//! Identity of the loaded model, reported in every response so a verdict can
//! be traced to the exact weights.

use std::io::Read;
use std::path::Path;

use sha2::{Digest, Sha256};

use crate::WorkerError;

/// Hex digits of the weights' sha256 kept as the version.
const VERSION_HEX_DIGITS: usize = 16;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelInfo {
    /// The configured id, else the model folder's name.
    pub id: String,
    /// `sha256:` + the first 16 hex digits of `model.safetensors`' sha256.
    pub version: String,
}

impl ModelInfo {
    pub fn from_dir(dir: &Path, id: Option<&str>) -> Result<ModelInfo, WorkerError> {
        let id = match id {
            Some(id) => id.to_owned(),
            None => dir
                .canonicalize()
                .ok()
                .and_then(|d| d.file_name().map(|n| n.to_string_lossy().into_owned()))
                .unwrap_or_else(|| "model".to_owned()),
        };
        let weights = dir.join("model.safetensors");
        let io = |source| WorkerError::Io { path: weights.clone(), source };
        let mut file = std::fs::File::open(&weights).map_err(io)?;
        let mut hasher = Sha256::new();
        let mut buffer = vec![0u8; 1 << 20];
        loop {
            let read = file.read(&mut buffer).map_err(io)?;
            if read == 0 {
                break;
            }
            hasher.update(&buffer[..read]);
        }
        let digest = hex::encode(hasher.finalize());
        Ok(ModelInfo { id, version: format!("sha256:{}", &digest[..VERSION_HEX_DIGITS]) })
    }
}
