//! Naming conventions (`naming:` in `.clobbercheck.yml`): names that follow from paths.
//!
//! Why: in the outage of DESIGN.md §1 an Application defined for `app02` was named `app01-…`.
//! Teams already encode the app and cluster in their folder layout; a convention such as
//! `{path: "env/{cluster}/{app}/**", name: "{app}-{cluster}"}` turns that layout into a check that
//! a copied-and-forgotten name cannot pass (rule `name-path-mismatch`).
//!
//! A path template is a `/`-separated pattern whose segments are `{placeholder}` (one whole
//! segment, captured), `**` (any number of segments, none included) or a glob for one segment
//! (`*`, `*.yaml`, a literal). The name template uses the path's placeholders.

use std::collections::BTreeMap;

/// One segment of a path template.
#[derive(Debug, Clone)]
enum Segment {
    /// `**`: zero or more segments.
    Any,
    /// `{name}`: exactly one segment, captured.
    Capture(String),
    /// A glob matching exactly one segment.
    Glob(globset::GlobMatcher),
}

/// A compiled path template such as `env/{cluster}/{app}/**`.
#[derive(Debug, Clone)]
pub struct PathTemplate {
    pattern: String,
    segments: Vec<Segment>,
}

/// Values captured from a path, by placeholder name.
pub type Captures = BTreeMap<String, String>;

impl PathTemplate {
    /// Compiles a template; the error says which segment is wrong and why.
    pub fn new(pattern: &str) -> Result<Self, String> {
        let mut segments = Vec::new();
        for segment in pattern.trim_matches('/').split('/') {
            if segment == "**" {
                segments.push(Segment::Any);
            } else if let Some(name) = placeholder(segment) {
                if !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') || name.is_empty() {
                    return Err(format!(
                        "path '{pattern}': placeholder '{segment}' must be letters, digits or '_'"
                    ));
                }
                segments.push(Segment::Capture(name.to_string()));
            } else if segment.contains('{') || segment.contains('}') || segment.contains("**") {
                return Err(format!(
                    "path '{pattern}': segment '{segment}' must be a whole '{{placeholder}}', '**' or a glob"
                ));
            } else {
                let glob = crate::config::glob(segment)
                    .map_err(|e| format!("path '{pattern}': segment '{segment}': {e}"))?;
                segments.push(Segment::Glob(glob.compile_matcher()));
            }
        }
        Ok(Self {
            pattern: pattern.to_string(),
            segments,
        })
    }

    /// The placeholders the template captures.
    pub fn placeholders(&self) -> impl Iterator<Item = &str> {
        self.segments.iter().filter_map(|s| match s {
            Segment::Capture(name) => Some(name.as_str()),
            _ => None,
        })
    }

    /// The captured values if `path` matches.
    pub fn captures(&self, path: &str) -> Option<Captures> {
        let parts: Vec<&str> = path.trim_matches('/').split('/').collect();
        let mut captures = Captures::new();
        matches(&self.segments, &parts, &mut captures).then_some(captures)
    }

    /// The template as written.
    pub fn as_str(&self) -> &str {
        &self.pattern
    }
}

fn placeholder(segment: &str) -> Option<&str> {
    segment.strip_prefix('{')?.strip_suffix('}')
}

fn matches(segments: &[Segment], parts: &[&str], captures: &mut Captures) -> bool {
    let Some((first, rest)) = segments.split_first() else {
        return parts.is_empty();
    };
    match first {
        Segment::Any => (0..=parts.len()).any(|skip| {
            let mut attempt = captures.clone();
            let ok = matches(rest, &parts[skip..], &mut attempt);
            if ok {
                *captures = attempt;
            }
            ok
        }),
        Segment::Capture(name) => match parts.split_first() {
            Some((part, tail)) if !part.is_empty() => {
                captures.insert(name.clone(), part.to_string());
                matches(rest, tail, captures)
            }
            _ => false,
        },
        Segment::Glob(glob) => match parts.split_first() {
            Some((part, tail)) if glob.is_match(part) => matches(rest, tail, captures),
            _ => false,
        },
    }
}

/// One `naming:` entry: objects of `kinds` under `path` must be named `name`.
#[derive(Debug, Clone)]
pub struct Convention {
    /// Where the convention applies, and what it captures.
    pub path: PathTemplate,
    /// `group/Kind` (`argoproj.io/Application`, core kinds bare: `Namespace`); empty = every kind.
    pub kinds: Vec<String>,
    name: String,
}

impl Convention {
    /// Validates an entry: the path compiles and the name uses only the path's placeholders.
    pub fn new(path: &str, kinds: &[String], name: &str) -> Result<Self, String> {
        let template = PathTemplate::new(path)?;
        let known: Vec<&str> = template.placeholders().collect();
        if known.is_empty() {
            return Err(format!(
                "path '{path}' has no '{{placeholder}}', so it cannot tie names to paths"
            ));
        }
        let mut rest = name;
        while let Some(start) = rest.find('{') {
            let Some(len) = rest[start..].find('}') else {
                return Err(format!("name '{name}': unclosed '{{'"));
            };
            let used = &rest[start + 1..start + len];
            if !known.contains(&used) {
                return Err(format!(
                    "name '{name}' uses '{{{used}}}', which path '{path}' does not capture"
                ));
            }
            rest = &rest[start + len + 1..];
        }
        if let Some(kind) = kinds.iter().find(|k| k.is_empty() || k.contains(' ')) {
            return Err(format!("kinds: '{kind}' is not a group/Kind"));
        }
        Ok(Self {
            path: template,
            kinds: kinds.to_vec(),
            name: name.to_string(),
        })
    }

    /// Whether the convention governs objects of this `group/Kind`.
    pub fn applies_to(&self, group_kind: &str) -> bool {
        self.kinds.is_empty() || self.kinds.iter().any(|k| k == group_kind)
    }

    /// The name the convention expects for a path's captures.
    pub fn expected_name(&self, captures: &Captures) -> String {
        let mut name = self.name.clone();
        for (key, value) in captures {
            name = name.replace(&format!("{{{key}}}"), value);
        }
        name
    }

    /// The name template as written.
    pub fn name_template(&self) -> &str {
        &self.name
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn captures_and_double_star() {
        let t = PathTemplate::new("env/{cluster}/{app}/**").unwrap();
        let c = t.captures("env/cluster01/app02/apps.yaml").unwrap();
        assert_eq!(c["cluster"], "cluster01");
        assert_eq!(c["app"], "app02");
        assert!(t.captures("env/cluster01/app02").is_some());
        assert!(t.captures("env/cluster01").is_none());
        assert!(t.captures("other/cluster01/app02/x.yaml").is_none());
        let g = PathTemplate::new("**/{app}/*.yaml").unwrap();
        assert_eq!(g.captures("a/b/web/x.yaml").unwrap()["app"], "web");
        assert!(g.captures("a/b/web/x.json").is_none());
    }

    #[test]
    fn expected_name_and_validation() {
        let c = Convention::new(
            "env/{cluster}/{app}/**",
            &["argoproj.io/Application".into()],
            "{app}-{cluster}",
        )
        .unwrap();
        let caps = c.path.captures("env/c1/web/a.yaml").unwrap();
        assert_eq!(c.expected_name(&caps), "web-c1");
        assert!(c.applies_to("argoproj.io/Application"));
        assert!(!c.applies_to("argoproj.io/AppProject"));
        assert!(Convention::new("env/{cluster}/**", &[], "{app}").is_err());
        assert!(Convention::new("env/x{cluster}/**", &[], "{cluster}").is_err());
        assert!(Convention::new("env/**", &[], "x").is_err());
    }
}
