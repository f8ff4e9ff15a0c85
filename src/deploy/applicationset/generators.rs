//! Generators: each turns its spec into parameter sets, as argoproj/argo-cd
//! `applicationset/generators/{list,git,cluster,matrix,merge}.go` and
//! `generator_spec_processor.go` (`Transform`: interpolation, generation, `selector`) do.

use std::collections::BTreeMap;

use globset::{GlobBuilder, GlobMatcher};
use serde_json::{Map, Value};

use super::template::{self, Syntax, normalize};
use super::{Cluster, Evidence, GenError, Params, SetSettings};

/// The API server address Argo CD names `in-cluster` (`KubernetesInternalAPIServerAddr`).
const IN_CLUSTER_SERVER: &str = "https://kubernetes.default.svc";

/// Generators whose parameters come from outside the repository (an SCM API, a cluster's
/// resources, a plugin service): never guessed offline.
const OUTSIDE: [&str; 4] = [
    "pullRequest",
    "scmProvider",
    "clusterDecisionResource",
    "plugin",
];

/// One generator entry → its parameter sets, each with the generator's own `template` (if any).
/// `interpolate` holds the parameters of a matrix's first child, rendered into the second
/// (`InterpolateGenerator`).
pub(crate) fn transform(
    generator: &Value,
    settings: &SetSettings<'_>,
    interpolate: Option<&Map<String, Value>>,
) -> Result<Vec<(Params, Option<Value>)>, GenError> {
    let rendered;
    let generator = match interpolate {
        Some(params) if !params.is_empty() => {
            rendered = template::render_value(generator, params, settings.syntax)
                .map_err(GenError::Invalid)?;
            &rendered
        }
        _ => generator,
    };
    let Some(entry) = generator.as_object() else {
        return Err(GenError::Invalid("a generator must be a mapping".into()));
    };
    let selector = entry.get("selector");
    let mut out = Vec::new();
    let mut found = false;
    for (kind, spec) in entry {
        if kind == "selector" || spec.is_null() {
            continue;
        }
        found = true;
        if OUTSIDE.contains(&kind.as_str()) {
            return Err(GenError::Outside(kind.clone()));
        }
        let params = match kind.as_str() {
            "list" => list(spec, settings)?,
            "git" => git(spec, settings)?,
            "clusters" => clusters(spec, settings)?,
            "matrix" => matrix(spec, settings)?,
            "merge" => merge(spec, settings)?,
            other => return Err(GenError::Invalid(format!("unknown generator `{other}`"))),
        };
        let own = spec
            .get("template")
            .filter(|t| t.as_object().is_some_and(|m| !m.is_empty()))
            .cloned();
        for p in params {
            if let Some(selector) = selector
                && !matches_selector(selector, &flatten_strings(&p.map))?
            {
                continue;
            }
            out.push((p, own.clone()));
        }
    }
    if !found {
        return Err(GenError::Invalid(
            "the generator names no known kind".into(),
        ));
    }
    Ok(out)
}

/// list.go: `elements` (strings only in fasttemplate mode, plus a `values` map) then the
/// mappings of `elementsYaml`.
fn list(spec: &Value, settings: &SetSettings<'_>) -> Result<Vec<Params>, GenError> {
    let mut elements: Vec<Value> = spec["elements"].as_array().cloned().unwrap_or_default();
    let fast_count = elements.len();
    if let Some(text) = spec["elementsYaml"]
        .as_str()
        .filter(|t| !t.trim().is_empty())
    {
        let yaml: Vec<Value> = serde_saphyr::from_str(text)
            .map_err(|e| GenError::Invalid(format!("elementsYaml is not a YAML list: {e}")))?;
        elements.extend(yaml);
    }
    let mut out = Vec::with_capacity(elements.len());
    for (index, element) in elements.into_iter().enumerate() {
        let Value::Object(map) = element else {
            return Err(GenError::Invalid(format!(
                "element {} of the list generator is not a mapping",
                index + 1
            )));
        };
        let map = if settings.syntax == Syntax::Fast && index < fast_count {
            let mut flat = Map::new();
            for (key, value) in map {
                match (key.as_str(), value) {
                    ("values", Value::Object(values)) => {
                        for (k, v) in values {
                            let Value::String(v) = v else {
                                return Err(GenError::Invalid(format!(
                                    "element {}: values.{k} is not a string",
                                    index + 1
                                )));
                            };
                            flat.insert(format!("values.{k}"), Value::String(v));
                        }
                    }
                    (_, Value::String(s)) => {
                        flat.insert(key, Value::String(s));
                    }
                    _ => {
                        return Err(GenError::Invalid(format!(
                            "element {}: `{key}` is not a string (without goTemplate, list \
                             elements hold strings)",
                            index + 1
                        )));
                    }
                }
            }
            flat
        } else {
            map
        };
        out.push(Params {
            map,
            producer: vec![format!("element {} of list generator", index + 1)],
            evidence: Vec::new(),
        });
    }
    Ok(out)
}

