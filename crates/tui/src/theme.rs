//! Colour themes: a semantic palette per theme, built-in ones compiled in from `themes/`, plus
//! the user's own from the config folder's `themes/`, which add to or override them.

use std::collections::BTreeMap;
use std::path::Path;

use ratatui::style::Color;
use serde::Deserialize;

/// The built-in themes, compiled in.
// The built-in themes: the files in the top-level themes/ folder, compiled in.
pub const BUILTIN_THEMES: &[(&str, &str)] = &[
    ("dark", include_str!("../../../themes/dark.toml")),
    ("light", include_str!("../../../themes/light.toml")),
    (
        "high-contrast",
        include_str!("../../../themes/high-contrast.toml"),
    ),
];

/// Every palette key a theme must set (directly or through `extends`).
pub const PALETTE_KEYS: &[&str] = &[
    "background",
    "surface",
    "text",
    "muted",
    "accent",
    "ok",
    "warn",
    "critical",
    "border",
    "border_focused",
    "selection_bg",
    "selection_fg",
    "header",
    "chart_primary",
    "chart_secondary",
    "chart_band",
];

/// The colours views draw with, by meaning rather than hue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Palette {
    pub background: Color,
    pub surface: Color,
    pub text: Color,
    pub muted: Color,
    pub accent: Color,
    pub ok: Color,
    pub warn: Color,
    pub critical: Color,
    pub border: Color,
    pub border_focused: Color,
    pub selection_bg: Color,
    pub selection_fg: Color,
    pub header: Color,
    pub chart_primary: Color,
    pub chart_secondary: Color,
    pub chart_band: Color,
    /// No colours at all (NO_COLOR): the selection is shown in reverse video.
    pub mono: bool,
}

