//! A fault-injecting HTTP proxy to put between the code under test and moto,
//! to check that S3 and DynamoDB clients retry what AWS asks them to retry.
//!
//! [`FaultProxy`] forwards each request (method, path and query as sent,
//! headers but the hop-by-hop ones, body) to the upstream and relays the
//! answer (status, headers, body), except where its [`FaultPlan`] says to
//! inject a fault instead:
//!
//! - S3: `503 SlowDown`, `500 InternalError`, or a GET answer cut mid-body
//!   (status and headers with the full `Content-Length`, half the body, then
//!   the connection closes: the client sees a truncated body, as on a real
//!   network failure);
//! - DynamoDB: `400 ProvisionedThroughputExceededException`, or a
//!   `BatchWriteItem` of which only the first half of each table's writes is
//!   forwarded, the rest being returned in `UnprocessedItems` for the client
//!   to retry.
//!
//! Faults are deterministic: each one counts the requests it matches and
//! fires on some of them (see [`Fault`]).
//!
//! The server side is our own small HTTP/1.1 server ([`crate::wire`]), for
//! the control of the socket the mid-body drop needs; the upstream side is a
//! ureq agent (keep-alive pool, no decompression, no redirects, no proxy from
//! the environment). Requests are forwarded as they arrive, concurrently: a
//! thread per client connection.

use std::io::{self, Write};
use std::net::{Shutdown, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Map, Value, json};

use crate::wire::{self, After, Request, Server};

/// Which requests a fault applies to, and on which of them it fires.
///
/// A fault counts the requests that match all its filters (and its kind: S3
/// faults see only non-DynamoDB requests, the mid-body drop only GET answers
/// of 2xx with a body of at least 2 bytes, the `UnprocessedItems` fault only
/// `BatchWriteItem` calls with at least one write). Of those, it lets the
/// first `skip` through, then fires on the first and every `every`-th
/// after it, at most `max` times in all.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fault {
    /// Only requests with this method (`"GET"`, `"PUT"`, ...).
    pub method: Option<String>,
    /// Only requests whose `X-Amz-Target` is this value, or ends in
    /// `.` + this value (so `"BatchWriteItem"` will do).
    pub target: Option<String>,
    /// Only requests whose path and query (as sent, percent-encoded)
    /// contain this.
    pub path_contains: Option<String>,
    /// Only requests that carry this header (e.g. `"range"`).
    pub with_header: Option<String>,
    /// Matching requests let through before the fault may fire.
    pub skip: u64,
    /// Fire on every `every`-th matching request after `skip` (1: each one).
    pub every: u64,
    /// Fire at most this many times.
    pub max: u64,
}

impl Default for Fault {
    /// Every matching request, no limit, no filter.
    fn default() -> Self {
        Fault {
            method: None,
            target: None,
            path_contains: None,
            with_header: None,
            skip: 0,
            every: 1,
            max: u64::MAX,
        }
    }
}

impl Fault {
    /// Fires on every request it matches.
    pub fn always() -> Fault {
        Fault::default()
    }

    /// Fires on the first `n` requests it matches.
    pub fn first(n: u64) -> Fault {
        Fault {
            max: n,
            ..Fault::default()
        }
    }

    /// Fires on the 1st, (n+1)th, (2n+1)th, ... request it matches.
    /// (`Fault::every(n).skip(n - 1)`: the nth, 2nth, 3nth, ...)
    pub fn every(n: u64) -> Fault {
        assert!(n > 0, "Fault::every(0)");
        Fault {
            every: n,
            ..Fault::default()
        }
    }

    /// Fires at most `n` times.
    pub fn max(mut self, n: u64) -> Fault {
        self.max = n;
        self
    }

    /// Lets the first `n` matching requests through.
    pub fn skip(mut self, n: u64) -> Fault {
        self.skip = n;
        self
    }

    /// Only requests with this method.
    pub fn method(mut self, method: &str) -> Fault {
        self.method = Some(method.to_owned());
        self
    }

    /// Only requests with this `X-Amz-Target` (or operation name).
    pub fn target(mut self, target: &str) -> Fault {
        self.target = Some(target.to_owned());
        self
    }