/// git.go: this repository's directories (`path.Match` patterns, `exclude` wins) or its JSON/YAML
/// files (git pathspec globs, where `*` also matches `/`), with the `path.*` parameters.
fn git(spec: &Value, settings: &SetSettings<'_>) -> Result<Vec<Params>, GenError> {
    let url = spec["repoURL"].as_str().unwrap_or_default();
    let revision = spec["revision"].as_str();
    if !(settings.ctx.deploys_from_here)(url, revision) {
        return Err(GenError::Outside(format!(
            "git generator of {url} at {}",
            revision.unwrap_or("HEAD")
        )));
    }
    let prefix = spec["pathParamPrefix"].as_str().unwrap_or_default();
    let values = spec.get("values");
    let mut out = Vec::new();
    if let Some(items) = spec["directories"].as_array().filter(|d| !d.is_empty()) {
        let mut include = Vec::new();
        let mut exclude = Vec::new();
        for item in items {
            let pattern = item["path"].as_str().unwrap_or_default();
            let matcher = glob(pattern, true)?;
            if item["exclude"].as_bool() == Some(true) {
                exclude.push(matcher);
            } else {
                include.push(matcher);
            }
        }
        for dir in settings.ctx.directories() {
            if include.iter().any(|m| m.is_match(dir)) && !exclude.iter().any(|m| m.is_match(dir)) {
                let mut map = Map::new();
                path_params(&mut map, dir, None, prefix, settings.syntax);
                append_values(&mut map, values, settings.syntax)?;
                out.push(Params {
                    map,
                    producer: vec![format!("directory {dir}")],
                    evidence: vec![Evidence::Directory(dir.clone())],
                });
            }
        }
    } else if let Some(items) = spec["files"].as_array().filter(|f| !f.is_empty()) {
        let mut include = Vec::new();
        let mut exclude = Vec::new();
        for item in items {
            let pattern = item["path"].as_str().unwrap_or_default();
            let matcher = glob(pattern, false)?;
            if item["exclude"].as_bool() == Some(true) {
                exclude.push(matcher);
            } else {
                include.push(matcher);
            }
        }
        let mut paths: Vec<&String> = settings
            .ctx
            .files
            .iter()
            .filter(|f| include.iter().any(|m| m.is_match(f)))
            .filter(|f| !exclude.iter().any(|m| m.is_match(f)))
            .collect();
        paths.sort();
        for path in paths {
            let bytes = (settings.ctx.read)(path).map_err(GenError::Invalid)?;
            let objects = parse_file(path, &bytes)?;
            let many = objects.len() > 1;
            for (index, object) in objects.into_iter().enumerate() {
                let mut map = match settings.syntax {
                    Syntax::Fast => flatten_strings(&object)
                        .into_iter()
                        .map(|(k, v)| (k, Value::String(v)))
                        .collect(),
                    Syntax::Go { .. } => object,
                };
                let dir = parent(path);
                path_params(&mut map, dir, Some(path), prefix, settings.syntax);
                append_values(&mut map, values, settings.syntax)?;
                out.push(Params {
                    map,
                    producer: vec![if many {
                        format!("element {} of file {path}", index + 1)
                    } else {
                        format!("file {path}")
                    }],
                    evidence: vec![Evidence::File(path.clone())],
                });
            }
        }
    } else {
        return Err(GenError::Invalid(
            "the git generator needs `directories` or `files`".into(),
        ));
    }
    Ok(out)
}

