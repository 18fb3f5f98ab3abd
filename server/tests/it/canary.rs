//! The canary: a unique secret in every credential provider (env, file, AWS Secrets Manager via
//! moto, Azure Key Vault double, Vault double), all injected into one connector; allowed,
//! denied, tampered, replayed, timed-out, erroring, echoing and idempotently replayed calls
//! driven through the REAL `intentrail serve` binary at `RUST_LOG=trace`; then every byte the
//! rail produced — its stdout/stderr, every response to the agent, the receipts, /metrics and
//! the ledger database files (db, -wal, -shm) — is scanned for every canary and every store
//! credential, raw and base64 / base64url / URL-encoded / JSON-escaped: zero hits. What the
//! agent received is also scanned as the agent could read it: inflated (gzip, deflate) and with
//! JSON escapes, percent-encoding and HTML character references undone; the downstream echoes
//! the credentials in such spellings and compressed, on the JSON API, in transparent mode and
//! to MCP tool calls (`/mcp`).
//!
//! The downstream is checked to have received every canary, so the scan cannot pass vacuously.
//! Without moto the AWS canary is left out (and the run fails when `CI=true`).

use crate::support::{
    downstream, mcp_tool_call, process, random_hex, write_config, AzureDouble, Moto, Options,
    RailProcess, VaultDouble,
};
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};
use base64::Engine as _;
use serde_json::{json, Value};

/// A profile for transparent mode: the same downstream, the vendor's own request shape.
const ECHO_PROFILE: &str = r#"{"openapi": "3.1.0", "info": {"title": "echo", "version": "1"},
  "paths": {"/{route}/refunds": {"post": {"operationId": "refund",
    "parameters": [{"name": "route", "in": "path", "required": true, "schema": {"type": "string"}}],
    "requestBody": {"content": {"application/json": {"schema": {"type": "object"}}}}}}}}"#;

/// A canary with characters that every encoding changes (`+`, `/`, `=`).
fn canary(provider: &str) -> String {
    format!("cnry+{provider}/{}=z", random_hex(12))
}

