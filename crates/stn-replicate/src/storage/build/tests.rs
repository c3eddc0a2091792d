use super::*;

fn from_url(url: &str) -> Result<Location> {
    locate(&ReplicaConfig::from_url(url)?)
}

fn reason(result: Result<impl Sized>) -> String {
    match result {
        Err(Error::InvalidUrl { reason, url }) => format!("{url}: {reason}"),
        Err(other) => panic!("expected InvalidUrl, got {other}"),
        Ok(_) => panic!("expected an error"),
    }
}

#[test]
fn file_urls_and_bare_paths() {
    for url in [
        "file:///var/backups/db",
        "/var/backups/db",
        "file:///var/backups/db/",
    ] {
        let location = from_url(url).unwrap();
        assert_eq!(
            location.dir.as_deref(),
            Some(std::path::Path::new("/var/backups/db")),
            "{url}"
        );
        assert_eq!(location.prefix.as_ref(), "var/backups/db", "{url}");
    }
    let spaced = from_url("file:///tmp/my%20backups").unwrap();
    assert_eq!(
        spaced.dir.as_deref(),
        Some(std::path::Path::new("/tmp/my backups"))
    );
    assert!(reason(from_url("file://host/x")).contains("three slashes"));
    assert!(reason(from_url("file:///x?endpoint=y")).contains("no query parameters"));
}

#[test]
fn s3_url_with_query_parameters() {
    let location = from_url(
        "s3://bucket/a/b?endpoint=http://127.0.0.1:9000&region=us-east-1&force-path-style=true",
    )
    .unwrap();
    assert_eq!(location.bucket, "bucket");
    assert_eq!(location.prefix.as_ref(), "a/b");
    assert_eq!(location.endpoint.as_deref(), Some("http://127.0.0.1:9000"));
    assert_eq!(location.region.as_deref(), Some("us-east-1"));
    assert_eq!(location.force_path_style, Some(true));

    let camel = from_url("s3://bucket/p?forcePathStyle=false&skipVerify=1").unwrap();
    assert_eq!(
        (camel.force_path_style, camel.skip_verify),
        (Some(false), Some(true))
    );
}

#[test]
fn s3_virtual_host_names_give_bucket_and_region() {
    let location = from_url("s3://my-bucket.s3.eu-west-1.amazonaws.com/db").unwrap();
    assert_eq!(location.bucket, "my-bucket");
    assert_eq!(location.region.as_deref(), Some("eu-west-1"));
    let global = from_url("s3://my-bucket.s3.amazonaws.com/db").unwrap();
    assert_eq!((global.bucket.as_str(), global.region), ("my-bucket", None));
}

#[test]
fn unknown_query_parameters_are_named() {
    let message = reason(from_url("s3://bucket/db?sign-payload=true"));
    assert!(
        message.contains("unsupported query parameter `sign-payload`"),
        "{message}"
    );
    let message = reason(from_url("gs://bucket/db?region=x"));
    assert!(message.contains("`region`"), "{message}");
    assert!(reason(from_url("s3://bucket/db?force-path-style=maybe")).contains("true or false"));
}

#[test]
fn passwords_in_urls_are_refused_and_redacted() {
    let message = reason(from_url("abs://account:TOPSECRETKEY@container/db"));
    assert!(!message.contains("TOPSECRETKEY"), "{message}");
    assert!(message.contains("REDACTED"), "{message}");
}

#[test]
fn abs_and_gs_urls() {
    let abs =
        from_url("abs://acct@container/path/db?endpoint=http://127.0.0.1:10000/acct").unwrap();
    assert_eq!(abs.account_name.as_deref(), Some("acct"));
    assert_eq!(abs.bucket, "container");
    assert_eq!(abs.prefix.as_ref(), "path/db");
    let gs = from_url("gs://bucket/db").unwrap();
    assert_eq!((gs.bucket.as_str(), gs.prefix.as_ref()), ("bucket", "db"));
    assert!(reason(from_url("s3:///no-bucket")).contains("bucket"));
    assert!(reason(ReplicaConfig::from_url("ftp://host/x")).contains("unknown replica type `ftp`"));
}

#[test]
fn endpoints_get_a_scheme() {
    assert_eq!(with_scheme("localhost:9000"), "http://localhost:9000");
    assert_eq!(with_scheme("127.0.0.1:9000/"), "http://127.0.0.1:9000");
    assert_eq!(with_scheme("s3.example.com"), "https://s3.example.com");
    assert_eq!(with_scheme("http://x:1/"), "http://x:1");
}

#[test]
fn config_keys_merge_with_the_url() {
    let mut replica = ReplicaConfig::from_url("s3://bucket/db?region=eu-west-1").unwrap();
    replica.endpoint = Some("minio.local:9000".to_owned());
    let location = locate(&replica).unwrap();
    assert_eq!(
        location.endpoint.as_deref(),
        Some("https://minio.local:9000")
    );
    replica.region = Some("us-east-1".to_owned());
    assert!(reason(locate(&replica)).contains("`region` is set both in the URL and in the config"));

    let mut keys = ReplicaConfig::new(ReplicaKind::S3);
    keys.bucket = Some("b".to_owned());
    keys.path = Some("/x/y/".to_owned());
    let location = locate(&keys).unwrap();
    assert_eq!(
        (location.bucket.as_str(), location.prefix.as_ref()),
        ("b", "x/y")
    );
}

#[test]
fn display_urls_name_the_replica_without_secrets() {
    let mut replica = ReplicaConfig::new(ReplicaKind::S3);
    replica.bucket = Some("b".to_owned());
    replica.path = Some("db".to_owned());
    replica.endpoint = Some("http://127.0.0.1:9000".to_owned());
    replica.access_key_id = Some("AKIDEXAMPLE".to_owned());
    replica.secret_access_key = Some("SECRETVALUE".to_owned());
    let built = build(&replica).unwrap();
    assert_eq!(built.url, "s3://b/db?endpoint=http://127.0.0.1:9000");

    let client = crate::storage::ReplicaClient::from_config(&replica).unwrap();
    let debug = format!("{client:?}");
    assert!(!debug.contains("SECRETVALUE"), "{debug}");

    let mut azure = ReplicaConfig::from_url("abs://acct@c/p").unwrap();
    azure.account_key = Some("a2V5".to_owned());
    assert_eq!(build(&azure).unwrap().url, "abs://acct@c/p");
    assert_eq!(
        build(&ReplicaConfig::from_url("/tmp/r").unwrap())
            .unwrap()
            .url,
        "file:///tmp/r"
    );
}

#[test]
fn bucket_host_endpoints_for_virtual_hosting() {
    assert_eq!(
        bucket_host_endpoint("https://s3.example.com", "b"),
        "https://b.s3.example.com"
    );
}
