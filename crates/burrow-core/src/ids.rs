//! Random, URL-safe, unguessable identifiers for stored resources.

use rand::Rng;

const ALPHABET: &[u8] = b"abcdefghijkmnpqrstuvwxyz23456789";

/// A new identifier such as `p_7kq2m9x4c8hd3wfa`: a prefix naming the kind of
/// resource, then 16 characters (80 bits) from an unambiguous alphabet.
///
/// Ids are random rather than sequential so that nobody can enumerate another
/// tenant's resources by counting.
pub fn new_id(prefix: &str) -> String {
    let mut rng = rand::thread_rng();
    let mut id = String::with_capacity(prefix.len() + 17);
    id.push_str(prefix);
    id.push('_');
    for _ in 0..16 {
        id.push(ALPHABET[rng.gen_range(0..ALPHABET.len())] as char);
    }
    id
}

/// Whether `s` is `len` characters, each a lowercase ASCII letter or a digit.
fn is_random_part(s: &str, len: usize) -> bool {
    s.len() == len
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
}

/// An id of one kind of resource: its shape is checked once, where it comes in (a path,
/// a host name), and then it cannot be mixed up with another kind's.
macro_rules! typed_id {
    ($(#[$doc:meta])* $name:ident, $check:expr, $make:expr) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            /// A new random id.
            #[allow(clippy::new_without_default)]
            pub fn new() -> Self {
                let make: fn() -> String = $make;
                Self(make())
            }

            /// `s` if it has the shape of such an id, else `None`. Anything that does
            /// not parse names nothing, so callers answer it as they answer "not found".
            pub fn parse(s: &str) -> Option<Self> {
                let check: fn(&str) -> bool = $check;
                check(s).then(|| Self(s.to_owned()))
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        /// Rows read back from the database hold ids Burrow made.
        impl From<String> for $name {
            fn from(s: String) -> Self {
                Self(s)
            }
        }

        impl From<$name> for String {
            fn from(id: $name) -> String {
                id.0
            }
        }

        impl std::ops::Deref for $name {
            type Target = str;

            fn deref(&self) -> &str {
                &self.0
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(&self.0)
            }
        }

    };
}

typed_id!(
    /// An app's id: 16 characters of the id alphabet, no prefix, so it fits in a host
    /// name's first label (`{app}.apps.example.com`) and in a path segment.
    AppId,
    |s| is_random_part(s, 16),
    || new_id("a")[2..].to_owned()
);

typed_id!(
    /// A project's id: `p_` and 16 characters of the id alphabet.
    ProjectId,
    |s| s.strip_prefix("p_").is_some_and(|r| is_random_part(r, 16)),
    || new_id("p")
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_prefixed_and_distinct() {
        let a = new_id("p");
        let b = new_id("p");
        assert!(a.starts_with("p_") && a.len() == 18, "{a}");
        assert_ne!(a, b);
    }

    #[test]
    fn typed_ids_check_their_shape() {
        let app = AppId::new();
        assert_eq!(AppId::parse(app.as_str()), Some(app.clone()));
        assert!(ProjectId::parse(ProjectId::new().as_str()).is_some());
        for bad in [
            "",
            "short",
            "UPPERCASEUPPERCA",
            "../../etc/passwd",
            "aaaaaaaaaaaaaaa/",
            "aaaaaaaaaaaaaaaaa",
        ] {
            assert_eq!(AppId::parse(bad), None, "{bad}");
        }
        assert_eq!(
            ProjectId::parse(app.as_str()),
            None,
            "an app id is no project id"
        );
        assert_eq!(AppId::parse("p_aaaaaaaaaaaaaaaa"), None);
    }
}
