//! The properties the fuzz targets (`fuzz/fuzz_targets/`) check on every input, shared with
//! `tests/fuzz_regressions.rs` so that a crash input kept as a fixture fails `cargo test` the same
//! way it failed under the fuzzer. Each `check_*` panics when a property does not hold.

use clobbercheck::Config;
use clobbercheck::manifest::ObjectHead;
use clobbercheck::manifest::identity::list_items;
use clobbercheck::manifest::scope::ScopeTable;
use clobbercheck::manifest::split::split;
use clobbercheck::manifest::yaml;
use clobbercheck::queue::Job;
use clobbercheck::server::webhook::{Event, PayloadError, jobs, verify_signature};
use hmac::{Hmac, Mac};
use serde_json::Value;
use sha2::Sha256;

/// Lines of a file as editors and GitHub count them: a final newline does not start a line.
fn line_count(bytes: &[u8]) -> usize {
    let newlines = bytes.iter().filter(|&&b| b == b'\n').count();
    let unterminated = usize::from(!bytes.is_empty() && !bytes.ends_with(b"\n"));
    (newlines + unterminated).max(1)
}

/// The splitter, on the same bytes as YAML and as JSON: spans inside the file, documents in
/// order (items of a `List` may share lines), errors on a line of the file, the same answer twice;
/// and the fast YAML reader's answer, when it gives one, is the full reader's.
pub fn check_split(bytes: &[u8]) {
    if let Ok(text) = std::str::from_utf8(bytes) {
        check_fast_yaml(text);
    }
    let lines = line_count(bytes);
    for path in ["fuzz.yaml", "fuzz.json"] {
        let first = split(path, bytes);
        assert_eq!(first, split(path, bytes), "{path}: two splits differ");
        match first {
            Ok(docs) => {
                let mut previous = 1;
                for d in &docs {
                    assert!(
                        1 <= d.line && d.line <= d.end_line && d.end_line <= lines,
                        "{path}: span {}..={} outside 1..={lines}",
                        d.line,
                        d.end_line
                    );
                    assert!(
                        d.line >= previous,
                        "{path}: a document at line {} after one at line {previous}",
                        d.line
                    );
                    previous = d.line;
                }
            }
            Err(e) => {
                assert!(
                    1 <= e.line && e.line <= lines && e.column >= 1,
                    "{path}: error at {}:{} outside 1..={lines}: {}",
                    e.line,
                    e.column,
                    e.message
                );
                assert!(!e.message.is_empty(), "{path}: error without a message");
            }
        }
    }
}

/// The fast YAML reader, whenever it answers, answers exactly as the full one: values, document
/// and item lines, warnings.
pub fn check_fast_yaml(text: &str) {
    if let Some(docs) = yaml::fast::parse(text) {
        assert_eq!(
            Ok(&docs),
            yaml::parse_stream_full(text).as_ref(),
            "the fast YAML reader differs from the full one"
        );
    }
}

/// Reads bytes as instructions for building a JSON value shaped like a Kubernetes object, so
/// the identity target reaches `apiVersion`/`kind`/`metadata` far more often than raw YAML would.
struct Builder<'a> {
    bytes: &'a [u8],
}

const WORDS: &[&str] = &[
    "apiVersion",
    "kind",
    "metadata",
    "name",
    "namespace",
    "generateName",
    "items",
    "v1",
    "apps/v1",
    "apps/v1beta2",
    "extensions/v1beta1",
    "networking.k8s.io/v1",
    "rbac.authorization.k8s.io/v1",
    "apiextensions.k8s.io/v1",
    "argoproj.io/v1alpha1",
    "kustomize.config.k8s.io/v1beta1",
    "List",
    "ConfigMapList",
    "ConfigMap",
    "Deployment",
    "Ingress",
    "Namespace",
    "ClusterRole",
    "CustomResourceDefinition",
    "Event",
    "Application",
    "Kustomization",
    "default",
    "",
    " ",
    "/",
];

