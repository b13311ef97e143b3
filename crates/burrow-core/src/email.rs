//! Email addresses, normalised so that one mailbox is one account.

use std::fmt;

use crate::Invalid;

/// A syntactically plausible email address, trimmed and lower-cased.
///
/// Deliverability is not checked: Burrow sends no mail. The check only catches
/// typos and keeps one mailbox from registering twice under different casings.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Email(String);

impl Email {
    pub const MAX_LEN: usize = 254;

    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        let email = raw.trim().to_lowercase();
        let fail = |why: &str| {
            Err(Invalid::new(
                "email",
                format!("{why}: enter an address such as ada@example.com"),
            ))
        };
        if email.is_empty() {
            return fail("the email is empty");
        }
        if email.len() > Self::MAX_LEN {
            return fail("the email is longer than 254 characters");
        }
        if email.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return fail("the email contains spaces or control characters");
        }
        let Some((local, domain)) = email.rsplit_once('@') else {
            return fail("the email has no @");
        };
        if local.is_empty() || local.contains('@') {
            return fail("the part before the @ is empty or holds another @");
        }
        if domain.len() < 3
            || !domain.contains('.')
            || domain.starts_with('.')
            || domain.ends_with('.')
            || domain.contains("..")
        {
            return fail("the domain after the @ is not valid");
        }
        Ok(Self(email))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalises_case_and_whitespace() {
        assert_eq!(
            Email::parse("  Ada@Example.COM ").unwrap().as_str(),
            "ada@example.com"
        );
    }

    #[test]
    fn rejects_malformed_addresses() {
        for bad in [
            "",
            "ada",
            "@example.com",
            "ada@",
            "ada@com",
            "a da@example.com",
            "ada@example..com",
            "ada@.example.com",
        ] {
            let err = Email::parse(bad).unwrap_err();
            assert_eq!(err.field, "email", "{bad:?}");
        }
    }
}