/// Every form of `s` the scan looks for.
fn forms(s: &str) -> Vec<Vec<u8>> {
    let raw = s.as_bytes();
    let mut out: Vec<Vec<u8>> = vec![raw.to_vec()];
    out.push(
        serde_json::to_string(s)
            .unwrap()
            .trim_matches('"')
            .as_bytes()
            .to_vec(),
    );
    let pct: String = raw
        .iter()
        .map(|&b| {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                char::from(b).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect();
    out.push(pct.to_lowercase().into_bytes());
    out.push(pct.into_bytes());
    out.push(
        form_urlencoded::byte_serialize(raw)
            .collect::<String>()
            .into_bytes(),
    );
    for e in [&STANDARD, &URL_SAFE, &STANDARD_NO_PAD, &URL_SAFE_NO_PAD] {
        out.push(e.encode(raw).into_bytes());
    }
    // Inside longer base64 (e.g. base64("Bearer " + secret)): whole 3-byte groups from each
    // of the three alignments.
    for e in [&STANDARD_NO_PAD, &URL_SAFE_NO_PAD] {
        for skip in 0..3 {
            let rest = &raw[skip..];
            let whole = rest.len() / 3 * 3;
            out.push(e.encode(&rest[..whole]).into_bytes());
        }
    }
    out
}

fn count_hits(hay: &[u8], needles: &[Vec<u8>]) -> usize {
    needles
        .iter()
        .map(|n| hay.windows(n.len()).filter(|w| w == &n.as_slice()).count())
        .sum()
}

/// Everything the agent received, as bytes: status line, headers and body of each answer.
#[derive(Default)]
struct Transcript(Vec<u8>);

impl Transcript {
    async fn record(&mut self, r: reqwest::Response) -> (u16, Value) {
        let status = r.status().as_u16();
        self.0
            .extend_from_slice(format!("HTTP {status}\n").as_bytes());
        for (k, v) in r.headers() {
            self.0.extend_from_slice(k.as_str().as_bytes());
            self.0.extend_from_slice(b": ");
            self.0.extend_from_slice(v.as_bytes());
            self.0.push(b'\n');
        }
        let coding = r
            .headers()
            .get("content-encoding")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let body = r.bytes().await.unwrap();
        self.0.extend_from_slice(&body);
        self.0.push(b'\n');
        // What the agent can read out of it: inflated, then unescaped.
        let inflated = inflate(&body, coding.as_deref());
        self.0.extend_from_slice(&readings(&inflated));
        self.0.push(b'\n');
        (status, serde_json::from_slice(&body).unwrap_or(Value::Null))
    }
}

/// The body a client gets from `Content-Encoding: gzip|deflate` (else as it is).
fn inflate(body: &[u8], coding: Option<&str>) -> Vec<u8> {
    use std::io::Read as _;
    let mut out = Vec::new();
    let ok = match coding {
        Some("gzip") => flate2::read::GzDecoder::new(body)
            .read_to_end(&mut out)
            .is_ok(),
        Some("deflate") => flate2::read::ZlibDecoder::new(body)
            .read_to_end(&mut out)
            .is_ok(),
        _ => false,
    };
    if ok {
        out
    } else {
        body.to_vec()
    }
}

/// `text` after three rounds of undoing what a reader can undo: JSON `\uXXXX` (surrogate pairs
/// included) and `\/`, percent-encoding, HTML numeric character references. Written for the
/// test, independently of the rail's redaction.
fn readings(text: &[u8]) -> Vec<u8> {
    let mut cur = String::from_utf8_lossy(text).into_owned();
    for _ in 0..3 {
        cur = unescape_json(&cur);
        cur = unescape_percent(&cur);
        cur = unescape_html(&cur);
    }
    cur.into_bytes()
}

fn unescape_json(s: &str) -> String {
    let b = s.as_bytes();
    let mut units: Vec<u16> = Vec::new();
    let mut out = String::new();
    let flush = |units: &mut Vec<u16>, out: &mut String| {
        out.extend(char::decode_utf16(units.drain(..)).map(|c| c.unwrap_or('?')));
    };
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\' && b.get(i + 1) == Some(&b'u') {
            if let Some(u) = s
                .get(i + 2..i + 6)
                .and_then(|h| u16::from_str_radix(h, 16).ok())
            {
                units.push(u);
                i += 6;
                continue;
            }
        }
        flush(&mut units, &mut out);
        if b[i] == b'\\' && b.get(i + 1) == Some(&b'/') {
            out.push('/');
            i += 2;
            continue;
        }
        let c = s[i..].chars().next().unwrap();
        out.push(c);
        i += c.len_utf8();
    }
    flush(&mut units, &mut out);
    out
}

