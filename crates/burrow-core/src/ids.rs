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
}
