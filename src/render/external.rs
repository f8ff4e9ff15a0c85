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
/// edits an Argo CD Application asks for are written into its kustomization.
pub(crate) fn render_kustomize(
    files: &RevisionFiles<'_>,
    target: &Target,
    edit: &KustomizeEdit,
    limits: Limits,
) -> Result<Rendered<Result<Vec<RenderedDoc>, RenderFailure>>, RevisionError> {
    let inputs = kustomization_inputs(files, &target.name)?;
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
        let mut deps = Vec::new();
        let edited = match files.resolve(&target.entry, &mut deps)? {
            Resolution::Found { bytes, .. } => edited_kustomization(&target.entry, &bytes, edit),
            _ => Err(format!("cannot read {}", target.entry)),
        };
        match edited {
            Ok(bytes) => extra.push((target.entry.clone(), bytes)),
            Err(message) => {
                return Ok((Err(failure(target, message)), input_deps(files, &inputs)?));
            }
        }
    }
    args.push(target.name.clone());
    run_tool(files, target, &inputs, &extra, &program, &args, limits)
}

/// The kustomization with Argo CD's edits applied, as JSON (which kustomize reads as YAML):
/// prefix, suffix and namespace replace what is written, labels are added over it, as
/// `kustomize edit set nameprefix|namesuffix|namespace` and `edit add label --force` do.
fn edited_kustomization(path: &str, bytes: &[u8], edit: &KustomizeEdit) -> Result<Vec<u8>, String> {
    let docs = crate::manifest::split::split(path, bytes)
        .map_err(|e| format!("{path}:{}: cannot parse: {}", e.line, e.message))?;
    let mut value = docs
        .into_iter()
        .next()
        .map(|d| d.value.as_ref().clone())
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
    serde_json::to_vec(&value)
        .map_err(|e| format!("{path}: cannot write the edited kustomization: {e}"))
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
    run_tool(files, target, &inputs, &extra, &program, &args, limits)
}

fn failure(target: &Target, message: String) -> RenderFailure {
    RenderFailure {
        target: target.name.clone(),
        path: target.entry.clone(),
        line: 1,
        column: 1,
        message,
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
/// kustomization, inline values) and runs the tool there.
fn run_tool(
    files: &RevisionFiles<'_>,
    target: &Target,
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
    if let Err(e) =
        std::fs::create_dir_all(tree.join(&target.name)).and(std::fs::create_dir_all(&home))
    {
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
