//! Checks the harness itself against a real moto server: the S3 and DynamoDB
//! helpers, the fault proxy's forwarding and each of its faults, and the
//! Lambda Runtime API spoken by a plain HTTP client.

use std::time::Duration;

use bagpipe_test_harness::*;
use serde_json::{Value, json};

/// A raw client for the checks: error statuses are answers, not errors.
fn client() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .proxy(None)
        .timeout_global(Some(Duration::from_secs(60)))
        .build()
        .into()
}

const AWKWARD_KEYS: [&str; 7] = [
    "plain.txt",
    "dir/with space.txt",
    "dir/plus+sign.txt",
    "dir/ünïcødé/日本語 ファイル.bin",
    "dir/a&b<c>'\"q\".xml",
    "literal%20percent",
    "deep/a/b/c/d/e.parquet",
];

fn bytes_for(i: usize) -> Vec<u8> {
    (0..(1000 + i * 37)).map(|n| (n * 31 + i) as u8).collect()
}

mod moto_helpers {
    use super::*;

    #[test]
    fn moto_is_one_server_per_process() {
        let endpoints: Vec<String> = std::thread::scope(|s| {
            (0..4)
                .map(|_| s.spawn(|| moto().endpoint.clone()))
                .collect::<Vec<_>>()
                .into_iter()
                .map(|h| h.join().unwrap())
                .collect()
        });
        assert!(endpoints.iter().all(|e| *e == endpoints[0]));
        assert!(endpoints[0].starts_with("http://127.0.0.1:"));
        let env = aws_env(&moto().endpoint);
        assert!(env.contains(&("AWS_ENDPOINT_URL", moto().endpoint.clone())));
        assert_eq!(env.len(), 7);
    }

    #[test]
    fn unique_names_are_valid_bucket_names() {
        let a = unique("My_Test.Bucket");
        let b = unique("My_Test.Bucket");
        assert_ne!(a, b);
        for name in [
            a,
            b,
            unique(""),
            unique("--x--"),
            unique(&"long".repeat(40)),
        ] {
            assert!((3..=63).contains(&name.len()), "{name}");
            assert!(
                name.chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-'),
                "{name}"
            );
            assert!(
                name.starts_with(|c: char| c.is_ascii_alphanumeric()),
                "{name}"
            );
            assert!(
                name.ends_with(|c: char| c.is_ascii_alphanumeric()),
                "{name}"
            );
        }
    }

    #[test]
    fn s3_put_get_list_with_awkward_keys() {
        let endpoint = &moto().endpoint;
        let bucket = unique("s3-helpers");
        create_bucket(endpoint, &bucket);
        for (i, key) in AWKWARD_KEYS.iter().enumerate() {
            put_object(endpoint, &bucket, key, &bytes_for(i));
        }
        for (i, key) in AWKWARD_KEYS.iter().enumerate() {
            assert_eq!(
                get_object(endpoint, &bucket, key).as_deref(),
                Some(&bytes_for(i)[..]),
                "{key}"
            );
        }
        // A space and a plus are different keys.
        assert_eq!(get_object(endpoint, &bucket, "dir/plus sign.txt"), None);
        assert_eq!(get_object(endpoint, &bucket, "dir/with+space.txt"), None);
        assert_eq!(get_object(endpoint, &bucket, "literal percent"), None);
        assert_eq!(get_object(endpoint, &bucket, "missing"), None);

        let mut expected: Vec<(String, u64)> = AWKWARD_KEYS
            .iter()
            .enumerate()
            .map(|(i, k)| (k.to_string(), bytes_for(i).len() as u64))
            .collect();
        expected.sort();
        assert_eq!(list_objects(endpoint, &bucket, ""), expected);
        assert_eq!(
            list_objects_paged(endpoint, &bucket, "", 2),
            expected,
            "with continuation tokens"
        );
        let dir: Vec<_> = expected
            .iter()
            .filter(|(k, _)| k.starts_with("dir/"))
            .cloned()
            .collect();
        assert_eq!(dir.len(), 4);
        assert_eq!(list_objects(endpoint, &bucket, "dir/"), dir);
        assert_eq!(list_objects_paged(endpoint, &bucket, "dir/", 1), dir);
        assert_eq!(
            list_objects(endpoint, &bucket, "dir/ünïcødé/"),
            vec![dir[3].clone()]
        );
        assert_eq!(list_objects(endpoint, &bucket, "nothing/"), vec![]);
    }

