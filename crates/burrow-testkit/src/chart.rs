//! Helm charts rendered and checked offline: no `helm` binary can be installed on our
//! machines, so charts are rendered with a Go-template engine given the functions of
//! Helm's that Burrow's chart uses (`quote`, `default`, `required`, `toYaml`,
//! `nindent`, `int64`), then checked against Kubernetes' schemas by
//! `kubernetes-validate`, which `make test` installs into `.tools/bin`.
//!
//! As in Helm, every number of the values is a float, printed as Go prints one
//! (`1000000` as `1e+06`), so a template that prints a number without `int64` is caught.
//!
//! A chart that uses a function outside that set fails to render here, so the chart
//! stays within what this renders the way Helm does.

// The schema check runs `kubernetes-validate`.
#![allow(clippy::disallowed_methods)]

use std::collections::HashMap;
use std::path::Path;

use gtmpl_value::{FuncError, Value};
use serde_json::Value as Json;

/// What `helm template` is given besides the chart: the release and values over the
/// chart's own.
#[derive(Debug, Clone)]
pub struct Release {
    pub name: String,
    pub namespace: String,
    /// Merged over `values.yaml`, as `--set` and `-f` are.
    pub values: Json,
}

/// The chart at `dir` rendered for `release`: every document of every template, in the
/// templates' order, as JSON. The error names the template and what went wrong, such as
/// a `required` value left unset.
pub fn render(dir: &Path, release: &Release) -> Result<Vec<Json>, String> {
    let chart: Json = yaml(&read(&dir.join("Chart.yaml"))?)?;
    let mut values: Json = yaml(&read(&dir.join("values.yaml"))?)?;
    merge(&mut values, &release.values);
    let context = serde_json::json!({
        "Values": values,
        "Release": {"Name": release.name, "Namespace": release.namespace, "Service": "Helm"},
        "Chart": {"Name": chart["name"], "Version": chart["version"], "AppVersion": chart["appVersion"]},
    });
    let context = gtmpl::Context::from(to_value(&context));
    let mut names: Vec<_> = std::fs::read_dir(dir.join("templates"))
        .map_err(|e| format!("{}: {e}", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "yaml"))
        .collect();
    names.sort();
    let mut documents = Vec::new();
    for path in names {
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let mut template = gtmpl::Template::default();
        template.add_funcs(&[
            ("quote", quote as gtmpl_value::Func),
            ("default", default),
            ("required", required),
            ("toYaml", to_yaml),
            ("nindent", nindent),
            ("int64", int64),
        ]);
        template
            .parse(read(&path)?)
            .map_err(|e| format!("{name}: {e}"))?;
        let text = template
            .render(&context)
            .map_err(|e| format!("{name}: {e}"))?;
        for doc in text.split("\n---") {
            let parsed: Json = yaml(doc).map_err(|e| format!("{name}: {e}\n{doc}"))?;
            if !parsed.is_null() {
                documents.push(parsed);
            }
        }
    }
    Ok(documents)
}

/// Runs `kubernetes-validate --strict` for Kubernetes `version` on `objects`; the error
/// is what it printed.
pub fn kubernetes_validate(objects: &[Json], version: &str) -> Result<(), String> {
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let mut files = Vec::new();
    for (i, object) in objects.iter().enumerate() {
        let file = dir.path().join(format!("{i}.yaml"));
        std::fs::write(&file, serde_json::to_vec_pretty(object).unwrap())
            .map_err(|e| e.to_string())?;
        files.push(file);
    }
    let out = std::process::Command::new("kubernetes-validate")
        .args(["--strict", "--kubernetes-version", version, "--quiet"])
        .args(&files)
        .output()
        .map_err(|e| {
            format!(
                "kubernetes-validate did not run ({e}): `make test` installs it into .tools/bin"
            )
        })?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ))
    }
}

fn read(path: &Path) -> Result<String, String> {
    std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))
}

fn yaml(text: &str) -> Result<Json, String> {
    if text
        .trim()
        .lines()
        .all(|l| l.trim().is_empty() || l.trim_start().starts_with('#'))
    {
        return Ok(Json::Null);
    }
    serde_saphyr::from_str(text).map_err(|e| e.to_string())
}

fn merge(into: &mut Json, over: &Json) {
    match (into, over) {
        (Json::Object(a), Json::Object(b)) => {
            for (k, v) in b {
                merge(a.entry(k.clone()).or_insert(Json::Null), v);
            }
        }
        (slot, v) => *slot = v.clone(),
    }
}

