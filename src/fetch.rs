//! Bare cache repositories, one per GitHub repository, in the data directory.
//!
//! A job fetches only what it needs (the base branch and the PR head, or `refs/pull/<n>/head`
//! for forks) over HTTPS with the installation token given through a credentials callback, so the
//! token is never written to `.git/config` or a URL. The token goes only to the configured git
//! host: a clone URL (it comes from the webhook payload) whose scheme, host or port differ is
//! refused before any connection, the credentials callback checks the URL it is asked for
//! again (libgit2 follows a redirect to another port of the same host name, without the token;
//! one to another host it refuses). Fetches into one repository are serialised;
//! analyses read concurrently. The total size is bounded: after a fetch, the least recently used
//! repositories that no job is reading are deleted until the cache fits.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use git2::{AutotagOption, Cred, FetchOptions, Oid, RemoteCallbacks, RemoteRedirect, Repository};
use reqwest::Url;

use crate::github::Secret;

/// Why the commits of a job could not be made available; names the repository.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    #[error("cache for {repo}: {message}")]
    Cache { repo: String, message: String },
    #[error("fetching {repo}: {message}")]
    Fetch { repo: String, message: String },
    #[error(
        "{repo}: refusing to fetch from {url}: only {allowed} is trusted with the installation token (CLOBBERCHECK_GIT_URL)"
    )]
    ForeignHost {
        repo: String,
        url: String,
        allowed: String,
    },
    #[error("{repo}: the git host has no repository at {url} (404)")]
    NotFound { repo: String, url: String },
    #[error("{repo}: commit {sha} not found after fetching {refs:?}")]
    MissingCommit {
        repo: String,
        sha: String,
        refs: Vec<String>,
    },
}

/// What to fetch for one job.
pub struct FetchRequest<'a> {
    /// `owner/name`, naming the cache directory.
    pub repo: &'a str,
    pub clone_url: &'a str,
    pub token: &'a Secret,
    /// Commits that must be present afterwards.
    pub commits: [&'a str; 2],
    /// Remote refs that hold them (`refs/heads/main`, `refs/pull/7/head`).
    pub refs: Vec<String>,
    /// Refs fetched too when a commit is still missing (a branch moved since the event).
    pub fallback_refs: Vec<String>,
}

#[derive(Default)]
struct Slot {
    fetch: Mutex<()>,
    readers: AtomicUsize,
    /// Refs that queued jobs will fetch ([`RepoCache::announce`]), brought by the next fetch.
    announced: Mutex<Vec<String>>,
}

/// Most announced refs one fetch brings besides its own: a burst of pull requests on one
/// repository costs one fetch per this many, not one each.
pub const MAX_ANNOUNCED: usize = 256;

/// The set of cache repositories, bounded to `max_bytes` on disk, fetched from one git host.
pub struct RepoCache {
    root: PathBuf,
    max_bytes: u64,
    origin: Url,
    slots: Mutex<HashMap<String, Arc<Slot>>>,
}

/// A cache repository in use by a job: eviction leaves it alone until this is dropped.
pub struct CachedRepo {
    slot: Arc<Slot>,
    path: PathBuf,
}

impl CachedRepo {
    /// The bare repository's path, for [`crate::GitRevision::open`].
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for CachedRepo {
    fn drop(&mut self) {
        self.slot.readers.fetch_sub(1, Ordering::SeqCst);
    }
}

const LAST_USED: &str = "clobbercheck-last-used";

impl RepoCache {
    /// A cache under `root` (created on first use) holding at most `max_bytes`, fetching only
    /// from the scheme, host and port of `origin` (the configured git host).
    pub fn new(root: PathBuf, max_bytes: u64, origin: Url) -> Self {
        Self {
            root,
            max_bytes,
            origin,
            slots: Mutex::new(HashMap::new()),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Arc<Slot>>> {
        self.slots.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn dir(&self, repo: &str) -> PathBuf {
        let safe: String = repo
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') {
                    c
                } else {
                    '+'
                }
            })
            .collect();
        self.root.join(format!("{safe}.git"))
    }

