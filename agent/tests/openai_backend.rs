//! The OpenAI-compatible backend against a real HTTP server on loopback (see `openai_server`):
//! success, n completions, streaming, retries on 429 / 500 / timeouts / refused connections,
//! Retry-After, malformed JSON, bad key, unknown model, concurrency limit, cancellation.

mod openai_server;

use std::sync::Arc;
use std::time::{Duration, Instant};

use learnat_agent::AgentError;
use learnat_agent::model::openai::{OpenAiModel, OpenAiOptions};
use learnat_agent::model::spec::{ModelOptions, ModelSpec, open_model};
use learnat_agent::model::{ChatMessage, ChatModel, FinishReason, GenerationParams};
use openai_server::{Reply, ScriptedServer, chunk, completion, usage_chunk};
use serde_json::json;

/// Options with test-sized waits: retries back off by about a millisecond.
fn fast_options() -> OpenAiOptions {
    OpenAiOptions {
        api_key: Some("test-key".into()),
        request_timeout: Duration::from_secs(5),
        connect_timeout: Duration::from_secs(2),
        max_retries: 3,
        initial_backoff: Duration::from_millis(1),
        max_backoff: Duration::from_millis(5),
        ..OpenAiOptions::default()
    }
}

fn model_at(server: &ScriptedServer, options: &OpenAiOptions) -> OpenAiModel {
    OpenAiModel::new("test-model", Some(&server.base_url), options).expect("a valid model")
}

fn question() -> Vec<ChatMessage> {
    vec![
        ChatMessage::system("You write SQLite."),
        ChatMessage::user("How many users are there?"),
    ]
}

#[tokio::test]
async fn a_completion_comes_back_with_text_tokens_and_reason() {
    let server = ScriptedServer::start(vec![Reply::json(completion(
        &["SELECT COUNT(*) FROM users"],
        21,
        7,
    ))])
    .await;
    let model = model_at(&server, &fast_options());
    let params = GenerationParams {
        max_tokens: 64,
        stop: vec!["\n\n".into()],
        seed: 42,
        ..GenerationParams::default()
    };
    let completions = model.chat(&question(), &params).await.expect("success");

    assert_eq!(completions.len(), 1);
    let answer = &completions[0];
    assert_eq!(answer.text, "SELECT COUNT(*) FROM users");
    assert_eq!(answer.finish_reason, FinishReason::Stop);
    assert_eq!((answer.prompt_tokens, answer.completion_tokens), (21, 7));
    assert_eq!(answer.logprobs, None);
    assert!(
        model.name().starts_with("test-model@127.0.0.1:"),
        "{}",
        model.name()
    );

    let requests = server.requests();
    assert_eq!(requests.len(), 1);
    let sent = &requests[0];
    assert_eq!(sent["model"], "test-model");
    assert_eq!(
        sent["messages"][0],
        json!({"role": "system", "content": "You write SQLite."})
    );
    assert_eq!(sent["messages"][1]["role"], "user");
    assert_eq!(sent["max_tokens"], 64);
    assert_eq!(sent["temperature"], 0.0);
    assert_eq!(sent["seed"], 42);
    assert_eq!(sent["stop"], json!(["\n\n"]));
    assert_eq!(sent["stream"], false);
    // Defaults that the protocol does not know are not sent (OpenAI would refuse them).
    assert!(sent.get("top_k").is_none(), "{sent}");
    assert!(sent.get("repetition_penalty").is_none(), "{sent}");
    assert!(sent.get("n").is_none(), "{sent}");
}

#[tokio::test]
async fn sampling_extensions_are_sent_only_when_set() {
    let server = ScriptedServer::start(vec![Reply::json(completion(&["x"], 1, 1))]).await;
    let model = model_at(&server, &fast_options());
    let params = GenerationParams {
        temperature: 0.7,
        top_p: 0.9,
        top_k: 40,
        repetition_penalty: 1.1,
        ..GenerationParams::default()
    };
    model.chat(&question(), &params).await.expect("success");
    let sent = &server.requests()[0];
    assert_eq!(sent["top_k"], 40);
    assert!((sent["top_p"].as_f64().expect("top_p") - 0.9).abs() < 1e-6);
    assert!((sent["repetition_penalty"].as_f64().expect("vLLM name") - 1.1).abs() < 1e-6);
    assert!((sent["repeat_penalty"].as_f64().expect("llama.cpp name") - 1.1).abs() < 1e-6);
}

