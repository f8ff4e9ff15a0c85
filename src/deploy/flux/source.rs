//! Flux sources: which `GitRepository` objects read this repository at the revision under
//! review, and which sources (OCI, buckets, Helm repositories) lie outside it.
//!
//! Why: a Kustomization or HelmRelease deploys files of *its* source. A GitRepository whose
//! `spec.url` is another repository, or whose `spec.ref` pins a tag, a semver range or a commit,
//! does not read what this pull request changes, so its deployers place nothing here.
//!
//! Followed: source-controller's `GitRepositoryRef` (fluxcd/source-controller
//! `api/v1/gitrepository_types.go`): `ref.branch`, `ref.tag`, `ref.semver`, `ref.name`,
//! `ref.commit`, with precedence commit > name > semver > tag > branch; no `ref` at all means
//! the default branch (`master` in the API's default). When no branch under review is known
//! (folders compared with `--repo-url`), any branch of this repository counts. URLs are compared with this
//! repository's URL rules ([`ThisRepository`], `src/deploy/repository.rs`).

use serde_json::Value;

use super::super::repository::ThisRepository;
use super::{is_flux, named, non_empty};
use crate::manifest::Origin;

/// The source API group.
pub const SOURCE_GROUP: &str = "source.toolkit.fluxcd.io";

/// A `sourceRef` (`{kind, name, namespace}`), the namespace defaulting to the referrer's.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SourceRef {
    pub kind: String,
    pub namespace: String,
    pub name: String,
}

impl SourceRef {
    /// Reads a written `sourceRef`; `None` without kind or name.
    pub fn read(value: &Value, namespace: &str) -> Option<Self> {
        Some(Self {
            kind: non_empty(&value["kind"])?.to_string(),
            name: non_empty(&value["name"])?.to_string(),
            namespace: non_empty(&value["namespace"])
                .unwrap_or(namespace)
                .to_string(),
        })
    }
}

impl std::fmt::Display for SourceRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}/{}", self.kind, self.namespace, self.name)
    }
}

/// One `GitRepository` of the revision.
#[derive(Debug, Clone)]
pub struct GitRepository {
    pub namespace: String,
    pub name: String,
    pub origin: Origin,
    /// `spec.url` as written.
    pub url: String,
    /// What `spec.ref` pins, when it is not a branch (`tag v1.2.0`, `commit abc…`).
    pinned: Option<String>,
    /// `spec.ref.branch` (`None`: no ref, the default branch).
    branch: Option<String>,
}

impl GitRepository {
    /// Reads a `GitRepository` document; `None` for anything else.
    pub fn from_value(value: &Value, origin: &Origin, default_namespace: &str) -> Option<Self> {
        if !is_flux(value, SOURCE_GROUP, "GitRepository") {
            return None;
        }
        let (name, namespace) = named(value, default_namespace)?;
        let reference = &value["spec"]["ref"];
        let pinned = ["commit", "name", "semver", "tag"]
            .iter()
            .find_map(|k| non_empty(&reference[k]).map(|v| format!("{k} {v}")));
        Some(Self {
            namespace: namespace.to_string(),
            name: name.to_string(),
            origin: origin.clone(),
            url: non_empty(&value["spec"]["url"])
                .unwrap_or_default()
                .to_string(),
            pinned,
            branch: non_empty(&reference["branch"]).map(str::to_string),
        })
    }

    /// `Ok` when it reads this repository at the revision under review, else why not (for the
    /// notice naming the deployer).
    pub fn reads_here(&self, repository: &ThisRepository) -> Result<(), String> {
        if let Some(pinned) = &self.pinned {
            if repository.deploys_from_here(&self.url, Some("HEAD")) {
                return Err(format!(
                    "GitRepository {}/{} pins {pinned} of this repository, not the revision under \
                     review",
                    self.namespace, self.name
                ));
            }
        } else {
            // With no branch under review known (folders compared with `--repo-url`), a branch
            // of this repository is taken to be the one under review.
            let branch = self
                .branch
                .as_deref()
                .filter(|_| !repository.revisions().is_empty());
            if repository.deploys_from_here(&self.url, branch) {
                return Ok(());
            }
        }
        Err(format!(
            "GitRepository {}/{} ({}:{}) reads {}{}, not this repository at the revision under \
             review",
            self.namespace,
            self.name,
            self.origin.path,
            self.origin.line,
            self.url,
            self.branch
                .as_deref()
                .map(|b| format!(" branch {b}"))
                .unwrap_or_default()
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn repo(spec: Value) -> GitRepository {
        let doc = json!({"apiVersion": "source.toolkit.fluxcd.io/v1", "kind": "GitRepository",
                         "metadata": {"name": "flux-system", "namespace": "flux-system"},
                         "spec": spec});
        let origin = Origin {
            path: "gotk-sync.yaml".into(),
            line: 1,
            end_line: 1,
            target: None,
            generator: None,
        };
        GitRepository::from_value(&doc, &origin, "default").unwrap()
    }

    #[test]
    fn a_branch_of_ours_reads_here_a_tag_or_another_url_does_not() {
        let this = ThisRepository::new(&["https://github.com/example/fleet"], &["main"]);
        let ours = "ssh://git@github.com/example/fleet";
        assert!(
            repo(json!({"url": ours, "ref": {"branch": "main"}}))
                .reads_here(&this)
                .is_ok()
        );
        assert!(repo(json!({"url": ours})).reads_here(&this).is_ok());
        let tag = repo(json!({"url": ours, "ref": {"branch": "main", "tag": "v1"}}));
        assert!(tag.reads_here(&this).unwrap_err().contains("pins tag v1"));
        let other =
            repo(json!({"url": "https://github.com/example/other", "ref": {"branch": "main"}}));
        assert!(
            other
                .reads_here(&this)
                .unwrap_err()
                .contains("example/other")
        );
        let branch = repo(json!({"url": ours, "ref": {"branch": "release"}}));
        assert!(branch.reads_here(&this).is_err());
    }
}
