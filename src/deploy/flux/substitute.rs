//! Flux post-build variable substitution (`spec.postBuild.substitute` / `substituteFrom`).
//!
//! Why: a Flux Kustomization may write `name: web-${cluster_env}`; the object the cluster gets
//! is named after the substituted text, so identity must be judged after substitution, as
//! kustomize-controller applies it.
//!
//! Followed, from fluxcd/pkg `kustomize/kustomize_varsub.go` (`SubstituteVariables`,
//! `LoadVariables`, `varSubstitution`) and `envsubst/` (`parse/parse.go`, `funcs.go`,
//! `template.go`):
//! - variables come from `substituteFrom` ConfigMaps (`data`) and Secrets (`data`, base64)
//!   in order, then `substitute` overrides them; newlines in values are removed;
//! - a variable name must match `^[_[:alpha:]][_[:alpha:][:digit:]]*$`, else the build fails;
//! - `${var}` is replaced; `${var:=default}`, `${var:-default}`, `${var=default}` and
//!   `${var-default}` all give the default when the value is empty (`toDefault`); `$${` is a
//!   literal `${`; `$var` without braces is never substituted;
//! - an unresolved variable is the empty string, unless the controller runs with the
//!   `StrictPostBuildSubstitutions` feature gate, where it is an error ("variable not set
//!   (strict mode)"), defaults excepted (configuration `flux.strict_post_build_substitutions`,
//!   reported by [`super::Flux::unresolved`]);
//! - an object labelled or annotated `kustomize.toolkit.fluxcd.io/substitute: disabled` is left
//!   as written.
//!
//! Not followed: the string functions (`${#var}`, `${var^^}`, `${var/a/b}`, `${var:1:2}` …)
//! keep their text as written.

use std::collections::BTreeMap;

use serde_json::Value;

/// The label or annotation that turns substitution off for one object.
pub const SUBSTITUTE_KEY: &str = "kustomize.toolkit.fluxcd.io/substitute";

/// Why substitution failed: the message names the variable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SubstituteError {
    /// A variable name Flux refuses (`'1x' var name is invalid`).
    #[error("'{0}' var name is invalid, must match '^[_[:alpha:]][_[:alpha:][:digit:]]*$'")]
    InvalidName(String),
    /// Strict mode and a variable without value or default.
    #[error("variable not set (strict mode): \"{0}\"")]
    NotSet(String),
}

/// Whether Flux accepts a variable name.
pub fn valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c == '_' || c.is_ascii_alphabetic())
        && chars.all(|c| c == '_' || c.is_ascii_alphanumeric())
}

/// Whether an object opts out of substitution with its label or annotation.
pub fn disabled(value: &Value) -> bool {
    let metadata = &value["metadata"];
    ["labels", "annotations"]
        .iter()
        .any(|k| metadata[k][SUBSTITUTE_KEY].as_str() == Some("disabled"))
}

/// Substitutes `vars` into every string (keys and values) of a document; returns the
/// rewritten document. `strict` makes an unresolved variable an error.
pub fn document(
    value: &Value,
    vars: &BTreeMap<String, String>,
    strict: bool,
) -> Result<Value, SubstituteError> {
    if let Some(bad) = vars.keys().find(|k| !valid_name(k)) {
        return Err(SubstituteError::InvalidName(bad.clone()));
    }
    walk(value, vars, strict)
}

fn walk(
    value: &Value,
    vars: &BTreeMap<String, String>,
    strict: bool,
) -> Result<Value, SubstituteError> {
    Ok(match value {
        Value::String(s) => Value::String(text(s, vars, strict)?),
        Value::Array(items) => Value::Array(
            items
                .iter()
                .map(|v| walk(v, vars, strict))
                .collect::<Result<_, _>>()?,
        ),
        Value::Object(map) => {
            let mut out = serde_json::Map::with_capacity(map.len());
            for (k, v) in map {
                out.insert(text(k, vars, strict)?, walk(v, vars, strict)?);
            }
            Value::Object(out)
        }
        other => other.clone(),
    })
}

/// Substitutes one string.
pub fn text(
    s: &str,
    vars: &BTreeMap<String, String>,
    strict: bool,
) -> Result<String, SubstituteError> {
    if !s.contains("${") {
        return Ok(s.to_string());
    }
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(at) = rest.find('$') {
        out.push_str(&rest[..at]);
        let after = &rest[at..];
        if let Some(escaped) = after.strip_prefix("$${") {
            out.push_str("${");
            rest = escaped;
            continue;
        }
        let Some(body_start) = after.strip_prefix("${") else {
            out.push('$');
            rest = &after[1..];
            continue;
        };
        let Some(end) = body_start.find('}') else {
            out.push_str(after);
            rest = "";
            break;
        };
        let body = &body_start[..end];
        let whole = &after[..end + 3];
        out.push_str(&expression(body, whole, vars, strict)?);
        rest = &body_start[end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

/// One `${…}` body: a name, optionally followed by a default operator.
fn expression(
    body: &str,
    whole: &str,
    vars: &BTreeMap<String, String>,
    strict: bool,
) -> Result<String, SubstituteError> {
    let name_end = body
        .find(|c: char| !(c == '_' || c.is_ascii_alphanumeric()))
        .unwrap_or(body.len());
    let (name, op) = body.split_at(name_end);
    if !valid_name(name) {
        return Ok(whole.to_string());
    }
    let default = [":=", ":-", "=", "-"]
        .iter()
        .find_map(|p| op.strip_prefix(p));
    let value = vars.get(name);
    match (op.is_empty(), default) {
        (true, _) => match value {
            Some(v) => Ok(v.clone()),
            None if strict => Err(SubstituteError::NotSet(name.to_string())),
            None => Ok(String::new()),
        },
        (false, Some(default)) => Ok(value
            .filter(|v| !v.is_empty())
            .cloned()
            .unwrap_or_else(|| default.to_string())),
        (false, None) => Ok(whole.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn vars(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn forms_flux_documents() {
        let v = vars(&[("env", "prod"), ("empty", "")]);
        assert_eq!(text("web-${env}", &v, false).unwrap(), "web-prod");
        assert_eq!(text("${missing:=dflt}", &v, false).unwrap(), "dflt");
        assert_eq!(text("${empty:-dflt}", &v, false).unwrap(), "dflt");
        assert_eq!(text("${env:=dflt}", &v, false).unwrap(), "prod");
        assert_eq!(text("a${missing}b", &v, false).unwrap(), "ab");
        assert_eq!(text("$${env} $env", &v, false).unwrap(), "${env} $env");
        assert_eq!(text("${env^^}", &v, false).unwrap(), "${env^^}");
        assert_eq!(
            text("${missing}", &v, true),
            Err(SubstituteError::NotSet("missing".into()))
        );
        assert_eq!(text("${missing:=x}", &v, true).unwrap(), "x");
    }

    #[test]
    fn documents_keys_and_names() {
        let doc = json!({"metadata": {"name": "app-${env}", "labels": {"${env}": "x"}}, "n": 3});
        let out = document(&doc, &vars(&[("env", "prod")]), false).unwrap();
        assert_eq!(out["metadata"]["name"], "app-prod");
        assert_eq!(out["metadata"]["labels"]["prod"], "x");
        assert!(matches!(
            document(&doc, &vars(&[("1bad", "x")]), false),
            Err(SubstituteError::InvalidName(_))
        ));
        let off = json!({"metadata": {"annotations": {SUBSTITUTE_KEY: "disabled"}}});
        assert!(disabled(&off));
    }
}
