//! The command-line values the benchmarks read: a number (`_` allowed as a
//! digit separator, `50_000`) or a path after its flag.

use std::path::PathBuf;
use std::str::FromStr;

/// The number after `flag`, or why there is none.
///
/// # Errors
/// When the value is missing or not a number.
pub fn number<T: FromStr>(value: Option<String>, flag: &str) -> Result<T, String> {
    value
        .and_then(|v| v.replace('_', "").parse().ok())
        .ok_or_else(|| format!("{flag} needs a number"))
}

/// The path after `flag`, or why there is none.
///
/// # Errors
/// When the value is missing.
pub fn path(value: Option<String>, flag: &str) -> Result<PathBuf, String> {
    value
        .map(PathBuf::from)
        .ok_or_else(|| format!("{flag} needs a path"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_take_separators_and_say_what_is_missing() {
        assert_eq!(number::<u64>(Some("50_000".into()), "--n"), Ok(50_000));
        assert_eq!(
            number::<usize>(Some("x".into()), "--n"),
            Err("--n needs a number".to_owned())
        );
        assert_eq!(
            path(None, "--work"),
            Err::<PathBuf, _>("--work needs a path".to_owned())
        );
    }
}
