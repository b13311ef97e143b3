//! `requirements.txt`: parsed as PEP 508, checked against the allowlist, rendered back in normal form.

use std::collections::BTreeMap;
use std::str::FromStr;

use pep508_rs::pep440_rs::{Operator, Version, VersionSpecifiers};
use pep508_rs::{PackageName, VersionOrUrl};
use serde::Serialize;

use crate::Finding;

/// A validated requirement: a normalised name and a version specifier (possibly empty).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct Requirement {
    pub name: String,
    pub specifier: String,
}

/// The admin-managed allowlist: normalised names, each with an optional upper version bound.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Allowlist {
    entries: BTreeMap<String, Option<Version>>,
}

/// Normalises a distribution name per PEP 503 (`Scikit_Learn` → `scikit-learn`).
pub fn normalize_name(raw: &str) -> Result<String, String> {
    PackageName::from_str(raw.trim())
        .map(|n| n.to_string())
        .map_err(|e| format!("{raw:?} is not a valid package name: {e}"))
}

impl Allowlist {
    /// Builds an allowlist from `(name, cap)` pairs; names are normalised, caps parsed.
    pub fn new<'a>(
        entries: impl IntoIterator<Item = (&'a str, Option<&'a str>)>,
    ) -> Result<Self, String> {
        let mut map = BTreeMap::new();
        for (name, cap) in entries {
            let cap = match cap {
                Some(c) => Some(
                    Version::from_str(c)
                        .map_err(|e| format!("version cap {c:?} of {name}: {e}"))?,
                ),
                None => None,
            };
            map.insert(normalize_name(name)?, cap);
        }
        Ok(Self { entries: map })
    }

    pub fn get(&self, name: &str) -> Option<&Option<Version>> {
        self.entries.get(name)
    }

    /// The allowed names, normalised, in order.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.entries.keys().map(String::as_str)
    }

    /// Whether version `version` of `name` (normalised) may be installed: on the list,
    /// and within its cap. A version that cannot be read is refused.
    pub fn admits(&self, name: &str, version: &str) -> bool {
        match (self.entries.get(name), Version::from_str(version)) {
            (Some(None), Ok(_)) => true,
            (Some(Some(cap)), Ok(v)) => v <= *cap,
            _ => false,
        }
    }
}

/// Parses an allowlist entry as written on the command line: `NAME` or `NAME<=MAX`.
pub fn parse_entry(raw: &str) -> Result<(String, Option<String>), String> {
    let (name, cap) = match raw.split_once("<=") {
        Some((n, c)) => (n, Some(c.trim())),
        None => (raw, None),
    };
    if name.trim().is_empty() {
        return Err(format!(
            "{raw:?} names no package: give a name such as tabulate, or tabulate<=0.9"
        ));
    }
    let name = normalize_name(name)?;
    if let Some(c) = cap {
        Version::from_str(c).map_err(|e| format!("{c:?} is not a version: {e}"))?;
    }
    Ok((name, cap.map(str::to_owned)))
}

/// What people are told of a package that is not allowed.
pub fn not_on_allowlist(name: &str) -> String {
    format!(
        "{name} is not on this instance's package allowlist: ask an admin to add it \
         (`burrow packages add {name}` or the admin page)"
    )
}

/// Checks a requirement's version bounds against the allowlist cap; returns the
/// specifier to install with, the cap added.
fn within_cap(
    name: &str,
    specifiers: &VersionSpecifiers,
    cap: &Option<Version>,
) -> Result<String, String> {
    let Some(cap) = cap else {
        return Ok(specifiers.to_string());
    };
    for s in specifiers.iter() {
        let asks_above = match s.operator() {
            Operator::Equal
            | Operator::ExactEqual
            | Operator::TildeEqual
            | Operator::GreaterThanEqual => s.version() > cap,
            Operator::GreaterThan => s.version() >= cap,
            _ => false,
        };
        if asks_above {
            return Err(format!(
                "{name} is capped at <={cap} by the allowlist, but {s} asks for a newer version"
            ));
        }
    }
    let mut parts: Vec<String> = specifiers.iter().map(ToString::to_string).collect();
    parts.push(format!("<={cap}"));
    Ok(parts.join(","))
}