fn glob(pattern: &str, literal_separator: bool) -> Result<GlobMatcher, GenError> {
    GlobBuilder::new(pattern)
        .literal_separator(literal_separator)
        .build()
        .map(|g| g.compile_matcher())
        .map_err(|e| GenError::Invalid(format!("bad path pattern {pattern:?}: {e}")))
}

/// A git files generator file: one mapping, or a list of them (an empty file is one empty set).
fn parse_file(path: &str, bytes: &[u8]) -> Result<Vec<Map<String, Value>>, GenError> {
    let text = String::from_utf8_lossy(bytes);
    if text.trim().is_empty() {
        return Ok(vec![Map::new()]);
    }
    let value: Value = serde_saphyr::from_str(&text)
        .map_err(|e| GenError::Invalid(format!("unable to parse file {path}: {e}")))?;
    match value {
        Value::Object(map) => Ok(vec![map]),
        Value::Array(items) => items
            .into_iter()
            .map(|item| match item {
                Value::Object(map) => Ok(map),
                _ => Err(GenError::Invalid(format!(
                    "unable to process file {path}: a list item is not a mapping"
                ))),
            })
            .collect(),
        _ => Err(GenError::Invalid(format!(
            "unable to process file {path}: neither a mapping nor a list of mappings"
        ))),
    }
}

/// `path`, `path.basename`, `path.basenameNormalized`, `path.filename`,
/// `path.filenameNormalized`, `path[N]` (flat) or `.path.segments` (goTemplate).
fn path_params(
    map: &mut Map<String, Value>,
    dir: &str,
    file: Option<&str>,
    prefix: &str,
    syntax: Syntax,
) {
    let basename = base(dir);
    let s = |v: &str| Value::String(v.to_string());
    match syntax {
        Syntax::Go { .. } => {
            let mut p = Map::new();
            p.insert("path".into(), s(dir));
            p.insert("basename".into(), s(basename));
            p.insert("basenameNormalized".into(), s(&normalize(basename)));
            if let Some(file) = file {
                p.insert("filename".into(), s(base(file)));
                p.insert("filenameNormalized".into(), s(&normalize(base(file))));
            }
            p.insert(
                "segments".into(),
                Value::Array(dir.split('/').map(s).collect()),
            );
            if prefix.is_empty() {
                map.insert("path".into(), Value::Object(p));
            } else {
                let mut outer = Map::new();
                outer.insert("path".into(), Value::Object(p));
                map.insert(prefix.into(), Value::Object(outer));
            }
        }
        Syntax::Fast => {
            let name = if prefix.is_empty() {
                "path".to_string()
            } else {
                format!("{prefix}.path")
            };
            map.insert(name.clone(), s(dir));
            map.insert(format!("{name}.basename"), s(basename));
            map.insert(
                format!("{name}.basenameNormalized"),
                s(&normalize(basename)),
            );
            if let Some(file) = file {
                map.insert(format!("{name}.filename"), s(base(file)));
                map.insert(
                    format!("{name}.filenameNormalized"),
                    s(&normalize(base(file))),
                );
            }
            for (index, segment) in dir.split('/').enumerate() {
                if !segment.is_empty() {
                    map.insert(format!("{name}[{index}]"), s(segment));
                }
            }
        }
    }
}

/// Go's `path.Base`/`path.Dir` for the slash paths of a revision (the root directory is `.`).
fn base(path: &str) -> &str {
    path.rsplit('/').next().unwrap_or(path)
}

fn parent(path: &str) -> &str {
    path.rsplit_once('/').map_or(".", |(dir, _)| dir)
}

