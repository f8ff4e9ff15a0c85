//! The two template syntaxes of ApplicationSets, applied to every string of an Application
//! template (and to map keys), as Argo CD's `Render.Replace` does
//! (argoproj/argo-cd `applicationset/utils/utils.go`).
//!
//! - **fasttemplate** (the default): `{{ key }}` is replaced by the parameter of that flat name when
//!   it is a string; an unknown key (or a non-string one) is left as written, `{{` without `}}` is
//!   an error.
//! - **Go text/template** (`goTemplate: true`) through the `gtmpl` crate (a port of Go's
//!   text/template: actions, pipelines, `if`/`range`/`with`, variables and Go's built-in
//!   functions), plus the Sprig functions listed in [`SPRIG`] and Argo CD's `normalize`.
//!   Argo CD removes `env`, `expandenv` and `getHostByName` from Sprig; they are not defined here
//!   either. `goTemplateOptions: ["missingkey=error"]` makes a missing map key an error; without
//!   it Go prints `<no value>`, and so does gtmpl.

use std::collections::HashMap;

use base64::Engine;
use gtmpl::{Func, FuncError, Value as Gv};
use serde_json::{Map, Value};

/// How the strings of one ApplicationSet are rendered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Syntax {
    /// `{{path.basename}}`: flat string parameters.
    Fast,
    /// `goTemplate: true`; `missing_key_error` from `goTemplateOptions: ["missingkey=error"]`.
    Go { missing_key_error: bool },
}

/// Renders one string with the parameters of one generator element.
pub fn render(text: &str, params: &Map<String, Value>, syntax: Syntax) -> Result<String, String> {
    match syntax {
        Syntax::Fast => fasttemplate(text, params),
        Syntax::Go { missing_key_error } => go(text, params, missing_key_error),
    }
}

/// Renders every string (values and keys) of a JSON value, as Argo CD's `deeplyReplace` does.
/// For Go templates the parameters are converted once for the whole value.
pub fn render_value(
    value: &Value,
    params: &Map<String, Value>,
    syntax: Syntax,
) -> Result<Value, String> {
    let data = match syntax {
        Syntax::Go { missing_key_error } => Some(gtmpl::Context::from(to_gtmpl(
            &Value::Object(params.clone()),
            missing_key_error,
        ))),
        Syntax::Fast => None,
    };
    replace_deep(value, params, data.as_ref())
}

fn replace_deep(
    value: &Value,
    params: &Map<String, Value>,
    data: Option<&gtmpl::Context>,
) -> Result<Value, String> {
    let one = |text: &str| match data {
        Some(data) => go_with(text, data),
        None => fasttemplate(text, params),
    };
    Ok(match value {
        Value::String(s) => Value::String(one(s)?),
        Value::Array(items) => Value::Array(
            items
                .iter()
                .map(|v| replace_deep(v, params, data))
                .collect::<Result<_, _>>()?,
        ),
        Value::Object(map) => {
            let mut out = Map::with_capacity(map.len());
            for (key, v) in map {
                if v.is_null() {
                    continue;
                }
                out.insert(one(key)?, replace_deep(v, params, data)?);
            }
            Value::Object(out)
        }
        other => other.clone(),
    })
}

/// valyala/fasttemplate with Argo CD's tag function: only strings holding `{{…}}` are touched.
fn fasttemplate(text: &str, params: &Map<String, Value>) -> Result<String, String> {
    if !text.contains("{{") {
        return Ok(text.to_string());
    }
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let Some(end) = after.find("}}") else {
            return Err(format!(
                "cannot find end tag \"}}}}\" in the template {text:?}"
            ));
        };
        let tag = &after[..end];
        match params.get(tag.trim()).and_then(Value::as_str) {
            Some(value) if !tag.trim().is_empty() => out.push_str(value),
            _ => {
                out.push_str("{{");
                out.push_str(tag);
                out.push_str("}}");
            }
        }
        rest = &after[end + 2..];
    }
    out.push_str(rest);
    Ok(out)
}

fn go(text: &str, params: &Map<String, Value>, missing_key_error: bool) -> Result<String, String> {
    if !text.contains("{{") {
        return Ok(text.to_string());
    }
    let data = gtmpl::Context::from(to_gtmpl(&Value::Object(params.clone()), missing_key_error));
    go_with(text, &data)
}

