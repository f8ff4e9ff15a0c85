//! Command line: argument parsing and exit status only; the work is in the library.

use std::io::{IsTerminal, Read, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand, ValueEnum};

use clobbercheck::deploy::repository::ThisRepository;
use clobbercheck::finding::Severity;
use clobbercheck::report::{Format, Shape, json, markdown, sarif};
use clobbercheck::revision::{DirRevision, Revision, discover_repository, open_directory};
use clobbercheck::snapshot::{Problem, Snapshot};
use clobbercheck::split_out::{Input, split_to_dir, write_objects, yaml_stream};
use clobbercheck::{Config, Options, ParseCache, analyze_with, open_side};

/// Finds Kubernetes objects a change overwrites while seeming to add them.
#[derive(Parser)]
#[command(name = "clobbercheck", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Compare two revisions (git revisions or directories) object by object.
    ///
    /// Exit status: 0 no finding that fails, 1 at least one error finding (or warning, with
    /// `--fail-on warning`), 2 could not run.
    Check {
        /// Base side: a git revision of --repo, an existing directory, or `-` (a YAML stream on
        /// standard input).
        #[arg(long)]
        base: String,
        /// Head side: a git revision of --repo, an existing directory (`.` = the files git
        /// tracks or has staged in the working tree), or `-` (standard input).
        #[arg(long)]
        head: String,
        /// The git repository the revisions belong to; relative directory sides are resolved
        /// against it [default: the repository holding the current folder, found upward as git
        /// does].
        #[arg(long)]
        repo: Option<PathBuf>,
        /// Configuration file to use instead of the base revision's `.clobbercheck.yml`.
        #[arg(long)]
        config: Option<PathBuf>,
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
        /// Directory of templates overriding the embedded Markdown templates.
        #[arg(long)]
        templates: Option<PathBuf>,
        /// Judge every object of head (an audit), not only what the change touches.
        #[arg(long)]
        all: bool,
        /// Colour the text report: `auto` on a terminal unless NO_COLOR is set and non-empty.
        #[arg(long, value_enum, default_value_t = ColorChoice::Auto)]
        color: ColorChoice,
        /// The least severe finding that fails the check (exit status 1).
        #[arg(long, value_enum, default_value_t = FailOn::Error)]
        fail_on: FailOn,
        /// Write the report to this file instead of standard output.
        #[arg(long)]
        output: Option<PathBuf>,
        /// Show per-object diffs (text format; Markdown and HTML always fold them in). Secret
        /// values are hidden, as in the check run.
        #[arg(long)]
        diff: bool,
        /// Markdown size limit in characters (GitHub's for a check run or comment); lists are
        /// cut to fit, each saying how many items it left out. 0 lifts the limit.
        #[arg(long, default_value_t = markdown::MAX_CHARS, value_name = "N")]
        max_chars: usize,
        /// A URL Argo CD Applications name this repository by (repeatable; any form: https,
        /// `git@host:org/repo`, with or without `.git`). Default: the `origin` remote of --repo.
        /// Applications of other repositories place nothing here.
        #[arg(long = "repo-url", value_name = "URL")]
        repo_urls: Vec<String>,
    },
    /// Write one object per file, named from its identity; refuse duplicates.
    Split {
        /// Output directory.
        #[arg(long, default_value = ".")]
        out: PathBuf,
        /// Input files; `-` or none reads standard input (`helm template … | clobbercheck split -`).
        files: Vec<String>,
    },
    /// Run the GitHub App: receive webhooks, publish check runs, reviews and a summary comment.
    ///
    /// Configured by the environment: CLOBBERCHECK_APP_ID, CLOBBERCHECK_PRIVATE_KEY (or
    /// CLOBBERCHECK_PRIVATE_KEY_PATH), CLOBBERCHECK_WEBHOOK_SECRET, CLOBBERCHECK_GITHUB_API_URL,
    /// CLOBBERCHECK_GIT_URL (the only host given the token for git), CLOBBERCHECK_LISTEN,
    /// CLOBBERCHECK_DATA_DIR, CLOBBERCHECK_DATABASE_URL; README lists the rest. Without the App
    /// variables, open the server's `/` page to register the App.
    Serve,

    /// Run inside a GitHub Actions workflow: the `check` analysis on the event's base and head,
    /// published as the App publishes (check run, review, summary comment).
    ///
    /// Reads GITHUB_EVENT_NAME, GITHUB_EVENT_PATH, GITHUB_REPOSITORY, GITHUB_WORKSPACE,
    /// GITHUB_API_URL, GITHUB_SERVER_URL and the token (INPUT_TOKEN, else GITHUB_TOKEN); writes
    /// $GITHUB_STEP_SUMMARY and the outputs errors, warnings and report to $GITHUB_OUTPUT.
    /// Exit status as `check`: 0, 1 (findings fail under --fail-on), 2 could not run.
    #[command(name = "github-action")]
    GithubAction {
        /// Base revision instead of the event's (a sha or ref of the workspace repository).
        #[arg(long, env = "INPUT_BASE", value_parser = clap::builder::NonEmptyStringValueParser::new())]
        base: Option<String>,
        /// Configuration file, relative to the workspace, instead of the base revision's.
        #[arg(long, env = "INPUT_CONFIG", value_parser = clap::builder::NonEmptyStringValueParser::new())]
        config: Option<String>,
        /// Which findings fail the step.
        #[arg(long, env = "INPUT_FAIL_ON", value_enum, default_value_t = clobbercheck::action::FailOn::Error)]
        fail_on: clobbercheck::action::FailOn,
        /// The report printed in the step's log.
        #[arg(long, env = "INPUT_FORMAT", value_enum, default_value_t = Format::Text)]
        format: Format,
        /// Directory of templates overriding the embedded Markdown templates.
        #[arg(long)]
        templates: Option<PathBuf>,
    },

    /// Print every object one revision defines (plain files and rendered `sources:`) as the
    /// check sees it. Exit status: 0 all read, 1 something could not be read or rendered.
    Render {
        /// A git revision of --repo, or an existing directory.
        #[arg(long)]
        rev: String,
        /// The git repository the revision belongs to [default: found upward from the current
        /// folder].
        #[arg(long)]
        repo: Option<PathBuf>,
        /// Configuration file to use instead of the revision's `.clobbercheck.yml`.
        #[arg(long)]
        config: Option<PathBuf>,
        /// Write one object per file into this directory instead of printing a YAML stream.
        #[arg(long)]
        split: Option<PathBuf>,
    },
    /// Internal: the sandboxed jsonnet evaluator (speaks a pipe protocol with its parent).
    #[command(name = "__render-jsonnet", hide = true)]
    RenderJsonnet {
        /// Address-space limit the child sets on itself before reading anything.
        #[arg(long)]
        memory_bytes: u64,
        /// CPU-time limit the child sets on itself.
        #[arg(long)]
        cpu_seconds: u64,
    },
}

