//! Which provider, model, endpoint and key a call uses, and how that is resolved from
//! config.yaml, the environment and an agent's `model:`.

use std::fmt;
use std::time::Duration;

use url::Url;

use crate::error::LlmError;

/// The wire format spoken.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    /// OpenAI Chat Completions (OpenAI, Ollama, vLLM, OpenRouter, Together, Gemini's OpenAI endpoint, …).
    OpenAi,
    /// Anthropic Messages.
    Anthropic,
}

/// An API key or OAuth token. Never printed: `Debug` and `Display` show `<redacted>`.
#[derive(Clone, PartialEq, Eq)]
pub struct ApiKey(String);

impl ApiKey {
    /// Wraps a key.
    pub fn new(key: impl Into<String>) -> Self {
        ApiKey(key.into())
    }

    /// The key itself, for the one place that puts it in a header.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ApiKey(<redacted>)")
    }
}

impl fmt::Display for ApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

/// How to reach one provider. `Debug` is safe to log (the key is redacted).
#[derive(Debug, Clone)]
pub struct ProviderConfig {
    /// Wire format.
    pub dialect: Dialect,
    /// Base URL the paths `chat/completions` / `messages` are appended to,
    /// e.g. `https://api.openai.com/v1`.
    pub base_url: Url,
    /// The key (`None` for servers without auth, e.g. Ollama).
    pub api_key: Option<ApiKey>,
    /// Anthropic: send `Authorization: Bearer` (OAuth token) instead of `x-api-key`.
    pub bearer: bool,
    /// TCP/TLS connect bound.
    pub connect_timeout: Duration,
    /// Per attempt: bound until the response headers arrive, and the longest silence
    /// allowed inside a streamed answer (a whole long answer may take longer).
    pub request_timeout: Duration,
    /// Retries after a 429, 5xx, timeout or connect error (0 = one attempt only).
    pub max_retries: u32,
    /// First backoff; doubled per retry, with jitter, capped at 30 s. A `Retry-After`
    /// header replaces it (capped at 60 s).
    pub backoff_base: Duration,
    /// Extra headers sent on every request (e.g. OpenRouter's `HTTP-Referer`).
    pub extra_headers: Vec<(String, String)>,
}

impl ProviderConfig {
    /// A config with the default bounds: connect 10 s, request/idle 120 s, 3 retries,
    /// backoff from 500 ms.
    pub fn new(dialect: Dialect, base_url: Url, api_key: Option<ApiKey>) -> Self {
        ProviderConfig {
            dialect,
            base_url,
            api_key,
            bearer: false,
            connect_timeout: Duration::from_secs(10),
            request_timeout: Duration::from_secs(120),
            max_retries: 3,
            backoff_base: Duration::from_millis(500),
            extra_headers: Vec::new(),
        }
    }
}

/// The AI keys of config.yaml (as the Go original names them); all optional.
#[derive(Debug, Clone, Default)]
pub struct AiSettings {
    /// `ai_provider`: openai (default), anthropic, gemini, ollama.
    pub ai_provider: Option<String>,
    /// `ai_model`.
    pub ai_model: Option<String>,
    /// `ai_base_url`: any OpenAI-compatible endpoint (or an Anthropic proxy).
    pub ai_base_url: Option<String>,
    /// `ai_api_key` (already `${VAR}`-expanded by the caller).
    pub ai_api_key: Option<ApiKey>,
    /// `ai_auth_type`: `api_key` (default) or `oauth` (Anthropic bearer token).
    pub ai_auth_type: Option<String>,
}

/// A provider Station knows by name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Provider {
    OpenAi,
    Anthropic,
    Gemini,
    Ollama,
}

impl Provider {
    fn parse(name: &str) -> Option<Provider> {
        match name.to_ascii_lowercase().as_str() {
            "openai" => Some(Provider::OpenAi),
            "anthropic" => Some(Provider::Anthropic),
            "gemini" | "googlegenai" | "google" => Some(Provider::Gemini),
            "ollama" => Some(Provider::Ollama),
            _ => None,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Provider::OpenAi => "openai",
            Provider::Anthropic => "anthropic",
            Provider::Gemini => "gemini",
            Provider::Ollama => "ollama",
        }
    }

