//! The pure part of environment building: pins, what the base already satisfies, keys and uv's error text.

use std::collections::BTreeMap;
use std::str::FromStr;

use pep508_rs::pep440_rs::{Version, VersionSpecifiers};
use pep508_rs::PackageName;
use sha2::{Digest, Sha256};

/// Exact versions by normalised name, as `uv pip freeze` or `uv pip compile` print them.
pub type Pins = BTreeMap<String, String>;

/// Reads `name==version` lines; comments, blank lines, indented annotations and markers are skipped.
pub fn parse_pins(text: &str) -> Pins {
    text.lines()
        .filter(|l| !l.starts_with(char::is_whitespace))
        .filter_map(|l| {
            let l = l.split(['#', ';']).next()?.trim();
            let (name, version) = l.split_once("==")?;
            let name = PackageName::from_str(name.trim()).ok()?;
            Some((name.to_string(), version.trim().to_owned()))
        })
        .collect()
}

/// Renders pins back as `name==version` lines, sorted.
pub fn render_pins(pins: &Pins) -> String {
    pins.iter().map(|(n, v)| format!("{n}=={v}\n")).collect()
}

/// One line of a normalised requirements file: a name and its version specifiers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Wanted {
    pub name: String,
    pub specifiers: VersionSpecifiers,
}

/// Parses a normalised requirements file (`name<specifiers>` per line), as bundles produce.
pub fn parse_requirements(text: &str) -> Result<Vec<Wanted>, String> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|line| {
            let split = line
                .find(|c: char| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')))
                .unwrap_or(line.len());
            let (name, spec) = line.split_at(split);
            let name = PackageName::from_str(name)
                .map_err(|e| format!("{line:?}: {e}"))?
                .to_string();
            let specifiers =
                VersionSpecifiers::from_str(spec).map_err(|e| format!("{line:?}: {e}"))?;
            Ok(Wanted { name, specifiers })
        })
        .collect()
}

/// Whether every requirement is already met by a pinned version: then no build is needed.
pub fn satisfied_by(wanted: &[Wanted], pins: &Pins) -> bool {
    wanted.iter().all(|w| {
        pins.get(&w.name)
            .and_then(|v| Version::from_str(v).ok())
            .is_some_and(|v| w.specifiers.contains(&v))
    })
}

/// The pins of a resolution that the base does not already have at the same version.
pub fn beyond(resolved: &Pins, base: &Pins) -> Pins {
    resolved
        .iter()
        .filter(|(name, version)| base.get(*name) != Some(*version))
        .map(|(n, v)| (n.clone(), v.clone()))
        .collect()
}

fn digest(parts: &[&str]) -> String {
    let mut hasher = Sha256::new();
    for part in parts {
        hasher.update(part.as_bytes());
        hasher.update([0]);
    }
    hex::encode(hasher.finalize())
}

/// The base environment's key: its lock and the interpreter.
pub fn base_key(lock: &str, python: &str) -> String {
    format!("base-{}", &digest(&["burrow-base-v1", python, lock])[..16])
}

/// The key of an overlay: the exact packages it adds, the interpreter and the base under it.
pub fn env_key(base: &str, python: &str, extra: &Pins) -> String {
    format!(
        "env-{}",
        &digest(&["burrow-env-v1", base, python, &render_pins(extra)])[..24]
    )
}

/// The key of a requirement set as asked for, so an identical set skips resolution.
pub fn request_key(base: &str, python: &str, requirements: &str) -> String {
    digest(&["burrow-request-v1", base, python, requirements])[..32].to_owned()
}

/// What went wrong, from uv's output: its `error:` line and the explanation after it.
pub fn uv_failure(output: &str) -> Option<String> {
    let lines: Vec<&str> = output
        .lines()
        .map(|l| {
            l.trim_start_matches(|c: char| !c.is_alphanumeric())
                .trim_end()
        })
        .collect();
    let start = lines
        .iter()
        .position(|l| l.to_ascii_lowercase().starts_with("error:"))?;
    let text: Vec<&str> = lines[start..]
        .iter()
        .filter(|l| !l.is_empty())
        .take(8)
        .map(|l| match l.split_once(':') {
            Some((label, rest))
                if matches!(
                    label.to_ascii_lowercase().as_str(),
                    "error" | "cause" | "hint"
                ) =>
            {
                rest.trim()
            }
            _ => l,
        })
        .collect();
    let (first, rest) = text.split_first()?;
    Some(match rest {
        [] => (*first).to_owned(),
        _ => format!("{first}: {}", rest.join(" ")),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pins_come_from_compile_and_freeze_output() {
        let pins = parse_pins(
            "# comment\nStreamlit==1.67.0\n    # via -r in\nnumpy==2.4.6 ; python_full_version < '3.12'\n\nfoo @ file:///x\n",
        );
        assert_eq!(
            pins.into_iter().collect::<Vec<_>>(),
            vec![
                ("numpy".to_owned(), "2.4.6".to_owned()),
                ("streamlit".to_owned(), "1.67.0".to_owned())
            ]
        );
    }

    #[test]
    fn the_base_satisfies_what_it_pins_within_specifiers() {
        let base = parse_pins("pandas==3.1.1\nstreamlit==1.67.0\n");
        let ok = parse_requirements("pandas>=2,<=3.2\nstreamlit\n").unwrap();
        assert!(satisfied_by(&ok, &base));
        let older = parse_requirements("pandas<3\n").unwrap();
        assert!(!satisfied_by(&older, &base));
        let other = parse_requirements("tabulate\n").unwrap();
        assert!(!satisfied_by(&other, &base));
        assert!(satisfied_by(&[], &base));
    }

    #[test]
    fn only_new_or_changed_pins_go_beyond_the_base() {
        let base = parse_pins("numpy==2.4.6\npandas==3.1.1\n");
        let resolved = parse_pins("numpy==1.26.4\npandas==3.1.1\ntabulate==0.10.0\n");
        assert_eq!(
            render_pins(&beyond(&resolved, &base)),
            "numpy==1.26.4\ntabulate==0.10.0\n"
        );
    }

    #[test]
    fn keys_change_with_every_input() {
        let extra = parse_pins("tabulate==0.10.0\n");
        let key = env_key("base-1", "cpython-3.11.2", &extra);
        assert!(key.starts_with("env-") && key.len() == 28);
        assert_ne!(key, env_key("base-2", "cpython-3.11.2", &extra));
        assert_ne!(key, env_key("base-1", "cpython-3.12.0", &extra));
        assert_ne!(
            key,
            env_key("base-1", "cpython-3.11.2", &parse_pins("tabulate==0.9.0"))
        );
        assert_ne!(base_key("a", "p"), base_key("b", "p"));
        assert_ne!(request_key("b", "p", "x\n"), request_key("b", "p", "y\n"));
    }

    #[test]
    fn uv_failures_keep_the_error_and_its_cause() {
        let out = "Resolving\nError: No solution found when resolving dependencies:\n  ╰─▶ Because there is no version of tabulate==99.0 and you require tabulate==99.0, we can conclude that your requirements are unsatisfiable.\n";
        let why = uv_failure(out).unwrap();
        assert!(why.starts_with("No solution found"), "{why}");
        assert!(why.contains("tabulate==99.0"), "{why}");
        assert_eq!(uv_failure("all fine\n"), None);
        let cause =
            uv_failure("error: No solution found\n  cause: Because x==9 is missing\n").unwrap();
        assert_eq!(cause, "No solution found: Because x==9 is missing");
    }
}
