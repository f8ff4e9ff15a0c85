//! This repository, at this revision: which Application sources read the files under review.
//!
//! Why: an Application places objects from *its* `repoURL` at *its* `targetRevision`. A folder
//! of the same name in another repository, a chart repository or a pinned tag is not what this
//! pull request changes, so it must place nothing here (issue 10 §2).
//!
//! URLs are compared after normalisation, following Argo CD's `util/git.NormalizeGitURL` /
//! `SameURL` (argoproj/argo-cd `util/git/git.go`: lower case, `git@host:path` read as
//! `ssh://git@host/path`, `.git` suffix dropped), and going further where the same repository is
//! reached two ways: the scheme, user info and trailing slashes are dropped too, so
//! `git@github.com:Org/Repo.git`, `https://user@github.com/org/repo/` and
//! `ssh://git@github.com/org/repo` are one repository.

/// The URLs and revisions under review. Built from the App's payload (`clone_url`, `html_url`,
/// `ssh_url`, `git_url`), `check --repo-url` or the `origin` remote, and the configuration's
/// `repo_urls:` / `target_revisions:`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ThisRepository {
    /// Normalised URLs; empty when nothing says what this repository is called.
    urls: Vec<String>,
    /// Branch names under review, besides `HEAD` and an empty revision.
    revisions: Vec<String>,
}

impl ThisRepository {
    /// A repository known by these URLs (any form) with these branches under review.
    pub fn new<U: AsRef<str>, R: AsRef<str>>(urls: &[U], revisions: &[R]) -> Self {
        let mut this = Self::default();
        this.add(urls, revisions);
        this
    }

    /// Adds aliases and branches (the configuration's, then the command line's or payload's).
    pub fn add<U: AsRef<str>, R: AsRef<str>>(&mut self, urls: &[U], revisions: &[R]) {
        for url in urls {
            let url = normalize_url(url.as_ref());
            if !url.is_empty() && !self.urls.contains(&url) {
                self.urls.push(url);
            }
        }
        for revision in revisions {
            let revision = branch_name(revision.as_ref());
            if !revision.is_empty() && !self.revisions.iter().any(|r| r == revision) {
                self.revisions.push(revision.to_string());
            }
        }
    }

    /// Adds another's URLs and branches.
    pub fn extend(&mut self, other: &ThisRepository) {
        self.add(&other.urls, &other.revisions);
    }

    /// What a local checkout says about itself: the `origin` remote's URL (none without one),
    /// and as branches under review `base` when it names a branch, the branch checked out, and
    /// the remote's default branch (`refs/remotes/origin/HEAD`). A missing repository or remote
    /// simply adds nothing.
    pub fn of_checkout(repo: &std::path::Path, base: &str) -> Self {
        let mut this = Self::default();
        let Ok(git) = git2::Repository::open(repo) else {
            return this;
        };
        let urls: Vec<String> = git
            .find_remote("origin")
            .ok()
            .and_then(|r| r.url().ok().map(str::to_string))
            .into_iter()
            .collect();
        let mut revisions: Vec<String> = Vec::new();
        let is_branch = git.find_branch(base, git2::BranchType::Local).is_ok()
            || git.find_branch(base, git2::BranchType::Remote).is_ok();
        if is_branch {
            revisions.push(base.to_string());
        }
        if let Ok(head) = git.head()
            && head.is_branch()
            && let Ok(name) = head.shorthand()
        {
            revisions.push(name.to_string());
        }
        if let Ok(default) = git.find_reference("refs/remotes/origin/HEAD")
            && let Ok(Some(target)) = default.symbolic_target()
        {
            revisions.push(target.trim_start_matches("refs/remotes/").to_string());
        }
        this.add(&urls, &revisions);
        this
    }

    /// Whether any URL is known. Without one (a directory compared without `--repo-url`),
    /// every Application source is taken to be this repository, as before issue 10.
    pub fn is_known(&self) -> bool {
        !self.urls.is_empty()
    }

