//! Setup without reading docs: GitHub's App manifest flow.
//!
//! `GET /` on a server without an App shows one button that posts `app-manifest.yml` (with this
//! server's addresses filled in) to GitHub; GitHub registers the App and sends the browser to
//! `/setup?code=…`, where the code is exchanged (`POST /app-manifests/{code}/conversions`) for the
//! App's id, private key and webhook secret. They are written to the data directory with mode
//! 0600 and used at once, without a restart.
//!
//! The page is not an open door: until an App is configured, `serve` makes a one-time setup
//! code, prints it at start and writes it to `setup-code` in the data directory (mode 0600);
//! only a browser that posts the code to `/` is handed the manifest form and a `state` that
//! `/setup` accepts. Once configured, `/` and `/setup` only say so and the code is deleted.
//! The App is registered under the user, or under an organization when one is named (GitHub's
//! "Registering a GitHub App from a manifest": `/settings/apps/new` or
//! `/organizations/{org}/settings/apps/new`), on github.com or the Enterprise Server that
//! `CLOBBERCHECK_GITHUB_API_URL` names.

use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};

use axum::extract::{Form, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use minijinja::{AutoEscape, Environment};
use serde::Deserialize;
use serde_json::{Value, json};

use super::{AppSecrets, AppState, CREDENTIALS_FILE, ServerError};
use crate::github::Secret;

/// The file holding the setup code in the data directory, while no App is configured.
pub const CODE_FILE: &str = "setup-code";

/// The App manifest, embedded from the repository's top level.
pub const MANIFEST: &str = include_str!("../../app-manifest.yml");
const PAGE: &str = include_str!("../../templates/setup.html.j2");

/// The manifest with this server's public URL filled in.
pub fn manifest(public_url: &str) -> Result<Value, String> {
    let mut manifest: Value =
        serde_saphyr::from_str(MANIFEST).map_err(|e| format!("app-manifest.yml: {e}"))?;
    manifest["url"] = json!(public_url);
    manifest["hook_attributes"]["url"] = json!(format!("{public_url}/webhook"));
    manifest["redirect_url"] = json!(format!("{public_url}/setup"));
    Ok(manifest)
}

/// GitHub's web address for an API address: github.com for api.github.com, the host for an
/// Enterprise Server's `/api/v3`, the address itself otherwise (test servers).
pub fn web_url(api_url: &str) -> String {
    let api = api_url.trim_end_matches('/');
    if api == "https://api.github.com" {
        return "https://github.com".into();
    }
    api.strip_suffix("/api/v3").unwrap_or(api).to_string()
}

fn public_url(state: &AppState, headers: &HeaderMap) -> String {
    if let Some(url) = &state.settings.public_url {
        return url.trim_end_matches('/').to_string();
    }
    let host = headers
        .get("host")
        .and_then(|h| h.to_str().ok())
        .unwrap_or("localhost:3000");
    let scheme = headers
        .get("x-forwarded-proto")
        .and_then(|h| h.to_str().ok())
        .unwrap_or("http");
    format!("{scheme}://{host}")
}

fn page(ctx: Value) -> Response {
    let mut env = Environment::new();
    env.set_auto_escape_callback(|_| AutoEscape::Html);
    match env
        .template_from_str(PAGE)
        .and_then(|t| t.render(minijinja::value::Serde(&ctx)))
    {
        Ok(html) => Html(html).into_response(),
        Err(e) => {
            tracing::error!(error = %e, "setup page template");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                "setup page unavailable\n",
            )
                .into_response()
        }
    }
}

fn random_hex() -> Result<String, std::io::Error> {
    use std::io::Read;
    let mut bytes = [0u8; 16];
    std::fs::File::open("/dev/urandom")?.read_exact(&mut bytes)?;
    Ok(hex::encode(bytes))
}

/// Writes `bytes` to `path` with mode 0600, whatever mode an older file had.
fn write_private(path: &std::path::Path, bytes: &[u8]) -> Result<(), std::io::Error> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)?;
    // `mode` applies only when the file is created: an older file keeps its mode.
    file.set_permissions(std::fs::Permissions::from_mode(0o600))?;
    file.write_all(bytes)?;
    file.sync_all()
}