fn go_with(text: &str, data: &gtmpl::Context) -> Result<String, String> {
    if !text.contains("{{") {
        return Ok(text.to_string());
    }
    let template = parsed(text)?;
    template.render(data).map_err(|e| {
        let mut reason = e.to_string();
        // gtmpl names a missing key with a dump of the whole map; say it as Go does.
        if let Some(rest) = reason.strip_prefix("no field ")
            && let Some((key, _)) = rest.split_once(" for ")
        {
            reason = format!("map has no entry for key {key:?}");
        }
        let mut message = format!("failed to execute go template {text:?}: {reason}");
        if message.contains("not defined") || message.contains("undefined") {
            message.push_str(&format!(
                " (clobbercheck supports Go's built-in functions and these Sprig functions: {})",
                SPRIG.iter().map(|(n, _)| *n).collect::<Vec<_>>().join(", ")
            ));
        }
        message
    })
}

/// Most distinct template strings kept parsed per thread; past it the cache starts over.
const PARSED_CACHE: usize = 4096;

thread_local! {
    /// Parsed Go templates by text. One ApplicationSet renders the same few strings for every
    /// element, and gtmpl's lexer starts a thread per parse, so parsing once per text is what keeps
    /// a 2,000-Application expansion fast.
    static PARSED: std::cell::RefCell<HashMap<String, std::rc::Rc<gtmpl::Template>>> =
        std::cell::RefCell::new(HashMap::new());
}

fn parsed(text: &str) -> Result<std::rc::Rc<gtmpl::Template>, String> {
    if let Some(found) = PARSED.with(|c| c.borrow().get(text).cloned()) {
        return Ok(found);
    }
    let mut template = gtmpl::Template::default();
    template.add_funcs(SPRIG);
    template
        .parse(text)
        .map_err(|e| format!("failed to parse template {text:?}: {e}"))?;
    let template = std::rc::Rc::new(template);
    PARSED.with(|c| {
        let mut cache = c.borrow_mut();
        if cache.len() >= PARSED_CACHE {
            cache.clear();
        }
        cache.insert(text.to_string(), template.clone());
    });
    Ok(template)
}

/// A JSON value as a template value. With `missingkey=error` maps become gtmpl objects, whose
/// missing fields are errors (Go's "map has no entry for key"); plain maps print `<no value>`.
fn to_gtmpl(value: &Value, strict: bool) -> Gv {
    match value {
        Value::Null => Gv::Nil,
        Value::Bool(b) => Gv::Bool(*b),
        Value::Number(n) => match (n.as_i64(), n.as_u64(), n.as_f64()) {
            (Some(i), _, _) => Gv::from(i),
            (_, Some(u), _) => Gv::from(u),
            (_, _, Some(f)) => Gv::from(f),
            _ => Gv::Nil,
        },
        Value::String(s) => Gv::String(s.clone()),
        Value::Array(items) => Gv::Array(items.iter().map(|v| to_gtmpl(v, strict)).collect()),
        Value::Object(map) => {
            let inner: HashMap<String, Gv> = map
                .iter()
                .map(|(k, v)| (k.clone(), to_gtmpl(v, strict)))
                .collect();
            if strict {
                Gv::Object(inner)
            } else {
                Gv::Map(inner)
            }
        }
    }
}

fn from_gtmpl(value: &Gv) -> Value {
    match value {
        Gv::NoValue | Gv::Nil | Gv::Function(_) => Value::Null,
        Gv::Bool(b) => Value::Bool(*b),
        Gv::String(s) => Value::String(s.clone()),
        Gv::Number(n) => n
            .as_i64()
            .map(Value::from)
            .or_else(|| n.as_u64().map(Value::from))
            .or_else(|| n.as_f64().map(Value::from))
            .unwrap_or(Value::Null),
        Gv::Array(items) => Value::Array(items.iter().map(from_gtmpl).collect()),
        Gv::Object(map) | Gv::Map(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            Value::Object(
                keys.into_iter()
                    .map(|k| (k.clone(), from_gtmpl(&map[k])))
                    .collect(),
            )
        }
    }
}