impl Builder<'_> {
    fn byte(&mut self) -> u8 {
        let Some((&b, rest)) = self.bytes.split_first() else {
            return 0;
        };
        self.bytes = rest;
        b
    }

    fn string(&mut self) -> String {
        let b = self.byte();
        if b < 0xc0 {
            return WORDS[usize::from(b) % WORDS.len()].to_string();
        }
        let len = usize::from(b - 0xc0).min(self.bytes.len());
        let (raw, rest) = self.bytes.split_at(len);
        self.bytes = rest;
        String::from_utf8_lossy(raw).into_owned()
    }

    fn value(&mut self, depth: usize) -> Value {
        let tag = if depth >= 8 {
            self.byte() % 4
        } else {
            self.byte() % 8
        };
        match tag {
            0 => Value::Null,
            1 => Value::Bool(self.byte() & 1 == 1),
            2 => Value::from(i64::from(self.byte() as i8)),
            3 => Value::String(self.string()),
            4 => (0..self.byte() % 4)
                .map(|_| self.value(depth + 1))
                .collect(),
            _ => Value::Object(
                (0..self.byte() % 5)
                    .map(|_| (self.string(), self.value(depth + 1)))
                    .collect(),
            ),
        }
    }
}

/// The values the identity target judges: an even first byte reads the rest as a YAML file,
/// an odd one builds a value from it.
fn identity_inputs(bytes: &[u8]) -> Vec<Value> {
    let Some((&mode, rest)) = bytes.split_first() else {
        return Vec::new();
    };
    if mode % 2 == 0 {
        match split("fuzz.yaml", rest) {
            Ok(docs) => docs.into_iter().map(|d| (*d.value).clone()).collect(),
            Err(_) => Vec::new(),
        }
    } else {
        vec![Builder { bytes: rest }.value(0)]
    }
}

/// The head's invariants, and that another version of the same apiVersion is the same object.
fn check_head(value: &Value) -> Option<ObjectHead> {
    let head = ObjectHead::of(value)?;
    assert!(
        !head.api_version.is_empty() && head.api_version.trim() == head.api_version,
        "apiVersion {:?}",
        head.api_version
    );
    assert!(
        !head.kind.is_empty() && head.kind.trim() == head.kind,
        "kind {:?}",
        head.kind
    );
    assert!(head.name.as_ref().is_none_or(|n| !n.is_empty()));
    assert!(head.namespace.as_ref().is_none_or(|n| !n.is_empty()));
    let scopes = ScopeTable::default();
    let identity = head.identity(&scopes, None, "default");
    assert_eq!(identity.is_some(), head.name.is_some(), "{head:?}");
    if let Some(id) = &identity {
        assert_eq!(Some(&id.name), head.name.as_ref());
        assert_eq!((&id.group, &id.kind), (&head.group, &head.kind));
        assert!(id.namespace.as_ref().is_none_or(|n| !n.is_empty()));
    }
    let other_version = match head.api_version.rsplit_once('/') {
        Some((group, _)) => format!("{group}/v999fuzz"),
        None => "v999fuzz".to_string(),
    };
    let mut bumped = value.clone();
    bumped["apiVersion"] = Value::String(other_version);
    let bumped_head = ObjectHead::of(&bumped).expect("a version bump keeps an object");
    assert_eq!(
        bumped_head.identity(&scopes, None, "default"),
        identity,
        "the version changed the identity"
    );
    Some(head)
}

/// `ObjectHead::of` never panics, its identity ignores the version, and the value written as
/// JSON text and read back by the `.json` splitter has the same identity.
pub fn check_identity(bytes: &[u8]) {
    for value in identity_inputs(bytes) {
        let head = check_head(&value);
        let items = list_items(&value);
        for item in items.into_iter().flatten() {
            check_head(item);
        }
        let text = serde_json::to_string(&value).expect("a JSON value serialises");
        let docs = split("fuzz.json", text.as_bytes()).expect("the splitter reads JSON text");
        let expected: Vec<Option<ObjectHead>> = match items {
            Some(items) => items.iter().map(ObjectHead::of).collect(),
            None => vec![head],
        };
        let got: Vec<Option<ObjectHead>> = docs.iter().map(|d| ObjectHead::of(&d.value)).collect();
        assert_eq!(got, expected, "splitter round trip: {text}");
    }
}