    #[test]
    fn dynamodb_create_table_and_scan() {
        let endpoint = &moto().endpoint;
        let table = unique("ddb-helpers");
        create_table(endpoint, &table, "pk", Some("sk"));
        let described = dynamodb(endpoint, "DescribeTable", &json!({"TableName": table}));
        assert_eq!(described["Table"]["TableStatus"], "ACTIVE");
        assert_eq!(
            described["Table"]["BillingModeSummary"]["BillingMode"],
            "PAY_PER_REQUEST"
        );
        assert!(
            described["Table"]["TableArn"]
                .as_str()
                .unwrap()
                .contains(":us-east-1:")
        );
        for i in 0..30 {
            dynamodb(
                endpoint,
                "PutItem",
                &json!({"TableName": table, "Item": {"pk": {"S": format!("p{}", i % 3)}, "sk": {"S": format!("s{i:02}")}, "n": {"N": i.to_string()}}}),
            );
        }
        let items = scan_table(endpoint, &table);
        assert_eq!(items.len(), 30);
        let mut ns: Vec<i64> = items
            .iter()
            .map(|it| it["n"]["N"].as_str().unwrap().parse().unwrap())
            .collect();
        ns.sort();
        assert_eq!(ns, (0..30).collect::<Vec<_>>());

        // Items holding S3's XML error body (as a bag's `error` does) come
        // back whole, several to a page: moto rewrites `<RequestId>` in
        // every answer, and unpatched it cut from the first item's to the
        // last one's, taking attributes and items with it.
        let errors = unique("ddb-xml-strings");
        create_table(endpoint, &errors, "id", None);
        let xml = |i: usize| {
            format!(
                "PUT failed: 500: <?xml version=\"1.0\"?>\n<Error><Code>InternalError</Code>\
                 <RequestId>REQ{i}</RequestId></Error>"
            )
        };
        for i in 0..3 {
            dynamodb(
                endpoint,
                "PutItem",
                &json!({"TableName": errors, "Item": {"id": {"S": format!("b{i}")}, "error": {"S": xml(i)}, "after": {"N": i.to_string()}}}),
            );
        }
        let mut items = scan_table(endpoint, &errors);
        items.sort_by_key(|it| it["id"]["S"].as_str().map(str::to_owned));
        let expected: Vec<Value> = (0..3)
            .map(|i| json!({"id": {"S": format!("b{i}")}, "error": {"S": xml(i)}, "after": {"N": i.to_string()}}))
            .collect();
        assert_eq!(items, expected);

        let single = unique("ddb-hash-only");
        create_table(endpoint, &single, "id", None);
        assert_eq!(scan_table(endpoint, &single), Vec::<Value>::new());
        let err = dynamodb_call(
            endpoint,
            "Scan",
            &json!({"TableName": unique("no-such-table")}),
        )
        .unwrap_err();
        assert_eq!(err.0, 400);
        assert!(
            err.1["__type"]
                .as_str()
                .unwrap()
                .ends_with("ResourceNotFoundException"),
            "{}",
            err.1
        );
    }
}

mod fault_proxy {
    use super::*;

    fn bucket_with(endpoint: &str, objects: &[(&str, Vec<u8>)]) -> String {
        let bucket = unique("proxy");
        create_bucket(endpoint, &bucket);
        for (key, bytes) in objects {
            put_object(endpoint, &bucket, key, bytes);
        }
        bucket
    }

