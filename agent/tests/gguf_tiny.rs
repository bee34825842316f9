//! The local GGUF backend on tiny random-weight models written by the test (no download):
//! loading, tokenizer plumbing, chat template, prefix KV-cache reuse, sampling, stops, n > 1,
//! log-probabilities, cancellation, context limits and streaming, for both model families.

use std::path::{Path, PathBuf};

use learnat_agent::model::gguf::tiny::{TINY_CONTEXT, write_tiny_gguf};
use learnat_agent::model::gguf::{GgufModel, GgufOptions, ModelFamily};
use learnat_agent::model::{FinishReason, GenerationParams};
use learnat_agent::{AgentError, ChatMessage, ChatModel};

struct TinyModels {
    _dir: tempfile::TempDir,
    qwen: PathBuf,
    llama: PathBuf,
}

fn tiny_models() -> TinyModels {
    let dir = tempfile::tempdir().expect("temp dir");
    let qwen = dir.path().join("tiny-qwen2.gguf");
    let llama = dir.path().join("tiny-llama.gguf");
    write_tiny_gguf(&qwen, ModelFamily::Qwen2, 11).expect("write tiny qwen2");
    write_tiny_gguf(&llama, ModelFamily::Llama, 12).expect("write tiny llama");
    TinyModels {
        _dir: dir,
        qwen,
        llama,
    }
}

fn load(path: &Path) -> GgufModel {
    let options = GgufOptions {
        threads: Some(2),
        ..GgufOptions::default()
    };
    GgufModel::load(path, &options).expect("load tiny model")
}

fn greedy(max_tokens: usize) -> GenerationParams {
    GenerationParams {
        max_tokens,
        ..GenerationParams::default()
    }
}

fn conversation() -> Vec<ChatMessage> {
    vec![
        ChatMessage::system("You write SQL."),
        ChatMessage::user("SELECT * FROM users"),
    ]
}

#[test]
fn loads_both_families_with_their_shapes_and_tokenizers() {
    let models = tiny_models();
    for (path, family) in [
        (&models.qwen, ModelFamily::Qwen2),
        (&models.llama, ModelFamily::Llama),
    ] {
        let model = load(path);
        assert_eq!(model.config().family, family);
        assert_eq!(model.config().layers, 2);
        assert_eq!(model.context_length(), TINY_CONTEXT);
        let summary = model.weight_summary();
        // Q8_0 and Q5_0 have kernels; the K-quants are re-quantized to Q8_0 for them.
        assert!(summary.learnat_kernel_matrices > 0, "{summary:?}");
        assert_eq!(summary.candle_matrices, 0, "{summary:?}");
        let tokenizer = model.tokenizer();
        // The merges build "SELECT" and " users"; specials are matched inline.
        let ids = tokenizer
            .encode("<|im_start|>SELECT * FROM users<|im_end|>")
            .unwrap();
        let pieces: Vec<String> = ids.iter().map(|id| tokenizer.decode(&[*id])).collect();
        assert_eq!(
            pieces,
            [
                "<|im_start|>",
                "SELECT",
                " *",
                " FROM",
                " users",
                "<|im_end|>"
            ]
        );
        assert!(tokenizer.is_control(ids[0]));
        for text in ["héllo wörld", "日本語 🙂 تست", "a\n\n\tb   c", "12345"] {
            let ids = tokenizer.encode(text).unwrap();
            assert_eq!(tokenizer.decode(&ids), text);
        }
        assert_eq!(model.count_tokens("SELECT"), Some(1));
    }
}

#[test]
fn digits_split_one_by_one_for_both_pre_tokenizers() {
    let models = tiny_models();
    for path in [&models.qwen, &models.llama] {
        let model = load(path);
        let ids = model.tokenizer().encode("2024").unwrap();
        assert_eq!(ids.len(), 4, "each digit is its own piece");
    }
}

#[test]
fn chat_templates_render_chatml() {
    let models = tiny_models();
    let qwen = load(&models.qwen);
    assert_eq!(
        qwen.render_prompt(&conversation()).unwrap(),
        "<|im_start|>system\nYou write SQL.<|im_end|>\n<|im_start|>user\nSELECT * FROM users<|im_end|>\n<|im_start|>assistant\n"
    );
    // Without a system message the template inserts its default one.
    assert!(
        qwen.render_prompt(&[ChatMessage::user("hi")])
            .unwrap()
            .starts_with("<|im_start|>system\nYou are tiny.<|im_end|>\n<|im_start|>user\nhi")
    );
    let llama = load(&models.llama);
    assert_eq!(
        llama.render_prompt(&[ChatMessage::user("hi")]).unwrap(),
        "<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n"
    );
}