/// Paths a configuration's globs are asked about.
const SAMPLE_PATHS: &[&str] = &[
    "a.yaml",
    "env/prod/app/deploy.yaml",
    "clusters/c1/apps/x.yml",
    "manifests/setup/0namespace.json",
    ".github/workflows/ci.yml",
    "charts/x/values.yaml",
    "deep/a/b/c/d/e/f.yaml",
    "ü/ñ.yaml",
];

/// `Config::parse` either refuses the text naming the file, or gives a configuration whose
/// globs answer for any path, the same way on a second parse.
pub fn check_config(bytes: &[u8]) {
    let Ok(text) = std::str::from_utf8(bytes) else {
        return;
    };
    let path = ".clobbercheck.yml";
    match Config::parse(text, path) {
        Ok(config) => {
            let again = Config::parse(text, path).expect("a second parse of valid text");
            let extra: Vec<&str> = text.lines().filter(|l| !l.contains('\0')).take(8).collect();
            for p in SAMPLE_PATHS.iter().copied().chain(extra) {
                assert_eq!(config.selects(p), again.selects(p), "{p}");
                if let Some(pattern) = &config.clusters
                    && let Some(cluster) = pattern.cluster_of(p)
                {
                    assert!(
                        p.split('/').any(|segment| segment == cluster),
                        "cluster {cluster:?} is not a segment of {p}"
                    );
                }
            }
            assert_eq!(config.default_namespace, again.default_namespace);
        }
        Err(e) => {
            let message = e.to_string();
            assert!(
                message.contains(path),
                "error does not name the file: {message}"
            );
        }
    }
}

const EVENTS: [Event; 7] = [
    Event::PullRequest,
    Event::CheckSuite,
    Event::CheckRun,
    Event::Installation,
    Event::Ping,
    Event::Other,
    Event::MergeGroup,
];

/// The first byte picks the event, the rest is the body: either jobs whose fields are all
/// filled in, or an error naming the event and the field. The body's own signature verifies;
/// a corrupted one and the input's bytes as a header do not.
pub fn check_webhook(bytes: &[u8]) {
    let Some((&pick, body)) = bytes.split_first() else {
        return;
    };
    let event = EVENTS[usize::from(pick) % EVENTS.len()];
    match jobs(event, body) {
        Ok(jobs) => {
            for job in jobs {
                let fields: Vec<&str> = match &job {
                    Job::Analyze(j) => vec![
                        &j.repo,
                        &j.clone_url,
                        &j.base_sha,
                        &j.base_ref,
                        &j.head_sha,
                        &j.head_ref,
                    ],
                    Job::Rerun(j) => vec![&j.repo, &j.clone_url, &j.head_sha],
                    Job::MergeGroup(j) => vec![
                        &j.repo,
                        &j.clone_url,
                        &j.base_sha,
                        &j.base_ref,
                        &j.head_sha,
                        &j.head_ref,
                    ],
                    Job::Acknowledge(j) => vec![&j.repo, &j.login],
                };
                assert!(
                    fields.iter().all(|f| !f.trim().is_empty()),
                    "{event:?}: a job with an empty field: {job:?}"
                );
            }
        }
        Err(e) => {
            let message = e.to_string();
            let name = format!("{event:?}").to_lowercase();
            assert!(
                message.replace('_', "").starts_with(&name),
                "{event:?}: error does not name the event: {message}"
            );
            match &e {
                PayloadError::Field { path, .. } => {
                    assert!(!path.is_empty(), "{event:?}: no field path: {message}")
                }
                PayloadError::NoInstallation { .. } => {
                    assert!(message.contains("installation.id"), "{message}")
                }
            }
        }
    }
    let secret = b"fuzz-secret";
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).expect("HMAC takes any key");
    mac.update(body);
    let mut digest = mac.finalize().into_bytes().to_vec();
    let header = format!("sha256={}", hex::encode(&digest));
    assert!(verify_signature(secret, Some(&header), body));
    let flip = usize::from(pick) % digest.len();
    digest[flip] ^= 1 << (pick % 8);
    let corrupted = format!("sha256={}", hex::encode(&digest));
    assert!(!verify_signature(secret, Some(&corrupted), body));
    // Any header text is answered, never a panic (a body holding its own HMAC cannot be built).
    verify_signature(secret, Some(&String::from_utf8_lossy(body)), body);
}