    /// Records refs a queued job of `repo` will fetch, so the next fetch of that repository
    /// brings them too and the job, once it runs, finds its commits already there: a burst of
    /// pull requests costs a fetch per [`MAX_ANNOUNCED`] refs instead of one per job. Refs
    /// beyond that bound wait for their own job's fetch.
    pub fn announce(&self, repo: &str, refs: &[String]) {
        let slot = Arc::clone(self.lock().entry(repo.to_string()).or_default());
        let mut announced = slot.announced.lock().unwrap_or_else(|p| p.into_inner());
        for r in refs {
            if announced.len() < MAX_ANNOUNCED && !announced.contains(r) {
                announced.push(r.clone());
            }
        }
    }

    /// Makes both commits available in the repository's cache and returns it, marked in use.
    pub fn checkout(&self, request: &FetchRequest<'_>) -> Result<CachedRepo, FetchError> {
        let repo = request.repo;
        if !same_origin(&self.origin, request.clone_url) {
            return Err(FetchError::ForeignHost {
                repo: repo.to_string(),
                url: request.clone_url.to_string(),
                allowed: origin_of(&self.origin),
            });
        }
        let slot = {
            let mut slots = self.lock();
            let slot = Arc::clone(slots.entry(repo.to_string()).or_default());
            slot.readers.fetch_add(1, Ordering::SeqCst);
            slot
        };
        let held = CachedRepo {
            slot,
            path: self.dir(repo),
        };
        let fetched = {
            let _fetching = held.slot.fetch.lock().unwrap_or_else(|p| p.into_inner());
            self.fetch(&held.path, request, &held.slot)?
        };
        touch(&held.path.join(LAST_USED));
        if fetched {
            self.evict();
        }
        Ok(held)
    }

    /// Fetches unless both commits are already there; returns whether it fetched.
    fn fetch(
        &self,
        path: &Path,
        request: &FetchRequest<'_>,
        slot: &Slot,
    ) -> Result<bool, FetchError> {
        let repo_name = request.repo;
        let cache_error = |message: String| FetchError::Cache {
            repo: repo_name.to_string(),
            message,
        };
        let repo = match Repository::open_bare(path) {
            Ok(repo) => repo,
            Err(_) => {
                std::fs::create_dir_all(&self.root).map_err(|e| cache_error(e.to_string()))?;
                Repository::init_bare(path).map_err(|e| cache_error(e.message().to_string()))?
            }
        };
        let present = |repo: &Repository| {
            request.commits.iter().all(|sha| {
                Oid::from_str(sha)
                    .ok()
                    .and_then(|oid| repo.find_commit(oid).ok())
                    .is_some()
            })
        };
        if present(&repo) {
            return Ok(false);
        }
        // The refs queued jobs announced come along; should one of them be gone (a branch
        // deleted since), the job's own refs are fetched alone.
        let announced =
            std::mem::take(&mut *slot.announced.lock().unwrap_or_else(|p| p.into_inner()));
        let mut refs = request.refs.clone();
        refs.extend(announced.into_iter().filter(|r| !request.refs.contains(r)));
        if refs.len() > request.refs.len() {
            if let Err(error) = self.fetch_refs(&repo, request, &refs) {
                tracing::warn!(repo = repo_name, %error, refs = refs.len(), "fetching the announced refs too failed; fetching the job's own");
                self.fetch_refs(&repo, request, &request.refs)?;
            }
        } else {
            self.fetch_refs(&repo, request, &request.refs)?;
        }
        if !present(&repo) && !request.fallback_refs.is_empty() {
            self.fetch_refs(&repo, request, &request.fallback_refs)?;
        }
        for sha in request.commits {
            let found = Oid::from_str(sha)
                .ok()
                .and_then(|oid| repo.find_commit(oid).ok())
                .is_some();
            if !found {
                return Err(FetchError::MissingCommit {
                    repo: repo_name.to_string(),
                    sha: sha.to_string(),
                    refs: [request.refs.clone(), request.fallback_refs.clone()].concat(),
                });
            }
        }
        Ok(true)
    }