    /// Only requests whose path and query contain this.
    pub fn path_contains(mut self, part: &str) -> Fault {
        self.path_contains = Some(part.to_owned());
        self
    }

    /// Only requests that carry this header.
    pub fn with_header(mut self, name: &str) -> Fault {
        self.with_header = Some(name.to_owned());
        self
    }

    fn matches(&self, request: &Request) -> bool {
        self.method
            .as_deref()
            .is_none_or(|m| request.method.eq_ignore_ascii_case(m))
            && self.target.as_deref().is_none_or(|t| {
                request
                    .header("x-amz-target")
                    .is_some_and(|v| v == t || v.ends_with(&format!(".{t}")))
            })
            && self
                .path_contains
                .as_deref()
                .is_none_or(|p| request.target.contains(p))
            && self
                .with_header
                .as_deref()
                .is_none_or(|h| request.header(h).is_some())
    }
}

/// The faults to inject; the default injects none.
///
/// For one request, the faults are considered in field order, and only until
/// one fires: a request answered with a 503 is not counted by the 500 fault.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FaultPlan {
    /// S3: answer `503 SlowDown` instead of forwarding.
    pub s3_slow_down: Option<Fault>,
    /// S3: answer `500 InternalError` instead of forwarding.
    pub s3_internal_error: Option<Fault>,
    /// S3: answer `409 ConditionalRequestConflict` instead of forwarding
    /// (what S3 says to a conditional write while a conflicting one is in
    /// flight).
    pub s3_conflict: Option<Fault>,
    /// S3: forward a GET, then send the answer's head with its full
    /// `Content-Length`, half of its body, and close the connection.
    pub s3_drop_mid_body: Option<Fault>,
    /// DynamoDB: answer `400 ProvisionedThroughputExceededException` instead
    /// of forwarding.
    pub dynamodb_throttle: Option<Fault>,
    /// DynamoDB `BatchWriteItem`: forward only the first half (rounded down)
    /// of each table's writes and return the rest in `UnprocessedItems`
    /// (with whatever the upstream left unprocessed). A single write is held
    /// back whole; when nothing is left to forward, the upstream is not
    /// called.
    pub dynamodb_unprocessed: Option<Fault>,
}

/// What the proxy saw and injected since it started (or since
/// [`FaultProxy::set_plan`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Injected {
    /// Every request received.
    pub requests: u64,
    /// S3 GETs with a `Range` header of a `.bag` object (the reads of a
    /// ROS1 bag, not of the lake), faulted or not.
    pub s3_bag_gets: u64,
    pub s3_slow_down: u64,
    pub s3_internal_error: u64,
    pub s3_conflict: u64,
    pub s3_drop_mid_body: u64,
    pub dynamodb_throttle: u64,
    pub dynamodb_unprocessed: u64,
}

impl Injected {
    /// All faults injected.
    pub fn total(&self) -> u64 {
        self.s3_slow_down
            + self.s3_internal_error
            + self.s3_conflict
            + self.s3_drop_mid_body
            + self.dynamodb_throttle
            + self.dynamodb_unprocessed
    }
}

#[derive(Debug, Clone, Copy)]
enum Kind {
    SlowDown,
    InternalError,
    Conflict,
    DropMidBody,
    Throttle,
    Unprocessed,
}

#[derive(Debug, Default)]
struct State {
    plan: FaultPlan,
    /// Matching requests seen, per kind.
    seen: [u64; 6],
    injected: Injected,
}

