//! Built-in and user themes.

use std::path::Path;

use creditops_tui::theme::{parse_color, ThemeSet, BUILTIN_THEMES, PALETTE_KEYS};
use ratatui::style::Color;

#[test]
fn every_builtin_theme_parses_and_sets_every_palette_key() {
    for (name, text) in BUILTIN_THEMES {
        let v: toml::Table = toml::from_str(text).unwrap_or_else(|e| panic!("{name}: {e}"));
        let palette = v["palette"]
            .as_table()
            .unwrap_or_else(|| panic!("{name}: no [palette]"));
        for key in PALETTE_KEYS {
            let value = palette
                .get(*key)
                .unwrap_or_else(|| panic!("{name}: `{key}` missing"));
            parse_color(value.as_str().unwrap()).unwrap_or_else(|e| panic!("{name}.{key}: {e}"));
        }
        assert_eq!(
            palette.len(),
            PALETTE_KEYS.len(),
            "{name}: keys beyond the palette"
        );
    }
    let set = ThemeSet::builtin();
    assert!(set.warnings.is_empty(), "{:?}", set.warnings);
    assert_eq!(set.names(), vec!["dark", "light", "high-contrast"]);
    assert_eq!(set.default_theme().name, "dark");
}

#[test]
fn user_themes_add_override_and_bad_ones_are_skipped() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("mine.toml"),
        "extends = \"dark\"\n[palette]\naccent = \"#ff0000\"\n",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("broken.toml"),
        "[palette]\naccent = \"#zzzzzz\"\n",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("partial.toml"),
        "[palette]\naccent = \"red\"\n",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("light.toml"),
        "name = \"light\"\nextends = \"light\"\n[palette]\nok = \"green\"\n",
    )
    .unwrap();
    let set = ThemeSet::load(dir.path());
    let mine = set.get("mine").expect("user theme loaded");
    assert_eq!(mine.palette.accent, Color::Rgb(255, 0, 0));
    assert_eq!(mine.palette.text, set.get("dark").unwrap().palette.text);
    assert_eq!(set.get("light").unwrap().palette.ok, Color::Green);
    assert!(set.get("broken").is_none() && set.get("partial").is_none());
    assert_eq!(set.warnings.len(), 2, "{:?}", set.warnings);
    assert!(set
        .warnings
        .iter()
        .any(|w| w.contains("broken.toml") && w.contains("accent")));
    assert!(set
        .warnings
        .iter()
        .any(|w| w.contains("partial.toml") && w.contains("missing")));
    // Cycling wraps around.
    let last = set.themes().last().unwrap().name.clone();
    assert_eq!(set.next_after(&last).name, "dark");
}

#[test]
fn a_missing_theme_folder_is_fine() {
    let set = ThemeSet::load(Path::new("/nonexistent/creditops/themes"));
    assert_eq!(set.themes().len(), 3);
}