#[tokio::test]
async fn n_completions_come_from_one_request_when_the_server_honours_n() {
    let server =
        ScriptedServer::start(vec![Reply::json(completion(&["a", "b", "c"], 10, 9))]).await;
    let model = model_at(&server, &fast_options());
    let params = GenerationParams {
        n: 3,
        temperature: 0.8,
        ..GenerationParams::default()
    };
    let completions = model.chat(&question(), &params).await.expect("success");
    let texts: Vec<&str> = completions.iter().map(|c| c.text.as_str()).collect();
    assert_eq!(texts, ["a", "b", "c"]);
    assert_eq!(server.request_count(), 1);
    assert_eq!(server.requests()[0]["n"], 3);
    // The server reports one total for the three: each gets an even share.
    assert!(completions.iter().all(|c| c.completion_tokens == 3));
}

#[tokio::test]
async fn n_completions_are_filled_up_when_the_server_returns_fewer() {
    // Like llama.cpp's server: one choice whatever n says.
    let server = ScriptedServer::start(vec![
        Reply::json(completion(&["first"], 10, 2)),
        Reply::json(completion(&["second"], 10, 2)),
        Reply::json(completion(&["third"], 10, 2)),
    ])
    .await;
    let model = model_at(&server, &fast_options());
    let params = GenerationParams {
        n: 3,
        temperature: 0.8,
        seed: 7,
        ..GenerationParams::default()
    };
    let completions = model.chat(&question(), &params).await.expect("success");
    let texts: Vec<&str> = completions.iter().map(|c| c.text.as_str()).collect();
    assert_eq!(texts, ["first", "second", "third"]);
    let requests = server.requests();
    assert_eq!(requests.len(), 3);
    // Each further request asks only for what is missing, with its own seed.
    assert_eq!(requests[0]["n"], 3);
    assert_eq!(requests[1]["n"], 2);
    assert!(requests[2].get("n").is_none());
    let seeds: Vec<i64> = requests
        .iter()
        .map(|r| r["seed"].as_i64().expect("seed"))
        .collect();
    assert_eq!(seeds, [7, 8, 9]);
}

#[tokio::test]
async fn log_probabilities_are_returned_when_the_server_gives_them() {
    let mut body = completion(&["SELECT 1"], 5, 2);
    body["choices"][0]["logprobs"] = json!({
        "content": [
            {"token": "SELECT", "logprob": -0.25, "bytes": null, "top_logprobs": []},
            {"token": " 1", "logprob": -1.5, "bytes": null, "top_logprobs": []}
        ],
        "refusal": null
    });
    let server = ScriptedServer::start(vec![
        Reply::json(body),
        Reply::json(completion(&["SELECT 1"], 5, 2)),
    ])
    .await;
    let model = model_at(&server, &fast_options());
    let params = GenerationParams {
        logprobs: true,
        ..GenerationParams::default()
    };
    let with = model.chat(&question(), &params).await.expect("success");
    assert_eq!(server.requests()[0]["logprobs"], true);
    let tokens = with[0].logprobs.as_ref().expect("log-probabilities");
    assert_eq!(tokens.len(), 2);
    assert_eq!(tokens[0].token, "SELECT");
    assert!((tokens[1].logprob + 1.5).abs() < 1e-6);
    assert_eq!(tokens[0].token_id, None);
    assert_eq!(with[0].completion_tokens, 2);

    // A server without log-probabilities: none, rather than made-up numbers.
    let without = model.chat(&question(), &params).await.expect("success");
    assert_eq!(without[0].logprobs, None);
}