impl State {
    /// Counts `request` for the fault of `kind` if it matches, and says
    /// whether the fault fires on it (counting the injection if so).
    fn fires(&mut self, kind: Kind, request: &Request) -> bool {
        let fault = match kind {
            Kind::SlowDown => &self.plan.s3_slow_down,
            Kind::InternalError => &self.plan.s3_internal_error,
            Kind::Conflict => &self.plan.s3_conflict,
            Kind::DropMidBody => &self.plan.s3_drop_mid_body,
            Kind::Throttle => &self.plan.dynamodb_throttle,
            Kind::Unprocessed => &self.plan.dynamodb_unprocessed,
        };
        let Some(fault) = fault else { return false };
        if !fault.matches(request) {
            return false;
        }
        let (skip, every, max) = (fault.skip, fault.every.max(1), fault.max);
        let seen = &mut self.seen[kind as usize];
        *seen += 1;
        let injected = match kind {
            Kind::SlowDown => &mut self.injected.s3_slow_down,
            Kind::InternalError => &mut self.injected.s3_internal_error,
            Kind::Conflict => &mut self.injected.s3_conflict,
            Kind::DropMidBody => &mut self.injected.s3_drop_mid_body,
            Kind::Throttle => &mut self.injected.dynamodb_throttle,
            Kind::Unprocessed => &mut self.injected.dynamodb_unprocessed,
        };
        let fire = *seen > skip && (*seen - skip - 1).is_multiple_of(every) && *injected < max;
        if fire {
            *injected += 1;
        }
        fire
    }
}

struct Shared {
    upstream: String,
    agent: ureq::Agent,
    state: Mutex<State>,
}

/// A fault-injecting proxy on 127.0.0.1; stops on drop.
pub struct FaultProxy {
    /// `http://127.0.0.1:PORT`: give it to the client instead of the upstream.
    pub endpoint: String,
    shared: Arc<Shared>,
    _server: Server,
}

impl std::fmt::Debug for FaultProxy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FaultProxy")
            .field("endpoint", &self.endpoint)
            .field("upstream", &self.shared.upstream)
            .finish()
    }
}

impl FaultProxy {
    /// Starts a proxy forwarding to `upstream` (`http://HOST:PORT`).
    pub fn start(upstream: &str, plan: FaultPlan) -> FaultProxy {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .max_redirects(0)
            .proxy(None)
            .user_agent(ureq::config::AutoHeaderValue::None)
            .accept(ureq::config::AutoHeaderValue::None)
            .accept_encoding(ureq::config::AutoHeaderValue::None)
            .allow_non_standard_methods(true)
            .timeout_global(Some(Duration::from_secs(120)))
            .build()
            .into();
        let shared = Arc::new(Shared {
            upstream: upstream.trim_end_matches('/').to_owned(),
            agent,
            state: Mutex::new(State {
                plan,
                ..State::default()
            }),
        });
        let handler_shared = shared.clone();
        let server = Server::start(
            "fault-proxy",
            Arc::new(move |request: &Request, stream: &mut TcpStream| {
                handle(&handler_shared, request, stream)
            }),
        );
        FaultProxy {
            endpoint: format!("http://{}", server.addr),
            shared,
            _server: server,
        }
    }

    /// What was received and injected so far.
    pub fn injected(&self) -> Injected {
        crate::lock(&self.shared.state).injected
    }

    /// Replaces the plan, and starts counting anew (requests, matches and
    /// injections).
    pub fn set_plan(&self, plan: FaultPlan) {
        *crate::lock(&self.shared.state) = State {
            plan,
            ..State::default()
        };
    }
}

/// Headers that belong to one connection, not to the message (RFC 9110
/// §7.6.1), plus the ones we frame or address ourselves.
fn is_hop_by_hop(name: &str) -> bool {
    const HOP: [&str; 12] = [
        "connection",
        "keep-alive",
        "proxy-connection",
        "proxy-authenticate",
        "proxy-authorization",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
        "host",
        "content-length",
        "expect",
    ];
    HOP.iter().any(|h| name.eq_ignore_ascii_case(h))
}

