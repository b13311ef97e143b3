//! Password policy and Argon2id hashing with OWASP's parameters.

use argon2::password_hash::{
    rand_core::OsRng, PasswordHash, PasswordHasher, PasswordVerifier, SaltString,
};
use argon2::{Algorithm, Argon2, Params, Version};

use crate::{Email, Invalid};

/// OWASP's recommended Argon2id parameters: 19 MiB of memory, 2 passes, 1 lane.
pub const ARGON2_MEMORY_KIB: u32 = 19 * 1024;
pub const ARGON2_ITERATIONS: u32 = 2;
pub const ARGON2_PARALLELISM: u32 = 1;

const MIN_LEN: usize = 8;
/// Long enough for any passphrase, short enough that hashing stays cheap to bound.
const MAX_LEN: usize = 256;

/// Passwords so common that a guessing attack tries them first.
const COMMON: &[&str] = &[
    "password",
    "password1",
    "password123",
    "12345678",
    "123456789",
    "1234567890",
    "qwertyuiop",
    "qwerty123",
    "iloveyou",
    "11111111",
    "00000000",
    "abc12345",
    "letmein1",
    "welcome1",
    "admin123",
    "passw0rd",
    "changeme",
];

/// A password that meets the policy, ready to be hashed.
#[derive(Clone)]
pub struct NewPassword(String);

impl std::fmt::Debug for NewPassword {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("NewPassword([redacted])")
    }
}

impl NewPassword {
    pub fn parse(raw: &str, email: &Email) -> Result<Self, Invalid> {
        let fail = |m: String| Err(Invalid::new("password", m));
        let len = raw.chars().count();
        if len == 0 {
            return fail("the password is empty: choose one of at least 8 characters".into());
        }
        if len < MIN_LEN {
            return fail(format!(
                "the password has {len} characters: use at least {MIN_LEN}"
            ));
        }
        if len > MAX_LEN {
            return fail(format!(
                "the password is longer than {MAX_LEN} characters: shorten it"
            ));
        }
        if raw.trim().is_empty() {
            return fail("the password is only spaces: choose one with other characters".into());
        }
        let lower = raw.to_lowercase();
        if COMMON.contains(&lower.as_str()) {
            return fail("the password is one of the most common passwords: choose another".into());
        }
        if lower == email.as_str() || lower == email.as_str().split('@').next().unwrap_or_default()
        {
            return fail("the password is the same as the email: choose another".into());
        }
        Ok(Self(raw.to_owned()))
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

fn argon2() -> Argon2<'static> {
    let params = Params::new(
        ARGON2_MEMORY_KIB,
        ARGON2_ITERATIONS,
        ARGON2_PARALLELISM,
        None,
    )
    .expect("the Argon2 parameters are constants within range");
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

/// Hashes a password into a PHC string (`$argon2id$v=19$m=19456,t=2,p=1$…`).
///
/// This takes tens of milliseconds of CPU on purpose: call it off the async runtime.
pub fn hash_password(password: &str) -> String {
    let salt = SaltString::generate(&mut OsRng);
    argon2()
        .hash_password(password.as_bytes(), &salt)
        .expect("hashing with valid parameters and a fresh salt cannot fail")
        .to_string()
}

/// Checks a password against a stored PHC string. A malformed hash never matches.
pub fn verify_password(password: &str, phc: &str) -> bool {
    let Ok(parsed) = PasswordHash::new(phc) else {
        return false;
    };
    argon2()
        .verify_password(password.as_bytes(), &parsed)
        .is_ok()
}

/// A hash of a password nobody knows, verified when an account does not exist
/// so that an unknown email costs as much time as a wrong password.
pub fn dummy_hash() -> &'static str {
    static DUMMY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DUMMY.get_or_init(|| hash_password("not a real password: accounts that do not exist"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn email() -> Email {
        Email::parse("ada@example.com").unwrap()
    }

    #[test]
    fn hashes_with_owasp_parameters_and_verifies() {
        let phc = hash_password("correct horse battery");
        assert!(phc.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{phc}");
        assert!(verify_password("correct horse battery", &phc));
        assert!(!verify_password("wrong horse battery", &phc));
        assert!(!verify_password("anything", "not a hash"));
    }

    #[test]
    fn policy_says_why_a_password_is_refused() {
        let cases = [
            ("", "empty"),
            ("short", "at least 8"),
            ("        ", "only spaces"),
            ("Password123", "most common"),
            ("ada@example.com", "same as the email"),
        ];
        for (pw, why) in cases {
            let err = NewPassword::parse(pw, &email()).unwrap_err();
            assert!(err.message.contains(why), "{pw:?}: {}", err.message);
        }
        assert!(NewPassword::parse("a decent passphrase", &email()).is_ok());
        assert_eq!(
            format!(
                "{:?}",
                NewPassword::parse("a decent passphrase", &email()).unwrap()
            ),
            "NewPassword([redacted])"
        );
    }
}