#[tokio::test]
async fn streaming_sends_each_token_to_the_sink() {
    let server = ScriptedServer::start(vec![Reply::sse(vec![
        chunk(Some("SELECT"), None),
        chunk(Some(" COUNT(*)"), None),
        chunk(Some(" FROM users"), None),
        chunk(None, Some("stop")),
        usage_chunk(12, 3),
    ])])
    .await;
    let model = model_at(&server, &fast_options());
    let (sink, mut received) = tokio::sync::mpsc::unbounded_channel();
    let completion = model
        .chat_stream(&question(), &GenerationParams::default(), sink)
        .await
        .expect("success");

    let mut pieces = Vec::new();
    while let Ok(piece) = received.try_recv() {
        pieces.push(piece);
    }
    assert_eq!(pieces, ["SELECT", " COUNT(*)", " FROM users"]);
    assert_eq!(completion.text, "SELECT COUNT(*) FROM users");
    assert_eq!(completion.finish_reason, FinishReason::Stop);
    assert_eq!(
        (completion.prompt_tokens, completion.completion_tokens),
        (12, 3)
    );
    // The server pauses 5 ms before each event: the first token cannot come sooner, and the
    // two after it take at least another 10 ms.
    assert!(completion.timings.time_to_first_token >= Duration::from_millis(4));
    assert!(completion.timings.decode >= Duration::from_millis(8));
    let sent = &server.requests()[0];
    assert_eq!(sent["stream"], true);
    assert_eq!(sent["stream_options"]["include_usage"], true);
}

#[tokio::test]
async fn a_stream_cut_before_the_end_is_an_error() {
    let server = ScriptedServer::start(vec![Reply::Sse {
        events: vec![chunk(Some("SELECT"), None).to_string()],
        pause: Duration::from_millis(1),
        done: false,
    }])
    .await;
    let model = model_at(&server, &fast_options());
    let (sink, _received) = tokio::sync::mpsc::unbounded_channel();
    let error = model
        .chat_stream(&question(), &GenerationParams::default(), sink)
        .await
        .expect_err("cut stream");
    assert!(matches!(error, AgentError::Connection { .. }), "{error:?}");
    assert!(error.to_string().contains("stream ended"), "{error}");
}

#[tokio::test]
async fn a_stalled_stream_times_out() {
    let server = ScriptedServer::start(vec![Reply::Sse {
        events: vec![
            chunk(Some("SELECT"), None).to_string(),
            chunk(None, Some("stop")).to_string(),
        ],
        pause: Duration::from_millis(800),
        done: true,
    }])
    .await;
    let options = OpenAiOptions {
        request_timeout: Duration::from_millis(200),
        ..fast_options()
    };
    let model = model_at(&server, &options);
    let (sink, _received) = tokio::sync::mpsc::unbounded_channel();
    let started = Instant::now();
    let error = model
        .chat_stream(&question(), &GenerationParams::default(), sink)
        .await
        .expect_err("stalled");
    assert!(matches!(error, AgentError::Timeout { .. }), "{error:?}");
    assert!(started.elapsed() < Duration::from_millis(2_000));
}

#[tokio::test]
async fn rate_limits_are_retried_then_succeed() {
    let server = ScriptedServer::start(vec![
        Reply::status(
            429,
            r#"{"error":{"message":"slow down","type":"rate_limit"}}"#,
        )
        .with_header("retry-after-ms", "10"),
        Reply::status(
            429,
            r#"{"error":{"message":"slow down","type":"rate_limit"}}"#,
        ),
        Reply::json(completion(&["SELECT 1"], 3, 2)),
    ])
    .await;
    let model = model_at(&server, &fast_options());
    let completions = model
        .chat(&question(), &GenerationParams::default())
        .await
        .expect("success after retries");
    assert_eq!(completions[0].text, "SELECT 1");
    assert_eq!(server.request_count(), 3);
}