fn to_value(json: &Json) -> Value {
    match json {
        Json::Null => Value::Nil,
        Json::Bool(b) => Value::Bool(*b),
        // Helm reads every number of the values as a float64; a Go float is printed
        // as `%v` prints it.
        Json::Number(n) => Value::String(go_float(n.as_f64().unwrap_or_default())),
        Json::String(s) => Value::String(s.clone()),
        Json::Array(items) => Value::Array(items.iter().map(to_value).collect()),
        Json::Object(map) => Value::Object(
            map.iter()
                .map(|(k, v)| (k.clone(), to_value(v)))
                .collect::<HashMap<_, _>>(),
        ),
    }
}

fn to_json(value: &Value) -> Json {
    match value {
        Value::NoValue | Value::Nil | Value::Function(_) => Json::Null,
        Value::Bool(b) => Json::Bool(*b),
        Value::String(s) => Json::String(s.clone()),
        Value::Number(n) => match n.as_i64() {
            Some(i) => Json::from(i),
            None => Json::from(n.as_f64().unwrap_or_default()),
        },
        Value::Array(items) => Json::Array(items.iter().map(to_json).collect()),
        Value::Object(map) | Value::Map(map) => {
            Json::Object(map.iter().map(|(k, v)| (k.clone(), to_json(v))).collect())
        }
    }
}

/// Helm's truth: empty strings, zero, empty collections and nil are false.
fn empty(value: &Value) -> bool {
    match value {
        Value::NoValue | Value::Nil => true,
        Value::Bool(b) => !b,
        Value::String(s) => s.is_empty(),
        Value::Number(n) => n.as_f64() == Some(0.0),
        Value::Array(a) => a.is_empty(),
        Value::Object(m) | Value::Map(m) => m.is_empty(),
        Value::Function(_) => false,
    }
}

fn text(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::NoValue | Value::Nil => String::new(),
        other => other.to_string(),
    }
}

fn args<const N: usize>(name: &str, given: &[Value]) -> Result<[Value; N], FuncError> {
    <[Value; N]>::try_from(given.to_vec()).map_err(|_| FuncError::ExactlyXArgs(name.to_owned(), N))
}

fn quote(given: &[Value]) -> Result<Value, FuncError> {
    let [v] = args::<1>("quote", given)?;
    Ok(Value::String(serde_json::to_string(&text(&v)).unwrap()))
}

fn default(given: &[Value]) -> Result<Value, FuncError> {
    let [fallback, v] = args::<2>("default", given)?;
    Ok(if empty(&v) { fallback } else { v })
}

fn required(given: &[Value]) -> Result<Value, FuncError> {
    let [message, v] = args::<2>("required", given)?;
    if empty(&v) {
        return Err(FuncError::Generic(text(&message)));
    }
    Ok(v)
}

fn to_yaml(given: &[Value]) -> Result<Value, FuncError> {
    let [v] = args::<1>("toYaml", given)?;
    let text =
        serde_saphyr::to_string(&to_json(&v)).map_err(|e| FuncError::Generic(e.to_string()))?;
    Ok(Value::String(text.trim_end().to_owned()))
}

/// `f` as Go's `%v` prints a float64: the shortest digits, with an exponent from the
/// seventh digit before the point (`1e+06`, `1.5e+07`).
///
/// ```
/// # use burrow_testkit::chart::go_float;
/// assert_eq!(go_float(1000.0), "1000");
/// assert_eq!(go_float(1000000.0), "1e+06");
/// assert_eq!(go_float(1234567.0), "1.234567e+06");
/// ```
pub fn go_float(f: f64) -> String {
    if f.fract() != 0.0 || f.abs() >= 1e21 {
        return f.to_string();
    }
    let whole = format!("{}", f.abs() as u128);
    let digits = whole.trim_end_matches('0');
    let digits = if digits.is_empty() { "0" } else { digits };
    let exponent = whole.len() - 1;
    let sign = if f < 0.0 { "-" } else { "" };
    if f != 0.0 && exponent >= 6 {
        let (first, rest) = digits.split_at(1);
        let point = if rest.is_empty() {
            String::new()
        } else {
            format!(".{rest}")
        };
        format!("{sign}{first}{point}e+{exponent:02}")
    } else {
        format!("{sign}{whole}")
    }
}

fn int64(given: &[Value]) -> Result<Value, FuncError> {
    let [v] = args::<1>("int64", given)?;
    let n = match &v {
        Value::Number(n) => n.as_f64().unwrap_or_default(),
        other => text(other).parse::<f64>().unwrap_or_default(),
    };
    Ok(Value::from(n as i64))
}

fn nindent(given: &[Value]) -> Result<Value, FuncError> {
    let [n, v] = args::<2>("nindent", given)?;
    let Value::Number(n) = n else {
        return Err(FuncError::UnableToConvertFromValue);
    };
    let pad = " ".repeat(n.as_i64().unwrap_or(0) as usize);
    let lines: Vec<String> = text(&v).lines().map(|l| format!("{pad}{l}")).collect();
    Ok(Value::String(format!("\n{}", lines.join("\n"))))
}
