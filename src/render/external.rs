//! Running renders in child processes: our jsonnet sandbox child (parent side of its pipe
//! protocol) and the kustomize and helm binaries on a temporary export of the target's inputs.
//!
//! kustomize and helm run without plugins, exec functions or helm inflation (none of the flags
//! enabling them is passed, and their plugin folders point at nothing), with a cleared
//! environment whose proxies point at a closed local port, in a network namespace of their own
//! where the kernel allows one (no network, not even loopback), and under the same
//! timeout, memory and output limits as jsonnet.

use std::collections::{BTreeSet, HashSet};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::Command;

use git2::Oid;
use serde_json::Value;

use super::jsonnet::{Failure, Request};
use super::sandbox::{self, Confinement, Frame};
use super::{
    HelmOverrides, KustomizeEdit, Limits, RenderFailure, RenderedDoc, Resolution, RevisionFiles,
    Target,
};
use crate::revision::RevisionError;

/// File names that make a folder a kustomization, in kustomize's order of preference.
pub(crate) const KUSTOMIZATION_FILES: &[&str] =
    &["kustomization.yaml", "kustomization.yml", "Kustomization"];

/// A render result with every input path looked at and its blob (`None`: absent).
type Rendered<T> = (T, Vec<(String, Option<Oid>)>);

/// Evaluates one jsonnet entry point in the sandboxed child, answering its file requests from
/// the revision only.
pub(crate) fn run_jsonnet(
    program: &Path,
    files: &RevisionFiles<'_>,
    request: &Request,
    limits: Limits,
) -> Result<Rendered<Result<Value, Failure>>, RevisionError> {
    let mut deps = Vec::new();
    let at_entry = |message: String| Failure {
        path: request.entry.clone(),
        line: 1,
        column: 1,
        message,
    };
    // The child opens no files, but its working directory is still where a bug would look
    // first: an empty folder only the server's user can enter, removed afterwards.
    let workdir = match tempfile::Builder::new()
        .prefix("clobbercheck-jsonnet-")
        .permissions(private_dir())
        .tempdir()
    {
        Ok(dir) => dir,
        Err(e) => {
            let message = format!("cannot create a temporary folder for the jsonnet sandbox: {e}");
            return Ok((Err(at_entry(message)), deps));
        }
    };
    let mut command = Command::new(program);
    command
        .arg("__render-jsonnet")
        .arg("--memory-bytes")
        .arg(limits.memory_bytes.to_string())
        .arg("--cpu-seconds")
        .arg(sandbox::cpu_seconds(&limits).to_string())
        .env_clear()
        // mimalloc's up-front address reservations would count against RLIMIT_AS.
        .env(crate::alloc::SYSTEM_ALLOCATOR_ENV, "1")
        .current_dir(workdir.path());
    let mut child = match sandbox::spawn(&mut command, limits, Confinement::SelfApplied) {
        Ok(child) => child,
        Err(e) => {
            let message = format!(
                "cannot start the jsonnet sandbox ({}): {e}",
                program.display()
            );
            return Ok((Err(at_entry(message)), deps));
        }
    };
    let (Some(mut to_child), Some(mut from_child)) =
        (child.child.stdin.take(), child.child.stdout.take())
    else {
        child.kill();
        child.finish();
        return Ok((Err(at_entry("sandbox pipes missing".into())), deps));
    };
    let payload = serde_json::to_vec(request).map_err(|e| RevisionError::Read {
        revision: files.label().to_string(),
        path: request.entry.clone(),
        message: format!("cannot encode the render request: {e}"),
    })?;
    let mut result: Option<Result<Value, Failure>> = None;
    if sandbox::write_frame(&mut to_child, &Frame::Request(payload)).is_ok() {
        loop {
            let frame = match sandbox::read_frame(&mut from_child, limits.output_bytes + 4096) {
                Ok(frame) => frame,
                Err(e) if e.kind() == std::io::ErrorKind::FileTooLarge => {
                    child.kill();
                    result = Some(Err(at_entry(format!(
                        "output above the limit of {} MiB (render_limits.output_mib)",
                        limits.output_bytes >> 20
                    ))));
                    break;
                }
                // The child died: the finish below says why.
                Err(_) => break,
            };
            match frame {
                Frame::Read(payload) => {
                    let candidates: Vec<String> = match serde_json::from_slice(&payload) {
                        Ok(c) => c,
                        Err(_) => {
                            child.kill();
                            result =
                                Some(Err(at_entry("malformed request from the sandbox".into())));
                            break;
                        }
                    };
                    let answer = answer(files, &candidates, &mut deps)?;
                    if sandbox::write_frame(&mut to_child, &answer).is_err() {
                        break;
                    }
                }
                Frame::Output(json) => {
                    result =
                        Some(crate::manifest::split::json_value(&json).map_err(|e| {
                            at_entry(format!("the evaluator's output is not JSON: {e}"))
                        }));
                    break;
                }
                Frame::Failed(json) => {
                    result = Some(Err(serde_json::from_slice(&json).unwrap_or_else(|e| {
                        at_entry(format!("malformed failure from the sandbox: {e}"))
                    })));
                    break;
                }
                other => {
                    child.kill();
                    result = Some(Err(at_entry(format!(
                        "unexpected message from the sandbox: {other:?}"
                    ))));
                    break;
                }
            }
        }
    }
    drop(to_child);
    let finished = child.finish();
    drop(workdir);
    if !finished.stderr.is_empty() {
        tracing::debug!(
            entry = request.entry,
            stderr = finished.stderr,
            "jsonnet stderr"
        );
    }
    let result = match result {
        Some(result) => result,
        None => Err(at_entry(finished.describe("jsonnet evaluation"))),
    };
    Ok((result, deps))
}

