//! Model spec strings, the default model, and [`open_model`], the one way to get a
//! [`ChatModel`] from a spec.
//!
//! # Spec strings
//!
//! | spec | backend |
//! | --- | --- |
//! | `gguf:PATH` | a local GGUF file (`~/` is expanded) |
//! | `gguf:NAME` | a known model by name (`learnat model list`), looked up in the models directory |
//! | `openai:MODEL` | `MODEL` on the OpenAI-compatible server at `--base-url`, `$OPENAI_BASE_URL` or `https://api.openai.com/v1` |
//! | `openai:MODEL@BASE_URL` | `MODEL` on the server at `BASE_URL` (`http://` or `https://`, usually ending in `/v1`) |
//!
//! ```
//! use learnat_agent::model::spec::ModelSpec;
//! let spec = ModelSpec::parse("openai:qwen2.5-coder@http://127.0.0.1:8080/v1").unwrap();
//! assert_eq!(spec.to_string(), "openai:qwen2.5-coder@http://127.0.0.1:8080/v1");
//! ```
//!
//! # Which model is used
//!
//! Precedence, first match wins ([`resolve_model_spec`]):
//! 1. the `--model SPEC` flag;
//! 2. the `LEARNAT_MODEL` environment variable;
//! 3. `model = "SPEC"` in the config file, `$XDG_CONFIG_HOME/learnat/config.toml`, by default
//!    `~/.config/learnat/config.toml`;
//! 4. the built-in default, [`DEFAULT_MODEL_SPEC`] (`gguf:qwen2.5-coder-0.5b`, which
//!    `learnat model fetch qwen2.5-coder-0.5b` puts in place).
//!
//! The config file may hold other keys; only `model` is read here.

use std::ffi::OsString;
use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::Arc;

use serde::Deserialize;

use crate::error::{AgentError, AgentResult};
use crate::model::ChatModel;
use crate::model::fetch::{default_models_dir, known_model, known_model_names};
use crate::model::gguf::{GgufModel, GgufOptions};
use crate::model::openai::{OpenAiModel, OpenAiOptions};

/// The spec used when no flag, environment variable or config file names one.
pub const DEFAULT_MODEL_SPEC: &str = "gguf:qwen2.5-coder-0.5b";

/// The environment variable that names the default model.
pub const MODEL_ENV_VAR: &str = "LEARNAT_MODEL";

/// A parsed model spec string.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ModelSpec {
    /// A local GGUF file, or a known model name (resolved by [`ModelSpec::resolve_gguf_path`]).
    Gguf {
        /// The path (or known model name) as written, with `~/` expanded.
        path: PathBuf,
    },
    /// A model on an OpenAI-compatible server.
    OpenAi {
        /// The model name the server knows (`gpt-4o-mini`, `Qwen/Qwen2.5-Coder-7B-Instruct`).
        model: String,
        /// The server's base URL from the spec (`http://host:8000/v1`), without a trailing `/`.
        base_url: Option<String>,
    },
}

impl ModelSpec {
    /// Parse `gguf:PATH`, `openai:MODEL` or `openai:MODEL@BASE_URL`.
    pub fn parse(spec: &str) -> AgentResult<ModelSpec> {
        let invalid = |reason: String| AgentError::ModelSpec {
            spec: spec.to_string(),
            reason,
        };
        let trimmed = spec.trim();
        let Some((backend, rest)) = trimmed.split_once(':') else {
            return Err(invalid(
                "expected gguf:PATH or openai:MODEL[@BASE_URL] (no backend prefix)".to_string(),
            ));
        };
        match backend {
            "gguf" => {
                if rest.is_empty() {
                    return Err(invalid(format!(
                        "gguf: needs a path to a .gguf file or a known model name ({})",
                        known_model_names().join(", ")
                    )));
                }
                Ok(ModelSpec::Gguf {
                    path: expand_home(rest),
                })
            }
            "openai" => parse_openai(rest).map_err(invalid),
            other => Err(invalid(format!(
                "unknown backend '{other}': use gguf:PATH or openai:MODEL[@BASE_URL]"
            ))),
        }
    }

