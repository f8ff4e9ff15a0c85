//! Which pull requests a merge group holds, so their acknowledgements apply to its run.
//!
//! GitHub builds a merge group on a temporary branch named
//! `gh-readonly-queue/<base branch>/pr-<number>-<sha>` for the last pull request it adds, and
//! the group holds that pull request and every one ahead of it in the queue ("Managing a merge
//! queue", <https://docs.github.com/en/repositories/configuring-branches-and-merges-in-your-repository/configuring-pull-request-merges/managing-a-merge-queue>;
//! the `merge_group` payload's `head_ref`, <https://docs.github.com/en/webhooks/webhook-events-and-payloads#merge_group>).
//! The ones ahead are named by the commits GitHub writes on that branch: a merge commit says
//! `Merge pull request #<n> from …`, a squashed one ends its first line with `(#<n>)`. A rebased
//! pull request leaves no number in its commits; its acknowledgement then does not reach the
//! group unless it is the last one (named by the branch).

use std::path::Path;

/// How many commits of a merge group are read for pull request numbers: a queue builds groups of
/// at most 100 pull requests, each usually a few commits.
const MAX_COMMITS: usize = 5_000;

/// The pull request numbers of a merge group, from its `head_ref` (`refs/heads/…` or the bare
/// branch) and its commits' messages, in order of first mention, each once.
pub fn pull_requests<'a>(head_ref: &str, messages: impl IntoIterator<Item = &'a str>) -> Vec<u64> {
    let mut numbers = Vec::new();
    let mut add = |n: u64| {
        if !numbers.contains(&n) {
            numbers.push(n);
        }
    };
    if let Some(n) = from_branch(head_ref) {
        add(n);
    }
    for message in messages {
        let first = message.lines().next().unwrap_or("");
        if let Some(n) = first
            .strip_prefix("Merge pull request #")
            .and_then(leading_number)
        {
            add(n);
        } else if let Some(n) = first
            .trim_end()
            .strip_suffix(')')
            .and_then(|rest| rest.rsplit_once("(#"))
            .and_then(|(_, n)| n.parse().ok())
        {
            add(n);
        }
    }
    numbers
}

/// `<n>` from `…/gh-readonly-queue/<base>/pr-<n>-<sha>`.
fn from_branch(head_ref: &str) -> Option<u64> {
    let branch = head_ref.strip_prefix("refs/heads/").unwrap_or(head_ref);
    let rest = branch.strip_prefix("gh-readonly-queue/")?;
    let last = rest.rsplit('/').next()?;
    leading_number(last.strip_prefix("pr-")?)
}

fn leading_number(text: &str) -> Option<u64> {
    let digits: String = text.chars().take_while(char::is_ascii_digit).collect();
    digits.parse().ok()
}

/// The messages of the commits reachable from `head` but not from `base` in the repository at
/// `git_dir`, newest first, at most [`MAX_COMMITS`].
pub fn commit_messages(git_dir: &Path, base: &str, head: &str) -> Result<Vec<String>, git2::Error> {
    let repo = git2::Repository::open(git_dir)?;
    let mut walk = repo.revwalk()?;
    walk.push(git2::Oid::from_str(head)?)?;
    walk.hide(git2::Oid::from_str(base)?)?;
    let mut messages = Vec::new();
    for oid in walk.take(MAX_COMMITS) {
        let commit = repo.find_commit(oid?)?;
        messages.push(String::from_utf8_lossy(commit.message_bytes()).into_owned());
    }
    Ok(messages)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_branch_names_the_last_pull_request_and_commits_the_ones_ahead() {
        let numbers = pull_requests(
            "refs/heads/gh-readonly-queue/release/v2/pr-12-0123456789abcdef0123456789abcdef01234567",
            [
                "Add app02 (#12)\n\nbody",
                "Merge pull request #7 from someone/feature\n\nAdd",
                "Fix typo (#12)",
                "a commit that names no pull request",
                "Mention (#x)",
            ],
        );
        assert_eq!(numbers, [12, 7]);
    }

    #[test]
    fn a_branch_outside_the_queue_names_nothing() {
        assert!(pull_requests("refs/heads/main", ["no number"]).is_empty());
        assert!(pull_requests("refs/heads/gh-readonly-queue/main/prx-1", []).is_empty());
        assert_eq!(pull_requests("gh-readonly-queue/main/pr-3-abc", []), [3]);
    }
}