/// The answer to an import question: the first candidate found, or the first refusal.
fn answer(
    files: &RevisionFiles<'_>,
    candidates: &[String],
    deps: &mut Vec<(String, Option<Oid>)>,
) -> Result<Frame, RevisionError> {
    for candidate in candidates {
        match files.resolve(candidate, deps)? {
            Resolution::Found { path, bytes } => {
                return Ok(Frame::Found(sandbox::encode_found(&path, &bytes)));
            }
            Resolution::Refused(reason) => return Ok(Frame::Refused(reason.into_bytes())),
            Resolution::Missing => {}
        }
    }
    Ok(Frame::Missing)
}

/// Renders a kustomization folder with `kustomize build` (or `kubectl kustomize`), after the
/// edits an Argo CD Application or a Flux Kustomization asks for are written into its
/// kustomization (for a Flux folder without one, into the kustomization Flux generates).
pub(crate) fn render_kustomize(
    files: &RevisionFiles<'_>,
    target: &Target,
    edit: &KustomizeEdit,
    limits: Limits,
) -> Result<Rendered<Result<Vec<RenderedDoc>, RenderFailure>>, RevisionError> {
    // The folder is the entry's: a Flux build's target is named after its Kustomization.
    let dir = parent_dir(&target.entry);
    let mut inputs = kustomization_inputs(files, dir)?;
    let mut edit = edit.clone();
    for component in std::mem::take(&mut edit.components) {
        // fluxcd/pkg `GenerateManifest`: a component must be a local relative path; a missing
        // one is left out with `ignoreMissingComponents`, else kustomize fails on it.
        if component.starts_with('/') || component.contains("://") {
            let message = format!("component path '{component}' must be local and relative");
            return Ok((Err(failure(target, message)), input_deps(files, &inputs)?));
        }
        let joined = super::normalize(&format!("{dir}/{component}")).map(|p| p.join("/"));
        let exists = match &joined {
            Some(path) => files.oid(path)?.is_some() || !files.files_under(path).is_empty(),
            None => false,
        };
        if let Some(path) = joined.filter(|_| exists) {
            kustomize_inputs(files, &path, &mut inputs, &mut HashSet::new())?;
        } else if edit.ignore_missing_components {
            continue;
        }
        edit.components.push(component);
    }
    let tool = match find_tool("kustomize") {
        Some(path) => Some((path, vec!["build".to_string()])),
        None => find_tool("kubectl").map(|path| (path, vec!["kustomize".to_string()])),
    };
    let Some((program, mut args)) = tool else {
        let deps = input_deps(files, &inputs)?;
        return Ok((
            Err(failure(
                target,
                "cannot render: neither `kustomize` nor `kubectl` is installed (looked in PATH)"
                    .into(),
            )),
            deps,
        ));
    };
    let mut extra = Vec::new();
    if !edit.is_empty() {
        let written = if edit.generate {
            let paths: Vec<&str> = files
                .files_under(dir)
                .into_iter()
                .map(|e| e.path.as_str())
                .collect();
            Ok(generated_kustomization(dir, &paths))
        } else {
            let mut deps = Vec::new();
            match files.resolve(&target.entry, &mut deps)? {
                Resolution::Found { bytes, .. } => Ok(bytes),
                _ => Err(format!("cannot read {}", target.entry)),
            }
        };
        match written.and_then(|bytes| edited_kustomization(&target.entry, &bytes, &edit)) {
            Ok(bytes) => extra.push((target.entry.clone(), bytes)),
            Err(message) => {
                return Ok((Err(failure(target, message)), input_deps(files, &inputs)?));
            }
        }
    }
    if edit.flux {
        // fluxcd/pkg `kustomize.Build`: `LoadRestrictionsNone`.
        args.push("--load-restrictor".into());
        args.push("LoadRestrictionsNone".into());
    }
    args.push(if dir.is_empty() { "." } else { dir }.to_string());
    let (result, deps) = run_tool(files, target, dir, &inputs, &extra, &program, &args, limits)?;
    let result = match result {
        Ok(docs) if edit.generate => Ok(own_origins(files, dir, &edit, docs)?),
        Err(mut failure) if edit.generate => {
            // The entry is the file Flux writes, not one of the revision's: say so.
            failure.message = format!(
                "{} (building the kustomization kustomize-controller generates for {}, which \
                 the folder does not hold)",
                failure.message,
                if dir.is_empty() { "." } else { dir }
            );
            Err(failure)
        }
        other => other,
    };
    Ok((result, deps))
}

