//! Property tests: any sequence of documents splits back into the same identities, in the same
//! order, with correct start lines — whatever comments, markers, block scalars and line ends
//! surround them.

use std::sync::Arc;

use clobbercheck::Config;
use clobbercheck::manifest::Origin;
use clobbercheck::manifest::split::split;
use clobbercheck::snapshot::build_objects;
use proptest::prelude::*;

#[derive(Debug, Clone)]
enum Doc {
    Object {
        api_version: &'static str,
        kind: &'static str,
        namespace: Option<String>,
        name: String,
        comments: usize,
        block_scalar: bool,
        flow: bool,
    },
    CommentOnly,
    Empty,
    NotAnObject,
}

fn doc() -> impl Strategy<Value = Doc> {
    let object = (
        prop::sample::select(vec![
            ("v1", "ConfigMap"),
            ("apps/v1", "Deployment"),
            ("extensions/v1beta1", "Deployment"),
            ("v1", "Namespace"),
            ("argoproj.io/v1alpha1", "Application"),
            ("rbac.authorization.k8s.io/v1", "ClusterRole"),
        ]),
        prop::option::of("[a-z][a-z0-9-]{0,10}"),
        "[a-z][a-z0-9.-]{0,20}",
        0usize..3,
        any::<bool>(),
        any::<bool>(),
    )
        .prop_map(
            |((api_version, kind), namespace, name, comments, block_scalar, flow)| Doc::Object {
                api_version,
                kind,
                namespace,
                name,
                comments,
                block_scalar,
                flow,
            },
        );
    prop_oneof![
        6 => object,
        1 => Just(Doc::CommentOnly),
        1 => Just(Doc::Empty),
        1 => Just(Doc::NotAnObject),
    ]
}

/// What one object of a stream should yield: (kind, namespace, name, line).
type Expected = (String, Option<String>, String, usize);

/// Renders the documents as one stream; returns the text and, per object, (kind, ns, name, line).
fn render(docs: &[Doc], crlf: bool, end_markers: bool) -> (String, Vec<Expected>) {
    let mut lines: Vec<String> = Vec::new();
    let mut expected = Vec::new();
    for (i, doc) in docs.iter().enumerate() {
        if i > 0 || i % 2 == 1 {
            lines.push("---".into());
        }
        match doc {
            Doc::Object {
                api_version,
                kind,
                namespace,
                name,
                comments,
                block_scalar,
                flow,
            } => {
                for c in 0..*comments {
                    lines.push(format!("# comment {c} --- not a separator"));
                }
                let line = lines.len() + 1;
                let cluster_scoped = matches!(*kind, "Namespace" | "ClusterRole");
                let effective_ns = if cluster_scoped {
                    None
                } else {
                    Some(namespace.clone().unwrap_or_else(|| "default".into()))
                };
                let group_kind = match (*api_version, *kind) {
                    ("extensions/v1beta1", "Deployment") | ("apps/v1", _) => format!("apps/{kind}"),
                    (v, k) => match v.rsplit_once('/') {
                        Some((g, _)) => format!("{g}/{k}"),
                        None => k.to_string(),
                    },
                };
                expected.push((group_kind, effective_ns, name.clone(), line));
                if *flow {
                    let ns = namespace
                        .as_ref()
                        .map(|n| format!(", namespace: \"{n}\""))
                        .unwrap_or_default();
                    lines.push(format!("{{apiVersion: {api_version}, kind: {kind}, metadata: {{name: \"{name}\"{ns}}}}}"));
                } else {
                    lines.push(format!("apiVersion: {api_version}"));
                    lines.push(format!("kind: {kind}"));
                    lines.push("metadata:".into());
                    lines.push(format!("  name: \"{name}\""));
                    if let Some(ns) = namespace {
                        lines.push(format!("  namespace: \"{ns}\""));
                    }
                    if *block_scalar {
                        lines.push("data:".into());
                        lines.push("  script: |".into());
                        lines.push("    ---".into());
                        lines.push("    apiVersion: v1".into());
                        lines.push("    ...".into());
                    }
                }
            }
            Doc::CommentOnly => lines.push("# nothing here".into()),
            Doc::Empty => {}
            Doc::NotAnObject => lines.push("replicaCount: 3".into()),
        }
        if end_markers && i % 3 == 2 {
            lines.push("...".into());
        }
    }
    let eol = if crlf { "\r\n" } else { "\n" };
    let mut text = lines.join(eol);
    text.push_str(eol);
    (text, expected)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn documents_round_trip_to_identities_and_lines(
        docs in prop::collection::vec(doc(), 0..12),
        crlf in any::<bool>(),
        end_markers in any::<bool>(),
    ) {
        let (text, expected) = render(&docs, crlf, end_markers);
        let parsed = split("stream.yaml", text.as_bytes())
            .unwrap_or_else(|e| panic!("{e:?} in\n{text}"));
        let (objects, _, _) = build_objects(
            parsed.iter().map(|d| (
                Origin { path: "stream.yaml".into(), line: d.line, end_line: d.end_line, target: None, generator: None },
                Arc::clone(&d.value),
            )),
            &Config::default(),
        );
        let got: Vec<(String, Option<String>, String, usize)> = objects
            .iter()
            .map(|o| {
                let id = o.identity.as_ref().unwrap();
                (id.group_kind(), id.namespace.clone(), id.name.clone(), o.origin.line)
            })
            .collect();
        prop_assert_eq!(got, expected, "text:\n{}", text);
        for o in &objects {
            prop_assert!(o.origin.end_line >= o.origin.line);
        }
    }
}