#[tokio::test]
async fn a_follow_up_reuses_the_cached_prefix_and_matches_a_fresh_model() {
    let models = tiny_models();
    for path in [&models.qwen, &models.llama] {
        let cached = load(path);
        let first = cached.chat(&conversation(), &greedy(6)).await.unwrap();
        assert_eq!(first[0].cached_prompt_tokens, 0);
        let mut follow_up = conversation();
        follow_up.push(ChatMessage::assistant(first[0].text.clone()));
        follow_up.push(ChatMessage::user("FROM users"));
        let second = cached.chat(&follow_up, &greedy(8)).await.unwrap();
        assert!(
            second[0].cached_prompt_tokens > 10,
            "the first turn's tokens are reused: {:?}",
            second[0]
        );
        assert!(second[0].cached_prompt_tokens < second[0].prompt_tokens);
        let fresh = load(path);
        let reference = fresh.chat(&follow_up, &greedy(8)).await.unwrap();
        assert_eq!(reference[0].cached_prompt_tokens, 0);
        assert_eq!(second[0].text, reference[0].text);
        // Stronger than the greedy text: the log-probabilities agree too.
        let prompt = cached.prompt_tokens(&follow_up).unwrap();
        let completion = cached.tokenizer().encode(" users FROM").unwrap();
        let with_cache = cached.score(&prompt, &completion).unwrap();
        let without = fresh.score(&prompt, &completion).unwrap();
        for (a, b) in with_cache.iter().zip(&without) {
            assert!((a - b).abs() < 1e-4, "{with_cache:?} vs {without:?}");
        }
    }
}

#[tokio::test]
async fn alternating_conversations_each_keep_their_cached_prefix() {
    let models = tiny_models();
    let model = load(&models.qwen);
    // Two conversations with different system prompts share only the template's opening.
    let long = |topic: &str| format!("{topic} ").repeat(5);
    let draft = vec![
        ChatMessage::system("Write one SQL query."),
        ChatMessage::user(long("customers orders")),
    ];
    let steps = vec![
        ChatMessage::system("Decompose the question into steps."),
        ChatMessage::user(long("customers orders")),
    ];
    let first = model.chat(&draft, &greedy(2)).await.unwrap();
    assert_eq!(first[0].cached_prompt_tokens, 0);
    let other = model.chat(&steps, &greedy(2)).await.unwrap();
    assert!(other[0].cached_prompt_tokens < 10, "{:?}", other[0]);
    // Back to the first conversation: its keys were kept in another slot.
    let again = model.chat(&draft, &greedy(2)).await.unwrap();
    assert_eq!(
        again[0].cached_prompt_tokens,
        again[0].prompt_tokens - 1,
        "all but the last prompt token come from the cache"
    );
    assert_eq!(again[0].text, first[0].text);
    let other_again = model.chat(&steps, &greedy(2)).await.unwrap();
    assert_eq!(
        other_again[0].cached_prompt_tokens,
        other_again[0].prompt_tokens - 1
    );
    // More conversations than slots: the least recently used one is evicted.
    let slots = learnat_agent::model::gguf::CACHE_SLOTS;
    for index in 0..slots {
        let fresh = vec![
            ChatMessage::system(format!("Conversation {index}.")),
            ChatMessage::user(long("cities")),
        ];
        let answer = model.chat(&fresh, &greedy(1)).await.unwrap();
        assert!(answer[0].cached_prompt_tokens < 10, "{:?}", answer[0]);
    }
    let evicted = model.chat(&draft, &greedy(2)).await.unwrap();
    assert!(evicted[0].cached_prompt_tokens < 10, "{:?}", evicted[0]);
}

#[tokio::test]
async fn sampling_is_deterministic_per_seed_and_n_completions_continue_one_prompt() {
    let models = tiny_models();
    let model = load(&models.qwen);
    let params = |seed| GenerationParams {
        max_tokens: 12,
        temperature: 1.0,
        top_p: 0.95,
        top_k: 40,
        seed,
        ..GenerationParams::default()
    };
    let a = model.chat(&conversation(), &params(5)).await.unwrap();
    let b = model.chat(&conversation(), &params(5)).await.unwrap();
    assert_eq!(a[0].text, b[0].text);
    let mut others = Vec::new();
    for seed in [6u64, 7, 8] {
        let mut completions = model.chat(&conversation(), &params(seed)).await.unwrap();
        others.push(completions.remove(0).text);
    }
    assert!(
        others.iter().any(|t| *t != a[0].text),
        "different seeds give different samples"
    );
    let many = model
        .chat(&conversation(), &GenerationParams { n: 3, ..params(6) })
        .await
        .unwrap();
    assert_eq!(many.len(), 3);
    // Completion i uses seed + i: the same text as single requests with those seeds.
    assert_eq!(many[0].text, others[0]);
    assert_eq!(many[1].text, others[1]);
    assert_eq!(many[2].text, others[2]);
    assert!(
        many.iter()
            .all(|c| c.prompt_tokens == many[0].prompt_tokens)
    );
}

