//! Human-entered names and descriptions: of people, projects and apps.

use crate::Invalid;

fn parse_name(field: &'static str, what: &str, raw: &str, max: usize) -> Result<String, Invalid> {
    let name = raw.trim();
    if name.is_empty() {
        return Err(Invalid::new(
            field,
            format!("the {what} is empty: enter at least one character"),
        ));
    }
    if name.chars().count() > max {
        return Err(Invalid::new(
            field,
            format!("the {what} is longer than {max} characters: shorten it"),
        ));
    }
    if name.chars().any(char::is_control) {
        return Err(Invalid::new(
            field,
            format!("the {what} contains control characters: remove them"),
        ));
    }
    Ok(name.to_owned())
}

/// A person's display name: 1 to 100 characters, trimmed, no control characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DisplayName(String);

impl DisplayName {
    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        parse_name("name", "name", raw, 100).map(Self)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A project's name: 1 to 100 characters, trimmed, no control characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProjectName(String);

impl ProjectName {
    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        parse_name("name", "project name", raw, 100).map(Self)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// An app's name: 1 to 100 characters, trimmed, no control characters; unique in its project.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppName(String);

impl AppName {
    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        parse_name("name", "app name", raw, 100).map(Self)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// An app's description: up to 2,000 characters, trimmed; line breaks and tabs allowed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Description(String);

impl Description {
    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        let text = raw.trim();
        if text.chars().count() > 2000 {
            return Err(Invalid::new(
                "description",
                "the description is longer than 2000 characters: shorten it",
            ));
        }
        if text
            .chars()
            .any(|c| c.is_control() && !matches!(c, '\n' | '\t'))
        {
            return Err(Invalid::new(
                "description",
                "the description contains control characters: remove them",
            ));
        }
        Ok(Self(text.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn descriptions_allow_lines_but_not_control_characters() {
        assert_eq!(Description::parse(" a\nb ").unwrap().as_str(), "a\nb");
        assert!(Description::parse("a\u{7}").is_err());
        assert!(Description::parse(&"x".repeat(2001)).is_err());
        assert!(AppName::parse("").is_err());
    }

    #[test]
    fn trims_and_limits_names() {
        assert_eq!(ProjectName::parse("  Sales  ").unwrap().as_str(), "Sales");
        assert!(ProjectName::parse("   ")
            .unwrap_err()
            .message
            .contains("empty"));
        assert!(ProjectName::parse(&"x".repeat(101))
            .unwrap_err()
            .message
            .contains("100"));
        assert!(DisplayName::parse("Ada\u{7}")
            .unwrap_err()
            .message
            .contains("control"));
    }
}
