//! Loading a [`StaticPolicy`] from TOML, JSON or a file.

use std::path::Path;

use super::StaticPolicy;
use crate::error::ConfigError;

impl StaticPolicy {
    /// Parses a TOML policy document (see the type docs for the format).
    pub fn from_toml(text: &str) -> Result<Self, ConfigError> {
        toml::from_str(text).map_err(|e| ConfigError::Policy {
            reason: e.to_string(),
        })
    }

    /// Parses a JSON policy document with the same shape as the TOML one.
    pub fn from_json(text: &str) -> Result<Self, ConfigError> {
        serde_json::from_str(text).map_err(|e| ConfigError::Policy {
            reason: e.to_string(),
        })
    }

    /// Reads a policy file: JSON when the name ends in `.json`, TOML otherwise.
    pub fn from_file(path: impl AsRef<Path>) -> Result<Self, ConfigError> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Io {
            path: path.display().to_string(),
            source,
        })?;
        if path
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("json"))
        {
            Self::from_json(&text)
        } else {
            Self::from_toml(&text)
        }
    }
}
