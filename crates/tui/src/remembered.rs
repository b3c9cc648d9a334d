//! What the console remembers between runs: the theme last chosen (with `t`) and the tab it
//! was on, in `<data>/console.toml`, written when the console quits. A missing, oversized or
//! unreadable file is ignored: remembering is a convenience, never a reason not to start.

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::tabs::Tab;

/// Larger than any file this writes by far; a bigger one is not read.
const MAX_BYTES: u64 = 16 * 1024;

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Remembered {
    pub theme: Option<String>,
    /// The config's `theme` when this one was chosen: once the config names another, the
    /// config wins (an edit is newer than what was remembered).
    pub config_theme: Option<String>,
    pub tab: Option<String>,
}

impl Remembered {
    pub fn load(path: &Path) -> Remembered {
        let small = std::fs::metadata(path).is_ok_and(|m| m.len() <= MAX_BYTES);
        if !small {
            return Remembered::default();
        }
        std::fs::read_to_string(path)
            .ok()
            .and_then(|text| toml::from_str(&text).ok())
            .unwrap_or_default()
    }

    pub fn save(&self, path: &Path) -> std::io::Result<()> {
        let text = toml::to_string(self).map_err(std::io::Error::other)?;
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        creditops_config::write_private(path, text.as_bytes())
    }

    /// The remembered theme, unless the config's theme changed since it was chosen.
    pub fn theme(&self, config_theme: Option<&str>) -> Option<&str> {
        (self.config_theme.as_deref() == config_theme)
            .then_some(self.theme.as_deref())
            .flatten()
    }

    /// The remembered tab, if it names one.
    pub fn tab(&self) -> Option<Tab> {
        let name = self.tab.as_deref()?;
        Tab::ALL.into_iter().find(|t| t.title() == name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_bad_files_are_ignored() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("console.toml");
        assert_eq!(Remembered::load(&path), Remembered::default());
        let r = Remembered {
            theme: Some("light".into()),
            config_theme: Some("dark".into()),
            tab: Some("Planner".into()),
        };
        r.save(&path).unwrap();
        let back = Remembered::load(&path);
        assert_eq!(back, r);
        assert_eq!(back.tab(), Some(Tab::Planner));
        assert_eq!(back.theme(Some("dark")), Some("light"));
        assert_eq!(
            back.theme(Some("high-contrast")),
            None,
            "the config changed since"
        );
        std::fs::write(&path, "tab = [not toml").unwrap();
        assert_eq!(Remembered::load(&path), Remembered::default());
        std::fs::write(&path, "tab = \"Nowhere\"").unwrap();
        assert_eq!(Remembered::load(&path).tab(), None);
        std::fs::write(&path, "x".repeat(MAX_BYTES as usize + 1)).unwrap();
        assert_eq!(Remembered::load(&path), Remembered::default());
    }
}