/// When the text report is coloured (`--color`); `auto` follows no-color.org: a terminal, and
/// `NO_COLOR` unset or empty.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum ColorChoice {
    Auto,
    Always,
    Never,
}

impl ColorChoice {
    /// Whether to colour a report written to standard output (`to_stdout`) or to a file.
    fn enabled(self, to_stdout: bool) -> bool {
        match self {
            ColorChoice::Always => true,
            ColorChoice::Never => false,
            ColorChoice::Auto => {
                to_stdout
                    && std::io::stdout().is_terminal()
                    && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
            }
        }
    }
}

/// `--fail-on`: the least severe finding that makes the exit status 1.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum FailOn {
    Error,
    Warning,
}

impl FailOn {
    fn severity(self) -> Severity {
        match self {
            FailOn::Error => Severity::Error,
            FailOn::Warning => Severity::Warning,
        }
    }
}

#[global_allocator]
static ALLOCATOR: clobbercheck::alloc::Allocator = clobbercheck::alloc::Allocator::new();

fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Command::RenderJsonnet {
        memory_bytes,
        cpu_seconds,
    } = cli.command
    {
        return clobbercheck::render::jsonnet::sandbox_child(memory_bytes, cpu_seconds);
    }
    // A log line that cannot be written (stderr on a full disk) is lost; reporting that on
    // stderr again would panic the thread that logged (a webhook answer, a worker).
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_env("CLOBBERCHECK_LOG"))
        .with_writer(std::io::stderr)
        .log_internal_errors(false)
        .init();
    // SAFETY: no other thread exists yet (clap and the log subscriber start none).
    unsafe { clobbercheck::certificates::defer_loading() };
    match run(cli) {
        Ok(code) => code,
        Err(error) => {
            eprintln!("clobbercheck: error: {error:#}");
            ExitCode::from(2)
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Check {
            base,
            head,
            repo,
            config,
            format,
            templates,
            all,
            color,
            fail_on,
            output,
            diff,
            max_chars,
            repo_urls,
        } => {
            let config = config.map(|path| load_config(&path)).transpose()?;
            if let Some(dir) = templates.as_deref().filter(|d| !d.is_dir()) {
                anyhow::bail!("--templates {}: no such directory", dir.display());
            }
            if base == "-" && head == "-" {
                anyhow::bail!(
                    "--base - and --head -: only one side can be read from standard input"
                );
            }
            let sides = Sides::new(repo)?;
            let base_rev = sides.open(&base, &head)?;
            let head_rev = sides.open(&head, &base)?;
            let cache = ParseCache::default();
            let checkout = ThisRepository::of_checkout(&sides.repo, &base);
            // Explicit URLs replace the remote's; the checkout's branches still count. The
            // remote names the repository only when a side reads it (a revision, or its working
            // tree): two folders elsewhere (fixtures, rendered trees) are not that repository.
            let repository = if !repo_urls.is_empty() {
                ThisRepository::new(&repo_urls, checkout.revisions())
            } else if sides.reads_repository(&base) || sides.reads_repository(&head) {
                checkout
            } else {
                ThisRepository::default()
            };
            let options = Options { all, repository };
            let analysis = analyze_with(
                base_rev.as_ref(),
                head_rev.as_ref(),
                config,
                &cache,
                options,
            )?;
            let report = &analysis.report;
            let mut stdout: Box<dyn Write> = match &output {
                Some(path) => Box::new(std::io::BufWriter::new(
                    std::fs::File::create(path)
                        .with_context(|| format!("--output {}", path.display()))?,
                )),
                None => Box::new(std::io::BufWriter::new(std::io::stdout().lock())),
            };
            let output = match format {
                Format::Json => {
                    json::write(report, &mut stdout)?;
                    String::new()
                }
                format => {
                    let env = markdown::environment(templates.as_deref())?;
                    let shape = Shape {
                        max_chars: (max_chars > 0).then_some(max_chars),
                        diff,
                        roots: sarif::Roots::of(&sides.resolved(&base), &sides.resolved(&head)),
                    };
                    format.render(&analysis, &env, color.enabled(output.is_none()), &shape)?
                }
            };
            stdout.write_all(output.as_bytes())?;
            stdout.flush()?;
            let failed = report.failed_at(fail_on.severity());
            // The process ends here: freeing every parsed object one by one would only cost time.
            std::mem::forget((analysis, cache));
            Ok(if failed {
                ExitCode::from(1)
            } else {
                ExitCode::SUCCESS
            })
        }
        Command::Serve => {
            limit_malloc_arenas();
            let settings = clobbercheck::server::Settings::from_env()?;
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()?;
            runtime.block_on(clobbercheck::server::run(settings))?;
            Ok(ExitCode::SUCCESS)
        }
        Command::GithubAction {
            base,
            config,
            fail_on,
            format,
            templates,
        } => {
            let inputs = clobbercheck::action::Inputs {
                base,
                config: config.map(PathBuf::from),
                fail_on,
                format,
                templates,
            };
            let lookup = |name: &str| std::env::var(name).ok();
            let mut stdout = std::io::stdout().lock();
            let outcome = clobbercheck::action::run(&lookup, &inputs, &mut stdout)?;
            stdout.flush()?;
            Ok(if outcome.failed {
                ExitCode::from(1)
            } else {
                ExitCode::SUCCESS
            })
        }
        Command::Split { out, files } => {
            let mut inputs = Vec::new();
            let files = if files.is_empty() {
                vec!["-".to_string()]
            } else {
                files
            };
            for name in files {
                let bytes = if name == "-" {
                    read_stdin()?
                } else {
                    std::fs::read(&name).map_err(|e| anyhow::anyhow!("cannot read {name}: {e}"))?
                };
                inputs.push(Input { name, bytes });
            }
            match split_to_dir(&inputs, &out) {
                Ok(written) => {
                    eprintln!("wrote {} file(s) to {}", written.len(), out.display());
                    Ok(ExitCode::SUCCESS)
                }
                Err(error @ clobbercheck::split_out::SplitOutError::Duplicate(_)) => {
                    eprintln!("clobbercheck: error: {error}");
                    Ok(ExitCode::from(1))
                }
                Err(error) => Err(error.into()),
            }
        }
        Command::Render {
            rev,
            repo,
            config,
            split,
        } => {
            let revision = Sides::new(repo)?.open(&rev, &rev)?;
            let config = match config {
                Some(path) => load_config(&path)?,
                None => Config::load(revision.as_ref())?.0,
            };
            let cache = ParseCache::default();
            let snapshot = Snapshot::load(revision.as_ref(), &config, &cache)?;
            for problem in &snapshot.problems {
                let (line, message) = problem.describe();
                eprintln!("clobbercheck: {}:{line}: {message}", problem.path());
            }
            for failure in &snapshot.render_errors {
                eprintln!("clobbercheck: render-error: {failure}");
            }
            let incomplete = snapshot.problems.iter().any(Problem::hides_objects)
                || !snapshot.render_errors.is_empty();
            match split {
                Some(dir) => match write_objects(&snapshot.object_refs(), &dir) {
                    Ok(written) => {
                        eprintln!("wrote {} file(s) to {}", written.len(), dir.display())
                    }
                    Err(error @ clobbercheck::split_out::SplitOutError::Duplicate(_)) => {
                        eprintln!("clobbercheck: error: {error}");
                        return Ok(ExitCode::from(1));
                    }
                    Err(error) => return Err(error.into()),
                },
                None => {
                    let mut stdout = std::io::stdout().lock();
                    stdout.write_all(yaml_stream(&snapshot.object_refs())?.as_bytes())?;
                    stdout.flush()?;
                }
            }
            Ok(if incomplete {
                ExitCode::from(1)
            } else {
                ExitCode::SUCCESS
            })
        }
        Command::RenderJsonnet {
            memory_bytes,
            cpu_seconds,
        } => Ok(clobbercheck::render::jsonnet::sandbox_child(
            memory_bytes,
            cpu_seconds,
        )),
    }
}