/// The folder of a repository path (`""` at the root).
fn parent_dir(path: &str) -> &str {
    path.rsplit_once('/').map_or("", |(dir, _)| dir)
}

/// The kustomization kustomize-controller generates for a folder without one (fluxcd/pkg
/// `kustomize/kustomize_generator.go`, `findOrGenerateKustomization` and `scanManifests`): every
/// `.yaml` / `.yml` file under the folder, recursively, and every sub-folder holding a
/// kustomization file as one resource (not descended into); no resource at all gives the
/// placeholder namespace `_placeholder`. `paths` are the files under `dir`, sorted.
fn generated_kustomization(dir: &str, paths: &[&str]) -> Vec<u8> {
    let prefix = if dir.is_empty() {
        String::new()
    } else {
        format!("{dir}/")
    };
    let relative: Vec<&str> = paths
        .iter()
        .filter_map(|p| p.strip_prefix(prefix.as_str()))
        .collect();
    // Sub-folders holding a kustomization file, outermost first.
    let mut kustomized: Vec<&str> = relative
        .iter()
        .filter_map(|p| p.rsplit_once('/'))
        .filter(|(_, name)| KUSTOMIZATION_FILES.contains(name))
        .map(|(sub, _)| sub)
        .collect();
    kustomized.sort_unstable();
    kustomized.dedup();
    let inside = |path: &str, sub: &str| {
        path.strip_prefix(sub)
            .is_some_and(|rest| rest.starts_with('/'))
    };
    let outermost: Vec<&str> = kustomized
        .iter()
        .copied()
        .filter(|sub| !kustomized.iter().any(|outer| inside(sub, outer)))
        .collect();
    let mut resources: Vec<String> = Vec::new();
    for path in &relative {
        if let Some(sub) = outermost.iter().find(|sub| inside(path, sub)) {
            let entry = format!("./{sub}");
            if !resources.contains(&entry) {
                resources.push(entry);
            }
        } else if path.ends_with(".yaml") || path.ends_with(".yml") {
            resources.push(format!("./{path}"));
        }
    }
    let mut kustomization = serde_json::json!({
        "apiVersion": "kustomize.config.k8s.io/v1beta1",
        "kind": "Kustomization",
    });
    if resources.is_empty() {
        kustomization["namespace"] = Value::String("_placeholder".into());
    } else {
        kustomization["resources"] = resources.into_iter().map(Value::String).collect();
    }
    serde_json::to_vec(&kustomization).unwrap_or_default()
}

