//! The model client against the scripted model server, in both dialects. The server is
//! the only stand-in: everything on the client side is the code a real key uses.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde_json::json;
use stn_llm::{
    ApiKey, ChatRequest, ChatResponse, Dialect, LlmError, Message, ModelClient, ProviderConfig,
    StreamEvent, ToolSpec, Usage,
};
use stn_testkit::scripted_model::{ScriptedModel, Turn, WireDialect};

const KEY: &str = "sk-test-SECRET-0123456789";
const DIALECTS: [Dialect; 2] = [Dialect::OpenAi, Dialect::Anthropic];

fn config(model: &ScriptedModel, dialect: Dialect) -> ProviderConfig {
    let mut c = ProviderConfig::new(
        dialect,
        model.base_url().parse().unwrap(),
        Some(ApiKey::new(KEY)),
    );
    c.request_timeout = Duration::from_secs(5);
    c.backoff_base = Duration::from_millis(10);
    c
}

fn client(model: &ScriptedModel, dialect: Dialect) -> ModelClient {
    ModelClient::new(config(model, dialect)).unwrap()
}

fn request(task: &str) -> ChatRequest {
    ChatRequest {
        model: "test-model".into(),
        messages: vec![Message::system("You are terse."), Message::user(task)],
        ..Default::default()
    }
}

/// Runs a chat and returns its result with every event it streamed.
async fn chat(
    client: &ModelClient,
    req: &ChatRequest,
) -> (Result<ChatResponse, LlmError>, Vec<StreamEvent>) {
    let events = Mutex::new(Vec::new());
    let result = client.chat(req, &|e| events.lock().unwrap().push(e)).await;
    (result, events.into_inner().unwrap())
}

fn text_deltas(events: &[StreamEvent]) -> Vec<String> {
    events
        .iter()
        .filter_map(|e| match e {
            StreamEvent::TextDelta(t) => Some(t.clone()),
            _ => None,
        })
        .collect()
}

/// Everything a user could see of an error.
fn shown(e: &LlmError) -> String {
    format!("{e} | {e:?} | {}", e.hint().unwrap_or_default())
}

#[tokio::test]
async fn plain_text_with_usage_and_the_dialects_headers() {
    for dialect in DIALECTS {
        let model = ScriptedModel::start().await;
        model.push(Turn::text("Hello there").usage(12, 3));
        let (r, _) = chat(&client(&model, dialect), &request("hi")).await;
        let r = r.unwrap();
        assert_eq!(r.text, "Hello there");
        assert!(r.tool_calls.is_empty());
        assert_eq!(
            r.usage,
            Usage {
                input_tokens: 12,
                output_tokens: 3,
                total_tokens: 15
            }
        );
        assert_eq!(r.model, "test-model");
        let req = &model.requests()[0];
        assert!(req.stream());
        match dialect {
            Dialect::OpenAi => {
                assert_eq!(req.dialect, WireDialect::OpenAi);
                assert_eq!(
                    req.header("authorization"),
                    Some(format!("Bearer {KEY}").as_str())
                );
                assert_eq!(req.body["stream_options"]["include_usage"], true);
                assert_eq!(req.body["messages"][0]["role"], "system");
                assert_eq!(r.finish_reason.as_deref(), Some("stop"));
            }
            Dialect::Anthropic => {
                assert_eq!(req.dialect, WireDialect::Anthropic);
                assert_eq!(req.header("x-api-key"), Some(KEY));
                assert_eq!(req.header("authorization"), None);
                assert_eq!(req.header("anthropic-version"), Some("2023-06-01"));
                assert_eq!(req.body["system"], "You are terse.");
                assert_eq!(req.body["max_tokens"], 4096);
                assert_eq!(r.finish_reason.as_deref(), Some("end_turn"));
            }
        }
    }
}

#[tokio::test]
async fn text_deltas_arrive_in_order() {
    let chunks = ["Hel", "lo, ", "wörld 🌍", "!"];
    for dialect in DIALECTS {
        let model = ScriptedModel::start().await;
        model.push(Turn::chunks(chunks).chunk_every(Duration::from_millis(5)));
        let (r, events) = chat(&client(&model, dialect), &request("hi")).await;
        assert_eq!(text_deltas(&events), chunks);
        assert_eq!(r.unwrap().text, chunks.concat());
    }
}

