//! HTTP calls as the API tests make them.

/// Sends a request; returns the status and the JSON body (`null` when empty).
pub async fn send_json(
    request: reqwest::RequestBuilder,
) -> (reqwest::StatusCode, serde_json::Value) {
    let response = request.send().await.expect("request sent");
    let status = response.status();
    let text = response.text().await.expect("response body");
    let body = if text.is_empty() {
        serde_json::Value::Null
    } else {
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
    };
    (status, body)
}

/// `GET url`'s JSON body; panics unless the answer is 200.
pub async fn get_json(url: &str) -> serde_json::Value {
    let (status, body) = send_json(reqwest::Client::new().get(url)).await;
    assert_eq!(status, reqwest::StatusCode::OK, "GET {url}: {body}");
    body
}