fn handle(shared: &Shared, request: &Request, stream: &mut TcpStream) -> io::Result<After> {
    let target = request.header("x-amz-target").unwrap_or("");
    let is_dynamodb = target.starts_with("DynamoDB_20120810.");
    let head_only = request.method.eq_ignore_ascii_case("HEAD");
    let mut batch_split = None;
    {
        let mut state = crate::lock(&shared.state);
        state.injected.requests += 1;
        if !is_dynamodb
            && request.method.eq_ignore_ascii_case("GET")
            && request.header("range").is_some()
            && request
                .target
                .split('?')
                .next()
                .is_some_and(|p| p.ends_with(".bag"))
        {
            state.injected.s3_bag_gets += 1;
        }
        if !is_dynamodb {
            if state.fires(Kind::SlowDown, request) {
                drop(state);
                return s3_error(
                    stream,
                    request,
                    503,
                    "SlowDown",
                    "Please reduce your request rate.",
                );
            }
            if state.fires(Kind::InternalError, request) {
                drop(state);
                return s3_error(
                    stream,
                    request,
                    500,
                    "InternalError",
                    "We encountered an internal error. Please try again.",
                );
            }
            if state.fires(Kind::Conflict, request) {
                drop(state);
                return s3_error(
                    stream,
                    request,
                    409,
                    "ConditionalRequestConflict",
                    "A conflicting operation occurred. If using PutObject you can retry the request.",
                );
            }
        } else {
            if state.fires(Kind::Throttle, request) {
                drop(state);
                return throttle(stream, request);
            }
            if target == "DynamoDB_20120810.BatchWriteItem"
                && let Some(split) = split_batch(&request.body)
                && state.fires(Kind::Unprocessed, request)
            {
                batch_split = Some(split);
            }
        }
    }

    if let Some(BatchSplit { forward, held }) = batch_split {
        let Some(forward) = forward else {
            // Nothing left to forward: all of it comes back unprocessed.
            let body = json!({"UnprocessedItems": held}).to_string();
            return respond(
                stream,
                request,
                200,
                dynamodb_headers(body.as_bytes()),
                body.as_bytes(),
            );
        };
        let (status, mut headers, body) = match forward_request(shared, request, Some(&forward)) {
            Ok(answer) => answer,
            Err(err) => return bad_gateway(stream, request, &err),
        };
        if status != 200 {
            return relay(stream, request, status, headers, &body, head_only);
        }
        let mut answer: Value = serde_json::from_slice(&body).unwrap_or_else(|_| json!({}));
        merge_unprocessed(&mut answer, held);
        let body = answer.to_string().into_bytes();
        headers.retain(|(k, _)| !k.eq_ignore_ascii_case("x-amz-crc32"));
        headers.push(("x-amz-crc32".into(), crc32(&body).to_string()));
        return relay(stream, request, status, headers, &body, false);
    }

    let (status, headers, body) = match forward_request(shared, request, None) {
        Ok(answer) => answer,
        Err(err) => return bad_gateway(stream, request, &err),
    };
    if !is_dynamodb
        && request.method.eq_ignore_ascii_case("GET")
        && (200..300).contains(&status)
        && body.len() >= 2
        && crate::lock(&shared.state).fires(Kind::DropMidBody, request)
    {
        let headers: Vec<_> = headers
            .into_iter()
            .filter(|(k, _)| !is_hop_by_hop(k))
            .collect();
        wire::write_head(stream, status, &headers, Some(body.len()))?;
        stream.write_all(&body[..body.len() / 2])?;
        stream.flush()?;
        let _ = stream.shutdown(Shutdown::Both);
        return Ok(After::Close);
    }
    relay(stream, request, status, headers, &body, head_only)
}

/// An upstream answer: status, headers, body.
type Answer = (u16, Vec<(String, String)>, Vec<u8>);

/// Sends the request upstream (with `body` instead of the request's, if
/// given) and returns status, headers and body.
fn forward_request(
    shared: &Shared,
    request: &Request,
    body: Option<&[u8]>,
) -> Result<Answer, ureq::Error> {
    let mut builder = ureq::http::Request::builder()
        .method(request.method.as_str())
        .uri(format!("{}{}", shared.upstream, request.target));
    for (name, value) in &request.headers {
        if !is_hop_by_hop(name) {
            builder = builder.header(name.as_str(), value.as_str());
        }
    }
    let body = body.unwrap_or(&request.body);
    let has_body = !body.is_empty()
        || request.header("content-length").is_some()
        || request.header("transfer-encoding").is_some();
    let response = if has_body {
        shared.agent.run(builder.body(body)?)?
    } else {
        shared.agent.run(builder.body(())?)?
    };
    let status = response.status().as_u16();
    let headers = response
        .headers()
        .iter()
        .map(|(k, v)| {
            (
                k.as_str().to_owned(),
                String::from_utf8_lossy(v.as_bytes()).into_owned(),
            )
        })
        .collect();
    let body = response
        .into_body()
        .with_config()
        .limit(u64::MAX)
        .read_to_vec()?;
    Ok((status, headers, body))
}

