//! A local Lambda Runtime API, to run a Lambda binary's real
//! `lambda_runtime::run` loop in a subprocess: start a [`RuntimeApi`] with
//! the events to deliver, run the binary with `AWS_LAMBDA_RUNTIME_API` set to
//! its [`RuntimeApi::addr`], and [`RuntimeApi::wait`] for the outcomes.
//!
//! It serves, as AWS does:
//! - `GET /2018-06-01/runtime/invocation/next`: the next event, with the
//!   `Lambda-Runtime-*` headers; once none is left, it waits (long poll) for
//!   [`RuntimeApi::add_event`] or for the server to be dropped, when the
//!   connection is closed;
//! - `POST /2018-06-01/runtime/invocation/{id}/response` and `.../error`:
//!   recorded, answered 202;
//! - `POST /2018-06-01/runtime/init/error`: recorded, answered 202.
//!
//! Each connection has its own thread, so a waiting `next` holds up nothing
//! else.

use std::io;
use std::net::TcpStream;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::{Value, json};

use crate::wire::{self, After, Request, Server};

/// The function ARN handed out with every event.
pub const FUNCTION_ARN: &str = "arn:aws:lambda:us-east-1:123456789012:function:bagpipe";

const PREFIX: &str = "/2018-06-01/runtime/";

/// How an invocation ended.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// The body posted to `.../response` (JSON, or a JSON string if it was
    /// not JSON).
    Response(Value),
    /// The body posted to `.../error` (`{"errorType": ..., "errorMessage": ...}`).
    Error(Value),
    /// The body posted to `init/error`: the function failed before handling
    /// this event.
    InitError(Value),
}

/// One event and how it ended.
#[derive(Debug, Clone, PartialEq)]
pub struct Invocation {
    pub request_id: String,
    pub event: Value,
    pub outcome: Outcome,
}

#[derive(Debug)]
struct Event {
    request_id: String,
    event: Value,
    outcome: Option<Outcome>,
}

#[derive(Debug, Default)]
struct State {
    events: Vec<Event>,
    /// Index of the next event to hand out.
    next: usize,
    init_errors: Vec<Value>,
    stopping: bool,
}

#[derive(Debug, Default)]
struct Shared {
    state: Mutex<State>,
    changed: Condvar,
}

/// A Lambda Runtime API on 127.0.0.1; stops on drop.
pub struct RuntimeApi {
    /// `127.0.0.1:PORT`: the value for `AWS_LAMBDA_RUNTIME_API`.
    pub addr: String,
    shared: Arc<Shared>,
    server: Option<Server>,
}

impl std::fmt::Debug for RuntimeApi {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RuntimeApi")
            .field("addr", &self.addr)
            .finish()
    }
}

fn new_request_id() -> String {
    static N: AtomicU64 = AtomicU64::new(1);
    format!(
        "{:08x}-0000-4000-8000-{:012x}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

fn epoch() -> Duration {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
}

impl RuntimeApi {
    /// Starts serving `events`, handed out in this order.
    pub fn start(events: Vec<Value>) -> RuntimeApi {
        let shared = Arc::new(Shared::default());
        let handler_shared = shared.clone();
        let server = Server::start(
            "runtime-api",
            Arc::new(move |request: &Request, stream: &mut TcpStream| {
                handle(&handler_shared, request, stream)
            }),
        );
        let api = RuntimeApi {
            addr: server.addr.clone(),
            shared,
            server: Some(server),
        };
        for event in events {
            api.add_event(event);
        }
        api
    }

    /// Queues one more event; returns its request id.
    pub fn add_event(&self, event: Value) -> String {
        let request_id = new_request_id();
        let mut state = crate::lock(&self.shared.state);
        state.events.push(Event {
            request_id: request_id.clone(),
            event,
            outcome: None,
        });
        self.shared.changed.notify_all();
        request_id
    }

    /// Waits until every event has a response or an error, and returns them
    /// in event order. If the function posts an init error first, returns at
    /// once, each event still without an outcome getting that
    /// [`Outcome::InitError`] (and with no such event, one invocation with an
    /// empty request id and a null event carries it).
    ///
    /// Panics at `timeout`, listing what arrived.
    pub fn wait(&self, timeout: Duration) -> Vec<Invocation> {
        let deadline = Instant::now() + timeout;
        let mut state = crate::lock(&self.shared.state);
        loop {
            let done = state.events.iter().all(|e| e.outcome.is_some());
            if done || !state.init_errors.is_empty() {
                let init_error = state.init_errors.first().cloned().map(Outcome::InitError);
                let mut invocations: Vec<Invocation> = state
                    .events
                    .iter()
                    .map(|e| Invocation {
                        request_id: e.request_id.clone(),
                        event: e.event.clone(),
                        outcome: e
                            .outcome
                            .clone()
                            .or_else(|| init_error.clone())
                            .expect("an outcome"),
                    })
                    .collect();
                if let Some(outcome) = init_error
                    && state.events.is_empty()
                {
                    invocations.push(Invocation {
                        request_id: String::new(),
                        event: Value::Null,
                        outcome,
                    });
                }
                return invocations;
            }
            let now = Instant::now();
            if now >= deadline {
                let arrived: Vec<String> = state
                    .events
                    .iter()
                    .map(|e| match &e.outcome {
                        Some(outcome) => format!("  {}: {outcome:?}", e.request_id),
                        None => format!("  {}: (nothing) for event {}", e.request_id, e.event),
                    })
                    .collect();
                let message = format!(
                    "RuntimeApi::wait: after {timeout:?}, {} of {} events have no outcome \
                     ({} handed out by `next`). Outcomes:\n{}",
                    state.events.iter().filter(|e| e.outcome.is_none()).count(),
                    state.events.len(),
                    state.next,
                    arrived.join("\n")
                );
                drop(state);
                panic!("{message}");
            }
            state = self
                .shared
                .changed
                .wait_timeout(state, deadline - now)
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .0;
        }
    }
}

impl Drop for RuntimeApi {
    fn drop(&mut self) {
        crate::lock(&self.shared.state).stopping = true;
        self.shared.changed.notify_all();
        self.server.take();
    }
}

fn body_value(body: &[u8]) -> Value {
    serde_json::from_slice(body)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(body).into_owned()))
}

