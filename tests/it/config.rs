//! config.toml: parsing, validation and secrets.

use creditops_config::{Config, Target};
use creditops_core::credits::Editions;
use creditops_core::secret::Secret;

use crate::common;

#[test]
fn profiles_parse_with_defaults() {
    let c = Config::parse(
        "default_profile = \"eu\"\n[profiles.eu]\ntarget = \"zoho-sandbox\"\ndata_centre = \"eu\"\nedition = \"professional\"\nlicences = 40\ncustom_thresholds = [50, 95]\n",
        "config.toml",
    )
    .unwrap();
    let (name, p) = c.profile(None).unwrap();
    assert_eq!(name, "eu");
    assert_eq!(p.target, Target::ZohoSandbox);
    assert_eq!(p.thresholds(), vec![50, 80, 90, 95, 100]);
    assert!(!p.allow_production);
    let (name, p) = Config::default().profile(None).unwrap();
    assert_eq!((name.as_str(), p.target), ("embedded", Target::Embedded));
}

#[test]
fn invalid_configs_name_line_and_key() {
    let cases = [
        ("[profiles.a]\nedtion = \"x\"\n", "line 2", "edtion"),
        (
            "[profiles.a]\ncustom_thresholds = [1, 2, 3, 4]\n",
            "line 2",
            "custom_thresholds",
        ),
        (
            "[profiles.a]\nalert_thresholds = [80, 120]\n",
            "line 2",
            "alert_thresholds",
        ),
        ("default_profile = \"nope\"\n", "line 1", "default_profile"),
        (
            "[profiles.a]\ndata_centre = \"mars\"\n",
            "line 2",
            "data_centre",
        ),
        (
            "[profiles.a]\napi_base = \"ftp://x\"\n",
            "line 2",
            "api_base",
        ),
        ("[profiles.a\n", "line 1", ""),
    ];
    for (text, line, key) in cases {
        let err = Config::parse(text, "config.toml").unwrap_err().to_string();
        assert!(err.starts_with("config.toml: "), "{err}");
        assert!(err.contains(line), "{text:?} → {err}");
        assert!(err.contains(key), "{text:?} → {err}");
    }
}

#[test]
fn profile_editions_are_checked_against_the_editions_in_force() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("config.toml");
    std::fs::write(&file, "[profiles.a]\nlicences = 3\nedition = \"gold\"\n").unwrap();
    let loaded = Config::load(&file).unwrap();
    // Built-in editions only: gold is unknown, named with the line and key.
    let err = Config::check_editions(&loaded, &Editions::builtin())
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("line 3") && err.contains("`edition`") && err.contains("gold"),
        "{err}"
    );
    // With the user's editions.toml defining gold, the same profile is fine.
    let user = Editions::builtin()
        .with_overrides(
            "[[edition]]\nname = \"gold\"\nbase = 7000\nper_licence = 10\nconcurrency = 20\nsub_concurrency = 10\n",
            "editions.toml",
        )
        .unwrap();
    Config::check_editions(&loaded, &user).unwrap();
}

#[test]
fn a_profile_may_use_an_edition_from_the_users_editions_toml() {
    // The bug this guards: profiles were checked against the built-in editions before the
    // user's model was loaded, so every command exited 2 with "unknown edition".
    let home = tempfile::tempdir().unwrap();
    let cfg = home.path().join("config");
    std::fs::create_dir_all(&cfg).unwrap();
    std::fs::write(
        cfg.join("editions.toml"),
        "[[edition]]\nname = \"gold\"\nbase = 7000\nper_licence = 10\nconcurrency = 20\nsub_concurrency = 10\n",
    )
    .unwrap();
    std::fs::write(
        cfg.join("config.toml"),
        "default_profile = \"g\"\n[profiles.g]\nedition = \"gold\"\nlicences = 3\n",
    )
    .unwrap();
    let out = common::creditops(home.path(), &["limits", "--json"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v = common::json_of(&out);
    assert_eq!(v["edition"], "gold");
    assert_eq!(v["daily_limit"], 7030);
    // An edition nobody defined still exits 2, naming the file, line and key.
    std::fs::write(
        cfg.join("config.toml"),
        "default_profile = \"g\"\n[profiles.g]\nedition = \"tin\"\n",
    )
    .unwrap();
    let out = common::creditops(home.path(), &["limits", "--json"]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("config.toml") && err.contains("line 3") && err.contains("tin"),
        "{err}"
    );
}

#[test]
fn secrets_never_print() {
    let s = Secret::new("1000.abcdef-refresh");
    assert_eq!(format!("{s}"), "***");
    assert_eq!(format!("{s:?}"), "Secret(***)");
    let c = Config::parse(
        "[profiles.a]\nclient_secret = \"topsecret\"\nrefresh_token = \"1000.tok\"\n",
        "c",
    )
    .unwrap();
    let dbg = format!("{c:?}");
    assert!(
        !dbg.contains("topsecret") && !dbg.contains("1000.tok"),
        "{dbg}"
    );
    assert_eq!(
        creditops_core::secret::redact(
            "error for token 1000.tok here",
            &[&Secret::new("1000.tok")]
        ),
        "error for token *** here"
    );
}

#[cfg(unix)]
#[test]
fn save_writes_mode_0600_and_round_trips() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("nested/config.toml");
    let mut c = Config::default();
    c.profiles.insert("a".into(), Default::default());
    c.profiles.get_mut("a").unwrap().refresh_token = Some(Secret::new("1000.r"));
    c.save(&file).unwrap();
    assert_eq!(
        std::fs::metadata(&file).unwrap().permissions().mode() & 0o777,
        0o600
    );
    let back = Config::load(&file).unwrap();
    assert!(back.warnings.is_empty());
    assert_eq!(back.config, c);
}