/// value_interpolation.go `appendTemplatedValues`: each `values` entry rendered with the
/// element's parameters, then added as `values.key` (or `.values.key`).
fn append_values(
    map: &mut Map<String, Value>,
    values: Option<&Value>,
    syntax: Syntax,
) -> Result<(), GenError> {
    let Some(values) = values.and_then(Value::as_object) else {
        return Ok(());
    };
    let mut rendered = Map::new();
    for (key, value) in values {
        let text = value.as_str().unwrap_or_default();
        let v = template::render(text, map, syntax).map_err(GenError::Invalid)?;
        rendered.insert(key.clone(), Value::String(v));
    }
    match syntax {
        Syntax::Fast => {
            for (k, v) in rendered {
                map.insert(format!("values.{k}"), v);
            }
        }
        Syntax::Go { .. } => {
            map.insert("values".into(), Value::Object(rendered));
        }
    }
    Ok(())
}

/// cluster.go: every cluster matching `selector` (the in-cluster one too when the selector is
/// empty and no Secret names its server), with `name`, `nameNormalized`, `server`, `project`,
/// `metadata.labels`/`annotations` and `values`; `flatList` gives one set holding them all.
fn clusters(spec: &Value, settings: &SetSettings<'_>) -> Result<Vec<Params>, GenError> {
    let selector = &spec["selector"];
    let has_selector = selector["matchLabels"]
        .as_object()
        .is_some_and(|m| !m.is_empty())
        || selector["matchExpressions"]
            .as_array()
            .is_some_and(|m| !m.is_empty());
    let mut chosen: Vec<Cluster> = Vec::new();
    for cluster in settings.ctx.clusters {
        let mut labels = cluster.labels.clone();
        labels
            .entry("argocd.argoproj.io/secret-type".into())
            .or_insert_with(|| "cluster".into());
        if !has_selector || matches_selector(selector, &labels)? {
            chosen.push(cluster.clone());
        }
    }
    if !has_selector && !chosen.iter().any(|c| c.server == IN_CLUSTER_SERVER) {
        chosen.push(Cluster {
            name: "in-cluster".into(),
            server: IN_CLUSTER_SERVER.into(),
            ..Cluster::default()
        });
    }
    let mut out = Vec::new();
    for cluster in chosen {
        let s = |v: &str| Value::String(v.to_string());
        let mut map = Map::new();
        map.insert("name".into(), s(&cluster.name));
        map.insert("nameNormalized".into(), s(&normalize(&cluster.name)));
        map.insert("server".into(), s(&cluster.server));
        map.insert("project".into(), s(&cluster.project));
        let strings = |m: &BTreeMap<String, String>| -> Map<String, Value> {
            m.iter().map(|(k, v)| (k.clone(), s(v))).collect()
        };
        match settings.syntax {
            Syntax::Go { .. } => {
                let mut meta = Map::new();
                if !cluster.annotations.is_empty() {
                    meta.insert(
                        "annotations".into(),
                        Value::Object(strings(&cluster.annotations)),
                    );
                }
                if !cluster.labels.is_empty() {
                    meta.insert("labels".into(), Value::Object(strings(&cluster.labels)));
                }
                map.insert("metadata".into(), Value::Object(meta));
            }
            Syntax::Fast => {
                for (k, v) in &cluster.annotations {
                    map.insert(format!("metadata.annotations.{k}"), s(v));
                }
                for (k, v) in &cluster.labels {
                    map.insert(format!("metadata.labels.{k}"), s(v));
                }
            }
        }
        append_values(&mut map, spec.get("values"), settings.syntax)?;
        out.push(Params {
            map,
            producer: vec![format!("cluster {}", cluster.name)],
            evidence: cluster
                .origin
                .iter()
                .cloned()
                .map(Evidence::Document)
                .collect(),
        });
    }
    if spec["flatList"].as_bool() == Some(true) {
        let mut map = Map::new();
        map.insert(
            "clusters".into(),
            Value::Array(out.iter().map(|p| Value::Object(p.map.clone())).collect()),
        );
        return Ok(vec![Params {
            map,
            producer: vec!["the flat list of clusters".into()],
            evidence: out.into_iter().flat_map(|p| p.evidence).collect(),
        }]);
    }
    Ok(out)
}