#[tokio::test]
async fn stop_strings_end_the_text_before_them() {
    let models = tiny_models();
    let model = load(&models.llama);
    let full = model
        .chat(&conversation(), &greedy(24))
        .await
        .unwrap()
        .remove(0);
    let chars: Vec<char> = full.text.chars().collect();
    assert!(
        chars.len() >= 8,
        "the tiny model writes some text: {full:?}"
    );
    let stop: String = chars[4..7].iter().collect();
    let expected_end = full.text.find(&stop).expect("stop text occurs");
    let params = GenerationParams {
        stop: vec![stop.clone()],
        ..greedy(24)
    };
    let stopped = model
        .chat(&conversation(), &params)
        .await
        .unwrap()
        .remove(0);
    assert_eq!(stopped.finish_reason, FinishReason::StopSequence);
    assert_eq!(stopped.text, full.text[..expected_end]);
    assert!(!stopped.text.contains(&stop));
}

#[tokio::test]
async fn logprobs_are_returned_and_agree_with_teacher_forcing() {
    let models = tiny_models();
    let model = GgufModel::load(
        &models.qwen,
        &GgufOptions {
            threads: Some(2),
            prefill_chunk: 16,
            ..GgufOptions::default()
        },
    )
    .unwrap();
    // The longer conversation is prefilled in several chunks for generation and in one pass
    // when scored: both must give the same numbers.
    let long = vec![
        ChatMessage::system("You write SQL."),
        ChatMessage::user("SELECT * FROM users WHERE id = 1; ".repeat(4)),
    ];
    let long_tokens = model.prompt_tokens(&long).unwrap().len();
    assert!((40..150).contains(&long_tokens), "{long_tokens} tokens");
    for messages in [conversation(), long] {
        agrees_with_teacher_forcing(&model, &messages).await;
    }
}

async fn agrees_with_teacher_forcing(model: &GgufModel, messages: &[ChatMessage]) {
    let params = GenerationParams {
        logprobs: true,
        ..greedy(10)
    };
    let completion = model.chat(messages, &params).await.unwrap().remove(0);
    let logprobs = completion.logprobs.expect("logprobs requested");
    assert_eq!(logprobs.len(), completion.completion_tokens);
    assert!(
        logprobs
            .iter()
            .all(|l| l.logprob <= 0.0 && l.logprob.is_finite())
    );
    let ids: Vec<u32> = logprobs.iter().filter_map(|l| l.token_id).collect();
    let prompt = model.prompt_tokens(messages).unwrap();
    let forced = model.teacher_force(&prompt, &ids).unwrap();
    assert_eq!(
        forced.top_tokens, ids,
        "greedy tokens are the teacher-forced argmax"
    );
    for (generated, scored) in logprobs.iter().zip(&forced.logprobs) {
        assert!((generated.logprob - scored).abs() < 1e-3);
    }
    // Probabilities of the whole vocabulary sum to one: exp(logprob) of the argmax is ≤ 1 and
    // the sum over a forced token and its alternatives cannot exceed one.
    let total: f32 = forced.logprobs.iter().map(|l| l.exp()).sum();
    assert!(total <= forced.logprobs.len() as f32 + 1e-4);
}

#[tokio::test]
async fn streaming_sends_the_text_piece_by_piece() {
    let models = tiny_models();
    let model = load(&models.qwen);
    let (sink, mut receiver) = tokio::sync::mpsc::unbounded_channel();
    let completion = model
        .chat_stream(&conversation(), &greedy(16), sink)
        .await
        .unwrap();
    let mut streamed = String::new();
    let mut pieces = 0;
    while let Ok(piece) = receiver.try_recv() {
        streamed.push_str(&piece);
        pieces += 1;
    }
    assert_eq!(streamed, completion.text);
    assert!(pieces > 1 || completion.completion_tokens <= 1);
}

