//! The tokenizer of a GGUF model, built from its metadata alone (`tokenizer.ggml.*`).
//!
//! The models learnat runs (Qwen2.5, SmolLM2) use a GPT-2 style byte-level BPE: text is split by
//! a pre-tokenizer regex, every piece is mapped byte by byte onto printable characters (the
//! GPT-2 `bytes_to_unicode` table) and merged with the ranked merge list. Special tokens (GGUF
//! token type 3 = control, 4 = user defined) are matched in the raw text before any of that, as
//! the reference tokenizers do. Encoding is assembled from the `tokenizers` crate's parts (BPE
//! model, Split / Digits / ByteLevel pre-tokenizers, added tokens), so merges behave exactly like
//! Hugging Face's; decoding is our own, byte exact, so that streamed output can be assembled into
//! UTF-8 without losing characters split across tokens.

use std::collections::HashMap;

use candle_core::quantized::gguf_file;
use tokenizers::models::bpe::{BPE, Vocab};
use tokenizers::pre_tokenizers::PreTokenizerWrapper;
use tokenizers::pre_tokenizers::byte_level::ByteLevel;
use tokenizers::pre_tokenizers::digits::Digits;
use tokenizers::pre_tokenizers::sequence::Sequence;
use tokenizers::pre_tokenizers::split::{Split, SplitPattern};
use tokenizers::{AddedToken, SplitDelimiterBehavior, Tokenizer};

/// GGUF `tokenizer.ggml.token_type` of an ordinary vocabulary entry.
const TOKEN_TYPE_NORMAL: i32 = 1;
/// GGUF token type of a control token (`<|im_start|>`, `<|endoftext|>`...).
const TOKEN_TYPE_CONTROL: i32 = 3;
/// GGUF token type of a user-defined added token (Qwen's `<tool_call>`).
const TOKEN_TYPE_USER_DEFINED: i32 = 4;

/// The Qwen2 pre-tokenizer regex, as in the model's `tokenizer.json` (and llama.cpp's `qwen2`).
const QWEN2_PATTERN: &str = r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";

/// The GPT-2 pre-tokenizer regex (used by `tokenizer.ggml.pre` = `gpt2` and, after a split into
/// single digits, by `smollm`).
const GPT2_PATTERN: &str =
    r"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+";

/// Which pre-tokenizer a model uses (`tokenizer.ggml.pre`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PreTokenizerKind {
    /// Qwen2 / Qwen2.5: letters, single digits, punctuation runs, newline runs.
    Qwen2,
    /// SmolLM: every digit alone, then the GPT-2 regex.
    SmolLm,
    /// Plain GPT-2.
    Gpt2,
}

impl PreTokenizerKind {
    /// The kind named by `tokenizer.ggml.pre`, if learnat supports it.
    pub fn from_gguf_name(name: &str) -> Option<PreTokenizerKind> {
        match name {
            "qwen2" => Some(PreTokenizerKind::Qwen2),
            "smollm" => Some(PreTokenizerKind::SmolLm),
            "gpt2" | "default" => Some(PreTokenizerKind::Gpt2),
            _ => None,
        }
    }

    fn build(self) -> Result<PreTokenizerWrapper, String> {
        // ByteLevel without its own regex: the split above already produced the pieces.
        let byte_level = PreTokenizerWrapper::ByteLevel(ByteLevel::new(false, false, false));
        let split = |pattern: &str| -> Result<PreTokenizerWrapper, String> {
            let split = Split::new(
                SplitPattern::Regex(pattern.to_string()),
                SplitDelimiterBehavior::Isolated,
                false,
            )
            .map_err(|e| format!("cannot compile the pre-tokenizer regex: {e}"))?;
            Ok(PreTokenizerWrapper::Split(split))
        };
        let parts = match self {
            PreTokenizerKind::Qwen2 => vec![split(QWEN2_PATTERN)?, byte_level],
            PreTokenizerKind::SmolLm => vec![
                PreTokenizerWrapper::Digits(Digits::new(true)),
                split(GPT2_PATTERN)?,
                byte_level,
            ],
            PreTokenizerKind::Gpt2 => vec![split(GPT2_PATTERN)?, byte_level],
        };
        Ok(PreTokenizerWrapper::Sequence(Sequence::new(parts)))
    }
}