/// The kustomization with the edits applied, as JSON (which kustomize reads as YAML): prefix,
/// suffix and namespace replace what is written, labels are added over it, as Argo CD's
/// `kustomize edit set nameprefix|namesuffix|namespace` and `edit add label --force` do; Flux's
/// patches and components are appended and its images merged by name
/// (`Generator.GenerateManifest`); a generated kustomization asks for origin annotations.
fn edited_kustomization(path: &str, bytes: &[u8], edit: &KustomizeEdit) -> Result<Vec<u8>, String> {
    let docs = crate::manifest::split::split(path, bytes)
        .map_err(|e| format!("{path}:{}: cannot parse: {}", e.line, e.message))?;
    let mut value = docs
        .into_iter()
        .next()
        .map(|d| (**d.value).clone())
        .unwrap_or_else(|| Value::Object(Default::default()));
    let Some(map) = value.as_object_mut() else {
        return Err(format!("{path}: the kustomization is not a mapping"));
    };
    for (key, field) in [
        ("namePrefix", &edit.name_prefix),
        ("nameSuffix", &edit.name_suffix),
        ("namespace", &edit.namespace),
    ] {
        if let Some(v) = field {
            map.insert(key.into(), Value::String(v.clone()));
        }
    }
    // A list field of the kustomization, made a list when it is absent or not one.
    fn list<'m>(map: &'m mut serde_json::Map<String, Value>, key: &str) -> &'m mut Vec<Value> {
        let field = map.entry(key).or_insert_with(|| Value::Array(Vec::new()));
        if !field.is_array() {
            *field = Value::Array(Vec::new());
        }
        field.as_array_mut().expect("made a list above")
    }
    if !edit.common_labels.is_empty() {
        let labels = map
            .entry("commonLabels")
            .or_insert_with(|| Value::Object(Default::default()));
        if !labels.is_object() {
            *labels = Value::Object(Default::default());
        }
        if let Some(labels) = labels.as_object_mut() {
            for (k, v) in &edit.common_labels {
                labels.insert(k.clone(), Value::String(v.clone()));
            }
        }
    }
    if !edit.patches.is_empty() {
        let patches = list(map, "patches");
        for patch in &edit.patches {
            let mut entry = serde_json::json!({"patch": patch.patch});
            if let Some(target) = &patch.target {
                entry["target"] = target
                    .iter()
                    .map(|(k, v)| (k.clone(), Value::String(v.clone())))
                    .collect::<serde_json::Map<_, _>>()
                    .into();
            }
            patches.push(entry);
        }
    }
    if !edit.components.is_empty() {
        list(map, "components").extend(edit.components.iter().cloned().map(Value::String));
    }
    if !edit.images.is_empty() {
        let images = list(map, "images");
        for image in &edit.images {
            let known = images
                .iter_mut()
                .find(|i| i["name"].as_str() == Some(image.name.as_str()));
            match known {
                // An entry the kustomization already has keeps the fields the Kustomization does
                // not set; `newTag` and `digest` are replaced together.
                Some(entry) if entry.is_object() => {
                    if let Some(new_name) = &image.new_name {
                        entry["newName"] = Value::String(new_name.clone());
                    }
                    if image.new_tag.is_some() || image.digest.is_some() {
                        let entry = entry.as_object_mut().expect("checked above");
                        entry.remove("newTag");
                        entry.remove("digest");
                        for (key, field) in [("newTag", &image.new_tag), ("digest", &image.digest)]
                        {
                            if let Some(v) = field {
                                entry.insert(key.into(), Value::String(v.clone()));
                            }
                        }
                    }
                }
                _ => {
                    let mut entry = serde_json::json!({"name": image.name});
                    for (key, field) in [
                        ("newName", &image.new_name),
                        ("newTag", &image.new_tag),
                        ("digest", &image.digest),
                    ] {
                        if let Some(v) = field {
                            entry[key] = Value::String(v.clone());
                        }
                    }
                    images.push(entry);
                }
            }
        }
    }
    if edit.generate {
        map.insert(
            "buildMetadata".into(),
            Value::Array(vec![Value::String("originAnnotations".into())]),
        );
    }
    serde_json::to_vec(&value)
        .map_err(|e| format!("{path}: cannot write the edited kustomization: {e}"))
}

/// kustomize's origin annotation (`buildMetadata: [originAnnotations]`).
const ORIGIN_ANNOTATION: &str = "config.kubernetes.io/origin";