/// glibc gives each thread that allocates its own malloc arena and rarely returns freed memory
/// from them; with analyses moving between blocking threads, a server's resident memory grew
/// to several times one analysis (2.2 GB instead of 0.5 GB in the benchmark). Two arenas keep
/// it near the working set. Must run before any other thread starts.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn limit_malloc_arenas() {
    if std::env::var_os("MALLOC_ARENA_MAX").is_none() {
        // SAFETY: mallopt only adjusts allocator tuning; called while the process is still
        // single-threaded, before the runtime starts.
        unsafe {
            libc::mallopt(libc::M_ARENA_MAX, 2);
        }
    }
}

/// Other allocators need no tuning.
#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn limit_malloc_arenas() {}

/// Reads all of standard input, saying so first when it is a terminal (where a user would
/// otherwise wait on a silent command).
fn read_stdin() -> anyhow::Result<Vec<u8>> {
    let stdin = std::io::stdin();
    if stdin.is_terminal() {
        eprintln!("clobbercheck: reading YAML from standard input (end it with Ctrl-D)");
    }
    let mut bytes = Vec::new();
    stdin
        .lock()
        .read_to_end(&mut bytes)
        .context("cannot read standard input")?;
    Ok(bytes)
}

/// Where the sides of `check` and `render` are read from: the repository named by `--repo`, or
/// the one found upward from the current folder (as git does), or — outside any repository —
/// the current folder, for directory-only comparisons.
struct Sides {
    repo: PathBuf,
    /// Whether `--repo` was given: relative directory sides are then resolved against it.
    explicit: bool,
    /// Whether `repo` is a repository found upward from the current folder.
    discovered: bool,
    /// A folder holding standard input as one file, while the sides are in use.
    stdin: tempfile::TempDir,
}

