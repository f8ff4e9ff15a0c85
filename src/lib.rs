//! clobbercheck: finds pull requests that overwrite Kubernetes objects while seeming to add them.
//!
//! The pipeline (DESIGN.md §2) flows one way: [`revision`] → [`snapshot`] (split with
//! [`manifest`], render targets with [`render`]) → [`prdiff`] → [`classify`] → [`rules`] →
//! [`report`]. [`analysis`] runs it end to end; the command line and the GitHub App
//! ([`server`], publishing through [`github`], queueing in [`queue`], fetching with [`fetch`])
//! both call it.

pub mod acknowledge;
pub mod action;
pub mod alloc;
pub mod analysis;
pub mod certificates;
pub mod classify;
pub mod config;
pub mod deploy;
pub mod fetch;
pub mod finding;
pub mod github;
pub mod manifest;
pub mod naming;
pub mod prdiff;
pub mod queue;
pub mod render;
pub mod report;
pub mod revision;
pub mod rules;
pub mod server;
pub mod snapshot;
pub mod split_out;

pub use analysis::{Analysis, AnalysisError, Options, analyze, analyze_with};
pub use config::Config;
pub use report::Report;
pub use revision::{DirRevision, GitRevision, Revision, open_side};
pub use snapshot::ParseCache;