/// Argo CD's `normalize` (`SanitizeName` in applicationset/utils/template_functions.go):
/// lower case, every character outside `[-a-z0-9.]` becomes `-`, at most 253 bytes, then `-`
/// and `.` trimmed from both ends.
pub fn normalize(name: &str) -> String {
    let mut out: String = name
        .to_lowercase()
        .chars()
        .map(|c| {
            if c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '.' {
                c
            } else {
                '-'
            }
        })
        .collect();
    out.truncate(253);
    out.trim_matches(|c| c == '-' || c == '.').to_string()
}

/// The Sprig functions clobbercheck implements (names and argument order as in
/// Masterminds/sprig v3, which Argo CD loads through `sprig.GenericFuncMap()`), plus `normalize`.
pub static SPRIG: &[(&str, Func)] = &[
    ("normalize", f_normalize as Func),
    ("lower", f_lower as Func),
    ("upper", f_upper as Func),
    ("title", f_title as Func),
    ("trim", f_trim as Func),
    ("trimPrefix", f_trim_prefix as Func),
    ("trimSuffix", f_trim_suffix as Func),
    ("trunc", f_trunc as Func),
    ("replace", f_replace as Func),
    ("contains", f_contains as Func),
    ("hasPrefix", f_has_prefix as Func),
    ("hasSuffix", f_has_suffix as Func),
    ("quote", f_quote as Func),
    ("squote", f_squote as Func),
    ("default", f_default as Func),
    ("empty", f_empty as Func),
    ("coalesce", f_coalesce as Func),
    ("ternary", f_ternary as Func),
    ("list", f_list as Func),
    ("dict", f_dict as Func),
    ("get", f_get as Func),
    ("hasKey", f_has_key as Func),
    ("join", f_join as Func),
    ("splitList", f_split_list as Func),
    ("toJson", f_to_json as Func),
    ("b64enc", f_b64enc as Func),
    ("b64dec", f_b64dec as Func),
];

fn args_n(name: &str, args: &[Gv], n: usize) -> Result<(), FuncError> {
    if args.len() == n {
        Ok(())
    } else {
        Err(FuncError::ExactlyXArgs(name.to_string(), n))
    }
}

/// Go's `%v` of a value, as Sprig's string functions see their argument.
fn text(value: &Gv) -> String {
    match value {
        Gv::NoValue | Gv::Nil => String::new(),
        other => other.to_string(),
    }
}

fn string_fn(name: &str, args: &[Gv], f: impl Fn(&str) -> String) -> Result<Gv, FuncError> {
    args_n(name, args, 1)?;
    Ok(Gv::String(f(&text(&args[0]))))
}

fn f_normalize(args: &[Gv]) -> Result<Gv, FuncError> {
    string_fn("normalize", args, normalize)
}

fn f_lower(args: &[Gv]) -> Result<Gv, FuncError> {
    string_fn("lower", args, str::to_lowercase)
}

fn f_upper(args: &[Gv]) -> Result<Gv, FuncError> {
    string_fn("upper", args, str::to_uppercase)
}

fn f_title(args: &[Gv]) -> Result<Gv, FuncError> {
    string_fn("title", args, |s| {
        let mut out = String::with_capacity(s.len());
        let mut start = true;
        for c in s.chars() {
            if start {
                out.extend(c.to_uppercase());
            } else {
                out.push(c);
            }
            start = c.is_whitespace();
        }
        out
    })
}

fn f_trim(args: &[Gv]) -> Result<Gv, FuncError> {
    string_fn("trim", args, |s| s.trim().to_string())
}

fn two_strings(name: &str, args: &[Gv]) -> Result<(String, String), FuncError> {
    args_n(name, args, 2)?;
    Ok((text(&args[0]), text(&args[1])))
}

fn f_trim_prefix(args: &[Gv]) -> Result<Gv, FuncError> {
    let (prefix, s) = two_strings("trimPrefix", args)?;
    Ok(Gv::String(
        s.strip_prefix(&prefix).unwrap_or(&s).to_string(),
    ))
}

fn f_trim_suffix(args: &[Gv]) -> Result<Gv, FuncError> {
    let (suffix, s) = two_strings("trimSuffix", args)?;
    Ok(Gv::String(
        s.strip_suffix(&suffix).unwrap_or(&s).to_string(),
    ))
}