/// The documents of a generated kustomization's build with each object's own file and line as
/// origin, as if the folder's files had been read one by one: kustomize's origin annotation
/// names the file (relative to the folder) and is then removed, since Flux's output has none;
/// the line is the written document of that file the object came from ([`written_match`]).
fn own_origins(
    files: &RevisionFiles<'_>,
    dir: &str,
    edit: &KustomizeEdit,
    docs: Vec<RenderedDoc>,
) -> Result<Vec<RenderedDoc>, RevisionError> {
    let mut out: Vec<RenderedDoc> = Vec::with_capacity(docs.len());
    let mut by_file: std::collections::BTreeMap<String, Vec<usize>> = Default::default();
    for doc in docs {
        let mut value = (**doc.value).clone();
        let named = take_origin(&mut value)
            .and_then(|p| super::normalize(&format!("{dir}/{p}")))
            .map(|p| p.join("/"));
        let path = match named {
            Some(path) => {
                by_file.entry(path.clone()).or_default().push(out.len());
                path
            }
            None => doc.path,
        };
        out.push(RenderedDoc {
            path,
            line: 1,
            end_line: 1,
            value: std::sync::Arc::new(value.into()),
        });
    }
    for (path, indices) in by_file {
        let mut deps = Vec::new();
        let Resolution::Found { bytes, .. } = files.resolve(&path, &mut deps)? else {
            continue;
        };
        let Ok(written) = crate::manifest::split::split(&path, &bytes) else {
            continue;
        };
        let head = |v: &Value| {
            (
                v["kind"].as_str().unwrap_or_default().to_string(),
                v["metadata"]["name"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string(),
            )
        };
        let written_heads: Vec<(String, String)> =
            written.iter().map(|d| head(d.value.as_ref())).collect();
        let built: Vec<(String, String)> = indices.iter().map(|&i| head(&out[i].value)).collect();
        let affixes = (
            edit.name_prefix.as_deref().unwrap_or_default(),
            edit.name_suffix.as_deref().unwrap_or_default(),
        );
        for (k, found) in written_match(&written_heads, &built, affixes)
            .into_iter()
            .enumerate()
        {
            if let Some(w) = found {
                out[indices[k]].line = written[w].line;
                out[indices[k]].end_line = written[w].end_line;
            }
        }
    }
    Ok(out)
}

/// Removes kustomize's origin annotation from a built object (and `annotations` when it was the
/// only one); returns the file it names (`path`, or `configuredIn` for a generated object).
fn take_origin(value: &mut Value) -> Option<String> {
    let annotations = value
        .get_mut("metadata")?
        .get_mut("annotations")?
        .as_object_mut()?;
    let text = annotations.remove(ORIGIN_ANNOTATION)?;
    if annotations.is_empty()
        && let Some(metadata) = value["metadata"].as_object_mut()
    {
        metadata.remove("annotations");
    }
    let docs = crate::manifest::split::split("origin", text.as_str()?.as_bytes()).ok()?;
    let origin = docs.into_iter().next()?.value;
    ["path", "configuredIn"]
        .iter()
        .find_map(|k| origin[*k].as_str().map(str::to_string))
}

/// Which written document (kind, name) each built object (kind, name) of one file came from:
/// first by kind and name (as written, or with the Kustomization's prefix and suffix), then the
/// remaining ones by kind in written order (a patch may rename an object); `None` when no
/// written document of that kind is left.
fn written_match(
    written: &[(String, String)],
    built: &[(String, String)],
    (prefix, suffix): (&str, &str),
) -> Vec<Option<usize>> {
    let mut used = vec![false; written.len()];
    let mut out = vec![None; built.len()];
    for (b, (kind, name)) in built.iter().enumerate() {
        let found = (0..written.len()).find(|&w| {
            let (k, n) = &written[w];
            !used[w] && k == kind && (n == name || format!("{prefix}{n}{suffix}") == *name)
        });
        if let Some(w) = found {
            used[w] = true;
            out[b] = Some(w);
        }
    }
    for (b, (kind, _)) in built.iter().enumerate() {
        if out[b].is_some() {
            continue;
        }
        if let Some(w) = (0..written.len()).find(|&w| !used[w] && written[w].0 == *kind) {
            used[w] = true;
            out[b] = Some(w);
        }
    }
    out
}

/// Renders a chart folder with `helm template`, with an Application's release name, value files
/// (chart-relative, or a `ref` source's file of this repository), inline values, parameters and
/// namespace.
pub(crate) fn render_helm(
    files: &RevisionFiles<'_>,
    target: &Target,
    values: &[String],
    release: &str,
    app: &HelmOverrides,
    limits: Limits,
) -> Result<Rendered<Result<Vec<RenderedDoc>, RenderFailure>>, RevisionError> {
    let mut inputs: BTreeSet<String> = files
        .files_under(&target.name)
        .into_iter()
        .map(|e| e.path.clone())
        .collect();
    let mut value_paths = Vec::new();
    for file in values {
        match super::normalize(&format!("{}/{file}", target.name)) {
            Some(parts) => {
                let path = parts.join("/");
                inputs.insert(path.clone());
                value_paths.push(path);
            }
            None => {
                let message = format!("values file {file} is outside the repository");
                return Ok((Err(failure(target, message)), input_deps(files, &inputs)?));
            }
        }
    }
    let Some(program) = find_tool("helm") else {
        let deps = input_deps(files, &inputs)?;
        return Ok((
            Err(failure(
                target,
                "cannot render: `helm` is not installed (looked in PATH)".into(),
            )),
            deps,
        ));
    };
    let dir_name = target.name.rsplit('/').next().unwrap_or(&target.name);
    let mut args = vec![
        "template".to_string(),
        release.replace("{dir}", dir_name),
        target.name.clone(),
    ];
    if let Some(namespace) = &app.namespace {
        args.push("--namespace".into());
        args.push(namespace.clone());
    }
    for path in value_paths {
        args.push("--values".into());
        args.push(path);
    }
    let mut extra = Vec::new();
    if let Some(inline) = &app.inline_values {
        let path = ".clobbercheck-inline-values.yaml".to_string();
        args.push("--values".into());
        args.push(path.clone());
        extra.push((path, inline.clone().into_bytes()));
    }
    for (name, value, force_string) in &app.parameters {
        args.push(
            if *force_string {
                "--set-string"
            } else {
                "--set"
            }
            .into(),
        );
        args.push(format!("{name}={value}"));
    }
    run_tool(
        files,
        target,
        &target.name,
        &inputs,
        &extra,
        &program,
        &args,
        limits,
    )
}

fn failure(target: &Target, message: String) -> RenderFailure {
    RenderFailure {
        target: target.name.clone(),
        path: target.entry.clone(),
        line: 1,
        column: 1,
        message,
        checked: false,
    }
}

fn input_deps(
    files: &RevisionFiles<'_>,
    inputs: &BTreeSet<String>,
) -> Result<Vec<(String, Option<Oid>)>, RevisionError> {
    inputs
        .iter()
        .map(|path| Ok((path.clone(), files.oid(path)?)))
        .collect()
}

/// Exports the inputs to a temporary folder (then writes `extra` files over them: an edited
/// kustomization, inline values) and runs the tool there, on the folder `dir`.
#[allow(clippy::too_many_arguments)]
fn run_tool(
    files: &RevisionFiles<'_>,
    target: &Target,
    dir: &str,
    inputs: &BTreeSet<String>,
    extra: &[(String, Vec<u8>)],
    program: &Path,
    args: &[String],
    limits: Limits,
) -> Result<Rendered<Result<Vec<RenderedDoc>, RenderFailure>>, RevisionError> {
    let tool = program
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let mut deps = Vec::new();
    let workdir = match tempfile::Builder::new()
        .prefix("clobbercheck-render-")
        .permissions(private_dir())
        .tempdir()
    {
        Ok(dir) => dir,
        Err(e) => {
            let message = format!("cannot create a temporary folder: {e}");
            return Ok((Err(failure(target, message)), input_deps(files, inputs)?));
        }
    };
    let tree = workdir.path().join("tree");
    let home = workdir.path().join("home");
    for path in inputs {
        let bytes = match files.resolve(path, &mut deps)? {
            Resolution::Found { bytes, .. } => bytes,
            Resolution::Missing => continue,
            Resolution::Refused(reason) => {
                tracing::warn!(target = target.name, path, reason, "input not exported");
                continue;
            }
        };
        if let Err(e) = write_under(&tree, path, &bytes) {
            let message = format!("cannot export {path} to a temporary folder: {e}");
            return Ok((Err(failure(target, message)), deps));
        }
    }
    for (path, bytes) in extra {
        if let Err(e) = write_under(&tree, path, bytes) {
            let message = format!("cannot write {path} to a temporary folder: {e}");
            return Ok((Err(failure(target, message)), deps));
        }
    }
    if let Err(e) = std::fs::create_dir_all(tree.join(dir)).and(std::fs::create_dir_all(&home)) {
        let message = format!("cannot prepare a temporary folder: {e}");
        return Ok((Err(failure(target, message)), deps));
    }
    let mut command = Command::new(program);
    command
        .args(args)
        .current_dir(&tree)
        .env_clear()
        .env("PATH", "/usr/local/bin:/usr/bin:/bin")
        .env("HOME", &home)
        .env("XDG_CONFIG_HOME", home.join("config"))
        .env("XDG_CACHE_HOME", home.join("cache"))
        .env("KUBECONFIG", "/dev/null")
        .env("KUSTOMIZE_PLUGIN_HOME", "/nonexistent")
        .env("HELM_PLUGINS", "/nonexistent")
        .env("HELM_CACHE_HOME", home.join("helm-cache"))
        .env("HELM_CONFIG_HOME", home.join("helm-config"))
        .env("HELM_DATA_HOME", home.join("helm-data"))
        .env("GIT_TERMINAL_PROMPT", "0")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_SSH_COMMAND", "/bin/false")
        .env("GIT_ALLOW_PROTOCOL", "file")
        .env("NO_PROXY", "")
        .env("no_proxy", "");
    for proxy in [
        "HTTP_PROXY",
        "HTTPS_PROXY",
        "ALL_PROXY",
        "http_proxy",
        "https_proxy",
        "all_proxy",
    ] {
        command.env(proxy, "http://127.0.0.1:9");
    }
    let mut child = match sandbox::spawn(&mut command, limits, Confinement::PreExec) {
        Ok(child) => child,
        Err(e) => {
            let message = format!("cannot run {}: {e}", program.display());
            return Ok((Err(failure(target, message)), deps));
        }
    };
    drop(child.child.stdin.take());
    let mut output = Vec::new();
    let mut too_large = false;
    if let Some(stdout) = child.child.stdout.take() {
        let cap = limits.output_bytes;
        let read = stdout.take(cap + 1).read_to_end(&mut output);
        if read.is_ok() && output.len() as u64 > cap {
            too_large = true;
            child.kill();
        }
    }
    let finished = child.finish();
    let what = format!("`{tool} {}`", args.join(" "));
    if too_large {
        let message = format!(
            "{what}: output above the limit of {} MiB (render_limits.output_mib)",
            limits.output_bytes >> 20
        );
        return Ok((Err(failure(target, message)), deps));
    }
    if !finished.success() || finished.timed_out {
        return Ok((Err(failure(target, finished.describe(&what))), deps));
    }
    let name = format!("{} ({tool} output)", target.name);
    let docs = match crate::manifest::split::split(&name, &output) {
        Ok(docs) => docs,
        Err(e) => {
            let message = format!(
                "{what} printed output that does not parse at line {}: {}",
                e.line, e.message
            );
            return Ok((Err(failure(target, message)), deps));
        }
    };
    let docs = docs
        .into_iter()
        .map(|doc| RenderedDoc {
            path: target.entry.clone(),
            line: 1,
            end_line: 1,
            value: doc.value,
        })
        .collect();
    Ok((Ok(docs), deps))
}

/// The files a kustomization folder reads (see [`kustomize_inputs`]).
pub(crate) fn kustomization_inputs(
    files: &RevisionFiles<'_>,
    dir: &str,
) -> Result<BTreeSet<String>, RevisionError> {
    let mut inputs = BTreeSet::new();
    kustomize_inputs(files, dir, &mut inputs, &mut HashSet::new())?;
    Ok(inputs)
}

/// The files a kustomization reads: its whole folder, and the local files and folders its
/// kustomization names (resources, bases, components, patches, generator files), recursively.
/// Remote resources are left out: without network they fail, and kustomize says so.
fn kustomize_inputs(
    files: &RevisionFiles<'_>,
    dir: &str,
    out: &mut BTreeSet<String>,
    visited: &mut HashSet<String>,
) -> Result<(), RevisionError> {
    if !visited.insert(dir.to_string()) {
        return Ok(());
    }
    for entry in files.files_under(dir) {
        out.insert(entry.path.clone());
    }
    let mut deps = Vec::new();
    let kustomization = KUSTOMIZATION_FILES.iter().find_map(|name| {
        let path = format!("{dir}/{name}");
        files.oid(&path).ok().flatten().map(|_| path)
    });
    let Some(path) = kustomization else {
        return Ok(());
    };
    let Resolution::Found { bytes, .. } = files.resolve(&path, &mut deps)? else {
        return Ok(());
    };
    let Ok(docs) = crate::manifest::split::split(&path, &bytes) else {
        // kustomize reports the syntax error itself.
        return Ok(());
    };
    let mut references = Vec::new();
    for doc in &docs {
        collect_references(&doc.value, &mut references);
    }
    for reference in references {
        if reference.contains("://")
            || reference.starts_with("github.com/")
            || reference.starts_with("git@")
        {
            continue;
        }
        let reference = reference
            .split_once('=')
            .map_or(reference.as_str(), |(_, path)| path);
        let Some(parts) = super::normalize(&format!("{dir}/{reference}")) else {
            continue;
        };
        let joined = parts.join("/");
        if files.oid(&joined)?.is_some() {
            out.insert(joined);
        } else if !files.files_under(&joined).is_empty() {
            kustomize_inputs(files, &joined, out, visited)?;
        }
    }
    Ok(())
}

/// Local paths a kustomization names.
fn collect_references(value: &Value, out: &mut Vec<String>) {
    let strings = |v: &Value, out: &mut Vec<String>| {
        if let Some(items) = v.as_array() {
            out.extend(items.iter().filter_map(Value::as_str).map(str::to_string));
        }
    };
    for key in [
        "resources",
        "bases",
        "components",
        "crds",
        "patchesStrategicMerge",
        "configurations",
        "transformers",
        "generators",
        "validators",
    ] {
        if let Some(v) = value.get(key) {
            strings(v, out);
        }
    }
    for key in ["patches", "patchesJson6902", "replacements"] {
        if let Some(items) = value.get(key).and_then(Value::as_array) {
            out.extend(
                items
                    .iter()
                    .filter_map(|i| i.get("path").and_then(Value::as_str))
                    .map(str::to_string),
            );
        }
    }
    for key in ["configMapGenerator", "secretGenerator"] {
        if let Some(items) = value.get(key).and_then(Value::as_array) {
            for item in items {
                for field in ["files", "envs"] {
                    if let Some(v) = item.get(field) {
                        strings(v, out);
                    }
                }
                if let Some(env) = item.get("env").and_then(Value::as_str) {
                    out.push(env.to_string());
                }
            }
        }
    }
}

/// Mode of the render folders: the revision's files (Secrets included) are no one else's to read.
fn private_dir() -> std::fs::Permissions {
    use std::os::unix::fs::PermissionsExt;
    std::fs::Permissions::from_mode(0o700)
}

/// The first executable named `name` in our own `PATH`.
fn find_tool(name: &str) -> Option<PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|candidate| {
            candidate
                .metadata()
                .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        })
}

