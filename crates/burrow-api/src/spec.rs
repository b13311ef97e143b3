//! What the OpenAPI document says beyond each handler's annotations: the refusals every route of a kind can answer.
//!
//! The extractors answer the same way on every route: a body that is not JSON (415), not
//! valid JSON (400), of the wrong shape or with unknown fields (422), or too large (413);
//! a malformed path or query parameter (400); no session (401). Rather than repeat these
//! on 100 handlers (and forget some), [`describe_refusals`] adds them where they apply,
//! with 404 wherever the path names something by id. Every route reads the database, so
//! any can answer 503 when it (or the blob storage) does not answer; every route that
//! writes can answer 507 when the disk it writes to is full.

use utoipa::openapi::path::{Operation, PathItem};
use utoipa::openapi::schema::{AllOfBuilder, ObjectBuilder, OneOfBuilder, Schema};
use utoipa::openapi::{Content, OpenApi, Ref, RefOr, Response, ResponseBuilder};

fn error(description: &str) -> RefOr<Response> {
    RefOr::T(
        ResponseBuilder::new()
            .description(description)
            .content(
                "application/json",
                Content::new(Some(Ref::from_schema_name("ErrorBody"))),
            )
            .build(),
    )
}

/// Adds, to every operation, the statuses its extractors can answer with that its
/// annotation does not list. A status an annotation lists keeps its own description.
/// Then the rules a derive cannot state: a new app from JSON has `code` or `template`.
pub fn describe_refusals(doc: &mut OpenApi) {
    for (path, item) in doc.paths.paths.iter_mut() {
        let by_id = path.contains('{');
        for (writes, operation) in operations(item) {
            describe(operation, by_id, writes);
        }
    }
    if let Some(components) = doc.components.as_mut() {
        if let Some(schema) = components.schemas.remove("CreateAppRequest") {
            let one_of = |field: &str| ObjectBuilder::new().required(field).build();
            let either = OneOfBuilder::new()
                .item(one_of("code"))
                .item(one_of("template"))
                .build();
            let both = AllOfBuilder::new()
                .item(schema)
                .item(RefOr::T(Schema::OneOf(either)))
                .build();
            components
                .schemas
                .insert("CreateAppRequest".into(), RefOr::T(Schema::AllOf(both)));
        }
    }
}

/// The item's operations, each with whether it writes (every method but GET).
fn operations(item: &mut PathItem) -> impl Iterator<Item = (bool, &mut Operation)> {
    [
        (false, item.get.as_mut()),
        (true, item.put.as_mut()),
        (true, item.post.as_mut()),
        (true, item.delete.as_mut()),
        (true, item.patch.as_mut()),
    ]
    .into_iter()
    .filter_map(|(writes, operation)| Some((writes, operation?)))
}

fn describe(operation: &mut Operation, by_id: bool, writes: bool) {
    let mut add: Vec<(&str, &str)> = vec![(
        "503",
        "The database or the blob storage did not answer: try again shortly (after `Retry-After`, when it is sent)",
    )];
    if writes {
        add.push((
            "507",
            "No space is left where this would be kept (a full disk); nothing was kept",
        ));
    }
    if by_id {
        add.push((
            "404",
            "Nothing has that id, or it is in a project you are not a member of",
        ));
    }
    // `security(())` on a handler marks it public; the rest inherit the document's.
    let public = operation
        .security
        .as_ref()
        .is_some_and(|s| s.iter().all(|r| r == &Default::default()));
    if !public {
        add.push(("401", "Not signed in, or the session has ended"));
    }
    if operation.parameters.as_ref().is_some_and(|p| !p.is_empty()) {
        add.push(("400", "A path or query parameter is malformed"));
    }
    if let Some(body) = &operation.request_body {
        if body.content.contains_key("application/json") {
            add.push(("400", "The body is not valid JSON"));
            add.push((
                "415",
                "The body is not JSON: send `Content-Type: application/json`",
            ));
            add.push((
                "422",
                "The body has the wrong shape: a field is missing, of the wrong type, or unknown",
            ));
        }
        if body.content.keys().any(|k| k.starts_with("multipart/")) {
            add.push(("400", "The form is malformed or lacks its file"));
        }
        add.push(("413", "The body is larger than this server accepts"));
    }
    for (status, description) in add {
        operation
            .responses
            .responses
            .entry(status.to_owned())
            .or_insert_with(|| error(description));
    }
}
