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
    /// Functions defined at the top level: (name, line, positional parameters, of which
    /// without a default).
    pub functions: Vec<(String, usize, usize, usize)>,
}

struct LineIndex(Vec<usize>);

impl LineIndex {
    fn new(source: &str) -> Self {
        // Line breaks as Python counts them: \n, \r\n and a lone \r.
        let bytes = source.as_bytes();
        let breaks = bytes.iter().enumerate().filter_map(|(i, b)| match b {
            b'\n' => Some(i + 1),
            b'\r' if bytes.get(i + 1) != Some(&b'\n') => Some(i + 1),
            _ => None,
        });
        Self(std::iter::once(0).chain(breaks).collect())
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
    /// Names bound by `import os as o`: `o` → `os`.
    module_aliases: Vec<(String, String)>,
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
            if let Some(asname) = &alias.asname {
                self.module_aliases
                    .push((asname.as_str().to_owned(), module.to_owned()));
            }
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
                    // `import os as o; o.system()` is `os.system`.
                    let module = self
                        .module_aliases
                        .iter()
                        .rev()
                        .find(|(alias, _)| alias == base.id.as_str())
                        .map_or(base.id.as_str(), |(_, module)| module.as_str());
                    Some(format!("{module}.{}", attr.attr.as_str()))
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

/// Brackets nested deeper than this are refused (CPython's parser stops near 200).
const MAX_NESTING: usize = 100;
/// Operators in one statement beyond this are refused: each one deepens the syntax tree.
const MAX_OPERATORS: usize = 5000;

/// A cheap pass over the text that refuses code whose syntax tree would be
/// deep enough to exhaust the stack while it is walked or freed.
fn complexity_problem(source: &str) -> Option<(usize, String)> {
    let (mut depth, mut operators, mut line) = (0usize, 0usize, 1usize);
    let mut chars = source.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\n' => {
                line += 1;
                if depth == 0 {
                    operators = 0;
                }
            }
            ';' if depth == 0 => operators = 0,
            '#' => {
                while chars.peek().is_some_and(|c| *c != '\n') {
                    chars.next();
                }
            }
            '\'' | '"' => {
                // Skip the string, escapes included; triple quotes end at the next run of three.
                let triple = chars.peek() == Some(&c) && {
                    let mut ahead = chars.clone();
                    ahead.next();
                    ahead.next() == Some(c)
                };
                if triple {
                    chars.next();
                    chars.next();
                }
                let mut run = 0;
                while let Some(d) = chars.next() {
                    match d {
                        '\\' => {
                            chars.next();
                        }
                        '\n' => {
                            line += 1;
                            if !triple {
                                break;
                            }
                        }
                        d if d == c => {
                            run += 1;
                            if !triple || run == 3 {
                                break;
                            }
                            continue;
                        }
                        _ => {}
                    }
                    run = 0;
                }
            }
            '(' | '[' | '{' => {
                depth += 1;
                if depth > MAX_NESTING {
                    return Some((line, format!("brackets are nested more than {MAX_NESTING} deep: simplify the expression")));
                }
            }
            ')' | ']' | '}' => depth = depth.saturating_sub(1),
            '+' | '-' | '*' | '/' | '%' | '@' | '&' | '|' | '^' | '~' | '<' | '>' | '=' | '.'
            | ',' => {
                operators += 1;
                if operators > MAX_OPERATORS {
                    return Some((
                        line,
                        format!(
                            "one statement has more than {MAX_OPERATORS} operators: split it up"
                        ),
                    ));
                }
            }
            _ => {}
        }
    }
    None
}

/// Parses `source` and scans it. `Err` is the syntax error, with its line.
pub fn scan(path: &str, source: &str, policy: &Policy) -> Result<ScanResult, Finding> {
    if let Some((line, why)) = complexity_problem(source) {
        return Err(Finding::error(Some(path), Some(line), why));
    }
    // The parser, the walk and dropping the tree recurse once per level; the
    // pre-pass bounds the levels and a large stack makes room for them.
    std::thread::scope(|scope| {
        std::thread::Builder::new()
            .stack_size(64 << 20)
            .spawn_scoped(scope, || scan_parsed(path, source, policy))
            .map_err(|e| {
                Finding::error(Some(path), None, format!("the scan could not start: {e}"))
            })?
            .join()
            .unwrap_or_else(|_| {
                Err(Finding::error(
                    Some(path),
                    None,
                    "the file could not be scanned",
                ))
            })
    })
}

fn scan_parsed(path: &str, source: &str, policy: &Policy) -> Result<ScanResult, Finding> {
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
        module_aliases: Vec::new(),
    };
    if let ast::Mod::Module(m) = module {
        for stmt in m.body {
            if let ast::Stmt::FunctionDef(def) = &stmt {
                let args = &def.args;
                let positional = args.posonlyargs.len() + args.args.len();
                let required = args
                    .posonlyargs
                    .iter()
                    .chain(&args.args)
                    .filter(|a| a.default.is_none())
                    .count();
                let line = scanner.lines.line(def.range.start().to_usize());
                scanner
                    .result
                    .functions
                    .push((def.name.to_string(), line, positional, required));
            }
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
    fn pathologically_deep_code_is_refused_without_crashing() {
        let unary = format!("x = {}1\n", "-".repeat(200_000));
        let chain = format!("x = 1{}\n", "+1".repeat(100_000));
        let brackets = format!("x = {}1{}\n", "(".repeat(1000), ")".repeat(1000));
        for source in [unary, chain, brackets] {
            let err = scan("app.py", &source, &Policy::app()).unwrap_err();
            assert_eq!(err.line, Some(1), "{err:?}");
        }
        // Operators inside strings and comments do not count; statements reset the count.
        let fine = format!(
            "s = '{}'  # {}\n{}",
            "+".repeat(10_000),
            "-".repeat(10_000),
            "y = 1 + 2\n".repeat(3000)
        );
        assert!(scan("app.py", &fine, &Policy::app()).is_ok());
        let nested = format!("x = {}1{}\n", "(".repeat(90), ")".repeat(90));
        assert!(scan("app.py", &nested, &Policy::app()).is_ok());
    }

    #[test]
    fn aliases_and_old_mac_line_endings_are_followed() {
        let result = scan(
            "app.py",
            "x = 1\rimport os as o\ro.system('id')\r",
            &Policy::app(),
        )
        .unwrap();
        let found: Vec<(usize, &str)> = result
            .findings
            .iter()
            .map(|f| (f.line.unwrap(), f.message.as_str()))
            .collect();
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(found[0].0, 3);
        assert!(found[0].1.contains("os.system"));
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