impl Palette {
    /// How the selected row, tab or toggle is drawn: the theme's selection colours, or reverse
    /// video when there are no colours (a background colour alone would vanish).
    pub fn selected(&self) -> ratatui::style::Style {
        use ratatui::style::{Modifier, Style};
        if self.mono {
            Style::default().add_modifier(Modifier::REVERSED | Modifier::BOLD)
        } else {
            Style::default().fg(self.selection_fg).bg(self.selection_bg)
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Theme {
    pub name: String,
    pub palette: Palette,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ThemeFile {
    name: Option<String>,
    extends: Option<String>,
    #[serde(default)]
    palette: BTreeMap<String, String>,
}

/// Parses a colour: `#rrggbb`, `#rgb`, or an ANSI name (`red`, `light_red`, `dark_gray`, `reset`…).
pub fn parse_color(s: &str) -> Result<Color, String> {
    let t = s.trim();
    if let Some(hex) = t.strip_prefix('#') {
        let digits: Vec<u8> = match hex.len() {
            6 => (0..3)
                .map(|i| u8::from_str_radix(&hex[i * 2..i * 2 + 2], 16))
                .collect::<Result<_, _>>()
                .map_err(|_| format!("`{s}` is not a #rrggbb colour"))?,
            3 => hex
                .chars()
                .map(|c| u8::from_str_radix(&c.to_string(), 16).map(|v| v * 17))
                .collect::<Result<_, _>>()
                .map_err(|_| format!("`{s}` is not a #rgb colour"))?,
            _ => return Err(format!("`{s}` is not a #rrggbb colour")),
        };
        return Ok(Color::Rgb(digits[0], digits[1], digits[2]));
    }
    let name = t.to_ascii_lowercase().replace(['-', ' '], "_");
    Ok(match name.as_str() {
        "reset" | "default" => Color::Reset,
        "black" => Color::Black,
        "red" => Color::Red,
        "green" => Color::Green,
        "yellow" => Color::Yellow,
        "blue" => Color::Blue,
        "magenta" => Color::Magenta,
        "cyan" => Color::Cyan,
        "gray" | "grey" => Color::Gray,
        "dark_gray" | "dark_grey" => Color::DarkGray,
        "light_red" => Color::LightRed,
        "light_green" => Color::LightGreen,
        "light_yellow" => Color::LightYellow,
        "light_blue" => Color::LightBlue,
        "light_magenta" => Color::LightMagenta,
        "light_cyan" => Color::LightCyan,
        "white" => Color::White,
        _ => return Err(format!("`{s}` is not a colour (#rrggbb or an ANSI name)")),
    })
}

fn palette_from(map: &BTreeMap<String, String>) -> Result<Palette, String> {
    for k in map.keys() {
        if !PALETTE_KEYS.contains(&k.as_str()) {
            return Err(format!("unknown palette key `{k}`"));
        }
    }
    // A bad colour is the more useful report than a key left to inherit.
    for (k, v) in map {
        parse_color(v).map_err(|e| format!("palette key `{k}`: {e}"))?;
    }
    let get = |k: &str| -> Result<Color, String> {
        let v = map
            .get(k)
            .ok_or_else(|| format!("palette key `{k}` is missing"))?;
        parse_color(v).map_err(|e| format!("palette key `{k}`: {e}"))
    };
    Ok(Palette {
        background: get("background")?,
        surface: get("surface")?,
        text: get("text")?,
        muted: get("muted")?,
        accent: get("accent")?,
        ok: get("ok")?,
        warn: get("warn")?,
        critical: get("critical")?,
        border: get("border")?,
        border_focused: get("border_focused")?,
        selection_bg: get("selection_bg")?,
        selection_fg: get("selection_fg")?,
        header: get("header")?,
        chart_primary: get("chart_primary")?,
        chart_secondary: get("chart_secondary")?,
        chart_band: get("chart_band")?,
        mono: false,
    })
}

impl Theme {
    /// The theme when NO_COLOR is set (https://no-color.org): the terminal's own colours
    /// everywhere; emphasis by bold and reverse video only.
    pub fn no_color() -> Theme {
        let r = Color::Reset;
        Theme {
            name: "no-color".into(),
            palette: Palette {
                background: r,
                surface: r,
                text: r,
                muted: r,
                accent: r,
                ok: r,
                warn: r,
                critical: r,
                border: r,
                border_focused: r,
                selection_bg: r,
                selection_fg: r,
                header: r,
                chart_primary: r,
                chart_secondary: r,
                chart_band: r,
                mono: true,
            },
        }
    }
}

/// Whether the user asked for no colours: NO_COLOR set and not empty.
pub fn no_color_requested() -> bool {
    std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty())
}

/// The themes available, in order: built-in first, then the user's.
#[derive(Debug, Clone)]
pub struct ThemeSet {
    themes: Vec<Theme>,
    /// Problems with user themes, each naming the file: reported, never fatal.
    pub warnings: Vec<String>,
}

impl ThemeSet {
    /// The built-in themes only.
    pub fn builtin() -> ThemeSet {
        let mut set = ThemeSet {
            themes: Vec::new(),
            warnings: Vec::new(),
        };
        let mut raw = BTreeMap::new();
        for (name, text) in BUILTIN_THEMES {
            match toml::from_str::<ThemeFile>(text) {
                Ok(f) => {
                    raw.insert(name.to_string(), f.palette.clone());
                    match palette_from(&f.palette) {
                        Ok(palette) => set.themes.push(Theme {
                            name: name.to_string(),
                            palette,
                        }),
                        Err(e) => set.warnings.push(format!("built-in theme {name}: {e}")),
                    }
                }
                Err(e) => set.warnings.push(format!("built-in theme {name}: {e}")),
            }
        }
        set
    }

    /// The built-in themes plus every `*.toml` in `dir` (user themes override by name).
    pub fn load(dir: &Path) -> ThemeSet {
        let mut set = ThemeSet::builtin();
        let Ok(entries) = std::fs::read_dir(dir) else {
            return set;
        };
        let mut files: Vec<_> = entries
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|x| x == "toml"))
            .collect();
        files.sort();
        for path in files {
            if let Err(e) = set.add_file(&path) {
                set.warnings
                    .push(format!("theme {} skipped: {e}", path.display()));
            }
        }
        set
    }

    fn add_file(&mut self, path: &Path) -> Result<(), String> {
        let text = creditops_core::input::read_settings(path).map_err(|e| e.to_string())?;
        self.add_text(&text, path)
    }

    /// Adds a theme from TOML text; `origin` names it in errors and gives its default name.
    pub fn add_text(&mut self, text: &str, origin: &Path) -> Result<(), String> {
        let file: ThemeFile = toml::from_str(text)
            .map_err(|e| creditops_core::toml_diag::describe_toml_error(text, &e))?;
        let name = file.name.clone().unwrap_or_else(|| {
            origin
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_else(|| "unnamed".into())
        });
        let mut map = BTreeMap::new();
        if let Some(base) = &file.extends {
            let base_theme = self
                .get(base)
                .ok_or_else(|| format!("extends unknown theme `{base}`"))?;
            map = palette_to_map(&base_theme.palette);
        }
        map.extend(file.palette);
        let palette = palette_from(&map)?;
        self.themes.retain(|t| t.name != name);
        self.themes.push(Theme { name, palette });
        Ok(())
    }

    pub fn get(&self, name: &str) -> Option<&Theme> {
        self.themes
            .iter()
            .find(|t| t.name.eq_ignore_ascii_case(name))
    }

    pub fn names(&self) -> Vec<&str> {
        self.themes.iter().map(|t| t.name.as_str()).collect()
    }

    pub fn themes(&self) -> &[Theme] {
        &self.themes
    }

    /// The theme after `name`, wrapping around (what `t` in the console does).
    pub fn next_after(&self, name: &str) -> &Theme {
        let i = self.themes.iter().position(|t| t.name == name).unwrap_or(0);
        &self.themes[(i + 1) % self.themes.len()]
    }

    /// The default theme (dark).
    pub fn default_theme(&self) -> &Theme {
        self.get("dark").unwrap_or(&self.themes[0])
    }
}

fn color_to_string(c: Color) -> String {
    match c {
        Color::Rgb(r, g, b) => format!("#{r:02x}{g:02x}{b:02x}"),
        Color::Reset => "reset".into(),
        Color::Black => "black".into(),
        Color::Red => "red".into(),
        Color::Green => "green".into(),
        Color::Yellow => "yellow".into(),
        Color::Blue => "blue".into(),
        Color::Magenta => "magenta".into(),
        Color::Cyan => "cyan".into(),
        Color::Gray => "gray".into(),
        Color::DarkGray => "dark_gray".into(),
        Color::LightRed => "light_red".into(),
        Color::LightGreen => "light_green".into(),
        Color::LightYellow => "light_yellow".into(),
        Color::LightBlue => "light_blue".into(),
        Color::LightMagenta => "light_magenta".into(),
        Color::LightCyan => "light_cyan".into(),
        Color::White => "white".into(),
        Color::Indexed(i) => format!("{i}"),
    }
}

fn palette_to_map(p: &Palette) -> BTreeMap<String, String> {
    let pairs = [
        ("background", p.background),
        ("surface", p.surface),
        ("text", p.text),
        ("muted", p.muted),
        ("accent", p.accent),
        ("ok", p.ok),
        ("warn", p.warn),
        ("critical", p.critical),
        ("border", p.border),
        ("border_focused", p.border_focused),
        ("selection_bg", p.selection_bg),
        ("selection_fg", p.selection_fg),
        ("header", p.header),
        ("chart_primary", p.chart_primary),
        ("chart_secondary", p.chart_secondary),
        ("chart_band", p.chart_band),
    ];
    pairs
        .into_iter()
        .map(|(k, c)| (k.to_string(), color_to_string(c)))
        .collect()
}