#[tokio::test]
async fn tool_call_round_trip_carries_the_ids() {
    for dialect in DIALECTS {
        let model = ScriptedModel::start().await;
        model.push(
            Turn::tool_call("call_abc123", "read_file", json!({"path": "/tmp/a b.txt"}))
                .usage(20, 8),
        );
        model.push(Turn::text("The file says hi.").usage(30, 5));
        let c = client(&model, dialect);
        let mut req = request("read it");
        req.tools = vec![ToolSpec {
            name: "read_file".into(),
            description: "Reads a file".into(),
            input_schema: json!({"type": "object", "properties": {"path": {"type": "string"}}, "required": ["path"]}),
        }];
        let (first, events) = chat(&c, &req).await;
        let first = first.unwrap();
        assert_eq!(first.tool_calls.len(), 1);
        let call = &first.tool_calls[0];
        assert_eq!(
            (call.id.as_str(), call.name.as_str()),
            ("call_abc123", "read_file")
        );
        assert_eq!(call.arguments, json!({"path": "/tmp/a b.txt"}));
        assert!(events.contains(&StreamEvent::ToolCallStarted {
            id: "call_abc123".into(),
            name: "read_file".into()
        }));

        req.messages.push(Message::assistant(
            first.text.clone(),
            first.tool_calls.clone(),
        ));
        req.messages.push(Message::tool_result(&call.id, "hi"));
        let (second, _) = chat(&c, &req).await;
        let second = second.unwrap();
        assert_eq!(second.text, "The file says hi.");
        assert_eq!(first.usage + second.usage, Usage::new(50, 13));

        let sent = &model.requests()[1];
        assert_eq!(
            sent.tool_results(),
            vec![("call_abc123".to_owned(), "hi".to_owned())]
        );
        assert_eq!(sent.tool_names(), vec!["read_file".to_owned()]);
        let assistant = &sent.messages()[sent.messages().len() - 2];
        match dialect {
            Dialect::OpenAi => {
                assert_eq!(assistant["tool_calls"][0]["id"], "call_abc123");
                assert_eq!(
                    assistant["tool_calls"][0]["function"]["arguments"],
                    "{\"path\":\"/tmp/a b.txt\"}"
                );
            }
            Dialect::Anthropic => {
                assert_eq!(assistant["content"][0]["type"], "tool_use");
                assert_eq!(assistant["content"][0]["id"], "call_abc123");
                assert_eq!(
                    assistant["content"][0]["input"],
                    json!({"path": "/tmp/a b.txt"})
                );
            }
        }
    }
}

#[tokio::test]
async fn parallel_tool_calls_in_one_turn() {
    for dialect in DIALECTS {
        let model = ScriptedModel::start().await;
        model.push(
            Turn::chunks(["Checking both."])
                .and_tool_call("c1", "get_time", json!({"tz": "UTC"}))
                .and_tool_call(
                    "c2",
                    "list_dir",
                    json!({"path": "/", "deep": {"n": [1, 2]}}),
                ),
        );
        model.push(Turn::text("done"));
        let c = client(&model, dialect);
        let (r, events) = chat(&c, &request("go")).await;
        let r = r.unwrap();
        assert_eq!(r.text, "Checking both.");
        let ids: Vec<&str> = r.tool_calls.iter().map(|c| c.id.as_str()).collect();
        assert_eq!(ids, ["c1", "c2"]);
        assert_eq!(
            r.tool_calls[1].arguments,
            json!({"path": "/", "deep": {"n": [1, 2]}})
        );
        let started = events
            .iter()
            .filter(|e| matches!(e, StreamEvent::ToolCallStarted { .. }))
            .count();
        assert_eq!(started, 2);

        let mut req = request("go");
        req.messages.push(Message::assistant(r.text, r.tool_calls));
        req.messages.push(Message::tool_result("c1", "12:00"));
        req.messages.push(Message::tool_result("c2", "bin etc"));
        chat(&c, &req).await.0.unwrap();
        let results = model.requests()[1].tool_results();
        assert_eq!(
            results,
            vec![
                ("c1".into(), "12:00".into()),
                ("c2".into(), "bin etc".into())
            ]
        );
    }
}

