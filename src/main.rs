//! Command line: argument parsing and exit status only; the work is in the library.

use std::io::{IsTerminal, Read, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use clobbercheck::report::{Format, json, markdown, sarif, text};
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
    /// Exit status: 0 no error finding, 1 at least one error finding, 2 could not run.
    Check {
        /// Base side: a git revision of --repo, or an existing directory.
        #[arg(long)]
        base: String,
        /// Head side: a git revision of --repo, or an existing directory (`.` = working tree).
        #[arg(long)]
        head: String,
        /// The git repository the revisions belong to.
        #[arg(long, default_value = ".")]
        repo: PathBuf,
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
    },
    /// Write one object per file, named from its identity; refuse duplicates.
    Split {
        /// Output directory.
        #[arg(long, default_value = ".")]
        out: PathBuf,
        /// Input files; `-` or none reads standard input.
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
        /// The git repository the revision belongs to.
        #[arg(long, default_value = ".")]
        repo: PathBuf,
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
        } => {
            let config = config.map(|path| load_config(&path)).transpose()?;
            let base_rev = open_side(&base, &repo)?;
            let head_rev = open_side(&head, &repo)?;
            let cache = ParseCache::default();
            let options = Options { all };
            let analysis = analyze_with(
                base_rev.as_ref(),
                head_rev.as_ref(),
                config,
                &cache,
                options,
            )?;
            let report = &analysis.report;
            let mut stdout = std::io::BufWriter::new(std::io::stdout().lock());
            let output = match format {
                Format::Json => {
                    json::write(report, &mut stdout)?;
                    String::new()
                }
                Format::Sarif => sarif::render(report),
                Format::Markdown => {
                    let env = markdown::environment(templates.as_deref())?;
                    markdown::render(report, &env)?
                }
                Format::Text => {
                    let color =
                        std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none();
                    text::render(report, color)
                }
            };
            stdout.write_all(output.as_bytes())?;
            stdout.flush()?;
            let failed = report.failed();
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
                    let mut buf = Vec::new();
                    std::io::stdin().read_to_end(&mut buf)?;
                    buf
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
                Err(error @ clobbercheck::split_out::SplitOutError::Duplicate { .. }) => {
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
            let revision = open_side(&rev, &repo)?;
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
                Some(dir) => match write_objects(&snapshot.objects, &dir) {
                    Ok(written) => {
                        eprintln!("wrote {} file(s) to {}", written.len(), dir.display())
                    }
                    Err(error @ clobbercheck::split_out::SplitOutError::Duplicate { .. }) => {
                        eprintln!("clobbercheck: error: {error}");
                        return Ok(ExitCode::from(1));
                    }
                    Err(error) => return Err(error.into()),
                },
                None => {
                    let mut stdout = std::io::stdout().lock();
                    stdout.write_all(yaml_stream(&snapshot.objects)?.as_bytes())?;
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

fn load_config(path: &std::path::Path) -> anyhow::Result<Config> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| anyhow::anyhow!("cannot read configuration {}: {e}", path.display()))?;
    Ok(Config::parse(&text, &path.display().to_string())?)
}