/// A byte-level BPE tokenizer read from GGUF metadata.
///
/// ```no_run
/// # use learnat_agent::model::gguf::GgufModel;
/// # fn demo(model: &GgufModel) -> learnat_agent::AgentResult<()> {
/// let tokenizer = model.tokenizer();
/// let ids = tokenizer.encode("<|im_start|>user\nSELECT 1<|im_end|>")?;
/// assert_eq!(tokenizer.decode(&ids), "<|im_start|>user\nSELECT 1<|im_end|>");
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct GgufTokenizer {
    inner: Tokenizer,
    /// The bytes every token id stands for (special tokens: their UTF-8 text).
    token_bytes: Vec<Vec<u8>>,
    /// Ids of control / user-defined tokens, by text.
    special_tokens: HashMap<String, u32>,
    /// True for ids of control tokens (never shown in generated text).
    is_control: Vec<bool>,
    pre_tokenizer: PreTokenizerKind,
    /// `tokenizer.ggml.eos_token_id`.
    eos_token_id: Option<u32>,
    /// `tokenizer.ggml.bos_token_id`.
    bos_token_id: Option<u32>,
}

/// The GPT-2 `bytes_to_unicode` table: byte value -> the character that stands for it in the
/// vocabulary. Printable Latin-1 bytes map to themselves, the others to U+0100 and up.
pub(crate) fn bytes_to_unicode() -> [char; 256] {
    let mut table = ['\0'; 256];
    let mut next_free = 0u32;
    for byte in 0..=255u32 {
        let printable =
            (0x21..=0x7E).contains(&byte) || (0xA1..=0xAC).contains(&byte) || byte >= 0xAE;
        let code = if printable {
            byte
        } else {
            let code = 256 + next_free;
            next_free += 1;
            code
        };
        // Every code here is below U+0200, always a valid scalar value.
        table[byte as usize] = char::from_u32(code).unwrap_or('\u{FFFD}');
    }
    table
}

/// Reads a string array from GGUF metadata.
fn metadata_strings<'a>(
    metadata: &'a HashMap<String, gguf_file::Value>,
    key: &str,
) -> Result<Vec<&'a str>, String> {
    let value = metadata
        .get(key)
        .ok_or_else(|| format!("the GGUF metadata has no '{key}'"))?;
    let values = value
        .to_vec()
        .map_err(|e| format!("'{key}' is not an array: {e}"))?;
    values
        .iter()
        .map(|v| {
            v.to_string()
                .map(|s| s.as_str())
                .map_err(|e| format!("'{key}' holds a non-string: {e}"))
        })
        .collect()
}

/// Reads an optional u32 from GGUF metadata.
pub(crate) fn metadata_u32(
    metadata: &HashMap<String, gguf_file::Value>,
    key: &str,
) -> Result<Option<u32>, String> {
    match metadata.get(key) {
        None => Ok(None),
        Some(value) => value
            .to_u32()
            .or_else(|_| value.to_i32().map(|v| v as u32))
            .or_else(|_| value.to_u64().map(|v| v as u32))
            .map(Some)
            .map_err(|e| format!("'{key}' is not an integer: {e}")),
    }
}

impl GgufTokenizer {
    /// Builds the tokenizer from a GGUF file's metadata.
    ///
    /// Fails (with a message naming the key) when the tokenizer is not a byte-level BPE
    /// (`tokenizer.ggml.model` = `gpt2`), the pre-tokenizer is unknown, or arrays are missing.
    pub fn from_gguf_metadata(
        metadata: &HashMap<String, gguf_file::Value>,
    ) -> Result<GgufTokenizer, String> {
        let model = metadata
            .get("tokenizer.ggml.model")
            .and_then(|v| v.to_string().ok())
            .map(String::as_str)
            .unwrap_or("");
        if model != "gpt2" {
            return Err(format!(
                "tokenizer.ggml.model is '{model}'; only byte-level BPE ('gpt2') tokenizers are supported"
            ));
        }
        let pre_name = metadata
            .get("tokenizer.ggml.pre")
            .and_then(|v| v.to_string().ok())
            .map(String::as_str)
            .unwrap_or("default");
        let pre_tokenizer = PreTokenizerKind::from_gguf_name(pre_name).ok_or_else(|| {
            format!("tokenizer.ggml.pre '{pre_name}' is not supported (qwen2, smollm, gpt2 are)")
        })?;
        let tokens = metadata_strings(metadata, "tokenizer.ggml.tokens")?;
        let merges = metadata_strings(metadata, "tokenizer.ggml.merges")?;
        let token_types: Vec<i32> = match metadata.get("tokenizer.ggml.token_type") {
            None => vec![TOKEN_TYPE_NORMAL; tokens.len()],
            Some(value) => value
                .to_vec()
                .map_err(|e| format!("tokenizer.ggml.token_type is not an array: {e}"))?
                .iter()
                .map(|v| v.to_i32().map_err(|e| format!("bad token type: {e}")))
                .collect::<Result<_, _>>()?,
        };
        if token_types.len() != tokens.len() {
            return Err(format!(
                "tokenizer.ggml.token_type has {} entries for {} tokens",
                token_types.len(),
                tokens.len()
            ));
        }
        Self::from_parts(
            &tokens,
            &merges,
            &token_types,
            pre_tokenizer,
            metadata_u32(metadata, "tokenizer.ggml.eos_token_id")?,
            metadata_u32(metadata, "tokenizer.ggml.bos_token_id")?,
        )
    }

