//! Egress policies: `none`, `allowlist` (exact domains and `*.suffix` wildcards) and `public`, and how one is held within another.

use std::fmt;

use serde::{Deserialize, Serialize};

/// How far a policy reaches, in order: each one allows more than the one before.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// Nothing: every request is refused.
    None,
    /// Only the listed domains, and only where they resolve to public addresses.
    Allowlist,
    /// The public internet: every public address, and no private, local or reserved one.
    Public,
}

impl Mode {
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::None => "none",
            Mode::Allowlist => "allowlist",
            Mode::Public => "public",
        }
    }

    pub fn parse(s: &str) -> Result<Self, String> {
        match s.trim().to_ascii_lowercase().as_str() {
            "none" => Ok(Mode::None),
            "allowlist" => Ok(Mode::Allowlist),
            "public" => Ok(Mode::Public),
            other => Err(format!(
                "{other:?} is not an egress policy: use none, allowlist or public"
            )),
        }
    }
}

/// One allowlist entry: `api.example.com` (that name only) or `*.example.org` (any name
/// under `example.org`, not `example.org` itself). Always lower-case ASCII (punycode).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Domain {
    /// The name, or for a wildcard the suffix after `*.`.
    name: String,
    wildcard: bool,
}

/// The longest name DNS allows.
const MAX_NAME: usize = 253;

impl Domain {
    /// Parses an entry, naming what is wrong with it.
    pub fn parse(entry: &str) -> Result<Self, String> {
        let trimmed = entry.trim();
        if trimmed == "*" {
            return Err("\"*\" would allow every domain: choose the public policy instead".into());
        }
        let (wildcard, rest) = match trimmed.strip_prefix("*.") {
            Some(rest) => (true, rest),
            None => (false, trimmed),
        };
        let rest = rest.strip_suffix('.').unwrap_or(rest);
        if rest.is_empty() {
            return Err(format!(
                "{entry:?} is empty: name a domain such as api.example.com"
            ));
        }
        if rest.contains('*') {
            return Err(format!(
                "{entry:?} has a wildcard in the middle: only a leading `*.` is allowed, as in *.example.org"
            ));
        }
        let name = match url::Host::parse(rest) {
            Ok(url::Host::Domain(name)) => name,
            Ok(_) => {
                return Err(format!(
                    "{entry:?} is an address: an allowlist names domains, such as api.example.com"
                ))
            }
            Err(_) => return Err(format!("{entry:?} is not a valid domain name")),
        };
        if name.len() > MAX_NAME
            || name
                .split('.')
                .any(|l| l.is_empty() || l.len() > 63 || !l.bytes().all(valid_label_byte))
        {
            return Err(format!("{entry:?} is not a valid domain name"));
        }
        if !name.contains('.') {
            return Err(format!(
                "{entry:?} is a single label: name a full domain, such as {name}.example.com"
            ));
        }
        if let Some(reason) = refused_name(&name) {
            return Err(format!("{entry:?} can never be reached: {reason}"));
        }
        Ok(Self { name, wildcard })
    }

    /// Whether `host` (lower-case, without a trailing dot) is this entry's.
    pub fn matches(&self, host: &str) -> bool {
        if self.wildcard {
            host.len() > self.name.len() + 1
                && host.ends_with(&self.name)
                && host.as_bytes()[host.len() - self.name.len() - 1] == b'.'
        } else {
            host == self.name
        }
    }

    /// Whether everything this entry matches, `other` matches too.
    fn within(&self, other: &Domain) -> bool {
        match (self.wildcard, other.wildcard) {
            (false, _) => other.matches(&self.name),
            (true, true) => self.name == other.name || other.matches(&self.name),
            (true, false) => false,
        }
    }
}

fn valid_label_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'-' || b == b'_'
}

impl fmt::Display for Domain {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.wildcard {
            write!(f, "*.{}", self.name)
        } else {
            f.write_str(&self.name)
        }
    }
}

impl Serialize for Domain {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Domain {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Domain::parse(&s).map_err(serde::de::Error::custom)
    }
}