    /// For `gguf:` specs: the file to load (see [`resolve_gguf_file`]); `None` for other
    /// backends.
    pub fn resolve_gguf_path(&self, models_dir: &Path) -> Option<AgentResult<PathBuf>> {
        match self {
            ModelSpec::Gguf { path } => Some(resolve_gguf_file(path, models_dir)),
            ModelSpec::OpenAi { .. } => None,
        }
    }
}

/// The file a `gguf:` spec names: an existing path is used as is; a known model name
/// (`gguf:qwen2.5-coder-0.5b`) resolves to its file in `models_dir`. Errors say how to get the
/// file.
pub fn resolve_gguf_file(path: &Path, models_dir: &Path) -> AgentResult<PathBuf> {
    if path.exists() {
        return Ok(path.to_path_buf());
    }
    match path.to_str().and_then(|name| known_model(name).ok()) {
        Some(model) => {
            let file = model.path_in(models_dir);
            if file.exists() {
                Ok(file)
            } else {
                Err(AgentError::ModelLoad {
                    path: file,
                    reason: format!(
                        "model '{}' is not downloaded yet; run `learnat model fetch {}`",
                        model.name, model.name
                    ),
                })
            }
        }
        None => Err(AgentError::ModelLoad {
            path: path.to_path_buf(),
            reason: format!(
                "no such file; pass gguf:PATH to a .gguf file, or a known model name ({}) \
                 after `learnat model fetch NAME`",
                known_model_names().join(", ")
            ),
        }),
    }
}

fn parse_openai(rest: &str) -> Result<ModelSpec, String> {
    // The model name may contain '/' and ':' (`Qwen/Qwen2.5-Coder-7B-Instruct`, `llama3:8b`);
    // the base URL starts at the first '@' that is followed by a scheme.
    let split = ["@http://", "@https://"]
        .iter()
        .filter_map(|marker| rest.find(marker))
        .min();
    let (model, base_url) = match split {
        Some(at) => (&rest[..at], Some(&rest[at + 1..])),
        None if rest.contains('@') => {
            return Err(
                "the part after '@' must be a base URL starting with http:// or https:// \
                 (e.g. openai:MODEL@http://127.0.0.1:8080/v1)"
                    .to_string(),
            );
        }
        None => (rest, None),
    };
    if model.trim().is_empty() {
        return Err(
            "openai: needs a model name (e.g. openai:gpt-4o-mini or openai:MODEL@BASE_URL)"
                .to_string(),
        );
    }
    let base_url = match base_url {
        Some(url) => Some(validate_base_url(url)?),
        None => None,
    };
    Ok(ModelSpec::OpenAi {
        model: model.trim().to_string(),
        base_url,
    })
}

/// Check that `url` is an absolute http(s) URL with a host; return it without a trailing `/`.
pub(crate) fn validate_base_url(url: &str) -> Result<String, String> {
    let parsed = reqwest::Url::parse(url)
        .map_err(|error| format!("base URL '{url}' is not a valid URL: {error}"))?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err(format!(
            "base URL '{url}' must start with http:// or https://"
        ));
    }
    if parsed.host_str().is_none_or(str::is_empty) {
        return Err(format!("base URL '{url}' has no host"));
    }
    Ok(url.trim_end_matches('/').to_string())
}

fn expand_home(path: &str) -> PathBuf {
    match (path.strip_prefix("~/"), std::env::var_os("HOME")) {
        (Some(rest), Some(home)) if !home.is_empty() => Path::new(&home).join(rest),
        _ => PathBuf::from(path),
    }
}

impl FromStr for ModelSpec {
    type Err = AgentError;

    fn from_str(spec: &str) -> AgentResult<ModelSpec> {
        ModelSpec::parse(spec)
    }
}

