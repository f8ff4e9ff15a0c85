//! Talking to GitHub as an App: authentication, the API client with its retry rules, and the
//! check runs, reviews and comments the server publishes (DESIGN.md §5, §6).
//!
//! The client is written on `reqwest` rather than octocrab: octocrab re-sends failed POSTs, drops
//! `Authorization` on pagination against non-github.com hosts and has no typed builder for check
//! run actions or line/side review comments — every call here would have bypassed it anyway.

pub mod api;
pub mod auth;
pub mod client;
pub mod output;
pub mod publish;

pub use auth::{AppCredentials, Secret};
pub use client::{GitHub, GitHubError, Installation, RetryPolicy};
