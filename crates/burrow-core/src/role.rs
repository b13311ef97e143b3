//! Project roles and what each one may do.

use std::fmt;
use std::str::FromStr;

use crate::Invalid;

/// A member's role in a project. Ordered by power: `Viewer < Editor < Reviewer < Owner`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Role {
    /// Sees the project and its resources.
    Viewer,
    /// Also creates and changes resources, such as apps and their own workspaces, and
    /// submits their workspaces for review.
    Editor,
    /// Also makes workspace templates, and sees and reviews every submission.
    Reviewer,
    /// Also manages the project itself and its members.
    Owner,
}

impl Role {
    pub const ALL: [Role; 4] = [Role::Owner, Role::Reviewer, Role::Editor, Role::Viewer];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Owner => "owner",
            Role::Reviewer => "reviewer",
            Role::Editor => "editor",
            Role::Viewer => "viewer",
        }
    }

    /// Whether a member holding `self` may do something that needs `required`.
    pub fn allows(self, required: Role) -> bool {
        self >= required
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Role {
    type Err = Invalid;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "owner" => Ok(Role::Owner),
            "reviewer" => Ok(Role::Reviewer),
            "editor" => Ok(Role::Editor),
            "viewer" => Ok(Role::Viewer),
            other => Err(Invalid::new(
                "role",
                format!(
                    "unknown role {other:?}: use one of \"owner\", \"reviewer\", \"editor\" \
                     or \"viewer\""
                ),
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_are_ordered_by_power() {
        assert!(Role::Owner.allows(Role::Editor));
        assert!(Role::Editor.allows(Role::Viewer));
        assert!(!Role::Viewer.allows(Role::Editor));
        assert!(!Role::Editor.allows(Role::Owner));
        assert!(Role::Reviewer.allows(Role::Editor));
        assert!(!Role::Reviewer.allows(Role::Owner));
        assert!(!Role::Editor.allows(Role::Reviewer));
    }

    #[test]
    fn roles_round_trip_through_strings() {
        for role in Role::ALL {
            assert_eq!(role.as_str().parse::<Role>().unwrap(), role);
        }
        let err = "admin".parse::<Role>().unwrap_err();
        assert!(err.message.contains("\"admin\""), "{err}");
    }
}