impl fmt::Display for ModelSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ModelSpec::Gguf { path } => write!(f, "gguf:{}", path.display()),
            ModelSpec::OpenAi {
                model,
                base_url: Some(url),
            } => write!(f, "openai:{model}@{url}"),
            ModelSpec::OpenAi {
                model,
                base_url: None,
            } => write!(f, "openai:{model}"),
        }
    }
}

/// Where the spec in use came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SpecOrigin {
    /// The `--model` flag.
    Flag,
    /// The `LEARNAT_MODEL` environment variable.
    Environment,
    /// `model = "..."` in this config file.
    ConfigFile(PathBuf),
    /// [`DEFAULT_MODEL_SPEC`].
    BuiltInDefault,
}

impl fmt::Display for SpecOrigin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SpecOrigin::Flag => write!(f, "the command line"),
            SpecOrigin::Environment => write!(f, "{MODEL_ENV_VAR}"),
            SpecOrigin::ConfigFile(path) => write!(f, "the config file {}", path.display()),
            SpecOrigin::BuiltInDefault => write!(f, "the built-in default"),
        }
    }
}

/// A spec with where it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResolvedSpec {
    /// The spec.
    pub spec: ModelSpec,
    /// Which source supplied it.
    pub origin: SpecOrigin,
}

/// The sources below the `--model` flag: the environment variable's value and the config file.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ModelDefaults {
    /// The value of `LEARNAT_MODEL`, if set and not empty.
    pub env_model: Option<String>,
    /// The config file to read, if one can be located (it need not exist).
    pub config_file: Option<PathBuf>,
}

impl ModelDefaults {
    /// From this process's environment: `LEARNAT_MODEL`, and the config file under
    /// `$XDG_CONFIG_HOME` or `$HOME/.config`.
    pub fn from_environment() -> ModelDefaults {
        ModelDefaults {
            env_model: std::env::var(MODEL_ENV_VAR)
                .ok()
                .filter(|value| !value.trim().is_empty()),
            config_file: config_file_path(
                std::env::var_os("XDG_CONFIG_HOME"),
                std::env::var_os("HOME"),
            ),
        }
    }
}

/// `$XDG_CONFIG_HOME/learnat/config.toml` when `XDG_CONFIG_HOME` is set (and not empty), else
/// `$HOME/.config/learnat/config.toml`; `None` when neither is set.
pub fn config_file_path(
    xdg_config_home: Option<OsString>,
    home: Option<OsString>,
) -> Option<PathBuf> {
    if let Some(dir) = xdg_config_home.filter(|value| !value.is_empty()) {
        return Some(Path::new(&dir).join("learnat/config.toml"));
    }
    home.filter(|value| !value.is_empty())
        .map(|home| Path::new(&home).join(".config/learnat/config.toml"))
}

/// The part of the config file read here.
#[derive(Debug, Deserialize)]
struct ConfigFile {
    model: Option<String>,
}

/// The `model` key of the config file at `path`; `Ok(None)` when the file does not exist or has
/// no `model` key.
pub fn read_config_model(path: &Path) -> AgentResult<Option<String>> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(source) => {
            return Err(AgentError::Io {
                what: "cannot read the config file",
                path: path.to_path_buf(),
                source,
            });
        }
    };
    let config: ConfigFile = toml::from_str(&text).map_err(|error| AgentError::ModelSpec {
        spec: format!("config file {}", path.display()),
        reason: format!("not valid TOML with `model = \"...\"`: {}", error.message()),
    })?;
    Ok(config.model.filter(|model| !model.trim().is_empty()))
}