/// Makes the one-time setup code of an unconfigured server and writes it to the data directory.
pub fn new_code(state: &AppState) -> Result<(), ServerError> {
    let path = state.settings.data_dir.join(CODE_FILE);
    let error = |e: std::io::Error| ServerError::File {
        path: path.clone(),
        message: e.to_string(),
    };
    let code = random_hex().map_err(error)?;
    write_private(&path, format!("{code}\n").as_bytes()).map_err(error)?;
    *state.setup_code.lock().unwrap_or_else(|p| p.into_inner()) = Some(Secret::new(code));
    Ok(())
}

/// The setup code, while the server awaits setup.
pub fn code(state: &AppState) -> Option<Secret> {
    state
        .setup_code
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .clone()
}

/// Drops the setup code once an App is configured; the file goes too.
pub fn forget_code(state: &AppState) {
    *state.setup_code.lock().unwrap_or_else(|p| p.into_inner()) = None;
    let path = state.settings.data_dir.join(CODE_FILE);
    if let Err(e) = std::fs::remove_file(&path)
        && e.kind() != std::io::ErrorKind::NotFound
    {
        tracing::warn!(path = %path.display(), error = %e, "cannot delete the used setup code");
    }
}

/// Compares in time independent of where the strings differ.
fn same(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

fn configured_page(state: &AppState, headers: &HeaderMap) -> Option<Response> {
    let app = state.configured()?;
    Some(page(json!({
        "app_id": app.github.app_id(),
        "public_url": public_url(state, headers),
    })))
}

/// `GET /`: the App's status, or the form asking for the setup code.
pub async fn index(State(state): State<AppState>, headers: HeaderMap) -> Response {
    if let Some(configured) = configured_page(&state, &headers) {
        return configured;
    }
    page(json!({"ask_code": true, "github_url": web_url(&state.settings.api_url)}))
}

/// The form posted to `/`.
#[derive(Deserialize)]
pub struct Unlock {
    setup_code: String,
    #[serde(default)]
    organization: String,
}

/// `POST /`: with the right setup code, the registration form for the user or organization.
pub async fn unlock(
    State(state): State<AppState>,
    headers: HeaderMap,
    Form(form): Form<Unlock>,
) -> Response {
    if let Some(configured) = configured_page(&state, &headers) {
        return configured;
    }
    let expected = code(&state);
    if !expected.is_some_and(|c| same(c.expose(), form.setup_code.trim())) {
        tracing::warn!("setup page: wrong setup code");
        return (
            StatusCode::FORBIDDEN,
            page(json!({"ask_code": true, "wrong_code": true,
                "github_url": web_url(&state.settings.api_url)})),
        )
            .into_response();
    }
    let organization = form.organization.trim();
    // GitHub organization names: letters, digits and single hyphens.
    if !organization
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || c == '-')
    {
        return (
            StatusCode::BAD_REQUEST,
            "an organization name has only letters, digits and hyphens\n",
        )
            .into_response();
    }
    let public_url = public_url(&state, &headers);
    let manifest = match manifest(&public_url) {
        Ok(m) => m,
        Err(e) => {
            tracing::error!(error = %e, "embedded manifest");
            return (StatusCode::INTERNAL_SERVER_ERROR, "manifest unavailable\n").into_response();
        }
    };
    let setup_state = match random_hex() {
        Ok(s) => s,
        Err(e) => {
            tracing::error!(error = %e, "no randomness for the setup state");
            return (StatusCode::INTERNAL_SERVER_ERROR, "setup unavailable\n").into_response();
        }
    };
    {
        let mut states = state.setup_states.lock().unwrap_or_else(|p| p.into_inner());
        states.push(setup_state.clone());
        let excess = states.len().saturating_sub(32);
        states.drain(..excess);
    }
    let github = web_url(&state.settings.api_url);
    let target = if organization.is_empty() {
        format!("{github}/settings/apps/new")
    } else {
        format!("{github}/organizations/{organization}/settings/apps/new")
    };
    page(json!({
        "public_url": public_url,
        "target": target,
        "organization": organization,
        "state": setup_state,
        "manifest": manifest.to_string(),
    }))
}

/// The callback's query string.
#[derive(Deserialize)]
pub struct Callback {
    #[serde(default)]
    code: String,
    #[serde(default)]
    state: String,
}