#[tokio::test]
async fn retry_after_is_honoured() {
    let server = ScriptedServer::start(vec![
        Reply::status(429, r#"{"error":{"message":"slow down"}}"#).with_header("retry-after", "1"),
        Reply::json(completion(&["ok"], 1, 1)),
    ])
    .await;
    let model = model_at(&server, &fast_options());
    let started = Instant::now();
    model
        .chat(&question(), &GenerationParams::default())
        .await
        .expect("success");
    // The backoff alone is a few milliseconds; the wait comes from the header.
    assert!(
        started.elapsed() >= Duration::from_millis(950),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(server.request_count(), 2);
}

#[tokio::test]
async fn a_retry_after_beyond_the_limit_ends_the_retries() {
    let server = ScriptedServer::start(vec![
        Reply::status(429, r#"{"error":{"message":"quota"}}"#).with_header("retry-after", "3600"),
    ])
    .await;
    let model = model_at(&server, &fast_options());
    let error = model
        .chat(&question(), &GenerationParams::default())
        .await
        .expect_err("gives up");
    match &error {
        AgentError::Server {
            status,
            attempts,
            message,
            ..
        } => {
            assert_eq!((*status, *attempts), (429, 1));
            assert!(message.contains("retry after 3600 s"), "{message}");
        }
        other => panic!("expected a Server error, got {other:?}"),
    }
    assert_eq!(server.request_count(), 1);
}

#[tokio::test]
async fn server_errors_are_retried_then_reported_with_attempts() {
    let server =
        ScriptedServer::start(vec![Reply::status(500, "internal error: out of memory")]).await;
    let options = OpenAiOptions {
        max_retries: 2,
        ..fast_options()
    };
    let model = model_at(&server, &options);
    let error = model
        .chat(&question(), &GenerationParams::default())
        .await
        .expect_err("keeps failing");
    match &error {
        AgentError::Server {
            status,
            attempts,
            message,
            base_url,
        } => {
            assert_eq!((*status, *attempts), (500, 3));
            assert!(message.contains("out of memory"), "{message}");
            assert_eq!(base_url, &server.base_url);
        }
        other => panic!("expected a Server error, got {other:?}"),
    }
    assert_eq!(server.request_count(), 3);
    assert!(error.to_string().contains("after 3 attempt(s)"), "{error}");
}

#[tokio::test]
async fn a_server_error_then_success_recovers() {
    let server = ScriptedServer::start(vec![
        Reply::status(503, "loading model"),
        Reply::json(completion(&["SELECT 2"], 1, 1)),
    ])
    .await;
    let model = model_at(&server, &fast_options());
    let completions = model
        .chat(&question(), &GenerationParams::default())
        .await
        .expect("recovers");
    assert_eq!(completions[0].text, "SELECT 2");
    assert_eq!(server.request_count(), 2);
}

#[tokio::test]
async fn a_slow_server_times_out_after_the_retries() {
    let server = ScriptedServer::start(vec![
        Reply::json(completion(&["late"], 1, 1)).after(Duration::from_secs(3)),
    ])
    .await;
    let options = OpenAiOptions {
        request_timeout: Duration::from_millis(200),
        max_retries: 1,
        ..fast_options()
    };
    let model = model_at(&server, &options);
    let started = Instant::now();
    let error = model
        .chat(&question(), &GenerationParams::default())
        .await
        .expect_err("too slow");
    let elapsed = started.elapsed();
    match &error {
        AgentError::Timeout { what, after } => {
            assert_eq!(*after, Duration::from_millis(200));
            assert!(what.contains("2 attempt(s)"), "{what}");
        }
        other => panic!("expected a Timeout, got {other:?}"),
    }
    assert_eq!(server.request_count(), 2);
    assert!(
        elapsed >= Duration::from_millis(400) && elapsed < Duration::from_millis(2_000),
        "{elapsed:?}"
    );
}

#[tokio::test]
async fn a_timeout_then_success_recovers() {
    let server = ScriptedServer::start(vec![
        Reply::json(completion(&["late"], 1, 1)).after(Duration::from_secs(2)),
        Reply::json(completion(&["on time"], 1, 1)),
    ])
    .await;
    let options = OpenAiOptions {
        request_timeout: Duration::from_millis(200),
        ..fast_options()
    };
    let model = model_at(&server, &options);
    let completions = model
        .chat(&question(), &GenerationParams::default())
        .await
        .expect("second attempt in time");
    assert_eq!(completions[0].text, "on time");
    assert_eq!(server.request_count(), 2);
}

#[tokio::test]
async fn malformed_json_is_reported_and_not_retried() {
    let server = ScriptedServer::start(vec![Reply::status(
        200,
        "{\"id\": \"x\", \"choices\": [ oops",
    )])
    .await;
    let model = model_at(&server, &fast_options());
    let error = model
        .chat(&question(), &GenerationParams::default())
        .await
        .expect_err("malformed");
    assert!(
        matches!(error, AgentError::MalformedResponse { .. }),
        "{error:?}"
    );
    assert!(error.to_string().contains("oops"), "{error}");
    assert_eq!(server.request_count(), 1);
}

#[tokio::test]
async fn json_of_the_wrong_shape_is_malformed_too() {
    let server = ScriptedServer::start(vec![Reply::json(json!({"result": "SELECT 1"}))]).await;
    let model = model_at(&server, &fast_options());
    let error = model
        .chat(&question(), &GenerationParams::default())
        .await
        .expect_err("wrong shape");
    assert!(
        matches!(error, AgentError::MalformedResponse { .. }),
        "{error:?}"
    );
}

#[tokio::test]
async fn a_rejected_key_is_an_auth_error_without_retries() {
    let server = ScriptedServer::start(vec![Reply::status(
        401,
        r#"{"error":{"message":"Incorrect API key provided","type":"invalid_request_error","code":"invalid_api_key"}}"#,
    )])
    .await;
    let model = model_at(&server, &fast_options());
    let error = model
        .chat(&question(), &GenerationParams::default())
        .await
        .expect_err("bad key");
    match &error {
        AgentError::Auth {
            status, message, ..
        } => {
            assert_eq!(*status, 401);
            assert!(message.contains("Incorrect API key"), "{message}");
        }
        other => panic!("expected Auth, got {other:?}"),
    }
    assert!(error.to_string().contains("OPENAI_API_KEY"), "{error}");
    assert_eq!(server.request_count(), 1);
}

#[tokio::test]
async fn an_unknown_model_is_named_in_the_error() {
    let server = ScriptedServer::start(vec![Reply::status(
        404,
        r#"{"object":"error","message":"The model `test-model` does not exist.","type":"NotFoundError","code":404}"#,
    )])
    .await;
    let model = model_at(&server, &fast_options());
    let error = model
        .chat(&question(), &GenerationParams::default())
        .await
        .expect_err("unknown model");
    match &error {
        AgentError::UnknownModel { model, .. } => assert_eq!(model, "test-model"),
        other => panic!("expected UnknownModel, got {other:?}"),
    }
    assert_eq!(server.request_count(), 1);
}

#[tokio::test]
async fn a_wrong_path_is_a_404_with_a_base_url_hint() {
    let server = ScriptedServer::start(vec![Reply::json(completion(&["x"], 1, 1))]).await;
    // The server serves under /v1; this base URL misses it.
    let base_url = server.base_url.trim_end_matches("/v1").to_string();
    let model = OpenAiModel::new("test-model", Some(&base_url), &fast_options()).expect("valid");
    let error = model
        .chat(&question(), &GenerationParams::default())
        .await
        .expect_err("wrong path");
    match &error {
        AgentError::Server {
            status, message, ..
        } => {
            assert_eq!(*status, 404);
            assert!(message.contains("/v1"), "{message}");
        }
        other => panic!("expected Server 404, got {other:?}"),
    }
}

#[tokio::test]
async fn a_refused_connection_is_retried_then_reported() {
    // A port that was just free: nothing listens on it.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("address").port();
    drop(listener);
    let options = OpenAiOptions {
        max_retries: 1,
        ..fast_options()
    };
    let base_url = format!("http://127.0.0.1:{port}/v1");
    let model = OpenAiModel::new("test-model", Some(&base_url), &options).expect("valid");
    let error = model
        .chat(&question(), &GenerationParams::default())
        .await
        .expect_err("refused");
    match &error {
        AgentError::Connection {
            base_url: url,
            message,
        } => {
            assert_eq!(url, &base_url);
            assert!(message.contains("2 attempt(s)"), "{message}");
            assert!(message.contains("cannot connect"), "{message}");
        }
        other => panic!("expected Connection, got {other:?}"),
    }
}

#[tokio::test]
async fn a_streaming_request_is_retried_before_the_stream_starts() {
    let server = ScriptedServer::start(vec![
        Reply::status(429, r#"{"error":{"message":"busy"}}"#),
        Reply::sse(vec![chunk(Some("ok"), Some("stop"))]),
    ])
    .await;
    let model = model_at(&server, &fast_options());
    let (sink, _received) = tokio::sync::mpsc::unbounded_channel();
    let completion = model
        .chat_stream(&question(), &GenerationParams::default(), sink)
        .await
        .expect("success after a retry");
    assert_eq!(completion.text, "ok");
    assert_eq!(server.request_count(), 2);
}

#[tokio::test]
async fn concurrent_requests_respect_the_limit() {
    let server = ScriptedServer::start(vec![
        Reply::json(completion(&["x"], 1, 1)).after(Duration::from_millis(150)),
    ])
    .await;
    let options = OpenAiOptions {
        max_concurrent_requests: 2,
        ..fast_options()
    };
    let model: Arc<dyn ChatModel> = Arc::new(model_at(&server, &options));
    let tasks: Vec<_> = (0..6)
        .map(|_| {
            let model = model.clone();
            tokio::spawn(async move {
                model
                    .chat(&question(), &GenerationParams::default())
                    .await
                    .map(|completions| completions.len())
            })
        })
        .collect();
    for task in tasks {
        assert_eq!(task.await.expect("task").expect("success"), 1);
    }
    assert_eq!(server.request_count(), 6);
    assert_eq!(server.max_in_flight(), 2);
}

#[tokio::test]
async fn cancelling_stops_a_waiting_request() {
    let server = ScriptedServer::start(vec![
        Reply::json(completion(&["late"], 1, 1)).after(Duration::from_secs(5)),
    ])
    .await;
    let model = model_at(&server, &fast_options());
    let params = GenerationParams::default();
    let cancel = params.cancel.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(100)).await;
        cancel.cancel();
    });
    let started = Instant::now();
    let error = model
        .chat(&question(), &params)
        .await
        .expect_err("cancelled");
    assert!(matches!(error, AgentError::Cancelled), "{error:?}");
    assert!(started.elapsed() < Duration::from_secs(2));
}

#[tokio::test]
async fn the_server_lists_its_models() {
    let server = ScriptedServer::start(vec![Reply::json(completion(&["x"], 1, 1))]).await;
    let model = model_at(&server, &fast_options());
    let ids = model.list_server_models().await.expect("list");
    assert_eq!(ids, ["test-model", "other-model"]);
}

#[tokio::test]
async fn open_model_dispatches_openai_specs() {
    let server = ScriptedServer::start(vec![Reply::json(completion(&["via spec"], 1, 1))]).await;
    let spec = ModelSpec::parse(&format!("openai:test-model@{}", server.base_url)).expect("spec");
    let options = ModelOptions {
        openai: fast_options(),
        ..ModelOptions::default()
    };
    let model = open_model(&spec, &options).await.expect("open");
    let completions = model
        .chat(&question(), &GenerationParams::default())
        .await
        .expect("success");
    assert_eq!(completions[0].text, "via spec");
}

#[test]
fn keys_that_cannot_be_sent_are_refused_up_front() {
    let options = OpenAiOptions {
        api_key: Some("sk-abc\ndef".into()),
        ..OpenAiOptions::default()
    };
    let error =
        OpenAiModel::new("m", Some("http://127.0.0.1:1/v1"), &options).expect_err("bad key");
    assert!(error.to_string().contains("API key"), "{error}");
}