/// The parameter sets of a matrix or merge child: exactly one generator kind.
fn child(
    spec: &Value,
    settings: &SetSettings<'_>,
    interpolate: Option<&Map<String, Value>>,
) -> Result<Vec<Params>, GenError> {
    Ok(transform(spec, settings, interpolate)?
        .into_iter()
        .map(|(p, _)| p)
        .collect())
}

/// matrix.go: the cartesian product of two children, the second interpolated with each element
/// of the first; fasttemplate refuses one key with two values, goTemplate lets the first win.
fn matrix(spec: &Value, settings: &SetSettings<'_>) -> Result<Vec<Params>, GenError> {
    let children = spec["generators"].as_array().cloned().unwrap_or_default();
    if children.len() != 2 {
        return Err(GenError::Invalid(format!(
            "a matrix generator needs exactly 2 child generators, found {}",
            children.len()
        )));
    }
    let mut out = Vec::new();
    for a in child(&children[0], settings, None)? {
        for b in child(&children[1], settings, Some(&a.map))? {
            let map = match settings.syntax {
                Syntax::Go { .. } => {
                    let mut tmp = Value::Object(b.map.clone());
                    deep_override(&mut tmp, &Value::Object(a.map.clone()));
                    match tmp {
                        Value::Object(m) => m,
                        _ => Map::new(),
                    }
                }
                Syntax::Fast => {
                    let mut combined = a.map.clone();
                    for (key, value) in &b.map {
                        match combined.get(key) {
                            Some(existing) if existing != value => {
                                return Err(GenError::Invalid(format!(
                                    "found duplicate key {key} with different value, a: {} ,b: {}",
                                    existing, value
                                )));
                            }
                            _ => {
                                combined.insert(key.clone(), value.clone());
                            }
                        }
                    }
                    combined
                }
            };
            out.push(Params {
                map,
                producer: a.producer.iter().chain(&b.producer).cloned().collect(),
                evidence: a.evidence.iter().chain(&b.evidence).cloned().collect(),
            });
        }
    }
    Ok(out)
}