/// `trunc n s`: the first n characters; a negative n keeps the last -n.
fn f_trunc(args: &[Gv]) -> Result<Gv, FuncError> {
    args_n("trunc", args, 2)?;
    let n: i64 = text(&args[0])
        .parse()
        .map_err(|_| FuncError::Generic("trunc: the length must be an integer".into()))?;
    let chars: Vec<char> = text(&args[1]).chars().collect();
    let len = chars.len() as i64;
    let kept: String = if n >= 0 {
        chars[..n.min(len) as usize].iter().collect()
    } else {
        chars[(len + n).max(0) as usize..].iter().collect()
    };
    Ok(Gv::String(kept))
}

fn f_replace(args: &[Gv]) -> Result<Gv, FuncError> {
    args_n("replace", args, 3)?;
    Ok(Gv::String(
        text(&args[2]).replace(&text(&args[0]), &text(&args[1])),
    ))
}

fn f_contains(args: &[Gv]) -> Result<Gv, FuncError> {
    let (needle, s) = two_strings("contains", args)?;
    Ok(Gv::Bool(s.contains(&needle)))
}

fn f_has_prefix(args: &[Gv]) -> Result<Gv, FuncError> {
    let (prefix, s) = two_strings("hasPrefix", args)?;
    Ok(Gv::Bool(s.starts_with(&prefix)))
}

fn f_has_suffix(args: &[Gv]) -> Result<Gv, FuncError> {
    let (suffix, s) = two_strings("hasSuffix", args)?;
    Ok(Gv::Bool(s.ends_with(&suffix)))
}

fn f_quote(args: &[Gv]) -> Result<Gv, FuncError> {
    Ok(Gv::String(
        args.iter()
            .filter(|a| !matches!(a, Gv::Nil | Gv::NoValue))
            .map(|a| format!("{:?}", text(a)))
            .collect::<Vec<_>>()
            .join(" "),
    ))
}

fn f_squote(args: &[Gv]) -> Result<Gv, FuncError> {
    Ok(Gv::String(
        args.iter()
            .filter(|a| !matches!(a, Gv::Nil | Gv::NoValue))
            .map(|a| format!("'{}'", text(a)))
            .collect::<Vec<_>>()
            .join(" "),
    ))
}

/// Sprig's `empty`: nil, false, 0, "" and empty collections.
fn is_empty(value: &Gv) -> bool {
    match value {
        Gv::NoValue | Gv::Nil => true,
        Gv::Bool(b) => !b,
        Gv::String(s) => s.is_empty(),
        Gv::Number(n) => n.as_f64() == Some(0.0),
        Gv::Array(a) => a.is_empty(),
        Gv::Object(m) | Gv::Map(m) => m.is_empty(),
        Gv::Function(_) => false,
    }
}

/// `default d v`: v unless it is empty, else d.
fn f_default(args: &[Gv]) -> Result<Gv, FuncError> {
    match args {
        [d] => Ok(d.clone()),
        [d, v] => Ok(if is_empty(v) { d.clone() } else { v.clone() }),
        _ => Err(FuncError::AtLeastXArgs("default".into(), 1)),
    }
}

fn f_empty(args: &[Gv]) -> Result<Gv, FuncError> {
    args_n("empty", args, 1)?;
    Ok(Gv::Bool(is_empty(&args[0])))
}

fn f_coalesce(args: &[Gv]) -> Result<Gv, FuncError> {
    Ok(args
        .iter()
        .find(|a| !is_empty(a))
        .cloned()
        .unwrap_or(Gv::Nil))
}

/// `ternary a b cond`: a when cond is true, else b.
fn f_ternary(args: &[Gv]) -> Result<Gv, FuncError> {
    args_n("ternary", args, 3)?;
    Ok(if matches!(args[2], Gv::Bool(true)) {
        args[0].clone()
    } else {
        args[1].clone()
    })
}

fn f_list(args: &[Gv]) -> Result<Gv, FuncError> {
    Ok(Gv::Array(args.to_vec()))
}

