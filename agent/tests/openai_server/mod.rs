//! A small OpenAI-compatible HTTP server for the backend's tests: a real axum server on
//! 127.0.0.1:0 whose answers are scripted per test (the n-th request gets the n-th reply, the
//! last reply repeats). It records every request body and how many requests were in flight at
//! once.

use std::convert::Infallible;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderName, HeaderValue, StatusCode};
use axum::response::Response;
use axum::routing::{get, post};
use serde_json::{Value, json};

/// One scripted answer.
#[derive(Debug, Clone)]
pub enum Reply {
    /// A plain answer with this status, body and extra headers.
    Body {
        status: u16,
        body: String,
        headers: Vec<(&'static str, String)>,
    },
    /// A `text/event-stream` answer: each string is sent as `data: ...\n\n`, `pause` apart;
    /// `data: [DONE]` follows when `done` is set.
    Sse {
        events: Vec<String>,
        pause: Duration,
        done: bool,
    },
    /// Wait this long, then give the inner reply.
    Delayed(Duration, Box<Reply>),
}

impl Reply {
    /// 200 with a JSON body.
    pub fn json(body: Value) -> Reply {
        Reply::status(200, body.to_string())
    }

    /// This status with this body (JSON or not).
    pub fn status(status: u16, body: impl Into<String>) -> Reply {
        Reply::Body {
            status,
            body: body.into(),
            headers: Vec::new(),
        }
    }

    /// The same reply with one more header.
    pub fn with_header(self, name: &'static str, value: &str) -> Reply {
        match self {
            Reply::Body {
                status,
                body,
                mut headers,
            } => {
                headers.push((name, value.to_string()));
                Reply::Body {
                    status,
                    body,
                    headers,
                }
            }
            other => other,
        }
    }

    /// A well-formed stream of `events` followed by `[DONE]`.
    pub fn sse(events: Vec<Value>) -> Reply {
        Reply::Sse {
            events: events.iter().map(Value::to_string).collect(),
            pause: Duration::from_millis(5),
            done: true,
        }
    }