impl Sides {
    fn new(repo: Option<PathBuf>) -> anyhow::Result<Self> {
        let explicit = repo.is_some();
        let found = repo
            .is_none()
            .then(|| discover_repository(Path::new(".")))
            .flatten();
        let discovered = found.is_some();
        let repo = repo.or(found).unwrap_or_else(|| PathBuf::from("."));
        let stdin = tempfile::tempdir().context("cannot create a temporary folder")?;
        Ok(Self {
            repo,
            explicit,
            discovered,
            stdin,
        })
    }

    /// Where side `spec` is on disk when it names a folder (resolved against `--repo` as [`open`]
    /// does), for reports that point at repository-relative paths (SARIF's `uriBaseId`).
    ///
    /// [`open`]: Self::open
    fn resolved(&self, spec: &str) -> String {
        if self.explicit && !Path::new(spec).is_absolute() {
            self.repo.join(spec).to_string_lossy().into_owned()
        } else {
            spec.to_string()
        }
    }

    /// Whether side `spec` reads the repository at `repo` itself: a revision of it, or its
    /// working tree (not a folder inside it, not standard input).
    fn reads_repository(&self, spec: &str) -> bool {
        if spec == "-" {
            return false;
        }
        let dir = Path::new(&self.resolved(spec)).to_path_buf();
        if !dir.is_dir() {
            return true;
        }
        let root = git2::Repository::open(&self.repo)
            .ok()
            .and_then(|git| git.workdir().and_then(|w| w.canonicalize().ok()));
        root.is_some() && dir.canonicalize().ok() == root
    }

