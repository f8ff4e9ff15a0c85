//! Flux `HelmRelease` (`helm.toolkit.fluxcd.io`): its release identity and the chart it
//! renders from this repository.
//!
//! Why: helm-controller stores a release as (`storageNamespace`, release name); two
//! HelmReleases with one identity upgrade each other's release (fluxcd/helm-controller#1348),
//! and a chart of this repository deploys objects that must be judged like any other.
//!
//! Followed, from fluxcd/helm-controller `api/v2/helmrelease_types.go` (`GetReleaseName`,
//! `GetReleaseNamespace`, `GetStorageNamespace`) and `internal/release/name.go`
//! (`ShortenName`): the release name is `spec.releaseName`, else
//! `[<targetNamespace>-]<name>`; a name over 53 characters becomes its first 40 characters,
//! `-`, and the first 12 hex digits of its SHA-256; the storage namespace is
//! `spec.storageNamespace`, else the HelmRelease's namespace; objects without namespace go to
//! `targetNamespace`, else the HelmRelease's namespace. The chart rendered here is
//! `spec.chart.spec.chart` of a `GitRepository` (`spec.chart.spec.sourceRef`); a `HelmRepository`
//! or `OCIRepository` chart and `spec.chartRef` (an `OCIRepository` or `HelmChart`) are outside
//! this repository and not fetched.

use serde_json::Value;
use sha2::{Digest, Sha256};

use super::source::SourceRef;
use super::{is_flux, named, non_empty, normalize_path};
use crate::manifest::Origin;

/// The HelmRelease API group.
pub const HELM_GROUP: &str = "helm.toolkit.fluxcd.io";

/// Longest release name Helm accepts.
const MAX_RELEASE_NAME: usize = 53;
/// Hex digits of the hash helm-controller appends to a shortened name.
const SHORT_HASH: usize = 12;

/// helm-controller's `ShortenName`: names of at most 53 bytes are kept; longer ones are cut to
/// 40 bytes and suffixed with `-` and 12 hex digits of their SHA-256.
pub fn shorten_name(name: &str) -> String {
    if name.len() <= MAX_RELEASE_NAME {
        return name.to_string();
    }
    let digest = Sha256::digest(name.as_bytes());
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    let cut = MAX_RELEASE_NAME - (SHORT_HASH + 1);
    let head = name.get(..cut).unwrap_or(name);
    format!("{head}-{}", &hex[..SHORT_HASH])
}

/// Where a HelmRelease's chart comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Chart {
    /// A chart folder of a `GitRepository`: the source and the folder (normalised).
    Git { source: SourceRef, path: String },
    /// A Helm repository, OCI repository or `chartRef`: not fetched.
    Elsewhere(String),
}

/// The parts of a HelmRelease clobbercheck uses.
#[derive(Debug, Clone, PartialEq)]
pub struct HelmRelease {
    pub namespace: String,
    pub name: String,
    pub origin: Origin,
    /// The release name helm-controller uses (defaulted and shortened).
    pub release: String,
    /// Where Helm stores the release.
    pub storage_namespace: String,
    /// The namespace objects without one are installed in.
    pub release_namespace: String,
    pub chart: Chart,
    /// `spec.values` as written (`Null` when absent).
    pub values: Value,
    /// `spec.valuesFrom` entries: `(kind, name, valuesKey, targetPath, optional)`.
    pub values_from: Vec<ValuesReference>,
    /// `spec.kubeConfig.secretRef.name`: the cluster it installs to, when given.
    pub kube_config: Option<String>,
}

/// One `spec.valuesFrom` entry (helm-controller `api/v2` `ValuesReference`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValuesReference {
    /// `ConfigMap` or `Secret`.
    pub kind: String,
    pub name: String,
    /// The data key holding the values (`values.yaml` by default).
    pub values_key: String,
    /// Where the key's value goes when set (a single value, not a values file).
    pub target_path: Option<String>,
    pub optional: bool,
}