fn f_dict(args: &[Gv]) -> Result<Gv, FuncError> {
    let mut map = HashMap::new();
    for pair in args.chunks(2) {
        let value = pair.get(1).cloned().unwrap_or(Gv::String(String::new()));
        map.insert(text(&pair[0]), value);
    }
    Ok(Gv::Map(map))
}

fn f_get(args: &[Gv]) -> Result<Gv, FuncError> {
    args_n("get", args, 2)?;
    match &args[0] {
        Gv::Map(m) | Gv::Object(m) => Ok(m
            .get(&text(&args[1]))
            .cloned()
            .unwrap_or(Gv::String(String::new()))),
        _ => Err(FuncError::Generic(
            "get: the first argument must be a map".into(),
        )),
    }
}

fn f_has_key(args: &[Gv]) -> Result<Gv, FuncError> {
    args_n("hasKey", args, 2)?;
    match &args[0] {
        Gv::Map(m) | Gv::Object(m) => Ok(Gv::Bool(m.contains_key(&text(&args[1])))),
        _ => Err(FuncError::Generic(
            "hasKey: the first argument must be a map".into(),
        )),
    }
}

fn f_join(args: &[Gv]) -> Result<Gv, FuncError> {
    args_n("join", args, 2)?;
    let sep = text(&args[0]);
    Ok(Gv::String(match &args[1] {
        Gv::Array(items) => items.iter().map(text).collect::<Vec<_>>().join(&sep),
        other => text(other),
    }))
}

fn f_split_list(args: &[Gv]) -> Result<Gv, FuncError> {
    let (sep, s) = two_strings("splitList", args)?;
    Ok(Gv::Array(
        s.split(sep.as_str())
            .map(|p| Gv::String(p.to_string()))
            .collect(),
    ))
}

fn f_to_json(args: &[Gv]) -> Result<Gv, FuncError> {
    args_n("toJson", args, 1)?;
    Ok(Gv::String(from_gtmpl(&args[0]).to_string()))
}

fn f_b64enc(args: &[Gv]) -> Result<Gv, FuncError> {
    string_fn("b64enc", args, |s| {
        base64::engine::general_purpose::STANDARD.encode(s)
    })
}

fn f_b64dec(args: &[Gv]) -> Result<Gv, FuncError> {
    string_fn("b64dec", args, |s| {
        base64::engine::general_purpose::STANDARD
            .decode(s)
            .map(|b| String::from_utf8_lossy(&b).into_owned())
            .unwrap_or_else(|e| e.to_string())
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn params(v: Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn fasttemplate_leaves_unknown_keys_and_fails_on_an_open_tag() {
        let p = params(json!({"path.basename": "core", "n": 3}));
        assert_eq!(
            render("{{path.basename}}-{{ path.basename }}", &p, Syntax::Fast).unwrap(),
            "core-core"
        );
        assert_eq!(
            render("{{unknown}}/{{n}}", &p, Syntax::Fast).unwrap(),
            "{{unknown}}/{{n}}"
        );
        assert!(render("{{path.basename", &p, Syntax::Fast).is_err());
    }

    #[test]
    fn go_templates_with_sprig_and_missing_keys() {
        let p = params(json!({"path": {"basename": "Core_API", "segments": ["a", "b"]}}));
        let lax = Syntax::Go {
            missing_key_error: false,
        };
        let strict = Syntax::Go {
            missing_key_error: true,
        };
        assert_eq!(
            render("{{ .path.basename | normalize }}", &p, lax).unwrap(),
            "core-api"
        );
        assert_eq!(
            render(
                "{{ index .path.segments 1 }}-{{ .path.basename | lower | trunc 4 }}",
                &p,
                lax
            )
            .unwrap(),
            "b-core"
        );
        assert_eq!(render("{{ .nope }}", &p, lax).unwrap(), "<no value>");
        assert!(render("{{ .nope }}", &p, strict).is_err());
        assert_eq!(
            render("{{ default \"x\" .path.none }}", &p, lax).unwrap(),
            "x"
        );
        let denied = render("{{ env \"HOME\" }}", &p, lax).unwrap_err();
        assert!(denied.contains("env"), "{denied}");
    }

    #[test]
    fn normalize_follows_argo_cd() {
        assert_eq!(normalize("-My_App.v2-"), "my-app.v2");
    }
}
