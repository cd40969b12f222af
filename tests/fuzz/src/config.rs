//! Target `config`: the TOML configuration parser (`src/config.rs`).
//!
//! Input: UTF-8 text (invalid bytes replaced).
//!
//! Properties: an accepted configuration satisfies every rule the contract
//! puts on one (tick interval at least 1 ms, a person class, no blank
//! topic); the same text parses to the same configuration, also with a
//! comment after it; and an unknown table after it is refused by name.

use crate::cli_config::Config;

pub fn check(input: &[u8]) {
    let text = String::from_utf8_lossy(input);
    let config = match Config::from_toml(&text) {
        Ok(config) => config,
        Err(e) => {
            assert!(!e.to_string().is_empty(), "an error with no message");
            return;
        }
    };
    assert!(config.sync.interval_ms >= 1);
    assert!(!config.scenes.person_classes.is_empty());
    let blank = |topics: &[String]| topics.iter().any(|t| t.trim().is_empty());
    assert!(!blank(&config.extract.topics) && !blank(&config.sync.topics));

    let commented = format!("{text}\n# a comment\n");
    let again = Config::from_toml(&commented).expect("a comment after a valid config");
    assert_eq!(again, config);

    let unknown = format!("{text}\n[zz_unknown_table]\nkey = 1\n");
    let e = Config::from_toml(&unknown).expect_err("an unknown table is refused");
    assert!(e.to_string().contains("zz_unknown_table"), "{e}");
}