    fn fetch_refs(
        &self,
        repo: &Repository,
        request: &FetchRequest<'_>,
        refs: &[String],
    ) -> Result<(), FetchError> {
        let repo_name = request.repo;
        let refspecs: Vec<String> = refs
            .iter()
            .map(|r| format!("+{r}:refs/clobbercheck/{}", r.trim_start_matches("refs/")))
            .collect();
        crate::certificates::load_for_fetch();
        let mut remote =
            repo.remote_anonymous(request.clone_url)
                .map_err(|e| FetchError::Cache {
                    repo: repo_name.to_string(),
                    message: e.message().to_string(),
                })?;
        let mut tries = 0;
        let mut callbacks = RemoteCallbacks::new();
        callbacks.credentials(|url, _user, _allowed| {
            if !same_origin(&self.origin, url) {
                tracing::error!(
                    repo = repo_name,
                    url,
                    "credentials asked for another host; refused"
                );
                return Err(git2::Error::from_str(
                    "credentials asked for a host other than the configured git host",
                ));
            }
            tries += 1;
            if tries > 2 {
                return Err(git2::Error::from_str("the installation token was refused"));
            }
            Cred::userpass_plaintext("x-access-token", request.token.expose())
        });
        let mut options = FetchOptions::new();
        options
            .remote_callbacks(callbacks)
            .follow_redirects(RemoteRedirect::None)
            .download_tags(AutotagOption::None);
        tracing::info!(repo = repo_name, ?refs, "fetching");
        remote
            .fetch(&refspecs, Some(&mut options), None)
            .map_err(|e| {
                // Not there (or not visible to the installation) stays so: not worth retrying.
                if e.class() == git2::ErrorClass::Http && e.message().contains("404") {
                    return FetchError::NotFound {
                        repo: repo_name.to_string(),
                        url: request.clone_url.to_string(),
                    };
                }
                FetchError::Fetch {
                    repo: repo_name.to_string(),
                    message: e.message().replace(request.token.expose(), "***"),
                }
            })
    }

    /// Deletes least recently used repositories nobody reads until the cache fits.
    fn evict(&self) {
        let slots = self.lock();
        let Ok(entries) = std::fs::read_dir(&self.root) else {
            return;
        };
        let mut repos: Vec<(SystemTime, u64, PathBuf)> = entries
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.is_dir())
            .map(|p| {
                let used = std::fs::metadata(p.join(LAST_USED))
                    .and_then(|m| m.modified())
                    .unwrap_or(SystemTime::UNIX_EPOCH);
                (used, dir_size(&p), p)
            })
            .collect();
        let mut total: u64 = repos.iter().map(|r| r.1).sum();
        if total <= self.max_bytes {
            return;
        }
        repos.sort();
        for (_, size, path) in repos {
            if total <= self.max_bytes {
                break;
            }
            let busy = slots.iter().any(|(name, slot)| {
                self.dir(name) == path && slot.readers.load(Ordering::SeqCst) > 0
            });
            if busy {
                continue;
            }
            match std::fs::remove_dir_all(&path) {
                Ok(()) => {
                    tracing::info!(path = %path.display(), size, "evicted cache repository");
                    total = total.saturating_sub(size);
                }
                Err(e) => tracing::warn!(path = %path.display(), error = %e, "cannot evict"),
            }
        }
    }
}

/// Whether `url` has the scheme, host and port of `origin`, and carries no user name or
/// password of its own.
fn same_origin(origin: &Url, url: &str) -> bool {
    let Ok(url) = Url::parse(url) else {
        return false;
    };
    url.username().is_empty()
        && url.password().is_none()
        && url.scheme() == origin.scheme()
        && url.host_str() == origin.host_str()
        && url.port_or_known_default() == origin.port_or_known_default()
}

/// `scheme://host[:port]` of a URL, for messages.
fn origin_of(url: &Url) -> String {
    match (url.host_str(), url.port()) {
        (Some(host), Some(port)) => format!("{}://{host}:{port}", url.scheme()),
        (Some(host), None) => format!("{}://{host}", url.scheme()),
        _ => format!("{}://", url.scheme()),
    }
}

fn touch(path: &Path) {
    if let Err(e) = std::fs::write(path, b"") {
        tracing::warn!(path = %path.display(), error = %e, "cannot mark cache use");
    }
}