/// Parses `requirements.txt`. `Err` lists every offending line.
pub fn parse(text: &str, allowlist: &Allowlist) -> Result<Vec<Requirement>, Vec<Finding>> {
    let file = Some("requirements.txt");
    let mut errors = Vec::new();
    let mut found: BTreeMap<String, Requirement> = BTreeMap::new();
    for (index, raw) in text.lines().enumerate() {
        let line_no = Some(index + 1);
        let raw = if index == 0 {
            raw.trim_start_matches('\u{feff}')
        } else {
            raw
        };
        // A comment starts at a # at the line's start or after whitespace.
        let comment = raw
            .char_indices()
            .find(|(i, c)| *c == '#' && (*i == 0 || raw[..*i].ends_with(char::is_whitespace)));
        let line = comment.map_or(raw, |(i, _)| &raw[..i]).trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let fail = |errors: &mut Vec<Finding>, why: String| {
            errors.push(Finding::error(file, line_no, format!("{line:?}: {why}")))
        };
        if line.starts_with('-') {
            fail(&mut errors, "option lines (-r, -e, -i, --index-url, -f, --trusted-host, …) are not allowed: list packages by name".into());
            continue;
        }
        if line.contains("${") {
            fail(
                &mut errors,
                "environment variable expansion is not allowed".into(),
            );
            continue;
        }
        if line.ends_with('\\') {
            fail(
                &mut errors,
                "line continuations are not allowed: put each requirement on one line".into(),
            );
            continue;
        }
        if !line.is_ascii() {
            fail(
                &mut errors,
                "the line has non-ASCII characters: package names and versions are ASCII".into(),
            );
            continue;
        }
        // pep508_rs panics when its own name parser and name validation disagree
        // (fuzzing found "2_?"), so the name is validated first, the same way.
        let name_end = line
            .find(|c: char| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')))
            .unwrap_or(line.len());
        if let Err(why) = normalize_name(&line[..name_end]) {
            fail(&mut errors, why);
            continue;
        }
        // Extras are refused anyway, and their parser has the same flaw ("D[uQ.").
        if line[name_end..].trim_start().starts_with('[') {
            fail(&mut errors, "extras ([…]) pull in packages that are not checked: list the packages you need instead".into());
            continue;
        }
        // Should another such panic exist, it must not take the server down.
        let parsed = std::panic::catch_unwind(|| {
            pep508_rs::Requirement::<pep508_rs::VerbatimUrl>::from_str(line)
        });
        let Ok(parsed) = parsed else {
            fail(&mut errors, "not a valid requirement".into());
            continue;
        };
        let req = match parsed {
            Ok(r) => r,
            Err(e) => {
                let message = e.to_string();
                let first = message.lines().next().unwrap_or_default();
                let why = if line.contains('/') || line.contains(':') {
                    "direct references (URLs, VCS or local paths) are not allowed: name a package from the allowlist".to_owned()
                } else {
                    format!("not a valid requirement: {first}")
                };
                fail(&mut errors, why);
                continue;
            }
        };
        let name = req.name.to_string();
        if !req.extras.is_empty() {
            fail(&mut errors, format!("extras ([{}]) pull in packages that are not checked: list the packages you need instead", req.extras.iter().map(ToString::to_string).collect::<Vec<_>>().join(",")));
            continue;
        }
        let specifiers = match &req.version_or_url {
            Some(VersionOrUrl::Url(_)) => {
                fail(&mut errors, "direct references (URLs, VCS or local paths) are not allowed: name a package from the allowlist".into());
                continue;
            }
            Some(VersionOrUrl::VersionSpecifier(s)) => s.clone(),
            None => VersionSpecifiers::empty(),
        };
        let Some(cap) = allowlist.get(&name) else {
            fail(&mut errors, not_on_allowlist(&name));
            continue;
        };
        let specifier = match within_cap(&name, &specifiers, cap) {
            Ok(s) => s,
            Err(why) => {
                fail(&mut errors, why);
                continue;
            }
        };
        if found.contains_key(&name) {
            fail(
                &mut errors,
                format!("{name} is listed twice: keep one line"),
            );
            continue;
        }
        found.insert(name.clone(), Requirement { name, specifier });
    }
    if errors.is_empty() {
        Ok(found.into_values().collect())
    } else {
        Err(errors)
    }
}

/// Checks inferred names against the allowlist.
pub fn from_names(
    names: &[(String, String, usize)],
    allowlist: &Allowlist,
) -> Result<Vec<Requirement>, Vec<Finding>> {
    let mut errors = Vec::new();
    let mut found = BTreeMap::new();
    for (dist, file, line) in names {
        match allowlist.get(dist) {
            Some(cap) => {
                let specifier = cap.as_ref().map(|c| format!("<={c}")).unwrap_or_default();
                found.insert(
                    dist.clone(),
                    Requirement {
                        name: dist.clone(),
                        specifier,
                    },
                );
            }
            None => errors.push(Finding::error(
                Some(file),
                Some(*line),
                format!(
                    "this import needs {}; add a requirements.txt, or {}",
                    dist,
                    not_on_allowlist(dist)
                ),
            )),
        }
    }
    if errors.is_empty() {
        Ok(found.into_values().collect())
    } else {
        Err(errors)
    }
}

/// The normal form: one sorted `name<specifier>` per line.
pub fn render(requirements: &[Requirement]) -> String {
    let mut sorted = requirements.to_vec();
    sorted.sort();
    sorted
        .iter()
        .map(|r| format!("{}{}\n", r.name, r.specifier))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn allowlist() -> Allowlist {
        Allowlist::new([
            ("pandas", Some("2.2")),
            ("streamlit", None),
            ("scikit-learn", None),
        ])
        .unwrap()
    }

    #[test]
    fn normalises_names_and_keeps_specifiers() {
        let reqs = parse(
            "Pandas>=2.0\n# comment\n\nScikit_Learn  # ml\nstreamlit==1.39.0\n",
            &allowlist(),
        )
        .unwrap();
        assert_eq!(
            render(&reqs),
            "pandas>=2.0,<=2.2\nscikit-learn\nstreamlit==1.39.0\n"
        );
    }

    #[test]
    fn every_offending_line_is_reported_with_its_number() {
        let text = "-r other.txt\n--index-url https://evil.example/simple\npandas @ https://evil.example/p.whl\n\
                    git+https://github.com/x/y\n./local\nrequests\nstreamlit[extra]\n${PKG}\npandas==3.0\nstreamlit\nstreamlit\n";
        let errors = parse(text, &allowlist()).unwrap_err();
        let lines: Vec<usize> = errors.iter().map(|e| e.line.unwrap()).collect();
        assert_eq!(lines, vec![1, 2, 3, 4, 5, 6, 7, 8, 9, 11], "{errors:#?}");
        let messages: Vec<&str> = errors.iter().map(|e| e.message.as_str()).collect();
        assert!(messages[0].contains("option lines"));
        assert!(messages[2].contains("direct references"));
        assert!(messages[3].contains("direct references"));
        assert!(
            messages[5].contains("not on this instance's package allowlist")
                && messages[5].contains("burrow packages add requests")
        );
        assert!(messages[6].contains("extras"));
        assert!(messages[7].contains("environment variable"));
        assert!(messages[8].contains("capped at <=2.2"));
        assert!(messages[9].contains("twice"));
    }

    #[test]
    fn inputs_that_crashed_the_pep508_parser_are_plain_errors() {
        for line in ["2_?", "A-\u{2dc8}", "a_", "x-.y", "_", "D[uQ."] {
            let errors = parse(line, &allowlist()).unwrap_err();
            assert_eq!(errors.len(), 1, "{line:?}");
        }
    }

    #[test]
    fn allowlist_entries_parse() {
        assert_eq!(
            parse_entry("Scikit_Learn<=1.5").unwrap(),
            ("scikit-learn".into(), Some("1.5".into()))
        );
        assert!(parse_entry("bad name!").is_err());
        assert!(parse_entry("x<=notaversion").is_err());
    }
}
