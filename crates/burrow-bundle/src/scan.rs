//! The static scan of Python files: syntax errors, imports, and banned imports and calls.
//!
//! A guardrail for authors, not a wall: the sandbox contains code that gets
//! past it (through `getattr`, `__import__`, `exec` and so on).

use rustpython_ast::Visitor;
use rustpython_parser::text_size::TextRange;
use rustpython_parser::{ast, Mode};

use crate::{Finding, Policy};

/// What one file imports and what was flagged in it.
#[derive(Debug, Default)]
pub struct ScanResult {
    /// Absolute imports: (top-level module, file, line).
    pub imports: Vec<(String, String, usize)>,
    pub findings: Vec<Finding>,
}

struct LineIndex(Vec<usize>);

impl LineIndex {
    fn new(source: &str) -> Self {
        Self(
            std::iter::once(0)
                .chain(source.match_indices('\n').map(|(i, _)| i + 1))
                .collect(),
        )
    }

    fn line(&self, offset: usize) -> usize {
        match self.0.binary_search(&offset) {
            Ok(i) => i + 1,
            Err(i) => i,
        }
    }
}

struct Scanner<'a> {
    path: &'a str,
    policy: &'a Policy,
    lines: LineIndex,
    result: ScanResult,
    /// Names bound by `from os import system` and the like: name → `os.system`.
    imported_functions: Vec<(String, String)>,
}

fn matches_pattern(pattern: &str, name: &str) -> bool {
    match pattern.strip_suffix('*') {
        Some(prefix) => name.starts_with(prefix),
        None => pattern == name,
    }
}

impl Scanner<'_> {
    fn line(&self, range: TextRange) -> usize {
        self.lines.line(range.start().to_usize())
    }

    fn flag(&mut self, range: TextRange, message: String) {
        let line = Some(self.line(range));
        let finding = match self.policy.banned_severity {
            crate::Severity::Error => Finding::error(Some(self.path), line, message),
            crate::Severity::Warning => Finding::warning(Some(self.path), line, message),
        };
        self.result.findings.push(finding);
    }

    /// Flags a banned module; returns whether it was.
    fn check_module(&mut self, module: &str, range: TextRange) -> bool {
        if let Some(banned) = self
            .policy
            .banned_imports
            .iter()
            .find(|b| module == b.as_str() || module.starts_with(&format!("{b}.")))
        {
            self.flag(
                range,
                format!("import of {module}: {banned} is not available to code on Burrow"),
            );
            return true;
        }
        false
    }

    fn check_call_name(&mut self, qualified: &str, range: TextRange) {
        if let Some(pattern) = self
            .policy
            .banned_calls
            .iter()
            .find(|p| matches_pattern(p, qualified))
        {
            let pattern = pattern.clone();
            self.flag(
                range,
                format!("call to {qualified}: {pattern} is not available to code on Burrow"),
            );
        }
    }
}

impl Visitor for Scanner<'_> {
    fn visit_stmt_import(&mut self, node: ast::StmtImport) {
        for alias in &node.names {
            let module = alias.name.as_str();
            let _ = self.check_module(module, node.range);
            let top = module.split('.').next().unwrap_or_default().to_owned();
            let line = self.line(node.range);
            self.result.imports.push((top, self.path.to_owned(), line));
        }
    }

    fn visit_stmt_import_from(&mut self, node: ast::StmtImportFrom) {
        let relative = node.level.is_some_and(|l| l.to_u32() > 0);
        if let (Some(module), false) = (&node.module, relative) {
            let module = module.as_str().to_owned();
            let module_banned = self.check_module(&module, node.range);
            for alias in &node.names {
                let qualified = format!("{module}.{}", alias.name.as_str());
                if !module_banned && !self.check_module(&qualified, node.range) {
                    self.check_call_name(&qualified, node.range);
                }
                let bound = alias
                    .asname
                    .as_ref()
                    .unwrap_or(&alias.name)
                    .as_str()
                    .to_owned();
                self.imported_functions.push((bound, qualified));
            }
            let top = module.split('.').next().unwrap_or_default().to_owned();
            let line = self.line(node.range);
            self.result.imports.push((top, self.path.to_owned(), line));
        }
    }

    fn visit_expr_call(&mut self, node: ast::ExprCall) {
        let qualified = match node.func.as_ref() {
            ast::Expr::Attribute(attr) => match attr.value.as_ref() {
                ast::Expr::Name(base) => {
                    Some(format!("{}.{}", base.id.as_str(), attr.attr.as_str()))
                }
                _ => None,
            },
            ast::Expr::Name(name) => self
                .imported_functions
                .iter()
                .find(|(bound, _)| bound == name.id.as_str())
                .map(|(_, q)| q.clone()),
            _ => None,
        };
        if let Some(q) = qualified {
            self.check_call_name(&q, node.range);
        }
        self.generic_visit_expr_call(node);
    }
}

/// Parses `source` and scans it. `Err` is the syntax error, with its line.
pub fn scan(path: &str, source: &str, policy: &Policy) -> Result<ScanResult, Finding> {
    let lines = LineIndex::new(source);
    let module = rustpython_parser::parse(source, Mode::Module, path).map_err(|e| {
        Finding::error(
            Some(path),
            Some(lines.line(e.offset.to_usize())),
            format!("syntax error: {}", e.error),
        )
    })?;
    let mut scanner = Scanner {
        path,
        policy,
        lines,
        result: ScanResult::default(),
        imported_functions: Vec::new(),
    };
    if let ast::Mod::Module(m) = module {
        for stmt in m.body {
            scanner.visit_stmt(stmt);
        }
    }
    Ok(scanner.result)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_banned_imports_and_calls_with_lines() {
        let source = "import os\nimport subprocess\nfrom socket import create_connection\nimport multiprocessing.pool\n\
                      os.system('ls')\nos.execv('/bin/sh', [])\nfrom os import spawnl as s\ns(0, 'x')\nimport pandas as pd\n";
        let result = scan("app.py", source, &Policy::app()).unwrap();
        let flagged: Vec<(usize, &str)> = result
            .findings
            .iter()
            .map(|f| (f.line.unwrap(), f.message.as_str()))
            .collect();
        let lines: Vec<usize> = flagged.iter().map(|(l, _)| *l).collect();
        assert_eq!(lines, vec![2, 3, 4, 5, 6, 7, 8], "{flagged:#?}");
        let tops: Vec<&str> = result.imports.iter().map(|(m, _, _)| m.as_str()).collect();
        assert!(tops.contains(&"pandas") && tops.contains(&"os"));
    }

    #[test]
    fn syntax_errors_name_the_line() {
        let err = scan("pages/x.py", "x = 1\ndef broken(:\n", &Policy::app()).unwrap_err();
        assert_eq!(
            (err.file.as_deref(), err.line),
            (Some("pages/x.py"), Some(2)),
            "{err:?}"
        );
        assert!(err.message.starts_with("syntax error"));
    }
}