fn dir_size(path: &Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(path) else {
        return 0;
    };
    entries
        .flatten()
        .map(|e| match e.file_type() {
            Ok(t) if t.is_dir() => dir_size(&e.path()),
            Ok(_) => e.metadata().map(|m| m.len()).unwrap_or(0),
            Err(_) => 0,
        })
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A source repository with one commit on `main` holding `size` bytes of incompressible data.
    fn source(dir: &Path, size: usize) -> String {
        let repo = Repository::init_bare(dir).unwrap();
        let mut state = size as u64 + 1;
        let data: Vec<u8> = (0..size)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                state as u8
            })
            .collect();
        let blob = repo.blob(&data).unwrap();
        let mut tree = repo.treebuilder(None).unwrap();
        tree.insert("data.bin", blob, 0o100644).unwrap();
        let tree = repo.find_tree(tree.write().unwrap()).unwrap();
        let sig = git2::Signature::now("t", "t@example.com").unwrap();
        repo.commit(Some("refs/heads/main"), &sig, &sig, "c", &tree, &[])
            .unwrap()
            .to_string()
    }

    fn request<'a>(
        repo: &'a str,
        url: &'a str,
        sha: &'a str,
        token: &'a Secret,
    ) -> FetchRequest<'a> {
        FetchRequest {
            repo,
            clone_url: url,
            token,
            commits: [sha, sha],
            refs: vec!["refs/heads/main".into()],
            fallback_refs: Vec::new(),
        }
    }

    #[test]
    fn cache_evicts_least_recently_used_repositories_not_in_use() {
        let tmp = tempfile::tempdir().unwrap();
        let token = Secret::new("unused");
        let urls: Vec<(String, String)> = ["a", "b", "c"]
            .iter()
            .map(|name| {
                let dir = tmp.path().join("src").join(name);
                let sha = source(&dir, 400_000);
                (format!("file://{}", dir.display()), sha)
            })
            .collect();
        let cache = RepoCache::new(
            tmp.path().join("cache"),
            1_000_000,
            Url::parse("file:///").unwrap(),
        );
        let a = cache
            .checkout(&request("o/a", &urls[0].0, &urls[0].1, &token))
            .unwrap();
        let a_path = a.path().to_path_buf();
        drop(a);
        std::thread::sleep(std::time::Duration::from_millis(20));
        let b = cache
            .checkout(&request("o/b", &urls[1].0, &urls[1].1, &token))
            .unwrap();
        assert!(a_path.exists() && b.path().exists(), "both fit");
        // b stays in use while c arrives: only a, the least recently used, may go.
        let c = cache
            .checkout(&request("o/c", &urls[2].0, &urls[2].1, &token))
            .unwrap();
        assert!(!a_path.exists(), "a was evicted");
        assert!(b.path().exists() && c.path().exists());
        // a comes back by fetching again.
        drop(b);
        let again = cache
            .checkout(&request("o/a", &urls[0].0, &urls[0].1, &token))
            .unwrap();
        assert!(again.path().join("objects").exists());
    }

    #[test]
    fn clone_urls_must_have_the_configured_scheme_host_and_port() {
        let origin = Url::parse("https://ghe.corp").unwrap();
        assert!(same_origin(&origin, "https://ghe.corp/acme/gitops.git"));
        assert!(same_origin(&origin, "https://GHE.corp:443/acme/gitops.git"));
        for foreign in [
            "https://elsewhere.example/acme/gitops.git",
            "http://ghe.corp/acme/gitops.git",
            "https://ghe.corp:8443/acme/gitops.git",
            "https://ghe.corp.evil.example/acme/gitops.git",
            "https://user:pw@ghe.corp/acme/gitops.git",
            "/srv/git/acme/gitops.git",
            "not a url",
        ] {
            assert!(!same_origin(&origin, foreign), "{foreign}");
        }
        let tmp = tempfile::tempdir().unwrap();
        let cache = RepoCache::new(tmp.path().join("cache"), 1 << 20, origin);
        let token = Secret::new("ghs_never_sent");
        let sha = "0".repeat(40);
        let err = cache
            .checkout(&request(
                "acme/gitops",
                "https://elsewhere.example/acme/gitops.git",
                &sha,
                &token,
            ))
            .err()
            .unwrap()
            .to_string();
        assert!(
            err.contains("elsewhere.example") && err.contains("https://ghe.corp"),
            "{err}"
        );
        assert!(!tmp.path().join("cache").exists(), "nothing was created");
    }
}