#[tokio::test]
async fn cancel_stops_generation_between_tokens() {
    let models = tiny_models();
    let model = load(&models.qwen);
    let params = greedy(150);
    params.cancel.cancel();
    let result = model.chat(&conversation(), &params).await;
    assert!(matches!(result, Err(AgentError::Cancelled)), "{result:?}");

    let params = greedy(150);
    let cancel = params.cancel.clone();
    let (sink, mut receiver) = tokio::sync::mpsc::unbounded_channel();
    let watcher = tokio::spawn(async move {
        if receiver.recv().await.is_some() {
            cancel.cancel();
        }
    });
    let result = model.chat_stream(&conversation(), &params, sink).await;
    watcher.await.unwrap();
    assert!(matches!(result, Err(AgentError::Cancelled)), "{result:?}");
    // The model still works afterwards.
    let after = model.chat(&conversation(), &greedy(4)).await.unwrap();
    assert!(after[0].completion_tokens > 0);
}

#[tokio::test]
async fn the_context_length_is_respected() {
    let models = tiny_models();
    let model = load(&models.llama);
    let too_long = vec![ChatMessage::user("SELECT ".repeat(TINY_CONTEXT))];
    let result = model.chat(&too_long, &greedy(4)).await;
    assert!(
        matches!(&result, Err(AgentError::InvalidInput { message }) if message.contains("context")),
        "{result:?}"
    );
    // A prompt that nearly fills the context: generation stops at the limit.
    let long = vec![ChatMessage::user("SELECT ".repeat(TINY_CONTEXT / 2 - 12))];
    let prompt_tokens = model.prompt_tokens(&long).unwrap().len();
    assert!(prompt_tokens < TINY_CONTEXT && prompt_tokens > TINY_CONTEXT - 40);
    let completion = model.chat(&long, &greedy(100)).await.unwrap().remove(0);
    assert!(completion.prompt_tokens + completion.completion_tokens <= TINY_CONTEXT);
    if completion.finish_reason == FinishReason::Length {
        assert_eq!(
            completion.prompt_tokens + completion.completion_tokens,
            TINY_CONTEXT
        );
    }
}

#[tokio::test]
async fn concurrent_requests_wait_their_turn_and_get_the_same_answers() {
    let models = tiny_models();
    let model = std::sync::Arc::new(load(&models.qwen));
    let alone = model
        .chat(&conversation(), &greedy(8))
        .await
        .unwrap()
        .remove(0);
    let (messages, params) = (conversation(), greedy(8));
    let (a, b) = tokio::join!(
        model.chat(&messages, &params),
        model.chat(&messages, &params)
    );
    assert_eq!(a.unwrap()[0].text, alone.text);
    assert_eq!(b.unwrap()[0].text, alone.text);
}

#[test]
fn learnat_kernels_agree_with_candle_quantized_matmul() {
    let models = tiny_models();
    // The Qwen2 model has its own output head; the Llama one ties it to the token embedding,
    // whose lookups then read the kernel's blocks (the table is held once).
    for path in [&models.qwen, &models.llama] {
        let ours = load(path);
        let candle_only = GgufModel::load(
            path,
            &GgufOptions {
                threads: Some(2),
                learnat_kernels: false,
                ..GgufOptions::default()
            },
        )
        .unwrap();
        assert_eq!(candle_only.weight_summary().learnat_kernel_matrices, 0);
        assert!(ours.weight_summary().learnat_kernel_matrices > 0);
        let prompt = ours.prompt_tokens(&conversation()).unwrap();
        let completion = ours.tokenizer().encode("SELECT * FROM users").unwrap();
        let a = ours.score(&prompt, &completion).unwrap();
        let b = candle_only.score(&prompt, &completion).unwrap();
        // candle multiplies some of these matrices through its repacked AVX-512 path, which
        // quantizes activations per 256 values instead of 32: close, not bit-identical.
        for (x, y) in a.iter().zip(&b) {
            assert!(
                (x - y).abs() < 0.01 * (1.0 + y.abs()),
                "{}: {a:?} vs {b:?}",
                path.display()
            );
        }
    }
}

#[test]
fn load_errors_name_the_problem() {
    let dir = tempfile::tempdir().unwrap();
    let missing = GgufModel::load(&dir.path().join("nope.gguf"), &GgufOptions::default());
    assert!(matches!(missing, Err(AgentError::ModelLoad { .. })));
    let garbage = dir.path().join("garbage.gguf");
    std::fs::write(&garbage, b"not a gguf file at all").unwrap();
    let error = GgufModel::load(&garbage, &GgufOptions::default()).unwrap_err();
    assert!(error.to_string().contains("GGUF"), "{error}");
    #[cfg(not(feature = "cuda"))]
    {
        let models = tiny_models();
        let error = GgufModel::load(
            &models.qwen,
            &GgufOptions {
                device: learnat_agent::model::gguf::GgufDevice::Cuda(0),
                ..GgufOptions::default()
            },
        )
        .unwrap_err();
        assert!(error.to_string().contains("cuda"), "{error}");
    }
}