    /// Builds the tokenizer from its parts: the vocabulary (index = id), merges (`"a b"`), GGUF
    /// token types, pre-tokenizer and the end / begin-of-sequence ids.
    pub fn from_parts(
        tokens: &[&str],
        merges: &[&str],
        token_types: &[i32],
        pre_tokenizer: PreTokenizerKind,
        eos_token_id: Option<u32>,
        bos_token_id: Option<u32>,
    ) -> Result<GgufTokenizer, String> {
        let unicode_to_byte: HashMap<char, u8> = bytes_to_unicode()
            .iter()
            .enumerate()
            .map(|(byte, ch)| (*ch, byte as u8))
            .collect();
        let mut vocab = Vocab::default();
        let mut token_bytes = Vec::with_capacity(tokens.len());
        let mut special_tokens = HashMap::new();
        let mut is_control = Vec::with_capacity(tokens.len());
        for (id, (text, kind)) in tokens.iter().zip(token_types).enumerate() {
            let id = u32::try_from(id).map_err(|_| "vocabulary too large".to_string())?;
            let special = *kind == TOKEN_TYPE_CONTROL || *kind == TOKEN_TYPE_USER_DEFINED;
            is_control.push(*kind == TOKEN_TYPE_CONTROL);
            if special {
                special_tokens.insert(text.to_string(), id);
                token_bytes.push(text.as_bytes().to_vec());
            } else {
                // Byte-level text back to bytes; characters outside the table (never seen in a
                // well-formed byte-level vocabulary) keep their UTF-8 encoding.
                let mut bytes = Vec::with_capacity(text.len());
                for ch in text.chars() {
                    match unicode_to_byte.get(&ch) {
                        Some(byte) => bytes.push(*byte),
                        None => bytes.extend_from_slice(ch.to_string().as_bytes()),
                    }
                }
                token_bytes.push(bytes);
            }
            vocab.insert(text.to_string(), id);
        }
        let merges: Vec<(String, String)> = merges
            .iter()
            .map(|merge| {
                merge
                    .split_once(' ')
                    .map(|(a, b)| (a.to_string(), b.to_string()))
                    .ok_or_else(|| {
                        format!("merge '{merge}' is not two tokens separated by a space")
                    })
            })
            .collect::<Result<_, _>>()?;
        let bpe = BPE::builder()
            .vocab_and_merges(vocab, merges)
            .build()
            .map_err(|e| format!("cannot build the BPE model: {e}"))?;
        let mut inner = Tokenizer::new(bpe);
        inner.with_pre_tokenizer(Some(pre_tokenizer.build()?));
        let mut added: Vec<(u32, &String)> =
            special_tokens.iter().map(|(t, id)| (*id, t)).collect();
        // Registration order does not change matching (the longest match wins), but a fixed
        // order keeps the tokenizer deterministic.
        added.sort();
        let added: Vec<AddedToken> = added
            .into_iter()
            .map(|(_, text)| AddedToken::from(text.clone(), true))
            .collect();
        inner
            .add_special_tokens(added)
            .map_err(|e| format!("cannot register the special tokens: {e}"))?;
        Ok(GgufTokenizer {
            inner,
            token_bytes,
            special_tokens,
            is_control,
            pre_tokenizer,
            eos_token_id,
            bos_token_id,
        })
    }

    /// Token ids of `text`; special tokens written in the text (`<|im_start|>`) become their ids.
    pub fn encode(&self, text: &str) -> crate::AgentResult<Vec<u32>> {
        let encoding =
            self.inner
                .encode_fast(text, false)
                .map_err(|e| crate::AgentError::Generation {
                    model: "tokenizer".to_string(),
                    message: format!("cannot tokenize the text: {e}"),
                })?;
        Ok(encoding.get_ids().to_vec())
    }

    /// The text of `ids`, control tokens included as written; invalid UTF-8 (a character cut
    /// in half) is replaced by U+FFFD.
    pub fn decode(&self, ids: &[u32]) -> String {
        let mut bytes = Vec::new();
        for id in ids {
            bytes.extend_from_slice(self.token_bytes(*id));
        }
        String::from_utf8_lossy(&bytes).into_owned()
    }