#[tokio::test]
async fn json_output_asks_openai_for_a_json_object() {
    for dialect in DIALECTS {
        let model = ScriptedModel::start().await;
        model.push(Turn::text("{\"ok\": true}"));
        let mut req = request("answer in JSON");
        req.json_output = true;
        req.temperature = Some(0.5);
        req.max_tokens = Some(100);
        let r = chat(&client(&model, dialect), &req).await.0.unwrap();
        assert_eq!(r.text, "{\"ok\": true}");
        let body = &model.requests()[0].body;
        assert_eq!(body["temperature"], 0.5);
        assert_eq!(body["max_tokens"], 100);
        match dialect {
            Dialect::OpenAi => assert_eq!(body["response_format"], json!({"type": "json_object"})),
            // The Messages API has no JSON switch; the prompt asks for JSON.
            Dialect::Anthropic => assert!(body.get("response_format").is_none()),
        }
    }
}

#[tokio::test]
async fn rate_limit_waits_as_long_as_retry_after_says() {
    for dialect in DIALECTS {
        let model = ScriptedModel::start().await;
        model.push(Turn::status(429, "slow down").retry_after("1"));
        model.push(Turn::text("ok"));
        let started = Instant::now();
        let (r, events) = chat(&client(&model, dialect), &request("hi")).await;
        let waited = started.elapsed();
        assert_eq!(r.unwrap().text, "ok");
        // The backoff alone would be ≤ 10 ms: only Retry-After explains a second.
        assert!(waited >= Duration::from_secs(1), "{waited:?}");
        assert!(waited < Duration::from_secs(3), "{waited:?}");
        assert!(
            matches!(&events[0], StreamEvent::Retrying { attempt: 1, wait, reason }
            if *wait == Duration::from_secs(1) && reason.contains("slow down")),
            "{events:?}"
        );
        assert_eq!(model.requests().len(), 2);
    }
}

#[tokio::test]
async fn server_error_then_success_and_errors_after_the_last_retry() {
    for dialect in DIALECTS {
        let model = ScriptedModel::start().await;
        model.push(Turn::status(500, "boom"));
        model.push(Turn::status(503, "overloaded"));
        model.push(Turn::text("fine"));
        let (r, events) = chat(&client(&model, dialect), &request("hi")).await;
        assert_eq!(r.unwrap().text, "fine");
        assert_eq!(
            events
                .iter()
                .filter(|e| matches!(e, StreamEvent::Retrying { .. }))
                .count(),
            2
        );

        let mut cfg = config(&model, dialect);
        cfg.max_retries = 2;
        for _ in 0..3 {
            model.push(Turn::status(502, "bad gateway"));
        }
        let err = chat(&ModelClient::new(cfg).unwrap(), &request("hi"))
            .await
            .0
            .unwrap_err();
        assert!(
            matches!(
                err,
                LlmError::Server {
                    status: 502,
                    attempts: 3,
                    ..
                }
            ),
            "{err:?}"
        );
        assert!(err.to_string().contains("bad gateway"), "{err}");
    }
}

#[tokio::test]
async fn client_errors_are_not_retried_and_html_pages_are_not_shown() {
    for dialect in DIALECTS {
        let model = ScriptedModel::start().await;
        model.push(Turn::status(404, "model `nope` does not exist"));
        let err = chat(&client(&model, dialect), &request("hi"))
            .await
            .0
            .unwrap_err();
        assert!(
            matches!(err, LlmError::Rejected { status: 404, .. }),
            "{err:?}"
        );
        assert!(err.to_string().contains("model `nope` does not exist"));
        assert_eq!(model.requests().len(), 1);
    }
}

