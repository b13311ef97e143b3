//! The check of a transform job's script: it parses, defines `transform(df)` at the top level, and imports only what job scripts may.
//!
//! Like every check here it helps authors; the sandbox a job runs in is the wall.

use crate::scan::scan;
use crate::{Finding, Policy, ZipLimits};

/// The file name findings and tracebacks use for a script.
pub const SCRIPT_FILE: &str = "script.py";
/// The longest script accepted.
pub const MAX_SCRIPT_BYTES: usize = 256 << 10;

/// Every problem with `source`, given the modules scripts may import; empty when it may run.
pub fn check(source: &str, allowed_imports: &[String]) -> Vec<Finding> {
    let file = Some(SCRIPT_FILE);
    if source.len() > MAX_SCRIPT_BYTES {
        return vec![Finding::error(
            file,
            None,
            format!(
                "the script is larger than {} KiB: move data into a table instead",
                MAX_SCRIPT_BYTES >> 10
            ),
        )];
    }
    let policy = Policy {
        limits: ZipLimits::default(),
        entrypoint: SCRIPT_FILE.into(),
        banned_imports: Vec::new(),
        banned_calls: ["os.system", "os.exec*", "os.spawn*", "os.popen", "os.fork*"]
            .map(String::from)
            .to_vec(),
        banned_severity: crate::Severity::Error,
    };
    let result = match scan(SCRIPT_FILE, source, &policy) {
        Ok(result) => result,
        Err(syntax) => return vec![syntax],
    };
    let mut findings = result.findings;
    for (module, _, line) in &result.imports {
        if !allowed_imports.iter().any(|a| a == module) {
            findings.push(Finding::error(
                file,
                Some(*line),
                format!(
                    "job scripts may not import {module}: they may import {} (an admin can \
                     add modules to jobs.script_imports)",
                    allowed_imports.join(", ")
                ),
            ));
        }
    }
    match result
        .functions
        .iter()
        .rfind(|(name, ..)| name == "transform")
    {
        None => findings.push(Finding::error(
            file,
            None,
            "the script defines no top-level function transform(df): add one that takes a \
             DataFrame and returns one",
        )),
        Some((_, line, positional, required)) if *positional < 1 || *required > 1 => {
            findings.push(Finding::error(
                file,
                Some(*line),
                "transform must take exactly one argument, the DataFrame of a chunk: \
                 def transform(df):",
            ))
        }
        Some(_) => {}
    }
    findings
}

#[cfg(test)]
mod tests {
    use super::*;

    fn allowed() -> Vec<String> {
        ["pandas", "numpy", "datetime", "math"]
            .map(String::from)
            .to_vec()
    }

    fn messages(source: &str) -> Vec<String> {
        check(source, &allowed())
            .into_iter()
            .map(|f| format!("{}: {}", f.line.unwrap_or(0), f.message))
            .collect()
    }

    #[test]
    fn a_good_script_passes() {
        let source = "import pandas as pd\nimport math\n\ndef transform(df):\n    df['x'] = 1\n    return df\n";
        assert_eq!(messages(source), Vec::<String>::new());
    }

    #[test]
    fn each_problem_is_named_with_its_line() {
        assert!(messages("def transform(df:\n")[0].contains("syntax error"));
        assert_eq!(
            messages("import requests\ndef transform(df):\n    return df\n"),
            vec!["1: job scripts may not import requests: they may import pandas, numpy, datetime, math (an admin can add modules to jobs.script_imports)"]
        );
        assert!(messages("def other(df):\n    return df\n")[0]
            .contains("defines no top-level function transform(df)"));
        assert!(messages("def transform(a, b):\n    return a\n")[0]
            .starts_with("1: transform must take exactly one argument"));
        assert!(messages("def transform():\n    return 1\n")[0].contains("exactly one argument"));
        assert!(
            messages("class C:\n    def transform(self, df):\n        return df\n")[0]
                .contains("no top-level function")
        );
        assert_eq!(
            messages("def transform(df, scale=2):\n    return df\n"),
            Vec::<String>::new()
        );
    }
}