/// Relays an upstream answer: its headers but the hop-by-hop ones, and its
/// body with our own framing (for HEAD, the upstream's `Content-Length`).
fn relay(
    stream: &mut TcpStream,
    request: &Request,
    status: u16,
    headers: Vec<(String, String)>,
    body: &[u8],
    head_only: bool,
) -> io::Result<After> {
    let headers: Vec<_> = headers
        .into_iter()
        .filter(|(k, _)| {
            !is_hop_by_hop(k) || (head_only && k.eq_ignore_ascii_case("content-length"))
        })
        .collect();
    respond(stream, request, status, headers, body)
}

fn respond(
    stream: &mut TcpStream,
    request: &Request,
    status: u16,
    mut headers: Vec<(String, String)>,
    body: &[u8],
) -> io::Result<After> {
    if request.close {
        headers.push(("Connection".into(), "close".into()));
    }
    wire::write_response(
        stream,
        status,
        &headers,
        body,
        request.method.eq_ignore_ascii_case("HEAD"),
    )?;
    Ok(if request.close {
        After::Close
    } else {
        After::KeepAlive
    })
}

fn request_id() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    format!("FAULTPROXY{:06}", N.fetch_add(1, Ordering::Relaxed))
}

fn s3_error(
    stream: &mut TcpStream,
    request: &Request,
    status: u16,
    code: &str,
    message: &str,
) -> io::Result<After> {
    let id = request_id();
    let body = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>{code}</Code><Message>{message}</Message><RequestId>{id}</RequestId></Error>"
    );
    let headers = vec![
        ("Content-Type".into(), "application/xml".into()),
        ("x-amz-request-id".into(), id),
    ];
    respond(stream, request, status, headers, body.as_bytes())
}

fn dynamodb_headers(body: &[u8]) -> Vec<(String, String)> {
    vec![
        ("Content-Type".into(), "application/x-amz-json-1.0".into()),
        ("x-amzn-RequestId".into(), request_id()),
        ("x-amz-crc32".into(), crc32(body).to_string()),
    ]
}

fn throttle(stream: &mut TcpStream, request: &Request) -> io::Result<After> {
    let body = json!({
        "__type": "com.amazonaws.dynamodb.v20120810#ProvisionedThroughputExceededException",
        "message": "The level of configured provisioned throughput for the table was exceeded. \
                    Consider increasing your provisioning level with the UpdateTable API.",
    })
    .to_string();
    respond(
        stream,
        request,
        400,
        dynamodb_headers(body.as_bytes()),
        body.as_bytes(),
    )
}

fn bad_gateway(stream: &mut TcpStream, request: &Request, err: &ureq::Error) -> io::Result<After> {
    let body = format!("fault proxy: upstream failed: {err}");
    respond(
        stream,
        request,
        502,
        vec![("Content-Type".into(), "text/plain".into())],
        body.as_bytes(),
    )
}

/// A `BatchWriteItem` request cut in two.
struct BatchSplit {
    /// The request body to forward, if any write is left in it.
    forward: Option<Vec<u8>>,
    /// The writes held back, per table.
    held: Map<String, Value>,
}

/// Splits a `BatchWriteItem` request: the request with the first half
/// (rounded down) of each table's writes (`None` if that leaves no write at
/// all), and the held-back rest, per table. `None` if the body is not a
/// batch with at least one write.
fn split_batch(body: &[u8]) -> Option<BatchSplit> {
    let mut request: Value = serde_json::from_slice(body).ok()?;
    let items = request.get_mut("RequestItems")?.as_object_mut()?;
    let mut held = Map::new();
    let mut forwarded = 0;
    for (table, writes) in items.iter_mut() {
        let Some(writes) = writes.as_array_mut() else {
            continue;
        };
        let keep = writes.len() / 2;
        let rest = writes.split_off(keep);
        forwarded += keep;
        if !rest.is_empty() {
            held.insert(table.clone(), Value::Array(rest));
        }
    }
    if held.is_empty() {
        return None;
    }
    items.retain(|_, writes| writes.as_array().is_some_and(|w| !w.is_empty()));
    let forward = (forwarded > 0).then(|| request.to_string().into_bytes());
    Some(BatchSplit { forward, held })
}