    #[test]
    fn forwards_requests_faithfully() {
        let upstream = &moto().endpoint;
        let proxy = FaultProxy::start(upstream, FaultPlan::default());
        let bucket = unique("proxy-forward");
        create_bucket(&proxy.endpoint, &bucket);
        let big: Vec<u8> = (0..3_000_000u32).map(|n| (n ^ (n >> 11)) as u8).collect();
        for (i, key) in AWKWARD_KEYS.iter().enumerate() {
            put_object(&proxy.endpoint, &bucket, key, &bytes_for(i));
        }
        put_object(&proxy.endpoint, &bucket, "big.bin", &big);
        // What went through the proxy is in moto, byte for byte, and comes back
        // through the proxy the same.
        for (i, key) in AWKWARD_KEYS.iter().enumerate() {
            assert_eq!(
                get_object(upstream, &bucket, key).unwrap(),
                bytes_for(i),
                "{key}"
            );
            assert_eq!(
                get_object(&proxy.endpoint, &bucket, key).unwrap(),
                bytes_for(i),
                "{key}"
            );
        }
        assert_eq!(
            get_object(&proxy.endpoint, &bucket, "big.bin").unwrap(),
            big
        );
        assert_eq!(
            list_objects(&proxy.endpoint, &bucket, ""),
            list_objects(upstream, &bucket, "")
        );
        assert_eq!(get_object(&proxy.endpoint, &bucket, "missing"), None);

        // Ranged GET, HEAD, and the headers of the answer.
        let url = object_url(&proxy.endpoint, &bucket, "big.bin");
        let ranged = client()
            .get(&url)
            .header("Authorization", S3_AUTHORIZATION)
            .header("Range", "bytes=10-19")
            .call()
            .unwrap();
        assert_eq!(ranged.status(), 206);
        assert_eq!(ranged.headers()["content-range"], "bytes 10-19/3000000");
        assert_eq!(ranged.into_body().read_to_vec().unwrap(), &big[10..20]);
        let head = client()
            .head(&url)
            .header("Authorization", S3_AUTHORIZATION)
            .call()
            .unwrap();
        assert_eq!(head.status(), 200);
        assert_eq!(head.headers()["content-length"], "3000000");
        assert!(head.headers().contains_key("etag"));

        // DynamoDB goes through too.
        let table = unique("proxy-forward");
        create_table(&proxy.endpoint, &table, "pk", None);
        dynamodb(
            &proxy.endpoint,
            "PutItem",
            &json!({"TableName": table, "Item": {"pk": {"S": "a b+c"}}}),
        );
        assert_eq!(
            scan_table(upstream, &table),
            vec![json!({"pk": {"S": "a b+c"}})]
        );

        let injected = proxy.injected();
        assert_eq!(injected.total(), 0);
        assert!(
            injected.requests >= 2 * AWKWARD_KEYS.len() as u64 + 8,
            "{injected:?}"
        );
    }

    #[test]
    fn injects_exactly_the_configured_s3_errors() {
        let upstream = &moto().endpoint;
        let bucket = bucket_with(upstream, &[("k", b"value".to_vec())]);
        let plan = FaultPlan {
            s3_slow_down: Some(Fault::first(3).method("GET")),
            ..FaultPlan::default()
        };
        let proxy = FaultProxy::start(upstream, plan);
        let url = object_url(&proxy.endpoint, &bucket, "k");
        let agent = client();
        // A PUT is not a GET: forwarded.
        assert_eq!(
            agent
                .put(&url)
                .header("Authorization", S3_AUTHORIZATION)
                .send(&b"value"[..])
                .unwrap()
                .status(),
            200
        );
        let mut statuses = Vec::new();
        for _ in 0..5 {
            let response = agent
                .get(&url)
                .header("Authorization", S3_AUTHORIZATION)
                .call()
                .unwrap();
            let status = response.status().as_u16();
            let body = response.into_body().read_to_string().unwrap();
            if status == 503 {
                assert!(body.contains("<Error><Code>SlowDown</Code><Message>Please reduce your request rate.</Message>"), "{body}");
            } else {
                assert_eq!(body, "value");
            }
            statuses.push(status);
        }
        assert_eq!(statuses, [503, 503, 503, 200, 200]);
        assert_eq!(proxy.injected().s3_slow_down, 3);
        assert_eq!(proxy.injected().requests, 6);

        // 500s on every other ranged GET, at most twice; plain GETs pass.
        proxy.set_plan(FaultPlan {
            s3_internal_error: Some(Fault::every(2).with_header("range").max(2)),
            ..FaultPlan::default()
        });
        let mut statuses = Vec::new();
        for _ in 0..7 {
            statuses.push(
                agent
                    .get(&url)
                    .header("Authorization", S3_AUTHORIZATION)
                    .header("Range", "bytes=0-1")
                    .call()
                    .unwrap()
                    .status()
                    .as_u16(),
            );
            assert_eq!(
                agent
                    .get(&url)
                    .header("Authorization", S3_AUTHORIZATION)
                    .call()
                    .unwrap()
                    .status(),
                200
            );
        }
        assert_eq!(statuses, [500, 206, 500, 206, 206, 206, 206]);
        let injected = proxy.injected();
        assert_eq!(
            (
                injected.s3_internal_error,
                injected.total(),
                injected.requests
            ),
            (2, 2, 14)
        );
    }