    /// Opens side `spec`; `other` is the other side, to tell a folder of the repository
    /// compared with a revision (almost always a mistake) from two folders compared.
    fn open(&self, spec: &str, other: &str) -> anyhow::Result<Box<dyn Revision>> {
        if spec == "-" {
            let bytes = read_stdin()?;
            std::fs::write(self.stdin.path().join("stdin.yaml"), bytes)
                .context("cannot keep standard input in a temporary file")?;
            return Ok(Box::new(DirRevision::new(self.stdin.path(), "-")));
        }
        if self.explicit || Path::new(spec).is_absolute() || !Path::new(spec).is_dir() {
            return Ok(open_side(spec, &self.repo)?);
        }
        // Without --repo, a relative folder is where the shell says it is; from a subfolder of
        // the repository it is only part of the working tree, and against a revision every file
        // outside it would read as deleted.
        let dir = std::path::absolute(spec)?;
        let root = self
            .discovered
            .then(|| self.repo.canonicalize().ok())
            .flatten();
        let inside = root.as_ref().and_then(|root| {
            let dir = dir.canonicalize().ok()?;
            let relative = dir.strip_prefix(root).ok()?;
            (!relative.as_os_str().is_empty()).then(|| relative.to_path_buf())
        });
        let other_is_revision = other != "-" && !Path::new(other).is_dir();
        if let (Some(relative), Some(root), true) = (inside, &root, other_is_revision) {
            anyhow::bail!(
                "'{spec}' is the folder {} of the repository at {}, not its whole working tree: \
                 compared with revision '{other}', every file outside it would read as deleted; \
                 name the working tree (--head {}) or run from the repository's root",
                relative.display(),
                root.display(),
                root.display()
            );
        }
        Ok(open_directory(&dir, spec, &self.repo)?)
    }
}

fn load_config(path: &std::path::Path) -> anyhow::Result<Config> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| anyhow::anyhow!("cannot read configuration {}: {e}", path.display()))?;
    Ok(Config::parse(&text, &path.display().to_string())?)
}