/// merge.go: the first child's sets, each overridden by the sets of later children with the same
/// `mergeKeys` values (a key repeated within one child is an error).
fn merge(spec: &Value, settings: &SetSettings<'_>) -> Result<Vec<Params>, GenError> {
    let keys: Vec<&str> = spec["mergeKeys"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect();
    if keys.is_empty() {
        return Err(GenError::Invalid(
            "a merge generator needs mergeKeys".into(),
        ));
    }
    let children = spec["generators"].as_array().cloned().unwrap_or_default();
    if children.len() < 2 {
        return Err(GenError::Invalid(
            "a merge generator needs at least 2 child generators".into(),
        ));
    }
    let key_of = |p: &Params| -> String {
        let k: BTreeMap<&str, &Value> = keys
            .iter()
            .map(|key| (*key, p.map.get(*key).unwrap_or(&Value::Null)))
            .collect();
        serde_json::to_string(&k).unwrap_or_default()
    };
    let mut base = child(&children[0], settings, None)?;
    unique(&base, &key_of)?;
    for other in &children[1..] {
        let sets = child(other, settings, None)?;
        unique(&sets, &key_of)?;
        for set in &sets {
            let key = key_of(set);
            for b in base.iter_mut().filter(|b| key_of(b) == key) {
                match settings.syntax {
                    Syntax::Go { .. } => {
                        let mut v = Value::Object(std::mem::take(&mut b.map));
                        deep_override(&mut v, &Value::Object(set.map.clone()));
                        if let Value::Object(m) = v {
                            b.map = m;
                        }
                    }
                    Syntax::Fast => {
                        b.map
                            .extend(set.map.iter().map(|(k, v)| (k.clone(), v.clone())));
                    }
                }
                b.producer.extend(set.producer.iter().cloned());
                b.evidence.extend(set.evidence.iter().cloned());
            }
        }
    }
    Ok(base)
}

fn unique(sets: &[Params], key_of: &dyn Fn(&Params) -> String) -> Result<(), GenError> {
    let mut seen = std::collections::HashSet::new();
    for set in sets {
        let key = key_of(set);
        if !seen.insert(key.clone()) {
            return Err(GenError::Invalid(format!(
                "the merge generator's child gives non-unique parameter sets; duplicate key was {key}"
            )));
        }
    }
    Ok(())
}

/// mergo.Merge(WithOverride) of maps: nested maps merge, anything else is replaced.
fn deep_override(target: &mut Value, with: &Value) {
    match (target, with) {
        (Value::Object(t), Value::Object(w)) => {
            for (key, value) in w {
                match t.get_mut(key) {
                    Some(existing) if existing.is_object() && value.is_object() => {
                        deep_override(existing, value)
                    }
                    _ => {
                        t.insert(key.clone(), value.clone());
                    }
                }
            }
        }
        (t, w) => *t = w.clone(),
    }
}

/// jeremywohl/flatten DotStyle with Go's `%v` of each leaf: the flat strings a `selector` (and
/// fasttemplate) sees.
fn flatten_strings(map: &Map<String, Value>) -> BTreeMap<String, String> {
    fn walk(prefix: &str, value: &Value, out: &mut BTreeMap<String, String>) {
        let key = |k: &str| {
            if prefix.is_empty() {
                k.to_string()
            } else {
                format!("{prefix}.{k}")
            }
        };
        match value {
            Value::Object(m) if !m.is_empty() => {
                for (k, v) in m {
                    walk(&key(k), v, out);
                }
            }
            Value::Array(a) if !a.is_empty() => {
                for (i, v) in a.iter().enumerate() {
                    walk(&key(&i.to_string()), v, out);
                }
            }
            Value::Object(_) => {
                out.insert(prefix.to_string(), "map[]".into());
            }
            Value::Array(_) => {
                out.insert(prefix.to_string(), "[]".into());
            }
            Value::String(s) => {
                out.insert(prefix.to_string(), s.clone());
            }
            Value::Null => {
                out.insert(prefix.to_string(), "<nil>".into());
            }
            other => {
                out.insert(prefix.to_string(), other.to_string());
            }
        }
    }
    let mut out = BTreeMap::new();
    for (k, v) in map {
        walk(k, v, &mut out);
    }
    out
}

/// A Kubernetes label selector (`matchLabels`, `matchExpressions` with `In`, `NotIn`, `Exists`,
/// `DoesNotExist`) against flat labels; Argo CD's copy accepts any label value
/// (applicationset/utils/selector.go).
fn matches_selector(selector: &Value, labels: &BTreeMap<String, String>) -> Result<bool, GenError> {
    for (key, value) in selector["matchLabels"].as_object().into_iter().flatten() {
        if labels.get(key).map(String::as_str) != value.as_str() {
            return Ok(false);
        }
    }
    for expr in selector["matchExpressions"]
        .as_array()
        .into_iter()
        .flatten()
    {
        let key = expr["key"].as_str().unwrap_or_default();
        let values: Vec<&str> = expr["values"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .collect();
        let found = labels.get(key).map(String::as_str);
        let ok = match expr["operator"].as_str().unwrap_or_default() {
            "In" => found.is_some_and(|v| values.contains(&v)),
            "NotIn" => found.is_none_or(|v| !values.contains(&v)),
            "Exists" => found.is_some(),
            "DoesNotExist" => found.is_none(),
            other => {
                return Err(GenError::Invalid(format!(
                    "selector operator {other:?} is not In, NotIn, Exists or DoesNotExist"
                )));
            }
        };
        if !ok {
            return Ok(false);
        }
    }
    Ok(true)
}