    fn dialect(self) -> Dialect {
        match self {
            Provider::Anthropic => Dialect::Anthropic,
            _ => Dialect::OpenAi,
        }
    }

    fn default_model(self) -> &'static str {
        match self {
            Provider::OpenAi => "gpt-4o-mini",
            Provider::Anthropic => "claude-sonnet-4-20250514",
            Provider::Gemini => "gemini-2.5-flash",
            Provider::Ollama => "llama3",
        }
    }

    fn default_base_url(self) -> &'static str {
        match self {
            Provider::OpenAi => "https://api.openai.com/v1",
            Provider::Anthropic => "https://api.anthropic.com/v1",
            Provider::Gemini => "https://generativelanguage.googleapis.com/v1beta/openai",
            Provider::Ollama => "http://127.0.0.1:11434/v1",
        }
    }

    /// The provider's own key variables, after STN_AI_API_KEY / AI_API_KEY.
    fn key_vars(self) -> &'static [&'static str] {
        match self {
            Provider::OpenAi => &["OPENAI_API_KEY"],
            Provider::Anthropic => &["ANTHROPIC_API_KEY"],
            Provider::Gemini => &["GEMINI_API_KEY", "GOOGLE_API_KEY"],
            Provider::Ollama => &[],
        }
    }
}

/// Generic key variables; they belong to the globally configured provider.
const GENERIC_KEY_VARS: &[&str] = &["STN_AI_API_KEY", "AI_API_KEY"];