    /// The raw bytes token `id` stands for (empty for an unknown id).
    pub fn token_bytes(&self, id: u32) -> &[u8] {
        self.token_bytes
            .get(id as usize)
            .map(Vec::as_slice)
            .unwrap_or(&[])
    }

    /// Number of ids in the vocabulary.
    pub fn vocab_size(&self) -> usize {
        self.token_bytes.len()
    }

    /// The id of a special token given by its text (`"<|im_end|>"`).
    pub fn special_token_id(&self, text: &str) -> Option<u32> {
        self.special_tokens.get(text).copied()
    }

    /// True when `id` is a control token (end of turn, role markers...), which generated text
    /// never shows.
    pub fn is_control(&self, id: u32) -> bool {
        self.is_control.get(id as usize).copied().unwrap_or(false)
    }

    /// The pre-tokenizer this tokenizer uses.
    pub fn pre_tokenizer(&self) -> PreTokenizerKind {
        self.pre_tokenizer
    }

    /// `tokenizer.ggml.eos_token_id`.
    pub fn eos_token_id(&self) -> Option<u32> {
        self.eos_token_id
    }

    /// `tokenizer.ggml.bos_token_id`.
    pub fn bos_token_id(&self) -> Option<u32> {
        self.bos_token_id
    }

    /// The ids that end an assistant turn: the EOS id, `<|im_end|>` and `<|endoftext|>` (Qwen's
    /// generation config lists both 151645 and 151643 though the GGUF names only the first).
    pub fn end_of_turn_ids(&self) -> Vec<u32> {
        let mut ids: Vec<u32> = self.eos_token_id.into_iter().collect();
        for text in ["<|im_end|>", "<|endoftext|>", "<|eot_id|>", "<|end|>"] {
            if let Some(id) = self.special_token_id(text)
                && !ids.contains(&id)
            {
                ids.push(id);
            }
        }
        ids
    }
}

/// Turns a stream of token ids into text pieces, holding back bytes until they form whole UTF-8
/// characters, so that a character split across two tokens (CJK, emoji) is never garbled.
#[derive(Debug, Default, Clone)]
pub struct Utf8StreamDecoder {
    pending: Vec<u8>,
}

impl Utf8StreamDecoder {
    /// A decoder with nothing pending.
    pub fn new() -> Utf8StreamDecoder {
        Utf8StreamDecoder::default()
    }

    /// Adds the bytes of one token and returns the text that became complete (maybe empty).
    pub fn push(&mut self, bytes: &[u8]) -> String {
        self.pending.extend_from_slice(bytes);
        let mut text = String::new();
        loop {
            match std::str::from_utf8(&self.pending) {
                Ok(valid) => {
                    text.push_str(valid);
                    self.pending.clear();
                    return text;
                }
                Err(error) => {
                    let valid_up_to = error.valid_up_to();
                    // Safe: from_utf8 said these bytes are valid.
                    text.push_str(&String::from_utf8_lossy(&self.pending[..valid_up_to]));
                    match error.error_len() {
                        // An incomplete character at the end: wait for the next token.
                        None => {
                            self.pending.drain(..valid_up_to);
                            return text;
                        }
                        // Bytes that can never become valid: show U+FFFD and go on.
                        Some(bad) => {
                            text.push('\u{FFFD}');
                            self.pending.drain(..valid_up_to + bad);
                        }
                    }
                }
            }
        }
    }

    /// What is left at the end of the stream (an incomplete character becomes U+FFFD).
    pub fn finish(&mut self) -> String {
        let text = String::from_utf8_lossy(&self.pending).into_owned();
        self.pending.clear();
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytes_to_unicode_is_a_bijection_with_gpt2_landmarks() {
        let table = bytes_to_unicode();
        let distinct: std::collections::HashSet<char> = table.iter().copied().collect();
        assert_eq!(distinct.len(), 256);
        assert_eq!(table[b' ' as usize], 'Ġ');
        assert_eq!(table[b'\n' as usize], 'Ċ');
        assert_eq!(table[b'A' as usize], 'A');
    }

    #[test]
    fn stream_decoder_joins_a_character_split_across_tokens() {
        let mut decoder = Utf8StreamDecoder::new();
        let snowman = "☃".as_bytes();
        assert_eq!(decoder.push(&snowman[..1]), "");
        assert_eq!(decoder.push(&snowman[1..]), "☃");
        assert_eq!(decoder.push(b"ab\xff"), "ab\u{FFFD}");
        assert_eq!(decoder.push(&"é".as_bytes()[..1]), "");
        assert_eq!(decoder.finish(), "\u{FFFD}");
    }
}
