//! The API docs page at `/api/docs`: HTML rendered on the server from the OpenAPI document.
//!
//! It needs no JavaScript and no CDN, so it works on an offline instance.

use std::fmt::Write;

use utoipa::openapi::path::Operation;
use utoipa::openapi::{OpenApi, RefOr};

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn schema_name(content: Option<&utoipa::openapi::Content>) -> String {
    match content.and_then(|c| c.schema.as_ref()) {
        Some(RefOr::Ref(r)) => r
            .ref_location
            .rsplit('/')
            .next()
            .unwrap_or_default()
            .to_owned(),
        Some(RefOr::T(utoipa::openapi::schema::Schema::Array(a))) => match &a.items {
            utoipa::openapi::schema::ArrayItems::RefOrSchema(item) => match item.as_ref() {
                RefOr::Ref(r) => format!(
                    "[{}]",
                    r.ref_location.rsplit('/').next().unwrap_or_default()
                ),
                RefOr::T(_) => "array".to_owned(),
            },
            utoipa::openapi::schema::ArrayItems::False => "array".to_owned(),
        },
        Some(RefOr::T(_)) => "object".to_owned(),
        None => String::new(),
    }
}

fn operation_html(out: &mut String, method: &str, path: &str, op: &Operation) {
    let summary = op.summary.as_deref().unwrap_or_default();
    let _ = write!(
        out,
        "<section><h3><span class=m>{method}</span> <code>{}</code></h3><p><b>{}</b></p>",
        escape(path),
        escape(summary)
    );
    if let Some(desc) = &op.description {
        let _ = write!(out, "<p>{}</p>", escape(desc));
    }
    if let Some(body) = &op.request_body {
        let name = schema_name(body.content.get("application/json"));
        let _ = write!(
            out,
            "<p>Request body: <a href=\"#{0}\">{0}</a></p>",
            escape(&name)
        );
    }
    out.push_str("<table><tr><th>Status</th><th>Meaning</th><th>Body</th></tr>");
    for (status, response) in &op.responses.responses {
        if let RefOr::T(r) = response {
            let name = schema_name(r.content.get("application/json"));
            let _ = write!(
                out,
                "<tr><td>{}</td><td>{}</td><td>{}</td></tr>",
                escape(status),
                escape(&r.description),
                escape(&name)
            );
        }
    }
    out.push_str("</table></section>");
}

/// Renders the whole document as one HTML page.
pub fn render(api: &OpenApi) -> String {
    let mut out = String::from(
        "<!doctype html><html lang=en><head><meta charset=utf-8><title>Burrow API</title>\
         <meta name=viewport content=\"width=device-width, initial-scale=1\"><style>\
         body{font:15px/1.5 system-ui,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem;color:#222}\
         section{border-top:1px solid #ddd;padding:.5rem 0}h3{margin:.3rem 0}.m{display:inline-block;min-width:4.5rem;\
         font:600 13px monospace;text-transform:uppercase;color:#2a6}table{border-collapse:collapse}\
         td,th{border:1px solid #ddd;padding:.2rem .6rem;text-align:left}code,pre{background:#f5f5f5;padding:0 .3rem}\
         </style></head><body>",
    );
    let _ = write!(
        out,
        "<h1>{} {}</h1><p>The machine-readable document is at <a href=\"/api/v1/openapi.json\">/api/v1/openapi.json</a>. \
         Authenticate with <code>Authorization: Bearer &lt;token&gt;</code> from <code>POST /api/v1/auth/login</code>, \
         or the session cookie. Errors have the shape <code>{{\"error\":{{\"code\":…,\"message\":…}}}}</code>.</p>",
        escape(&api.info.title),
        escape(&api.info.version)
    );
    for (path, item) in &api.paths.paths {
        let methods = [
            ("get", &item.get),
            ("post", &item.post),
            ("put", &item.put),
            ("patch", &item.patch),
            ("delete", &item.delete),
        ];
        for (method, op) in methods {
            if let Some(op) = op {
                operation_html(&mut out, method, path, op);
            }
        }
    }
    if let Some(components) = &api.components {
        out.push_str("<h2>Schemas</h2>");
        for (name, schema) in &components.schemas {
            let json = serde_json::to_string_pretty(schema).unwrap_or_default();
            let _ = write!(
                out,
                "<section id=\"{0}\"><h3>{0}</h3><pre>{1}</pre></section>",
                escape(name),
                escape(&json)
            );
        }
    }
    out.push_str("</body></html>");
    out
}