/// Resolves provider, endpoint, key and model for one agent.
///
/// - Global provider/model/base URL: `STN_AI_*` (or `STATION_AI_*`) > `ai_*` in config.yaml >
///   openai with its default model.
/// - `model_override` (an agent's `model:`): `provider/model` where provider is one of
///   openai, anthropic, gemini (googlegenai), ollama; anything else (e.g. OpenRouter's
///   `meta-llama/llama-3-70b`) is a model name for the global provider. A bare name starting
///   `claude` picks anthropic, `gemini` picks gemini.
/// - Key: for the global provider `STN_AI_API_KEY`, `AI_API_KEY`, `ai_api_key`, then its own
///   variable; for a provider picked only by the agent, only that provider's own variable (a
///   generic key set for openai must not be sent to anthropic).
/// - The global base URL applies only to the global provider.
/// - Anthropic uses a bearer token when `ai_auth_type: oauth` or the key is an OAuth token
///   (`sk-ant-oat…`).
pub fn resolve(
    model_override: Option<&str>,
    file: &AiSettings,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<(ProviderConfig, String), LlmError> {
    let env_any = |names: &[&str]| {
        names
            .iter()
            .find_map(|n| env(n).filter(|v| !v.trim().is_empty()))
    };
    let global_name = env_any(&["STN_AI_PROVIDER", "STATION_AI_PROVIDER"])
        .or_else(|| file.ai_provider.clone())
        .unwrap_or_else(|| "openai".to_owned());
    let global = Provider::parse(&global_name).ok_or_else(|| LlmError::BadConfig {
        message: format!("unknown AI provider `{global_name}`"),
        hint: "set ai_provider / STN_AI_PROVIDER to openai, anthropic, gemini or ollama (any OpenAI-compatible server: openai with ai_base_url)".into(),
    })?;
    let global_model =
        env_any(&["STN_AI_MODEL", "STATION_AI_MODEL"]).or_else(|| file.ai_model.clone());
    let global_base =
        env_any(&["STN_AI_BASE_URL", "STATION_AI_BASE_URL"]).or_else(|| file.ai_base_url.clone());

    let (provider, model) = match model_override.map(str::trim).filter(|m| !m.is_empty()) {
        Some(spec) => pick(spec, global),
        None => {
            let model = global_model.unwrap_or_else(|| global.default_model().to_owned());
            (global, model)
        }
    };
    let is_global = provider == global;

    let base = match (&global_base, is_global) {
        (Some(b), true) => b.clone(),
        _ => provider.default_base_url().to_owned(),
    };
    let base_url = Url::parse(base.trim()).map_err(|e| LlmError::BadConfig {
        message: format!("ai_base_url `{base}` is not a URL: {e}"),
        hint: "write it like http://127.0.0.1:11434/v1".into(),
    })?;

    let mut key = None;
    if is_global {
        key = env_any(GENERIC_KEY_VARS)
            .map(ApiKey::new)
            .or_else(|| file.ai_api_key.clone());
    }
    let key = key.or_else(|| env_any(provider.key_vars()).map(ApiKey::new));
    let custom_endpoint = is_global && global_base.is_some();
    if key.is_none() && provider != Provider::Ollama && !custom_endpoint {
        let vars: Vec<&str> = if is_global {
            GENERIC_KEY_VARS
                .iter()
                .chain(provider.key_vars())
                .copied()
                .collect()
        } else {
            provider.key_vars().to_vec()
        };
        return Err(LlmError::BadConfig {
            message: format!("no API key for {} (model `{model}`)", provider.name()),
            hint: format!("set {}", vars.join(" or ")),
        });
    }

    let oauth = is_global
        && file
            .ai_auth_type
            .as_deref()
            .is_some_and(|t| t.eq_ignore_ascii_case("oauth"));
    let bearer = provider == Provider::Anthropic
        && (oauth
            || key
                .as_ref()
                .is_some_and(|k| k.expose().starts_with("sk-ant-oat")));

    let mut config = ProviderConfig::new(provider.dialect(), base_url, key);
    config.bearer = bearer;
    Ok((config, model))
}

/// Splits an agent's `model:` into provider and model name.
fn pick(spec: &str, global: Provider) -> (Provider, String) {
    if let Some((prefix, rest)) = spec.split_once('/')
        && let Some(p) = Provider::parse(prefix)
        && !rest.is_empty()
    {
        return (p, rest.to_owned());
    }
    let lower = spec.to_ascii_lowercase();
    let provider = if lower.starts_with("claude") {
        Provider::Anthropic
    } else if lower.starts_with("gemini") {
        Provider::Gemini
    } else {
        global
    };
    (provider, spec.to_owned())
}

#[cfg(test)]
mod tests {
    use stn_testkit::env_of;

    use super::*;

    #[test]
    fn defaults_to_openai_gpt_4o_mini_with_the_generic_key() {
        let env = env_of(&[
            ("STN_AI_API_KEY", "sk-generic"),
            ("OPENAI_API_KEY", "sk-own"),
        ]);
        let (c, model) = resolve(None, &AiSettings::default(), &env).unwrap();
        assert_eq!(model, "gpt-4o-mini");
        assert_eq!(c.dialect, Dialect::OpenAi);
        assert_eq!(c.base_url.as_str(), "https://api.openai.com/v1");
        assert_eq!(c.api_key.unwrap().expose(), "sk-generic");
    }

    #[test]
    fn env_beats_the_file_and_station_ai_is_an_alias() {
        let file = AiSettings {
            ai_provider: Some("openai".into()),
            ai_model: Some("gpt-4o".into()),
            ..Default::default()
        };
        let env = env_of(&[
            ("STATION_AI_PROVIDER", "anthropic"),
            ("STN_AI_MODEL", "claude-3-5-haiku-latest"),
            ("ANTHROPIC_API_KEY", "sk-ant-api"),
        ]);
        let (c, model) = resolve(None, &file, &env).unwrap();
        assert_eq!(c.dialect, Dialect::Anthropic);
        assert_eq!(model, "claude-3-5-haiku-latest");
        assert!(!c.bearer);
    }

    #[test]
    fn agent_model_picks_provider_and_does_not_borrow_the_generic_key() {
        let env = env_of(&[
            ("STN_AI_API_KEY", "sk-openai"),
            ("ANTHROPIC_API_KEY", "sk-ant"),
        ]);
        let (c, model) = resolve(
            Some("anthropic/claude-opus-4"),
            &AiSettings::default(),
            &env,
        )
        .unwrap();
        assert_eq!(
            (c.dialect, model.as_str()),
            (Dialect::Anthropic, "claude-opus-4")
        );
        assert_eq!(c.api_key.unwrap().expose(), "sk-ant");
        assert_eq!(c.base_url.as_str(), "https://api.anthropic.com/v1");

        let (c, model) = resolve(Some("claude-3-haiku"), &AiSettings::default(), &env).unwrap();
        assert_eq!(
            (c.dialect, model.as_str()),
            (Dialect::Anthropic, "claude-3-haiku")
        );

        let env = env_of(&[("GOOGLE_API_KEY", "g")]);
        let (c, model) = resolve(Some("gemini-2.0-flash"), &AiSettings::default(), &env).unwrap();
        assert_eq!(model, "gemini-2.0-flash");
        assert_eq!(
            c.base_url.as_str(),
            "https://generativelanguage.googleapis.com/v1beta/openai"
        );
    }

    #[test]
    fn a_slash_that_is_not_a_provider_is_part_of_the_model_name() {
        let file = AiSettings {
            ai_base_url: Some("https://openrouter.ai/api/v1".into()),
            ..Default::default()
        };
        let env = env_of(&[("OPENAI_API_KEY", "k")]);
        let (c, model) = resolve(Some("meta-llama/llama-3-70b"), &file, &env).unwrap();
        assert_eq!(model, "meta-llama/llama-3-70b");
        assert_eq!(c.base_url.as_str(), "https://openrouter.ai/api/v1");
    }

    #[test]
    fn ollama_needs_no_key_and_a_custom_endpoint_may_have_none() {
        let file = AiSettings {
            ai_provider: Some("ollama".into()),
            ..Default::default()
        };
        let (c, model) = resolve(None, &file, &env_of(&[])).unwrap();
        assert_eq!(model, "llama3");
        assert_eq!(c.base_url.as_str(), "http://127.0.0.1:11434/v1");
        assert!(c.api_key.is_none());

        let env = env_of(&[("STN_AI_BASE_URL", "http://127.0.0.1:8000/v1")]);
        let (c, _) = resolve(None, &AiSettings::default(), &env).unwrap();
        assert!(c.api_key.is_none());
    }

    #[test]
    fn missing_key_names_the_variables_to_set() {
        let err = resolve(None, &AiSettings::default(), &env_of(&[])).unwrap_err();
        let hint = err.hint().unwrap();
        assert!(err.to_string().contains("no API key for openai"), "{err}");
        assert!(
            hint.contains("STN_AI_API_KEY") && hint.contains("OPENAI_API_KEY"),
            "{hint}"
        );
        let err = resolve(
            Some("anthropic/claude-x"),
            &AiSettings::default(),
            &env_of(&[]),
        )
        .unwrap_err();
        assert_eq!(err.hint().unwrap(), "set ANTHROPIC_API_KEY");
    }

    #[test]
    fn unknown_provider_is_a_clear_error() {
        let env = env_of(&[("STN_AI_PROVIDER", "cohere")]);
        let err = resolve(None, &AiSettings::default(), &env).unwrap_err();
        assert!(err.to_string().contains("`cohere`"));
    }

    #[test]
    fn oauth_tokens_use_bearer() {
        let env = env_of(&[
            ("STN_AI_PROVIDER", "anthropic"),
            ("ANTHROPIC_API_KEY", "sk-ant-oat01-x"),
        ]);
        let (c, _) = resolve(None, &AiSettings::default(), &env).unwrap();
        assert!(c.bearer);
        let file = AiSettings {
            ai_provider: Some("anthropic".into()),
            ai_auth_type: Some("oauth".into()),
            ai_api_key: Some(ApiKey::new("tok")),
            ..Default::default()
        };
        let (c, _) = resolve(None, &file, &env_of(&[])).unwrap();
        assert!(c.bearer);
    }

    #[test]
    fn keys_are_redacted_in_debug_and_display() {
        let key = ApiKey::new("sk-secret-123");
        let mut c = ProviderConfig::new(
            Dialect::OpenAi,
            Url::parse("http://127.0.0.1:1/v1").unwrap(),
            Some(key.clone()),
        );
        c.extra_headers.push(("x".into(), "y".into()));
        let shown = format!(
            "{c:?} {key} {key:?} {:?}",
            AiSettings {
                ai_api_key: Some(key.clone()),
                ..Default::default()
            }
        );
        assert!(!shown.contains("sk-secret-123"), "{shown}");
        assert!(shown.contains("<redacted>"));
    }
}