    /// The reply after a pause.
    pub fn after(self, delay: Duration) -> Reply {
        Reply::Delayed(delay, Box::new(self))
    }
}

/// A chat-completion answer with one choice per text.
pub fn completion(texts: &[&str], prompt_tokens: u32, completion_tokens: u32) -> Value {
    let choices: Vec<Value> = texts
        .iter()
        .enumerate()
        .map(|(index, text)| {
            json!({
                "index": index,
                "message": {"role": "assistant", "content": text},
                "finish_reason": "stop",
                "logprobs": null
            })
        })
        .collect();
    json!({
        "id": "chatcmpl-test",
        "object": "chat.completion",
        "created": 1_700_000_000u32,
        "model": "test-model",
        "choices": choices,
        "usage": {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens
        }
    })
}

/// One streamed chunk: a content delta, a finish reason, or both.
pub fn chunk(content: Option<&str>, finish_reason: Option<&str>) -> Value {
    json!({
        "id": "chatcmpl-test",
        "object": "chat.completion.chunk",
        "created": 1_700_000_000u32,
        "model": "test-model",
        "choices": [{
            "index": 0,
            "delta": {"content": content},
            "finish_reason": finish_reason
        }]
    })
}

/// The final usage-only chunk (`stream_options.include_usage`).
pub fn usage_chunk(prompt_tokens: u32, completion_tokens: u32) -> Value {
    json!({
        "id": "chatcmpl-test",
        "object": "chat.completion.chunk",
        "created": 1_700_000_000u32,
        "model": "test-model",
        "choices": [],
        "usage": {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens
        }
    })
}

#[derive(Default)]
struct Shared {
    script: Vec<Reply>,
    requests: Mutex<Vec<Value>>,
    served: AtomicUsize,
    in_flight: AtomicUsize,
    max_in_flight: AtomicUsize,
}

/// A running scripted server; it stops when the test's runtime ends.
pub struct ScriptedServer {
    /// `http://127.0.0.1:PORT/v1`.
    pub base_url: String,
    shared: Arc<Shared>,
}

impl ScriptedServer {
    /// Start a server that answers chat-completion requests from `script`.
    pub async fn start(script: Vec<Reply>) -> ScriptedServer {
        assert!(!script.is_empty(), "a script needs at least one reply");
        let shared = Arc::new(Shared {
            script,
            ..Shared::default()
        });
        let router = Router::new()
            .route("/v1/chat/completions", post(chat_completions))
            .route("/v1/models", get(list_models))
            .with_state(shared.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind a loopback port");
        let address = listener.local_addr().expect("local address");
        tokio::spawn(async move {
            axum::serve(listener, router).await.expect("serve");
        });
        ScriptedServer {
            base_url: format!("http://{address}/v1"),
            shared,
        }
    }

    /// Chat-completion requests received so far.
    pub fn request_count(&self) -> usize {
        self.shared.served.load(Ordering::SeqCst)
    }

    /// The JSON bodies of the requests received so far, in arrival order.
    pub fn requests(&self) -> Vec<Value> {
        self.shared.requests.lock().expect("requests lock").clone()
    }

    /// The most requests that were being answered at the same time.
    pub fn max_in_flight(&self) -> usize {
        self.shared.max_in_flight.load(Ordering::SeqCst)
    }
}

/// Counts a request as in flight until dropped (also when the client goes away mid-answer).
struct InFlight(Arc<Shared>);

impl InFlight {
    fn enter(shared: &Arc<Shared>) -> InFlight {
        let now = shared.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
        shared.max_in_flight.fetch_max(now, Ordering::SeqCst);
        InFlight(shared.clone())
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::SeqCst);
    }
}

async fn chat_completions(State(shared): State<Arc<Shared>>, body: Bytes) -> Response {
    let _in_flight = InFlight::enter(&shared);
    let index = shared.served.fetch_add(1, Ordering::SeqCst);
    let parsed: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    shared.requests.lock().expect("requests lock").push(parsed);
    let reply = shared.script[index.min(shared.script.len() - 1)].clone();
    respond(reply).await
}

async fn respond(mut reply: Reply) -> Response {
    while let Reply::Delayed(delay, inner) = reply {
        tokio::time::sleep(delay).await;
        reply = *inner;
    }
    match reply {
        Reply::Body {
            status,
            body,
            headers,
        } => {
            let mut response = Response::new(Body::from(body));
            *response.status_mut() = StatusCode::from_u16(status).expect("a valid status");
            let content_type = HeaderValue::from_static("application/json");
            response
                .headers_mut()
                .insert(axum::http::header::CONTENT_TYPE, content_type);
            for (name, value) in headers {
                response.headers_mut().insert(
                    HeaderName::from_static(name),
                    HeaderValue::from_str(&value).expect("a valid header value"),
                );
            }
            response
        }
        Reply::Sse {
            events,
            pause,
            done,
        } => {
            let mut frames: Vec<String> = events
                .into_iter()
                .map(|event| format!("data: {event}\n\n"))
                .collect();
            if done {
                frames.push("data: [DONE]\n\n".to_string());
            }
            let stream =
                futures::stream::unfold(frames.into_iter(), move |mut frames| async move {
                    let frame = frames.next()?;
                    tokio::time::sleep(pause).await;
                    Some((Ok::<_, Infallible>(Bytes::from(frame)), frames))
                });
            let mut response = Response::new(Body::from_stream(stream));
            response.headers_mut().insert(
                axum::http::header::CONTENT_TYPE,
                HeaderValue::from_static("text/event-stream"),
            );
            response
        }
        Reply::Delayed(..) => unreachable!("delays are unwrapped above"),
    }
}

async fn list_models() -> Response {
    let body = json!({
        "object": "list",
        "data": [
            {"id": "test-model", "object": "model", "created": 1_700_000_000u32, "owned_by": "learnat"},
            {"id": "other-model", "object": "model", "created": 1_700_000_000u32, "owned_by": "learnat"}
        ]
    });
    let mut response = Response::new(Body::from(body.to_string()));
    response.headers_mut().insert(
        axum::http::header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}