/// The spec to use: `flag`, else `defaults.env_model`, else the config file's `model`, else
/// [`DEFAULT_MODEL_SPEC`]. A spec that does not parse is an error naming its origin (a broken
/// `LEARNAT_MODEL` is not silently skipped).
pub fn resolve_model_spec(
    flag: Option<&str>,
    defaults: &ModelDefaults,
) -> AgentResult<ResolvedSpec> {
    let with_origin = |text: &str, origin: SpecOrigin| -> AgentResult<ResolvedSpec> {
        match ModelSpec::parse(text) {
            Ok(spec) => Ok(ResolvedSpec { spec, origin }),
            Err(AgentError::ModelSpec { spec, reason }) => Err(AgentError::ModelSpec {
                spec,
                reason: format!("{reason} (from {origin})"),
            }),
            Err(other) => Err(other),
        }
    };
    if let Some(flag) = flag.filter(|value| !value.trim().is_empty()) {
        return with_origin(flag, SpecOrigin::Flag);
    }
    if let Some(env_model) = defaults.env_model.as_deref() {
        return with_origin(env_model, SpecOrigin::Environment);
    }
    if let Some(path) = defaults.config_file.as_deref()
        && let Some(model) = read_config_model(path)?
    {
        return with_origin(&model, SpecOrigin::ConfigFile(path.to_path_buf()));
    }
    with_origin(DEFAULT_MODEL_SPEC, SpecOrigin::BuiltInDefault)
}

/// Settings for opening a model, per backend. Each backend reads only its own part.
#[derive(Debug, Clone, Default)]
pub struct ModelOptions {
    /// The OpenAI-compatible backend: base URL and key overrides, timeouts, retries, concurrency.
    pub openai: OpenAiOptions,
    /// The local GGUF backend: threads, device, context cap.
    pub gguf: GgufOptions,
    /// The models directory used to resolve `gguf:NAME`; `None` means [`default_models_dir`].
    pub models_dir: Option<PathBuf>,
}

/// Open the model `spec` names. `openai:` specs connect lazily (the first request reaches the
/// server); `gguf:` specs load the file on a blocking thread before returning.
pub async fn open_model(
    spec: &ModelSpec,
    options: &ModelOptions,
) -> AgentResult<Arc<dyn ChatModel>> {
    match spec {
        ModelSpec::OpenAi { model, base_url } => {
            let backend = OpenAiModel::new(model, base_url.as_deref(), &options.openai)?;
            Ok(Arc::new(backend))
        }
        ModelSpec::Gguf { path } => {
            let models_dir = match &options.models_dir {
                Some(dir) => dir.clone(),
                None => default_models_dir()?,
            };
            let file = resolve_gguf_file(path, &models_dir)?;
            open_gguf_model(&file, options).await
        }
    }
}