    #[test]
    fn drops_a_get_mid_body() {
        let upstream = &moto().endpoint;
        let payload: Vec<u8> = (0..100_000u32).map(|n| n as u8).collect();
        let bucket = bucket_with(upstream, &[("obj", payload.clone())]);
        let plan = FaultPlan {
            s3_drop_mid_body: Some(Fault::first(1)),
            ..FaultPlan::default()
        };
        let proxy = FaultProxy::start(upstream, plan);
        let url = object_url(&proxy.endpoint, &bucket, "obj");
        let agent = client();

        let response = agent
            .get(&url)
            .header("Authorization", S3_AUTHORIZATION)
            .call()
            .expect("status and headers arrive");
        assert_eq!(response.status(), 200);
        assert_eq!(response.headers()["content-length"], "100000");
        let read = response.into_body().read_to_vec();
        assert!(
            read.is_err(),
            "a truncated body must be an error, got {} bytes",
            read.map(|b| b.len()).unwrap_or(0)
        );

        // The same agent goes on (on a new connection) and gets it whole.
        assert_eq!(
            agent
                .get(&url)
                .header("Authorization", S3_AUTHORIZATION)
                .call()
                .unwrap()
                .into_body()
                .read_to_vec()
                .unwrap(),
            payload
        );
        assert_eq!(proxy.injected().s3_drop_mid_body, 1);

        // On the wire: the full Content-Length announced, half the body sent,
        // then the end of the stream.
        proxy.set_plan(FaultPlan {
            s3_drop_mid_body: Some(Fault::first(1)),
            ..FaultPlan::default()
        });
        use std::io::{Read, Write};
        let mut stream =
            std::net::TcpStream::connect(proxy.endpoint.trim_start_matches("http://")).unwrap();
        let path = url.splitn(4, '/').nth(3).unwrap();
        write!(
            stream,
            "GET /{path} HTTP/1.1\r\nHost: x\r\nAuthorization: {S3_AUTHORIZATION}\r\n\r\n"
        )
        .unwrap();
        let mut received = Vec::new();
        let _ = stream.read_to_end(&mut received);
        let split = received.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
        let head = String::from_utf8_lossy(&received[..split]).to_lowercase();
        assert!(head.contains("content-length: 100000"), "{head}");
        assert_eq!(&received[split..], &payload[..50_000]);
    }

    #[test]
    fn throttles_dynamodb() {
        let upstream = &moto().endpoint;
        let table = unique("throttle");
        create_table(upstream, &table, "pk", None);
        let plan = FaultPlan {
            dynamodb_throttle: Some(Fault::first(2).target("PutItem")),
            ..FaultPlan::default()
        };
        let proxy = FaultProxy::start(upstream, plan);
        let put = json!({"TableName": table, "Item": {"pk": {"S": "x"}}});
        for _ in 0..2 {
            let (status, body) = dynamodb_call(&proxy.endpoint, "PutItem", &put).unwrap_err();
            assert_eq!(status, 400);
            assert_eq!(
                body["__type"],
                "com.amazonaws.dynamodb.v20120810#ProvisionedThroughputExceededException"
            );
            // Other operations are not throttled.
            scan_table(&proxy.endpoint, &table);
        }
        assert_eq!(scan_table(upstream, &table), Vec::<Value>::new());
        dynamodb(&proxy.endpoint, "PutItem", &put);
        assert_eq!(scan_table(upstream, &table).len(), 1);
        assert_eq!(proxy.injected().dynamodb_throttle, 2);
        assert_eq!(proxy.injected().total(), 2);
    }