/// `GET /setup?code=…&state=…`: exchanges the code and configures the server.
pub async fn callback(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(query): Query<Callback>,
) -> Response {
    if let Some(configured) = configured_page(&state, &headers) {
        return configured;
    }
    let known = {
        let mut states = state.setup_states.lock().unwrap_or_else(|p| p.into_inner());
        let position = states.iter().position(|s| *s == query.state);
        position.map(|i| states.remove(i)).is_some()
    };
    if !known || query.code.is_empty() || !query.code.chars().all(|c| c.is_ascii_alphanumeric()) {
        return (
            StatusCode::BAD_REQUEST,
            "unknown setup state or code; start again at /\n",
        )
            .into_response();
    }
    let url = format!(
        "{}/app-manifests/{}/conversions",
        state.settings.api_url.trim_end_matches('/'),
        query.code
    );
    let answer = async {
        let response = reqwest::Client::new()
            .post(&url)
            .header("Accept", "application/vnd.github+json")
            .header(
                "User-Agent",
                concat!("clobbercheck/", env!("CARGO_PKG_VERSION")),
            )
            .send()
            .await
            .map_err(|e| format!("no answer: {e}"))?;
        let status = response.status();
        if !status.is_success() {
            return Err(format!("GitHub answered {status}"));
        }
        response
            .json::<Value>()
            .await
            .map_err(|e| format!("unreadable answer: {e}"))
    }
    .await;
    let conversion = match answer {
        Ok(v) => v,
        Err(e) => {
            tracing::error!(error = e, "manifest conversion failed");
            return (
                StatusCode::BAD_GATEWAY,
                format!("manifest conversion failed: {e}\n"),
            )
                .into_response();
        }
    };
    let secrets = match (
        conversion.get("id").and_then(Value::as_u64),
        conversion.get("pem").and_then(Value::as_str),
        conversion.get("webhook_secret").and_then(Value::as_str),
    ) {
        (Some(app_id), Some(pem), Some(secret)) => AppSecrets {
            app_id,
            private_key: pem.to_string(),
            webhook_secret: secret.to_string(),
        },
        _ => {
            return (
                StatusCode::BAD_GATEWAY,
                "manifest conversion lacks id, pem or webhook_secret\n",
            )
                .into_response();
        }
    };
    let path = state.settings.data_dir.join(CREDENTIALS_FILE);
    let written = serde_json::to_vec_pretty(&secrets)
        .map_err(std::io::Error::other)
        .and_then(|bytes| write_private(&path, &bytes));
    if let Err(e) = written {
        tracing::error!(path = %path.display(), error = %e, "cannot save the App credentials");
        return (
            StatusCode::INTERNAL_SERVER_ERROR,
            "cannot save the App credentials\n",
        )
            .into_response();
    }
    if let Err(e) = state.configure(&secrets) {
        tracing::error!(error = %e, "cannot use the new App credentials");
        return (
            StatusCode::INTERNAL_SERVER_ERROR,
            "cannot use the new App credentials\n",
        )
            .into_response();
    }
    page(json!({
        "registered": {
            "slug": conversion.get("slug").and_then(Value::as_str).unwrap_or("clobbercheck"),
            "html_url": conversion.get("html_url").and_then(Value::as_str).unwrap_or(""),
        },
        "file": path.display().to_string(),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manifest_asks_for_exactly_the_documented_permissions() {
        let m = manifest("https://cc.example").unwrap();
        assert_eq!(m["hook_attributes"]["url"], "https://cc.example/webhook");
        assert_eq!(m["redirect_url"], "https://cc.example/setup");
        assert_eq!(m["public"], false);
        assert_eq!(
            m["default_permissions"],
            json!({"checks": "write", "pull_requests": "write", "contents": "read", "metadata": "read",
                   "merge_queues": "read"})
        );
        assert!(
            m["default_events"]
                .as_array()
                .unwrap()
                .contains(&json!("merge_group"))
        );
    }

    #[test]
    fn web_url_follows_the_api_url() {
        assert_eq!(web_url("https://api.github.com/"), "https://github.com");
        assert_eq!(web_url("https://ghe.corp/api/v3"), "https://ghe.corp");
    }
}