fn answer(
    stream: &mut TcpStream,
    request: &Request,
    status: u16,
    body: &Value,
) -> io::Result<After> {
    let headers = [("Content-Type".to_owned(), "application/json".to_owned())];
    wire::write_response(stream, status, &headers, body.to_string().as_bytes(), false)?;
    Ok(if request.close {
        After::Close
    } else {
        After::KeepAlive
    })
}

fn handle(shared: &Shared, request: &Request, stream: &mut TcpStream) -> io::Result<After> {
    let path = request.path().strip_prefix(PREFIX).unwrap_or("");
    match (request.method.as_str(), path) {
        ("GET", "invocation/next") => next(shared, request, stream),
        ("POST", "init/error") => {
            crate::lock(&shared.state)
                .init_errors
                .push(body_value(&request.body));
            shared.changed.notify_all();
            answer(stream, request, 202, &json!({"status": "OK"}))
        }
        ("POST", path) if path.starts_with("invocation/") => {
            let rest = &path["invocation/".len()..];
            let (id, outcome) = match rest.rsplit_once('/') {
                Some((id, "response")) => (id, Outcome::Response(body_value(&request.body))),
                Some((id, "error")) => (id, Outcome::Error(body_value(&request.body))),
                _ => {
                    return answer(
                        stream,
                        request,
                        404,
                        &json!({"errorType": "NotFound", "errorMessage": path}),
                    );
                }
            };
            let mut state = crate::lock(&shared.state);
            let Some(event) = state.events.iter_mut().find(|e| e.request_id == id) else {
                drop(state);
                return answer(
                    stream,
                    request,
                    400,
                    &json!({"errorType": "InvalidRequestID", "errorMessage": format!("unknown request id {id}")}),
                );
            };
            if event.outcome.is_some() {
                drop(state);
                return answer(
                    stream,
                    request,
                    400,
                    &json!({"errorType": "InvalidStateTransition", "errorMessage": format!("{id} already has an outcome")}),
                );
            }
            event.outcome = Some(outcome);
            drop(state);
            shared.changed.notify_all();
            answer(stream, request, 202, &json!({"status": "OK"}))
        }
        _ => answer(
            stream,
            request,
            404,
            &json!({"errorType": "NotFound", "errorMessage": request.target}),
        ),
    }
}

/// Hands out the next event, waiting for one if none is left.
fn next(shared: &Shared, request: &Request, stream: &mut TcpStream) -> io::Result<After> {
    let mut state = crate::lock(&shared.state);
    let (request_id, event) = loop {
        if state.stopping {
            return Ok(After::Close);
        }
        if state.next < state.events.len() {
            let event = &state.events[state.next];
            let taken = (event.request_id.clone(), event.event.clone());
            state.next += 1;
            break taken;
        }
        state = shared
            .changed
            .wait(state)
            .unwrap_or_else(std::sync::PoisonError::into_inner);
    };
    drop(state);
    let now = epoch();
    let deadline_ms = (now + Duration::from_secs(15 * 60)).as_millis();
    let trace_id = format!(
        "Root=1-{:08x}-{:024x};Parent={:016x};Sampled=0",
        now.as_secs(),
        u128::from(now.subsec_nanos()) << 32 | u128::from(std::process::id()),
        now.as_nanos() as u64
    );
    let headers = [
        ("Content-Type".to_owned(), "application/json".to_owned()),
        ("Lambda-Runtime-Aws-Request-Id".to_owned(), request_id),
        (
            "Lambda-Runtime-Deadline-Ms".to_owned(),
            deadline_ms.to_string(),
        ),
        (
            "Lambda-Runtime-Invoked-Function-Arn".to_owned(),
            FUNCTION_ARN.to_owned(),
        ),
        ("Lambda-Runtime-Trace-Id".to_owned(), trace_id),
    ];
    wire::write_response(stream, 200, &headers, event.to_string().as_bytes(), false)?;
    Ok(if request.close {
        After::Close
    } else {
        After::KeepAlive
    })
}