    #[test]
    fn batch_write_comes_back_half_unprocessed() {
        let upstream = &moto().endpoint;
        let (a, b) = (unique("batch-a"), unique("batch-b"));
        create_table(upstream, &a, "pk", None);
        create_table(upstream, &b, "pk", None);
        let plan = FaultPlan {
            dynamodb_unprocessed: Some(Fault::first(1)),
            ..FaultPlan::default()
        };
        let proxy = FaultProxy::start(upstream, plan);
        let put = |i: usize| json!({"PutRequest": {"Item": {"pk": {"S": format!("item-{i:02}")}}}});
        let writes_a: Vec<Value> = (0..10).map(put).collect();
        // (moto rejects a batch with the same key in two tables as "duplicates",
        // which DynamoDB allows: keys differ across tables here.)
        let writes_b: Vec<Value> = (10..13).map(put).collect();
        let answer = dynamodb(
            &proxy.endpoint,
            "BatchWriteItem",
            &json!({"RequestItems": {a.clone(): writes_a, b.clone(): writes_b}}),
        );
        let unprocessed = &answer["UnprocessedItems"];
        assert_eq!(unprocessed[&a], json!(writes_a[5..]), "{answer}");
        assert_eq!(unprocessed[&b], json!(writes_b[1..]), "{answer}");

        let keys = |table: &str| {
            let mut keys: Vec<String> = scan_table(upstream, table)
                .iter()
                .map(|it| it["pk"]["S"].as_str().unwrap().to_owned())
                .collect();
            keys.sort();
            keys
        };
        assert_eq!(
            keys(&a),
            (0..5).map(|i| format!("item-{i:02}")).collect::<Vec<_>>()
        );
        assert_eq!(keys(&b), vec!["item-10"]);

        // Retrying what came back (the fault fired once) completes the batch.
        let retry = dynamodb(
            &proxy.endpoint,
            "BatchWriteItem",
            &json!({"RequestItems": unprocessed}),
        );
        assert_eq!(retry["UnprocessedItems"], json!({}));
        assert_eq!(keys(&a).len(), 10);
        assert_eq!(keys(&b).len(), 3);
        assert_eq!(proxy.injected().dynamodb_unprocessed, 1);

        // A single write is held back whole, without calling the upstream.
        proxy.set_plan(FaultPlan {
            dynamodb_unprocessed: Some(Fault::always()),
            ..FaultPlan::default()
        });
        let one = json!({"RequestItems": {a.clone(): [put(99)]}});
        let answer = dynamodb(&proxy.endpoint, "BatchWriteItem", &one);
        assert_eq!(answer["UnprocessedItems"], one["RequestItems"]);
        assert_eq!(keys(&a).len(), 10);
    }

    #[test]
    fn serves_concurrent_keep_alive_clients() {
        let upstream = &moto().endpoint;
        let proxy = FaultProxy::start(upstream, FaultPlan::default());
        let bucket = unique("proxy-concurrent");
        create_bucket(upstream, &bucket);
        std::thread::scope(|s| {
            for t in 0..6 {
                let (proxy, bucket) = (&proxy, &bucket);
                s.spawn(move || {
                    let agent = client();
                    for i in 0..15 {
                        let url = object_url(&proxy.endpoint, bucket, &format!("t{t}/o {i}"));
                        let body = format!("{t}-{i}").repeat(i + 1);
                        assert_eq!(
                            agent
                                .put(&url)
                                .header("Authorization", S3_AUTHORIZATION)
                                .send(body.as_bytes())
                                .unwrap()
                                .status(),
                            200
                        );
                        let got = agent
                            .get(&url)
                            .header("Authorization", S3_AUTHORIZATION)
                            .call()
                            .unwrap()
                            .into_body()
                            .read_to_string()
                            .unwrap();
                        assert_eq!(got, body);
                    }
                });
            }
        });
        assert_eq!(list_objects(upstream, &bucket, "").len(), 90);
        assert_eq!(proxy.injected().requests, 180);
    }
}