/// Writes `bytes` to `path` under the folder `tree`, creating its parent folders.
fn write_under(tree: &std::path::Path, path: &str, bytes: &[u8]) -> std::io::Result<()> {
    let dest = tree.join(path);
    dest.parent()
        .map_or(Ok(()), std::fs::create_dir_all)
        .and_then(|()| std::fs::write(&dest, bytes))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::render::{KustomizeImage, KustomizePatch};

    fn json(bytes: &[u8]) -> Value {
        serde_json::from_slice(bytes).unwrap()
    }

    #[test]
    fn the_generated_kustomization_lists_yaml_files_and_kustomization_folders() {
        let paths = [
            "apps/README.md",
            "apps/a.yaml",
            "apps/deep/b.yml",
            "apps/kdir/kustomization.yaml",
            "apps/kdir/inner/kustomization.yaml",
            "apps/kdir/x.yaml",
            "apps/values.json",
        ];
        let k = json(&generated_kustomization("apps", &paths));
        assert_eq!(
            k["resources"],
            serde_json::json!(["./a.yaml", "./deep/b.yml", "./kdir"])
        );
        let empty = json(&generated_kustomization("apps", &["apps/README.md"]));
        assert_eq!(empty["namespace"], "_placeholder");
        assert!(empty.get("resources").is_none());
        let root = json(&generated_kustomization("", &["a.yaml"]));
        assert_eq!(root["resources"], serde_json::json!(["./a.yaml"]));
    }

    #[test]
    fn flux_fields_are_written_into_the_kustomization() {
        let written = b"resources: [a.yaml]\nimages:\n- name: nginx\n  newTag: '1.0'\n  digest: sha256:0\npatches:\n- path: p.yaml\n";
        let edit = KustomizeEdit {
            namespace: Some("shop".into()),
            name_prefix: Some("p-".into()),
            patches: vec![KustomizePatch {
                patch: "- op: remove\n  path: /spec\n".into(),
                target: Some([("kind".to_string(), "Service".to_string())].into()),
            }],
            images: vec![
                KustomizeImage {
                    name: "nginx".into(),
                    new_tag: Some("2.0".into()),
                    ..KustomizeImage::default()
                },
                KustomizeImage {
                    name: "redis".into(),
                    new_name: Some("r.example.com/redis".into()),
                    ..KustomizeImage::default()
                },
            ],
            components: vec!["../c".into()],
            flux: true,
            ..KustomizeEdit::default()
        };
        let k = json(&edited_kustomization("k.yaml", written, &edit).unwrap());
        assert_eq!(k["namespace"], "shop");
        assert_eq!(k["namePrefix"], "p-");
        assert_eq!(k["patches"][0]["path"], "p.yaml");
        assert_eq!(k["patches"][1]["target"]["kind"], "Service");
        // A newTag replaces the written tag and digest together; other fields are kept.
        assert_eq!(
            k["images"][0],
            serde_json::json!({"name": "nginx", "newTag": "2.0"})
        );
        assert_eq!(k["images"][1]["newName"], "r.example.com/redis");
        assert_eq!(k["components"], serde_json::json!(["../c"]));
        assert!(k.get("buildMetadata").is_none());
        let generated = KustomizeEdit {
            generate: true,
            ..edit
        };
        let k = json(&edited_kustomization("k.yaml", b"{}", &generated).unwrap());
        assert_eq!(k["buildMetadata"], serde_json::json!(["originAnnotations"]));
    }

    #[test]
    fn origin_annotations_name_the_file_and_are_removed() {
        let mut doc = serde_json::json!({"metadata": {"name": "a", "annotations": {
            ORIGIN_ANNOTATION: "path: sub/a.yaml\n"}}});
        assert_eq!(take_origin(&mut doc).as_deref(), Some("sub/a.yaml"));
        assert_eq!(doc, serde_json::json!({"metadata": {"name": "a"}}));
        let mut generated = serde_json::json!({"metadata": {"annotations": {"x": "y",
            ORIGIN_ANNOTATION: "configuredIn: kustomization.yaml\nconfiguredBy:\n  kind: ConfigMapGenerator\n"}}});
        assert_eq!(
            take_origin(&mut generated).as_deref(),
            Some("kustomization.yaml")
        );
        assert_eq!(
            generated["metadata"]["annotations"],
            serde_json::json!({"x": "y"})
        );
    }

    #[test]
    fn built_objects_find_their_written_document() {
        let pair = |k: &str, n: &str| (k.to_string(), n.to_string());
        let written = [
            pair("ConfigMap", "a"),
            pair("ConfigMap", "b"),
            pair("Deployment", "web"),
        ];
        // kustomize sorts its output; `a` was renamed to `c` by a patch, the rest prefixed.
        let built = [
            pair("ConfigMap", "p-b"),
            pair("ConfigMap", "c"),
            pair("Deployment", "p-web"),
            pair("Service", "x"),
        ];
        assert_eq!(
            written_match(&written, &built, ("p-", "")),
            vec![Some(1), Some(0), Some(2), None]
        );
    }
}