/// Load a local GGUF model on a blocking thread (loading reads hundreds of megabytes).
async fn open_gguf_model(path: &Path, options: &ModelOptions) -> AgentResult<Arc<dyn ChatModel>> {
    let path = path.to_path_buf();
    let gguf_options = options.gguf.clone();
    let task_path = path.clone();
    let model = tokio::task::spawn_blocking(move || GgufModel::load(&task_path, &gguf_options))
        .await
        .map_err(|error| AgentError::ModelLoad {
            path,
            reason: format!("the loading thread failed: {error}"),
        })??;
    Ok(Arc::new(model))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> ModelSpec {
        ModelSpec::parse(text).unwrap_or_else(|error| panic!("'{text}' should parse: {error}"))
    }

    fn reason(text: &str) -> String {
        match ModelSpec::parse(text) {
            Err(AgentError::ModelSpec { reason, .. }) => reason,
            other => panic!("'{text}' should be a ModelSpec error, got {other:?}"),
        }
    }

    #[test]
    fn gguf_specs_keep_the_path() {
        assert_eq!(
            parse("gguf:/models/a b.gguf"),
            ModelSpec::Gguf {
                path: PathBuf::from("/models/a b.gguf")
            }
        );
        assert_eq!(
            parse("gguf:qwen2.5-coder-0.5b"),
            ModelSpec::Gguf {
                path: PathBuf::from("qwen2.5-coder-0.5b")
            }
        );
    }

    #[test]
    fn openai_specs_split_model_and_base_url() {
        assert_eq!(
            parse("openai:gpt-4o-mini"),
            ModelSpec::OpenAi {
                model: "gpt-4o-mini".into(),
                base_url: None
            }
        );
        assert_eq!(
            parse("openai:Qwen/Qwen2.5-Coder-7B-Instruct@http://10.0.0.2:8000/v1/"),
            ModelSpec::OpenAi {
                model: "Qwen/Qwen2.5-Coder-7B-Instruct".into(),
                base_url: Some("http://10.0.0.2:8000/v1".into())
            }
        );
        // A model name with ':' and a URL with credentials still split at the scheme.
        assert_eq!(
            parse("openai:llama3:8b@https://user:pw@host.example/v1"),
            ModelSpec::OpenAi {
                model: "llama3:8b".into(),
                base_url: Some("https://user:pw@host.example/v1".into())
            }
        );
    }

    #[test]
    fn specs_round_trip_through_display() {
        for text in [
            "gguf:/tmp/x.gguf",
            "openai:m",
            "openai:m@http://127.0.0.1:9/v1",
        ] {
            assert_eq!(parse(text).to_string(), text);
        }
    }

    #[test]
    fn bad_specs_say_what_is_wrong() {
        assert!(reason("qwen.gguf").contains("no backend prefix"));
        assert!(reason("llama:x").contains("unknown backend 'llama'"));
        assert!(reason("gguf:").contains("needs a path"));
        assert!(reason("openai:").contains("needs a model name"));
        assert!(reason("openai:@http://h/v1").contains("needs a model name"));
        assert!(reason("openai:m@localhost:8080").contains("http:// or https://"));
        assert!(reason("openai:m@http://").contains("not a valid URL"));
    }

    #[test]
    fn known_names_resolve_in_the_models_dir() {
        let dir = tempfile::tempdir().expect("temp dir");
        let spec = parse("gguf:smollm2-135m");
        let missing = spec.resolve_gguf_path(dir.path()).expect("a gguf spec");
        let message = missing.expect_err("not downloaded").to_string();
        assert!(
            message.contains("learnat model fetch smollm2-135m"),
            "{message}"
        );

        let file = dir.path().join("smollm2-135m-instruct-q4_1.gguf");
        std::fs::write(&file, b"GGUF").expect("write");
        let found = spec.resolve_gguf_path(dir.path()).expect("a gguf spec");
        assert_eq!(found.expect("present"), file);

        let unknown = parse("gguf:/nowhere/x.gguf").resolve_gguf_path(dir.path());
        let message = unknown
            .expect("a gguf spec")
            .expect_err("absent")
            .to_string();
        assert!(message.contains("no such file"), "{message}");
        assert!(parse("openai:m").resolve_gguf_path(dir.path()).is_none());
    }

    #[test]
    fn config_path_prefers_xdg_then_home() {
        assert_eq!(
            config_file_path(Some("/x".into()), Some("/home/u".into())),
            Some(PathBuf::from("/x/learnat/config.toml"))
        );
        assert_eq!(
            config_file_path(Some("".into()), Some("/home/u".into())),
            Some(PathBuf::from("/home/u/.config/learnat/config.toml"))
        );
        assert_eq!(config_file_path(None, None), None);
    }

    /// A temporary HOME with `~/.config/learnat/config.toml` holding `model`.
    fn home_with_config(model_line: &str) -> (tempfile::TempDir, ModelDefaults) {
        let home = tempfile::tempdir().expect("temp home");
        let config_dir = home.path().join(".config/learnat");
        std::fs::create_dir_all(&config_dir).expect("config dir");
        std::fs::write(
            config_dir.join("config.toml"),
            format!("# learnat settings\n{model_line}\n[other]\nkey = 1\n"),
        )
        .expect("config file");
        let defaults = ModelDefaults {
            env_model: None,
            config_file: config_file_path(None, Some(home.path().as_os_str().to_owned())),
        };
        (home, defaults)
    }

    #[test]
    fn precedence_is_flag_then_env_then_config_then_default() {
        let (home, mut defaults) = home_with_config("model = \"openai:from-config@http://c/v1\"");
        let config_path = home.path().join(".config/learnat/config.toml");

        let resolved = resolve_model_spec(None, &defaults).expect("config");
        assert_eq!(resolved.spec.to_string(), "openai:from-config@http://c/v1");
        assert_eq!(resolved.origin, SpecOrigin::ConfigFile(config_path));

        defaults.env_model = Some("gguf:/env.gguf".into());
        let resolved = resolve_model_spec(None, &defaults).expect("env");
        assert_eq!(resolved.spec.to_string(), "gguf:/env.gguf");
        assert_eq!(resolved.origin, SpecOrigin::Environment);

        let resolved = resolve_model_spec(Some("openai:flag"), &defaults).expect("flag");
        assert_eq!(resolved.spec.to_string(), "openai:flag");
        assert_eq!(resolved.origin, SpecOrigin::Flag);

        let empty_home = tempfile::tempdir().expect("temp home");
        let nothing = ModelDefaults {
            env_model: None,
            config_file: config_file_path(None, Some(empty_home.path().as_os_str().to_owned())),
        };
        let resolved = resolve_model_spec(None, &nothing).expect("default");
        assert_eq!(resolved.spec.to_string(), DEFAULT_MODEL_SPEC);
        assert_eq!(resolved.origin, SpecOrigin::BuiltInDefault);
    }

    #[tokio::test]
    async fn open_model_loads_gguf_files_by_path_and_by_name() {
        use crate::model::gguf::ModelFamily;
        use crate::model::gguf::tiny::write_tiny_gguf;
        use crate::model::{ChatMessage, GenerationParams};

        let dir = tempfile::tempdir().expect("temp dir");
        // A tiny random-weight model under the file name of a known model.
        let file = dir.path().join("smollm2-135m-instruct-q4_1.gguf");
        write_tiny_gguf(&file, ModelFamily::Llama, 3).expect("tiny model");
        let options = ModelOptions {
            models_dir: Some(dir.path().to_path_buf()),
            ..ModelOptions::default()
        };
        let params = GenerationParams {
            max_tokens: 3,
            ..GenerationParams::default()
        };
        for spec in [
            format!("gguf:{}", file.display()),
            "gguf:smollm2-135m".to_string(),
        ] {
            let model = open_model(&parse(&spec), &options)
                .await
                .unwrap_or_else(|error| panic!("{spec} should open: {error}"));
            let completions = model
                .chat(&[ChatMessage::user("hi")], &params)
                .await
                .expect("a completion");
            assert_eq!(completions.len(), 1, "{spec}");
            assert!(completions[0].completion_tokens <= 3, "{spec}");
        }

        let missing = open_model(&parse("gguf:qwen2.5-coder-1.5b"), &options).await;
        let message = missing.err().expect("not in the dir").to_string();
        assert!(
            message.contains("learnat model fetch qwen2.5-coder-1.5b"),
            "{message}"
        );
    }

    #[test]
    fn broken_sources_are_errors_naming_their_origin() {
        let defaults = ModelDefaults {
            env_model: Some("llama:x".into()),
            config_file: None,
        };
        let message = resolve_model_spec(None, &defaults)
            .expect_err("bad env")
            .to_string();
        assert!(message.contains("LEARNAT_MODEL"), "{message}");

        let (_home, defaults) = home_with_config("model = [1, 2]");
        let message = resolve_model_spec(None, &defaults)
            .expect_err("bad config")
            .to_string();
        assert!(message.contains("config.toml"), "{message}");
        assert!(message.contains("not valid TOML"), "{message}");
    }
}