mod runtime_api {
    use std::sync::mpsc;

    use super::*;

    fn next(agent: &ureq::Agent, api: &RuntimeApi) -> (String, Value) {
        let response = agent
            .get(format!(
                "http://{}/2018-06-01/runtime/invocation/next",
                api.addr
            ))
            .call()
            .unwrap();
        assert_eq!(response.status(), 200);
        let headers = response.headers();
        let id = headers["lambda-runtime-aws-request-id"]
            .to_str()
            .unwrap()
            .to_owned();
        assert_eq!(headers["lambda-runtime-invoked-function-arn"], FUNCTION_ARN);
        assert_eq!(headers["content-type"], "application/json");
        assert!(
            headers["lambda-runtime-trace-id"]
                .to_str()
                .unwrap()
                .starts_with("Root=1-")
        );
        let deadline: u128 = headers["lambda-runtime-deadline-ms"]
            .to_str()
            .unwrap()
            .parse()
            .unwrap();
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_millis();
        assert!(
            deadline > now + 14 * 60 * 1000 && deadline <= now + 15 * 60 * 1000 + 1000,
            "{deadline} vs {now}"
        );
        let event = serde_json::from_slice(&response.into_body().read_to_vec().unwrap()).unwrap();
        (id, event)
    }

    fn post(agent: &ureq::Agent, api: &RuntimeApi, path: &str, body: &Value) -> u16 {
        let url = format!("http://{}/2018-06-01/runtime/{path}", api.addr);
        agent
            .post(url)
            .header("Content-Type", "application/json")
            .send(body.to_string().as_bytes())
            .unwrap()
            .status()
            .as_u16()
    }

    #[test]
    fn next_response_next_error() {
        let (e1, e2) = (json!({"Records": [{"n": 1}]}), json!({"detail": "two"}));
        let api = RuntimeApi::start(vec![e1.clone(), e2.clone()]);
        let agent = client();
        let (id1, got1) = next(&agent, &api);
        assert_eq!(got1, e1);
        assert_eq!(
            post(
                &agent,
                &api,
                &format!("invocation/{id1}/response"),
                &json!({"ok": 1})
            ),
            202
        );
        let (id2, got2) = next(&agent, &api);
        assert_eq!(got2, e2);
        assert_ne!(id1, id2);
        let error = json!({"errorType": "Boom", "errorMessage": "it broke"});
        assert_eq!(
            post(&agent, &api, &format!("invocation/{id2}/error"), &error),
            202
        );
        assert_eq!(
            post(&agent, &api, "invocation/no-such-id/response", &json!(1)),
            400
        );

        let invocations = api.wait(Duration::from_secs(5));
        assert_eq!(
            invocations,
            vec![
                Invocation {
                    request_id: id1,
                    event: e1,
                    outcome: Outcome::Response(json!({"ok": 1}))
                },
                Invocation {
                    request_id: id2,
                    event: e2,
                    outcome: Outcome::Error(error)
                },
            ]
        );
    }

    #[test]
    fn a_waiting_next_holds_up_nothing_and_gets_later_events() {
        let api = RuntimeApi::start(vec![json!(1)]);
        let agent = client();
        let (id1, _) = next(&agent, &api);
        let (tx, rx) = mpsc::channel();
        std::thread::scope(|s| {
            let api = &api;
            s.spawn(move || tx.send(next(&client(), api)).unwrap());
            // The poll waits...
            assert!(rx.recv_timeout(Duration::from_millis(300)).is_err());
            // ...while other connections are served.
            assert_eq!(
                post(
                    &agent,
                    api,
                    &format!("invocation/{id1}/response"),
                    &json!("one")
                ),
                202
            );
            let id2 = api.add_event(json!(2));
            let (got_id, got) = rx.recv_timeout(Duration::from_secs(5)).unwrap();
            assert_eq!((got_id.as_str(), got), (id2.as_str(), json!(2)));
            assert_eq!(
                post(
                    &agent,
                    api,
                    &format!("invocation/{id2}/response"),
                    &json!("two")
                ),
                202
            );
        });
        let outcomes: Vec<Outcome> = api
            .wait(Duration::from_secs(5))
            .into_iter()
            .map(|i| i.outcome)
            .collect();
        assert_eq!(
            outcomes,
            [
                Outcome::Response(json!("one")),
                Outcome::Response(json!("two"))
            ]
        );
    }