#[tokio::test]
async fn unauthorized_names_the_key_variables_and_never_the_key() {
    for (dialect, var) in [
        (Dialect::OpenAi, "OPENAI_API_KEY"),
        (Dialect::Anthropic, "ANTHROPIC_API_KEY"),
    ] {
        let model = ScriptedModel::start().await;
        model.push(Turn::unauthorized());
        let err = chat(&client(&model, dialect), &request("hi"))
            .await
            .0
            .unwrap_err();
        assert!(
            matches!(err, LlmError::Unauthorized { status: 401, .. }),
            "{err:?}"
        );
        let hint = err.hint().unwrap();
        assert!(
            hint.contains("STN_AI_API_KEY") && hint.contains(var),
            "{hint}"
        );
        assert!(err.to_string().contains("invalid x-api-key"));
        assert!(!shown(&err).contains(KEY));
        assert_eq!(model.requests().len(), 1, "401 is not retried");
    }
}

#[tokio::test]
async fn a_stall_before_any_output_is_retried_and_after_output_is_a_timeout() {
    // Frames before the first text delta: OpenAI's role chunk; Anthropic's message_start,
    // content_block_start and a comment.
    for (dialect, before_text) in [(Dialect::OpenAi, 1), (Dialect::Anthropic, 3)] {
        let model = ScriptedModel::start().await;
        let mut cfg = config(&model, dialect);
        cfg.request_timeout = Duration::from_millis(300);
        let c = ModelClient::new(cfg).unwrap();

        model.push(Turn::chunks(["never"]).stall_after(before_text));
        model.push(Turn::text("second try"));
        let (r, _) = chat(&c, &request("hi")).await;
        assert_eq!(r.unwrap().text, "second try");

        model.push(Turn::chunks(["partial", "rest"]).stall_after(before_text + 1));
        model.push(Turn::text("must not be used"));
        let started = Instant::now();
        let (r, events) = chat(&c, &request("hi")).await;
        let took = started.elapsed();
        let err = r.unwrap_err();
        assert!(matches!(err, LlmError::Timeout { .. }), "{err:?}");
        assert!(err.to_string().contains("stalled"), "{err}");
        assert_eq!(text_deltas(&events), ["partial"]);
        assert!(
            took >= Duration::from_millis(300) && took < Duration::from_millis(1500),
            "{took:?}"
        );
        assert_eq!(model.pending_turns(), 1, "no retry after partial output");
    }
}

#[tokio::test]
async fn no_response_headers_in_time_is_a_timeout() {
    for dialect in DIALECTS {
        let model = ScriptedModel::start().await;
        let mut cfg = config(&model, dialect);
        cfg.request_timeout = Duration::from_millis(200);
        cfg.max_retries = 0;
        model.push(Turn::text("late").first_byte_after(Duration::from_secs(2)));
        let started = Instant::now();
        let err = chat(&ModelClient::new(cfg).unwrap(), &request("hi"))
            .await
            .0
            .unwrap_err();
        assert!(matches!(err, LlmError::Timeout { .. }), "{err:?}");
        assert!(started.elapsed() < Duration::from_secs(1));
    }
}

#[tokio::test]
async fn malformed_json_is_a_malformed_error() {
    for dialect in DIALECTS {
        let model = ScriptedModel::start().await;
        model.push(Turn::malformed_json());
        let err = chat(&client(&model, dialect), &request("hi"))
            .await
            .0
            .unwrap_err();
        assert!(matches!(err, LlmError::Malformed { .. }), "{err:?}");
        model.push(Turn::malformed_json().whole());
        let err = chat(&client(&model, dialect), &request("hi"))
            .await
            .0
            .unwrap_err();
        assert!(matches!(err, LlmError::Malformed { .. }), "{err:?}");
        assert_eq!(
            model.requests().len(),
            2,
            "malformed answers are not retried"
        );
    }
}

#[tokio::test]
async fn a_stream_cut_short_fails_instead_of_returning_half_an_answer() {
    for dialect in DIALECTS {
        let model = ScriptedModel::start().await;
        let mut cfg = config(&model, dialect);
        cfg.max_retries = 0;
        model.push(Turn::chunks(["a", "b", "c", "d"]).broken_stream());
        let err = chat(&ModelClient::new(cfg).unwrap(), &request("hi"))
            .await
            .0
            .unwrap_err();
        assert!(
            err.to_string()
                .contains("ended before the answer was complete"),
            "{err}"
        );
    }
}