impl HelmRelease {
    /// Reads a HelmRelease document; `None` for anything else.
    pub fn from_value(value: &Value, origin: &Origin, default_namespace: &str) -> Option<Self> {
        if !is_flux(value, HELM_GROUP, "HelmRelease") {
            return None;
        }
        let (name, namespace) = named(value, default_namespace)?;
        let (name, namespace) = (name.to_string(), namespace.to_string());
        let spec = &value["spec"];
        let target = non_empty(&spec["targetNamespace"]);
        let release = match (non_empty(&spec["releaseName"]), target) {
            (Some(release), _) => release.to_string(),
            (None, Some(target)) => format!("{target}-{name}"),
            (None, None) => name.clone(),
        };
        let chart_spec = &spec["chart"]["spec"];
        let chart = match (
            SourceRef::read(&chart_spec["sourceRef"], &namespace),
            &spec["chartRef"],
        ) {
            (Some(source), _) if source.kind == "GitRepository" => Chart::Git {
                path: normalize_path(non_empty(&chart_spec["chart"]).unwrap_or_default()),
                source,
            },
            (Some(source), _) => Chart::Elsewhere(format!(
                "chart {} of {source}",
                non_empty(&chart_spec["chart"]).unwrap_or("?")
            )),
            (None, reference @ Value::Object(_)) => Chart::Elsewhere(
                SourceRef::read(reference, &namespace)
                    .map(|r| format!("chartRef {r}"))
                    .unwrap_or_else(|| "a chartRef without kind or name".into()),
            ),
            (None, _) => Chart::Elsewhere("no chart source".into()),
        };
        let values_from = spec["valuesFrom"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|r| {
                Some(ValuesReference {
                    kind: non_empty(&r["kind"])?.to_string(),
                    name: non_empty(&r["name"])?.to_string(),
                    values_key: non_empty(&r["valuesKey"])
                        .unwrap_or("values.yaml")
                        .to_string(),
                    target_path: non_empty(&r["targetPath"]).map(str::to_string),
                    optional: r["optional"].as_bool() == Some(true),
                })
            })
            .collect();
        Some(Self {
            release: shorten_name(&release),
            storage_namespace: non_empty(&spec["storageNamespace"])
                .unwrap_or(&namespace)
                .to_string(),
            release_namespace: target.unwrap_or(&namespace).to_string(),
            chart,
            values: spec["values"].clone(),
            values_from,
            kube_config: non_empty(&spec["kubeConfig"]["secretRef"]["name"]).map(str::to_string),
            namespace,
            name,
            origin: origin.clone(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn release(metadata: Value, spec: Value) -> HelmRelease {
        let doc = json!({"apiVersion": "helm.toolkit.fluxcd.io/v2", "kind": "HelmRelease",
                         "metadata": metadata, "spec": spec});
        let origin = Origin {
            path: "hr.yaml".into(),
            line: 1,
            end_line: 1,
            target: None,
            generator: None,
        };
        HelmRelease::from_value(&doc, &origin, "default").unwrap()
    }

    #[test]
    fn release_name_defaults_as_helm_controller_does() {
        let hr = release(json!({"name": "web", "namespace": "apps"}), json!({}));
        assert_eq!(
            (hr.release.as_str(), hr.storage_namespace.as_str()),
            ("web", "apps")
        );
        let hr = release(
            json!({"name": "web", "namespace": "flux-system"}),
            json!({"targetNamespace": "prod", "storageNamespace": "prod"}),
        );
        assert_eq!(hr.release, "prod-web");
        assert_eq!(hr.storage_namespace, "prod");
        let hr = release(json!({"name": "web"}), json!({"releaseName": "site"}));
        assert_eq!(hr.release, "site");
    }

    #[test]
    fn long_names_are_shortened_with_a_hash() {
        let long = "some-front-appended-namespace-release-with-a-very-long-name";
        let short = shorten_name(long);
        assert_eq!(short.len(), 53);
        assert!(
            short.starts_with("some-front-appended-namespace-release-wi-"),
            "{short}"
        );
        // sha256 of the name, first 12 hex digits (printf %s NAME | sha256sum).
        assert_eq!(&short[41..], "b9152014cc9c");
        assert_eq!(shorten_name("short"), "short");
    }
}