    #[test]
    fn one_connection_carries_several_requests_and_chunked_bodies() {
        use std::io::{Read, Write};
        let api = RuntimeApi::start(vec![json!("e")]);
        let mut stream = std::net::TcpStream::connect(&api.addr).unwrap();
        // Three requests written at once on one connection: the `next`, a
        // response with a chunked body, and a last one asking to close.
        stream
            .write_all(b"GET /2018-06-01/runtime/invocation/next HTTP/1.1\r\nHost: x\r\n\r\n")
            .unwrap();
        // Read the whole `next` answer (head, then Content-Length bytes of
        // body), however the bytes arrive, so what follows is the next answer.
        let mut bytes = Vec::new();
        let mut byte = [0u8; 1];
        while !bytes.ends_with(b"\r\n\r\n") {
            stream.read_exact(&mut byte).unwrap();
            bytes.push(byte[0]);
        }
        let head = String::from_utf8_lossy(&bytes).to_string();
        let body_len: usize = head
            .lines()
            .find_map(|l| {
                l.to_ascii_lowercase()
                    .strip_prefix("content-length: ")
                    .map(|v| v.trim().parse().unwrap())
            })
            .unwrap_or_else(|| panic!("{head}"));
        let mut body = vec![0u8; body_len];
        stream.read_exact(&mut body).unwrap();
        let id = head
            .lines()
            .find_map(|l| l.strip_prefix("Lambda-Runtime-Aws-Request-Id: "))
            .unwrap_or_else(|| panic!("{head}"))
            .to_owned();
        write!(
            stream,
            "POST /2018-06-01/runtime/invocation/{id}/response HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n\
             4\r\n{{\"a\"\r\n5;ext=1\r\n:[1]}}\r\n0\r\n\r\n\
             GET /nowhere HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
        )
        .unwrap();
        let mut rest = String::new();
        stream.read_to_string(&mut rest).unwrap();
        assert!(rest.starts_with("HTTP/1.1 202 "), "{rest}");
        assert_eq!(rest.matches("HTTP/1.1 404 ").count(), 1, "{rest}");
        let invocations = api.wait(Duration::from_secs(5));
        assert_eq!(invocations[0].outcome, Outcome::Response(json!({"a": [1]})));
    }

    #[test]
    fn dropping_the_api_ends_a_waiting_next() {
        let api = RuntimeApi::start(vec![]);
        let addr = api.addr.clone();
        let poll = std::thread::spawn(move || {
            client()
                .get(format!("http://{addr}/2018-06-01/runtime/invocation/next"))
                .call()
                .map(|r| r.status())
        });
        std::thread::sleep(Duration::from_millis(200));
        drop(api);
        assert!(poll.join().unwrap().is_err());
    }

    #[test]
    fn an_init_error_ends_the_wait() {
        let api = RuntimeApi::start(vec![json!("e")]);
        let error = json!({"errorType": "Init", "errorMessage": "no config"});
        assert_eq!(post(&client(), &api, "init/error", &error), 202);
        let invocations = api.wait(Duration::from_secs(5));
        assert_eq!(invocations.len(), 1);
        assert_eq!(invocations[0].event, json!("e"));
        assert_eq!(invocations[0].outcome, Outcome::InitError(error));
    }

    #[test]
    #[should_panic(expected = "1 of 2 events have no outcome")]
    fn wait_panics_at_timeout_saying_what_arrived() {
        let api = RuntimeApi::start(vec![json!("a"), json!("b")]);
        let agent = client();
        let (id, _) = next(&agent, &api);
        post(
            &agent,
            &api,
            &format!("invocation/{id}/response"),
            &json!("done"),
        );
        api.wait(Duration::from_millis(300));
    }
}