#[tokio::test]
async fn a_server_that_ignores_stream_true_still_works() {
    for dialect in DIALECTS {
        let model = ScriptedModel::start().await;
        model.push(
            Turn::text("whole")
                .and_tool_call("t1", "x", json!({"a": 1}))
                .usage(4, 2)
                .whole(),
        );
        let (r, events) = chat(&client(&model, dialect), &request("hi")).await;
        let r = r.unwrap();
        assert_eq!(
            (r.text.as_str(), r.tool_calls[0].id.as_str()),
            ("whole", "t1")
        );
        assert_eq!(r.usage, Usage::new(4, 2));
        assert_eq!(text_deltas(&events), ["whole"]);
    }
}

#[tokio::test]
async fn anthropic_bearer_token_uses_authorization_and_the_oauth_beta() {
    let model = ScriptedModel::start().await;
    model.push(Turn::text("ok"));
    let mut cfg = config(&model, Dialect::Anthropic);
    cfg.bearer = true;
    cfg.extra_headers.push(("x-trace".into(), "42".into()));
    chat(&ModelClient::new(cfg).unwrap(), &request("hi"))
        .await
        .0
        .unwrap();
    let req = &model.requests()[0];
    assert_eq!(
        req.header("authorization"),
        Some(format!("Bearer {KEY}").as_str())
    );
    assert_eq!(req.header("anthropic-beta"), Some("oauth-2025-04-20"));
    assert_eq!(req.header("x-api-key"), None);
    assert_eq!(req.header("x-trace"), Some("42"));
}

#[tokio::test]
async fn dropping_the_future_closes_the_stream() {
    for dialect in DIALECTS {
        let model = ScriptedModel::start().await;
        let chunks: Vec<String> = (0..200).map(|i| format!("w{i} ")).collect();
        model.push(Turn::chunks(chunks).chunk_every(Duration::from_millis(20)));
        let c = client(&model, dialect);
        let req = request("hi");
        let got = Mutex::new(0usize);
        let cancelled = tokio::time::timeout(
            Duration::from_millis(200),
            c.chat(&req, &|_| *got.lock().unwrap() += 1),
        )
        .await;
        assert!(
            cancelled.is_err(),
            "the answer takes 4 s; the timeout dropped the future"
        );
        assert!(*got.lock().unwrap() > 0, "it was streaming when dropped");
        let deadline = Instant::now() + Duration::from_secs(2);
        while model.open_streams() > 0 && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert_eq!(
            model.open_streams(),
            0,
            "the server still streams to a dropped client"
        );
    }
}

#[tokio::test]
async fn connection_refused_is_a_connect_error_after_retries() {
    let port = stn_testkit::free_port();
    for dialect in DIALECTS {
        let mut cfg = ProviderConfig::new(
            dialect,
            format!("http://127.0.0.1:{port}/v1").parse().unwrap(),
            Some(ApiKey::new(KEY)),
        );
        cfg.backoff_base = Duration::from_millis(5);
        cfg.max_retries = 2;
        let (r, events) = chat(&ModelClient::new(cfg).unwrap(), &request("hi")).await;
        let err = r.unwrap_err();
        assert!(matches!(err, LlmError::Connect { .. }), "{err:?}");
        assert!(
            err.to_string().contains(&format!("127.0.0.1:{port}")),
            "{err}"
        );
        assert_eq!(events.len(), 2, "two retries announced");
        assert!(!shown(&err).contains(KEY));
    }
}

#[tokio::test]
async fn the_key_appears_in_no_error_and_no_debug_output() {
    for dialect in DIALECTS {
        let model = ScriptedModel::start().await;
        let mut cfg = config(&model, dialect);
        cfg.max_retries = 0;
        cfg.request_timeout = Duration::from_millis(200);
        let c = ModelClient::new(cfg.clone()).unwrap();
        let mut seen = format!("{cfg:?} {c:?}");
        for turn in [
            Turn::unauthorized(),
            Turn::status(500, "boom"),
            Turn::status(400, "bad"),
            Turn::malformed_json(),
            Turn::chunks(["x"]).stall_after(1),
        ] {
            model.push(turn);
            let err = chat(&c, &request("hi")).await.0.unwrap_err();
            seen.push_str(&shown(&err));
        }
        assert!(!seen.contains(KEY), "{seen}");
        assert!(!seen.contains("SECRET"), "{seen}");
    }
}