/// Names denied before any lookup, whatever the policy: they name this host or a cloud's
/// metadata service, or cannot be public.
pub fn refused_name(host: &str) -> Option<&'static str> {
    const METADATA: &[&str] = &[
        "metadata",
        "metadata.google.internal",
        "metadata.goog",
        "metadata.azure.com",
        "instance-data",
        "instance-data.ec2.internal",
    ];
    if METADATA.contains(&host) {
        return Some("a cloud metadata name");
    }
    if host == "localhost" || host.ends_with(".localhost") {
        return Some("a name of this host");
    }
    if host.ends_with(".internal") || host.ends_with(".local") || host.ends_with(".home.arpa") {
        return Some("a private-use name");
    }
    if !host.contains('.') {
        return Some("a single-label name, which is never public");
    }
    None
}

/// What a sandbox may reach.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Policy {
    pub mode: Mode,
    /// The allowlist; empty unless the mode is `allowlist`.
    #[serde(default)]
    pub domains: Vec<Domain>,
}

/// The most domains one allowlist may hold.
pub const MAX_DOMAINS: usize = 100;

impl Policy {
    pub const NONE: Policy = Policy {
        mode: Mode::None,
        domains: Vec::new(),
    };
    pub const PUBLIC: Policy = Policy {
        mode: Mode::Public,
        domains: Vec::new(),
    };

    /// A policy from its parts as people write them, naming what is wrong.
    pub fn new(mode: Mode, domains: &[String]) -> Result<Self, String> {
        if mode != Mode::Allowlist {
            if !domains.is_empty() {
                return Err(format!(
                    "domains only apply to the allowlist policy, not to {}",
                    mode.as_str()
                ));
            }
            return Ok(Self {
                mode,
                domains: Vec::new(),
            });
        }
        if domains.is_empty() {
            return Err("an allowlist needs at least one domain, such as api.example.com".into());
        }
        if domains.len() > MAX_DOMAINS {
            return Err(format!(
                "{} domains is more than an allowlist may hold ({MAX_DOMAINS})",
                domains.len()
            ));
        }
        let mut parsed: Vec<Domain> = domains
            .iter()
            .map(|d| Domain::parse(d))
            .collect::<Result<_, _>>()?;
        parsed.sort_by_cached_key(ToString::to_string);
        parsed.dedup();
        Ok(Self {
            mode,
            domains: parsed,
        })
    }

    /// `none`, `public` or `allow:example.com,*.example.org`, as `burrow sandbox run
    /// --egress` takes it.
    pub fn parse_flag(flag: &str) -> Result<Self, String> {
        match flag.split_once(':') {
            Some(("allow", list)) => {
                let domains: Vec<String> = list
                    .split(',')
                    .filter(|d| !d.trim().is_empty())
                    .map(str::to_owned)
                    .collect();
                Self::new(Mode::Allowlist, &domains)
            }
            None if flag != "allowlist" => Self::new(Mode::parse(flag)?, &[]),
            _ => Err(format!(
                "{flag:?} is not an egress policy: use none, public or allow:DOMAIN,…"
            )),
        }
    }

    /// Whether an allowlist names `host`. Other modes name nothing.
    pub fn names(&self, host: &str) -> bool {
        self.domains.iter().any(|d| d.matches(host))
    }

    /// Refuses a policy that reaches further than `max`, saying why.
    pub fn check_within(&self, max: &Policy) -> Result<(), String> {
        if self.mode > max.mode {
            return Err(format!(
                "this instance allows at most the {} egress policy; an admin can raise egress.max_policy",
                max.mode.as_str()
            ));
        }
        if self.mode == Mode::Allowlist && max.mode == Mode::Allowlist {
            if let Some(outside) = self
                .domains
                .iter()
                .find(|d| !max.domains.iter().any(|m| d.within(m)))
            {
                return Err(format!(
                    "{outside} is not among the domains this instance allows ({}); an admin can add it to egress.max_domains",
                    max.domains
                        .iter()
                        .map(ToString::to_string)
                        .collect::<Vec<_>>()
                        .join(", ")
                ));
            }
        }
        Ok(())
    }