/// Appends `held` to the answer's `UnprocessedItems`, table by table.
fn merge_unprocessed(answer: &mut Value, held: Map<String, Value>) {
    if !answer.is_object() {
        *answer = json!({});
    }
    let unprocessed = answer
        .as_object_mut()
        .unwrap()
        .entry("UnprocessedItems")
        .or_insert_with(|| json!({}));
    if !unprocessed.is_object() {
        *unprocessed = json!({});
    }
    let unprocessed = unprocessed.as_object_mut().unwrap();
    for (table, writes) in held {
        let Value::Array(writes) = writes else {
            continue;
        };
        match unprocessed.entry(table).or_insert_with(|| json!([])) {
            Value::Array(existing) => existing.extend(writes),
            other => *other = Value::Array(writes),
        }
    }
}

/// CRC-32 (IEEE), as DynamoDB's `x-amz-crc32` header.
fn crc32(data: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &byte in data {
        crc ^= u32::from(byte);
        for _ in 0..8 {
            crc = if crc & 1 != 0 {
                (crc >> 1) ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc32_matches_the_standard_check_value() {
        assert_eq!(crc32(b"123456789"), 0xCBF4_3926);
    }

    #[test]
    fn splits_batches_per_table() {
        let body = json!({"RequestItems": {
            "a": [{"PutRequest": {"Item": {"k": {"S": "1"}}}}, {"PutRequest": {"Item": {"k": {"S": "2"}}}},
                  {"PutRequest": {"Item": {"k": {"S": "3"}}}}],
            "b": [{"DeleteRequest": {"Key": {"k": {"S": "x"}}}}],
        }})
        .to_string();
        let BatchSplit { forward, held } = split_batch(body.as_bytes()).unwrap();
        let forward: Value = serde_json::from_slice(&forward.unwrap()).unwrap();
        assert_eq!(forward["RequestItems"]["a"].as_array().unwrap().len(), 1);
        assert!(forward["RequestItems"].get("b").is_none());
        assert_eq!(held["a"].as_array().unwrap().len(), 2);
        assert_eq!(held["b"].as_array().unwrap().len(), 1);

        let mut answer =
            json!({"UnprocessedItems": {"a": [{"PutRequest": {"Item": {"k": {"S": "0"}}}}]}});
        merge_unprocessed(&mut answer, held);
        assert_eq!(answer["UnprocessedItems"]["a"].as_array().unwrap().len(), 3);
        assert_eq!(answer["UnprocessedItems"]["b"].as_array().unwrap().len(), 1);
    }

    #[test]
    fn fault_counting() {
        let request = Request {
            method: "GET".into(),
            target: "/b/k".into(),
            headers: vec![("Range".into(), "bytes=0-1".into())],
            body: vec![],
            close: false,
        };
        let plan = FaultPlan {
            s3_slow_down: Some(Fault::every(2).skip(1).max(2)),
            ..FaultPlan::default()
        };
        let mut state = State {
            plan,
            ..State::default()
        };
        let fired: Vec<bool> = (0..8)
            .map(|_| state.fires(Kind::SlowDown, &request))
            .collect();
        assert_eq!(
            fired,
            [false, true, false, true, false, false, false, false]
        );

        let mut state = State {
            plan: FaultPlan {
                s3_slow_down: Some(Fault::first(1).method("PUT")),
                ..FaultPlan::default()
            },
            ..State::default()
        };
        assert!(!state.fires(Kind::SlowDown, &request));
        let mut state = State {
            plan: FaultPlan {
                s3_slow_down: Some(Fault::first(1).with_header("range")),
                ..FaultPlan::default()
            },
            ..State::default()
        };
        assert!(state.fires(Kind::SlowDown, &request));
        assert!(!state.fires(Kind::SlowDown, &request));
    }
}