fn unescape_percent(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            if let Some(v) = s
                .get(i + 1..i + 3)
                .and_then(|h| u8::from_str_radix(h, 16).ok())
            {
                out.push(v);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn unescape_html(s: &str) -> String {
    let mut out = String::new();
    let mut rest = s;
    while let Some(at) = rest.find("&#") {
        out.push_str(&rest[..at]);
        let tail = &rest[at + 2..];
        let (radix, digits) = match tail.strip_prefix(['x', 'X']) {
            Some(d) => (16, d),
            None => (10, tail),
        };
        let decoded = digits.find(';').and_then(|end| {
            let c = u32::from_str_radix(&digits[..end], radix).ok()?;
            Some((char::from_u32(c)?, end))
        });
        match decoded {
            Some((c, end)) => {
                out.push(c);
                rest = &digits[end + 1..];
            }
            None => {
                out.push_str("&#");
                rest = tail;
            }
        }
    }
    out.push_str(rest);
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_secret_escapes_the_rail() {
    let work = tempfile::tempdir().unwrap();
    let secrets_dir = tempfile::tempdir().unwrap();
    let (down_addr, seen) = downstream().await;

    // Canaries, one per provider, and the stores' own credentials.
    let c_env = canary("env");
    let c_file = canary("file");
    let c_aws = canary("aws");
    let c_azure = canary("azure");
    let c_vault = canary("vault");
    let az_client_secret = format!("azcs+{}/x=", random_hex(12));
    let aws_secret_key = format!("awssk+{}/x=", random_hex(12));
    let vault_secret_id = format!("vsid-{}", random_hex(12));
    let vault_role_id = format!("vrole-{}", random_hex(8));

    let file_path = secrets_dir.path().join("payments-file-key");
    std::fs::write(&file_path, format!("{c_file}\n")).unwrap();

    let az = AzureDouble::start(&az_client_secret, 3600).await;
    az.set_secret("kv-canary", "api-key", &c_azure);
    let vault = VaultDouble::start(Some("team-canary")).await;
    vault.approle(&vault_role_id, &vault_secret_id, 3600);
    vault.put("secret/payments/canary", json!({ "api_key": c_vault }));
    let moto = Moto::start().await;
    if let Some(m) = &moto {
        m.create_secret("payments/canary", &json!({ "api_key": c_aws }).to_string())
            .await;
    }

    let mut extras = vec![
        (
            "X-File-Key".to_string(),
            format!("file:{}", file_path.display()),
        ),
        (
            "X-Azure-Key".to_string(),
            "azure-kv:kv-canary/api-key".to_string(),
        ),
        (
            "X-Vault-Key".to_string(),
            "vault:secret/payments/canary#api_key".to_string(),
        ),
    ];
    let mut providers = format!(
        "{}[providers.vault]\naddress = \"{}\"\nnamespace = \"team-canary\"\nauth = \"approle\"\nrole_id = \"env:IR_CANARY_ROLE_ID\"\nsecret_id = \"env:IR_CANARY_SECRET_ID\"\n",
        az.providers_toml(),
        vault.address()
    );
    if let Some(m) = &moto {
        extras.push(("X-Aws-Key".into(), "aws-sm:payments/canary#api_key".into()));
        providers.push_str(&m.providers_toml());
    }
    let setup = Options {
        credential: Some("env:IR_CANARY_ENV_KEY".into()),
        extra_credentials: extras,
        providers,
        acme_extra: "[[tenants.profiles]]\nname = \"echo\"\nconnector = \"payments\"\n".into(),
        acme_policy_extra: "\n@id(\"allow_echo.refund\")\npermit(principal, action == Action::\"echo.refund\", resource);\n".into(),
        ..Options::routed()
    };
    let keys = write_config(work.path(), &format!("http://{down_addr}"), &setup);
    let rail_env = vec![
        ("IR_CANARY_ENV_KEY".to_string(), c_env.clone()),
        ("AZURE_CLIENT_SECRET".into(), az_client_secret.clone()),
        ("IR_CANARY_ROLE_ID".into(), vault_role_id.clone()),
        ("IR_CANARY_SECRET_ID".into(), vault_secret_id.clone()),
        ("AWS_ACCESS_KEY_ID".into(), "AKIDCANARY".into()),
        ("AWS_SECRET_ACCESS_KEY".into(), aws_secret_key.clone()),
    ];
    let rail = RailProcess::start_traced(&keys.config_path, work.path(), &rail_env);
    let url = rail.url.clone();
    let client = reqwest::Client::builder().no_proxy().build().unwrap();
    let agent = |rb: reqwest::RequestBuilder| {
        rb.bearer_auth(&keys.api_key)
            .header("IntentRail-Agent", "bot-1")
    };
    let params = |route: &str, amount: u64| json!({"payment_id": route, "amount": amount, "currency": "usd"});
    let mut t = Transcript::default();
    let mut statuses = Vec::new();

    // allowed
    let r = agent(client.post(format!("{url}/v1/actions/money.refund")))
        .json(&json!({"params": params("pay_1", 500)}))
        .send()
        .await
        .unwrap();
    statuses.push(("allowed", t.record(r).await.0, 200));
    // denied by policy
    let r = agent(client.post(format!("{url}/v1/actions/money.refund")))
        .json(&json!({"params": params("pay_1", 20_000)}))
        .send()
        .await
        .unwrap();
    statuses.push(("denied", t.record(r).await.0, 403));
    // tampered: permit for one payload, execute with another
    let r = agent(client.post(format!("{url}/v1/intents")))
        .json(&json!({"action": "money.refund", "params": params("pay_1", 100)}))
        .send()
        .await
        .unwrap();
    let (_, intent) = t.record(r).await;
    let permit = intent["permit"].as_str().unwrap_or_default().to_owned();
    let r = agent(client.post(format!("{url}/v1/execute")))
        .json(&json!({"permit": permit, "params": params("pay_1", 9_000)}))
        .send()
        .await
        .unwrap();
    statuses.push(("tampered", t.record(r).await.0, 403));
    // replayed: the same permit twice
    let r = agent(client.post(format!("{url}/v1/intents")))
        .json(&json!({"action": "money.refund", "params": params("echo", 100)}))
        .send()
        .await
        .unwrap();
    let (_, intent) = t.record(r).await;
    let permit = intent["permit"].as_str().unwrap_or_default().to_owned();
    for expected in [200, 409] {
        let r = agent(client.post(format!("{url}/v1/execute")))
            .json(&json!({"permit": permit, "params": params("echo", 100)}))
            .send()
            .await
            .unwrap();
        statuses.push(("replayed", t.record(r).await.0, expected));
    }
    // timed out, erroring (a 500 that echoes every secret), echoing
    for (route, expected) in [("slow", 504), ("fail", 502), ("echo", 200)] {
        let r = agent(client.post(format!("{url}/v1/actions/money.refund")))
            .json(&json!({"params": params(route, 700)}))
            .send()
            .await
            .unwrap();
        statuses.push((route, t.record(r).await.0, expected));
    }
    // echoing in escaped spellings and compressed (the rail asked for `identity`), and a
    // coding the rail cannot decode: refused, since the rail cannot inspect it
    for (route, expected) in [
        ("escaped", 200),
        ("gzip", 200),
        ("deflate", 200),
        ("brotli", 502),
    ] {
        let r = agent(client.post(format!("{url}/v1/actions/money.refund")))
            .json(&json!({"params": params(route, 700)}))
            .send()
            .await
            .unwrap();
        statuses.push((route, t.record(r).await.0, expected));
    }
    // the same through transparent mode, with the vendor's own request shape
    let r = client
        .put(format!("{url}/v1/admin/profiles/echo"))
        .bearer_auth(&keys.admin_key)
        .body(ECHO_PROFILE)
        .send()
        .await
        .unwrap();
    statuses.push(("profile upload", t.record(r).await.0, 201));
    for (route, expected) in [
        ("escaped", 200),
        ("gzip", 200),
        ("deflate", 200),
        ("brotli", 502),
    ] {
        let r = client
            .post(format!("{url}/v1/proxy/echo/{route}/refunds"))
            .bearer_auth(&keys.api_key)
            .json(&json!({"amount": 700}))
            .send()
            .await
            .unwrap();
        statuses.push((route, t.record(r).await.0, expected));
    }
    // echoing under an idempotency key, twice: the second answer is replayed from the ledger
    for _ in 0..2 {
        let r = agent(client.post(format!("{url}/v1/actions/money.refund")))
            .json(&json!({"params": params("echo", 800), "idempotency_key": "canary-idem-1"}))
            .send()
            .await
            .unwrap();
        statuses.push(("idempotent echo", t.record(r).await.0, 200));
    }
    // the same echoes as MCP tool calls (`/mcp`): a tool result carries the downstream's body
    for (route, is_error) in [
        ("echo", false),
        ("escaped", false),
        ("gzip", false),
        ("fail", true),
    ] {
        let r = mcp_tool_call(
            &client,
            &url,
            &keys.api_key,
            "money_refund",
            &params(route, 700),
        )
        .send()
        .await
        .unwrap();
        let (status, answer) = t.record(r).await;
        assert_eq!(answer["result"]["isError"], is_error, "{route}: {answer}");
        statuses.push(("mcp tool call", status, 200));
    }
    // what an operator reads: receipts (admin), metrics, the catalog
    let r = client
        .get(format!("{url}/v1/receipts?after=0&limit=1000"))
        .bearer_auth(&keys.admin_key)
        .send()
        .await
        .unwrap();
    let (s, receipts) = t.record(r).await;
    statuses.push(("receipts", s, 200));
    let r = client.get(format!("{url}/metrics")).send().await.unwrap();
    statuses.push(("metrics", t.record(r).await.0, 200));
    let r = agent(client.get(format!("{url}/v1/actions")))
        .send()
        .await
        .unwrap();
    statuses.push(("catalog", t.record(r).await.0, 200));

    // Capture the ledger while the rail runs (WAL not yet checkpointed), then stop it.
    let mut ledger_bytes = Vec::new();
    let read_ledger = |out: &mut Vec<u8>| {
        for e in std::fs::read_dir(work.path()).unwrap().flatten() {
            if e.file_name().to_string_lossy().starts_with("ledger.db") {
                out.extend(std::fs::read(e.path()).unwrap_or_default());
            }
        }
    };
    read_ledger(&mut ledger_bytes);
    rail.stop();
    read_ledger(&mut ledger_bytes);
    let logs = process::logs(work.path());

    for (what, got, want) in &statuses {
        assert_eq!(got, want, "{what}");
    }
    assert!(
        receipts["receipts"]
            .as_array()
            .is_some_and(|r| r.len() >= 8),
        "receipts were written"
    );
    assert!(logs.len() > 10_000, "trace logging is on");
    assert!(!ledger_bytes.is_empty(), "the ledger was read");

    // Not vacuous: the downstream received every canary on every forwarded call.
    let mut canaries = vec![
        ("env", c_env.clone(), "authorization"),
        ("file", c_file.clone(), "x-file-key"),
        ("azure", c_azure.clone(), "x-azure-key"),
        ("vault", c_vault.clone(), "x-vault-key"),
    ];
    if moto.is_some() {
        canaries.push(("aws", c_aws.clone(), "x-aws-key"));
    }
    let forwarded = seen.count();
    assert_eq!(
        forwarded, 18,
        "allowed, replayed once, slow, fail, echo, 4 escaped/compressed twice, idempotent echo, \
         4 MCP tool calls"
    );
    for (name, value, header) in &canaries {
        let delivered = (0..forwarded)
            .filter(|&i| {
                seen.header(i, header)
                    .is_some_and(|h| h.trim_start_matches("Bearer ") == value)
            })
            .count();
        assert_eq!(
            delivered, forwarded,
            "{name} canary not delivered downstream"
        );
    }

    // The scan. Store credentials and every token the doubles issued count as secrets too.
    let mut secrets: Vec<(String, String)> = canaries
        .iter()
        .map(|(n, v, _)| (format!("canary {n}"), v.clone()))
        .collect();
    secrets.push(("azure client secret".into(), az_client_secret));
    secrets.push(("aws secret access key".into(), aws_secret_key));
    secrets.push(("vault secret id".into(), vault_secret_id));
    for (i, tok) in az.issued_tokens().into_iter().enumerate() {
        secrets.push((format!("azure access token {i}"), tok));
    }
    for (i, tok) in vault.issued_tokens().into_iter().enumerate() {
        secrets.push((format!("vault client token {i}"), tok));
    }
    assert!(az.token_requests() >= 1 && vault.logins() >= 1);
    let sources: [(&str, &[u8]); 3] = [
        ("responses to the agent, receipts, metrics", &t.0),
        ("rail stdout/stderr at RUST_LOG=trace", &logs),
        ("ledger database files", &ledger_bytes),
    ];
    let mut hits = Vec::new();
    for (what, secret) in &secrets {
        let needles = forms(secret);
        for (source, bytes) in &sources {
            let n = count_hits(bytes, &needles);
            if n > 0 {
                hits.push(format!("{what} found {n}x in {source}"));
            }
        }
    }
    // The agent's own process never had them either.
    let own_env: String = std::env::vars()
        .map(|(k, v)| format!("{k}={v}\n"))
        .collect();
    for (what, secret) in &secrets {
        if count_hits(own_env.as_bytes(), &forms(secret)) > 0 {
            hits.push(format!("{what} found in the agent's environment"));
        }
    }
    assert!(hits.is_empty(), "secrets escaped: {hits:?}");
    assert_eq!(az.violations(), Vec::<String>::new());
    assert_eq!(vault.violations(), Vec::<String>::new());
}