    /// The part of this policy `max` allows: what is enforced when an admin lowered the
    /// maximum after the policy was chosen.
    pub fn within(&self, max: &Policy) -> Policy {
        match (self.mode, max.mode) {
            (_, Mode::None) | (Mode::None, _) => Policy::NONE,
            (Mode::Public, Mode::Public) => Policy::PUBLIC,
            (Mode::Allowlist, Mode::Public) => self.clone(),
            (Mode::Public, Mode::Allowlist) => max.clone(),
            (Mode::Allowlist, Mode::Allowlist) => {
                let domains: Vec<Domain> = self
                    .domains
                    .iter()
                    .filter(|d| max.domains.iter().any(|m| d.within(m)))
                    .cloned()
                    .collect();
                if domains.is_empty() {
                    Policy::NONE
                } else {
                    Policy {
                        mode: Mode::Allowlist,
                        domains,
                    }
                }
            }
        }
    }
}

impl fmt::Display for Policy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.mode.as_str())?;
        if self.mode == Mode::Allowlist {
            let names: Vec<String> = self.domains.iter().map(ToString::to_string).collect();
            write!(f, " ({})", names.join(", "))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn allow(list: &[&str]) -> Policy {
        Policy::new(
            Mode::Allowlist,
            &list.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>(),
        )
        .unwrap()
    }

    #[test]
    fn entries_are_checked_and_normalised() {
        assert_eq!(
            Domain::parse("API.Example.COM.").unwrap().to_string(),
            "api.example.com"
        );
        assert_eq!(
            Domain::parse("*.Example.org").unwrap().to_string(),
            "*.example.org"
        );
        assert_eq!(
            Domain::parse("bücher.example").unwrap().to_string(),
            "xn--bcher-kva.example"
        );
        for bad in [
            "",
            "*.",
            "a.*.b",
            "127.0.0.1",
            "[::1]",
            "localhost",
            "intranet",
            "metadata.google.internal",
            "x.localhost",
            "a b.com",
            "exa$mple.com",
        ] {
            assert!(Domain::parse(bad).is_err(), "{bad:?} should be refused");
        }
    }

    #[test]
    fn wildcards_match_names_below_only() {
        let d = Domain::parse("*.example.org").unwrap();
        assert!(d.matches("a.example.org") && d.matches("a.b.example.org"));
        assert!(!d.matches("example.org") && !d.matches("badexample.org") && !d.matches("org"));
        let e = Domain::parse("example.org").unwrap();
        assert!(e.matches("example.org") && !e.matches("a.example.org"));
    }

    #[test]
    fn flags_parse() {
        assert_eq!(Policy::parse_flag("public").unwrap(), Policy::PUBLIC);
        assert_eq!(Policy::parse_flag("none").unwrap(), Policy::NONE);
        assert_eq!(
            Policy::parse_flag("allow:b.com,*.a.org").unwrap(),
            allow(&["*.a.org", "b.com"])
        );
        assert!(Policy::parse_flag("allow:").is_err());
        assert!(Policy::parse_flag("allowlist").is_err());
        assert!(Policy::parse_flag("everything").is_err());
        assert!(Policy::new(Mode::Public, &["a.com".into()]).is_err());
    }

    #[test]
    fn a_policy_is_held_within_the_maximum() {
        let max = allow(&["*.example.org", "api.other.com"]);
        assert!(
            allow(&["a.example.org", "*.b.example.org", "api.other.com"])
                .check_within(&max)
                .is_ok()
        );
        assert!(allow(&["example.org"])
            .check_within(&max)
            .unwrap_err()
            .contains("example.org is not among"));
        assert!(Policy::PUBLIC
            .check_within(&max)
            .unwrap_err()
            .contains("at most the allowlist"));
        assert!(Policy::PUBLIC.check_within(&Policy::PUBLIC).is_ok());
        assert!(allow(&["x.com"]).check_within(&Policy::NONE).is_err());
        assert_eq!(Policy::PUBLIC.within(&max), max);
        assert_eq!(
            allow(&["a.example.org", "evil.com"]).within(&max),
            allow(&["a.example.org"])
        );
        assert_eq!(allow(&["evil.com"]).within(&max), Policy::NONE);
        assert_eq!(Policy::PUBLIC.within(&Policy::NONE), Policy::NONE);
    }
}