    /// Whether an Application source with this `repoURL` and `targetRevision` reads this
    /// repository at the revision under review: the URL is one of ours and the revision is
    /// empty, `HEAD`, or a branch under review (`refs/heads/` and `origin/` prefixes ignored),
    /// so a pinned tag of this repository places nothing either. Without any URL known, nothing
    /// tells this repository's sources from others': every source counts, whatever its revision.
    pub fn deploys_from_here(&self, repo_url: &str, target_revision: Option<&str>) -> bool {
        if !self.is_known() {
            return true;
        }
        if !self.urls.contains(&normalize_url(repo_url)) {
            return false;
        }
        let revision = branch_name(target_revision.unwrap_or_default());
        revision.is_empty() || revision == "HEAD" || self.revisions.iter().any(|r| r == revision)
    }

    /// The branches under review, besides `HEAD` and an empty revision.
    pub fn revisions(&self) -> &[String] {
        &self.revisions
    }

    /// The URLs as normalised, for messages.
    pub fn urls(&self) -> &[String] {
        &self.urls
    }
}

/// `refs/heads/main`, `origin/main` and `main` name one branch.
fn branch_name(revision: &str) -> &str {
    let revision = revision.trim();
    revision
        .strip_prefix("refs/heads/")
        .or_else(|| revision.strip_prefix("refs/remotes/origin/"))
        .or_else(|| revision.strip_prefix("origin/"))
        .unwrap_or(revision)
}

/// The comparable form of a git URL: `host/path`, lower case, without scheme, user info, port
/// separators of the scp form, `.git` suffix or trailing slash. Empty for an empty URL.
pub fn normalize_url(url: &str) -> String {
    let mut url = url.trim().to_ascii_lowercase();
    let scheme_end = url.find("://").map(|i| i + 3);
    let rest = match scheme_end {
        Some(end) => url.split_off(end),
        // `git@host:org/repo`: the scp form; its first colon separates host and path.
        None => match url.split_once(':') {
            Some((host, path)) if !host.contains('/') => format!("{host}/{path}"),
            _ => url.clone(),
        },
    };
    let rest = match rest.split_once('/') {
        Some((authority, path)) => {
            let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
            format!("{host}/{path}")
        }
        None => rest
            .rsplit_once('@')
            .map_or(rest.clone(), |(_, h)| h.to_string()),
    };
    let mut out = rest.trim_end_matches('/').to_string();
    while let Some(stripped) = out.strip_suffix(".git") {
        out = stripped.trim_end_matches('/').to_string();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_repository_in_every_written_form() {
        let forms = [
            "https://github.com/Org/Repo.git",
            "https://github.com/org/repo",
            "https://github.com/org/repo/",
            "http://github.com/org/repo.git/",
            "git@github.com:org/repo.git",
            "ssh://git@github.com/org/repo",
            "https://x-access-token:secret@GitHub.com/org/repo.git",
            "git://github.com/org/repo.git",
        ];
        for form in forms {
            assert_eq!(normalize_url(form), "github.com/org/repo", "{form}");
        }
        assert_ne!(
            normalize_url("https://github.com/org/repo-other"),
            normalize_url("https://github.com/org/repo")
        );
        assert_ne!(
            normalize_url("https://gitlab.com/org/repo"),
            normalize_url("https://github.com/org/repo")
        );
    }

    #[test]
    fn deploys_from_here_needs_our_url_and_a_branch_under_review() {
        let this = ThisRepository::new(&["git@github.com:example/gitops.git"], &["main"]);
        let ours = "https://github.com/example/gitops";
        for revision in [
            None,
            Some(""),
            Some("HEAD"),
            Some("main"),
            Some("refs/heads/main"),
        ] {
            assert!(this.deploys_from_here(ours, revision), "{revision:?}");
        }
        assert!(!this.deploys_from_here(ours, Some("v1.2.0")));
        assert!(!this.deploys_from_here(ours, Some("release-1")));
        assert!(!this.deploys_from_here("https://github.com/vendor/cache", Some("HEAD")));
        assert!(!this.deploys_from_here("https://charts.example.com", None));
    }

    #[test]
    fn an_unknown_repository_takes_every_source_as_its_own() {
        let this = ThisRepository::default();
        assert!(this.deploys_from_here("https://github.com/any/thing", Some("v1")));
        let named_branch = ThisRepository::new::<&str, &str>(&[], &["main"]);
        assert!(named_branch.deploys_from_here("https://github.com/any/thing", Some("v1")));
    }
}
