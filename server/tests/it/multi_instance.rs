//! Two `intentrail serve` processes on one PostgreSQL database: single use, limits and the
//! receipt chain hold across instances. Needs `INTENTRAIL_TEST_POSTGRES_URL` (run under
//! `scripts/with-postgres.sh`); skipped without it, except under `CI=true` where it fails.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use crate::support::{
    downstream, pg, post_json, refund_params, verified_chain, write_config, Log, Options,
    RailProcess, BIN,
};
use serde_json::json;

const LIMIT: usize = 25;

struct Pair {
    _dir: tempfile::TempDir,
    a: RailProcess,
    b: RailProcess,
    api_key: String,
    api_key_2: String,
    admin: String,
    log: Log,
    client: reqwest::Client,
}

/// A fresh database, the harness config pointed at it (acme has a per-agent count limit of
/// [`LIMIT`] on refunds), and two rail processes serving it.
async fn pair(base: &str, with_limit: bool) -> Pair {
    let db = pg::fresh_db(base).await;
    let (addr, log) = downstream().await;
    let dir = tempfile::tempdir().unwrap();
    let o = Options {
        acme_extra: if !with_limit {
            String::new()
        } else {
            format!(
                "[[tenants.limits]]\nid = \"per_agent_refunds\"\nactions = [\"money.refund\"]\n\
             window_secs = 3600\nmax_count = {LIMIT}\n"
            )
        },
        // The in-process downstream shares 2 busy cores with 200 clients: no 800 ms deadline.
        timeout_ms: 10_000,
        ..Options::default()
    };
    let w = write_config(dir.path(), &format!("http://{addr}"), &o);
    pg::set_ledger(&w.config_path, &db);
    let a = RailProcess::start(&w.config_path);
    let b = RailProcess::start(&w.config_path);
    Pair {
        _dir: dir,
        a,
        b,
        api_key: w.api_key,
        api_key_2: w.api_key_2,
        admin: w.admin_key,
        log,
        client: reqwest::Client::builder()
            .pool_max_idle_per_host(256)
            .timeout(Duration::from_secs(30))
            .build()
            .unwrap(),
    }
}

/// 200 concurrent executes of one permit, split across both processes: exactly one forward,
/// 199 `permit_already_used`; the chain verifies afterwards.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_permit_two_rails_exactly_one_forward() {
    let Some(base) = pg::base_url() else { return };
    let _cluster = pg::shared().await;
    let p = pair(&base, true).await;
    let params = refund_params(100);
    let (s, b) = post_json(
        &p.client,
        &format!("{}/v1/intents", p.a.url),
        &p.api_key,
        "bot-1",
        &json!({"action": "money.refund", "params": params}),
    )
    .await;
    assert_eq!(s, 201, "{b}");
    let permit = b["permit"].as_str().unwrap().to_string();
    let jti = b["permit_id"].as_str().unwrap().to_string();
    let body = json!({"permit": permit, "params": params});
    let tasks: Vec<_> = (0..200)
        .map(|i| {
            let url = if i % 2 == 0 { &p.a.url } else { &p.b.url };
            let (c, url, key, body) = (
                p.client.clone(),
                format!("{url}/v1/execute"),
                p.api_key.clone(),
                body.clone(),
            );
            tokio::spawn(async move { post_json(&c, &url, &key, "bot-1", &body).await })
        })
        .collect();
    let mut by_code: HashMap<String, usize> = HashMap::new();
    // The detail of any answer other than 200 and 409, to tell what failed.
    let mut other: Vec<String> = Vec::new();
    for t in tasks {
        let (s, b) = t.await.unwrap();
        let code = if s == 200 {
            "ok".to_string()
        } else {
            format!("{s} {}", b["code"].as_str().unwrap_or("?"))
        };
        if s != 200 && s != 409 {
            other.push(b["detail"].as_str().unwrap_or("?").to_owned());
        }
        *by_code.entry(code).or_default() += 1;
    }
    assert_eq!(by_code.get("ok"), Some(&1), "{by_code:?} {other:?}");
    assert_eq!(
        by_code.get("409 permit_already_used"),
        Some(&199),
        "{by_code:?} {other:?}"
    );
    let forwarded: Vec<_> = p
        .log
        .all()
        .into_iter()
        .filter(|s| s.idempotency_key().as_deref() == Some(jti.as_str()))
        .collect();
    assert_eq!(forwarded.len(), 1, "exactly one forward");
    assert_eq!(p.log.count(), 1);
    // Both instances serve the same chain, and it verifies.
    let from_a = verified_chain(&p.client, &p.a.url, &p.admin).await;
    let from_b = verified_chain(&p.client, &p.b.url, &p.admin).await;
    assert_eq!(from_a, from_b);
    // 1 allow + 1 execution + 199 refusals.
    assert_eq!(from_a.len(), 201);
}

/// A per-agent count limit of N, hit by 4N concurrent one-shot refunds split across both
/// processes (and the same for a second agent): exactly N pass per agent, the rest are
/// `rate_limited`, the downstream saw exactly 2N calls, the chain verifies.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_per_agent_limit_is_exact_across_two_rails() {
    let Some(base) = pg::base_url() else { return };
    let _cluster = pg::shared().await;
    let p = pair(&base, true).await;
    let started = Instant::now();
    let tasks: Vec<_> = (0..LIMIT * 8)
        .map(|i| {
            let url = if i % 2 == 0 { &p.a.url } else { &p.b.url };
            let (key, agent) = if i % 4 < 2 {
                (p.api_key.clone(), "bot-1")
            } else {
                (p.api_key_2.clone(), "bot-2")
            };
            let (c, url) = (p.client.clone(), format!("{url}/v1/actions/money.refund"));
            tokio::spawn(async move {
                let body = json!({"params": refund_params(100)});
                (agent, post_json(&c, &url, &key, agent, &body).await)
            })
        })
        .collect();
    let mut ok: HashMap<&str, usize> = HashMap::new();
    let mut other: HashMap<String, usize> = HashMap::new();
    for t in tasks {
        let (agent, (s, b)) = t.await.unwrap();
        match (s, b["code"].as_str()) {
            (200, _) => *ok.entry(agent).or_default() += 1,
            (429, Some("rate_limited")) => {}
            (s, code) => *other.entry(format!("{s} {code:?}")).or_default() += 1,
        }
    }
    assert!(other.is_empty(), "unexpected answers: {other:?}");
    assert_eq!(ok.get("bot-1"), Some(&LIMIT), "{ok:?}");
    assert_eq!(ok.get("bot-2"), Some(&LIMIT), "{ok:?}");
    assert_eq!(
        p.log.count(),
        2 * LIMIT,
        "the downstream saw exactly 2N calls"
    );
    let chain = verified_chain(&p.client, &p.b.url, &p.admin).await;
    // Each pass: allow + execution; each refusal: one deny receipt.
    assert_eq!(chain.len(), 2 * (2 * LIMIT) + (8 * LIMIT - 2 * LIMIT));
    assert!(started.elapsed() < Duration::from_secs(120));
}

/// One-shot throughput (POST /v1/actions/money.refund) on PostgreSQL with one and with two
/// rail processes, and the cost of a chain append. A measurement, not a check: run with
/// `scripts/with-postgres.sh cargo test -p intentrail-server --test it multi_instance:: --
/// --ignored --nocapture` (numbers are for the build profile the tests were built with).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a measurement; run explicitly"]
async fn throughput_one_and_two_instances() {
    let Some(base) = pg::base_url() else { return };
    let _cluster = pg::shared().await;
    let p = pair(&base, false).await;
    let secs = std::env::var("INTENTRAIL_BENCH_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(10u64);
    for (label, urls) in [
        ("1 instance ", vec![p.a.url.clone()]),
        ("2 instances", vec![p.a.url.clone(), p.b.url.clone()]),
    ] {
        let deadline = Instant::now() + Duration::from_secs(secs);
        let workers: Vec<_> = (0..32)
            .map(|w| {
                let url = format!("{}/v1/actions/money.refund", urls[w % urls.len()]);
                let (c, key, agent) = if w % 2 == 0 {
                    (p.client.clone(), p.api_key.clone(), "bot-1")
                } else {
                    (p.client.clone(), p.api_key_2.clone(), "bot-2")
                };
                tokio::spawn(async move {
                    let (mut n, mut bad) = (0u64, 0u64);
                    let mut lat = Vec::new();
                    while Instant::now() < deadline {
                        let t = Instant::now();
                        // No limit on the wallet: amounts vary so payloads differ.
                        let body = json!({"params": refund_params(1 + (n % 500) as i64)});
                        let (s, _) = post_json(&c, &url, &key, agent, &body).await;
                        lat.push(t.elapsed());
                        if s == 200 || s == 429 {
                            n += 1;
                        } else {
                            bad += 1;
                        }
                    }
                    (n, bad, lat)
                })
            })
            .collect();
        let (mut n, mut bad, mut lat) = (0, 0, Vec::new());
        for w in workers {
            let (a, b, l) = w.await.unwrap();
            n += a;
            bad += b;
            lat.extend(l);
        }
        lat.sort();
        let pct = |q: f64| {
            lat.get(((lat.len() as f64) * q) as usize)
                .copied()
                .unwrap_or_default()
        };
        eprintln!(
            "one-shot on postgres, {label}: {:.0} req/s over {secs}s (errors {bad}), p50 {:?} p99 {:?}",
            n as f64 / secs as f64,
            pct(0.5),
            pct(0.99)
        );
    }
}

/// What a chain append costs on PostgreSQL, against a plain single-row insert (`record_permit`)
/// on the same database: sequential latency, and throughput with 16 concurrent appenders on
/// one tenant (serialized by the head row lock) versus 16 tenants (independent heads).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a measurement; run explicitly"]
async fn chain_append_cost() {
    use intentrail_core::receipt::{Receipt, ReceiptKind};
    use intentrail_server::ledger::{postgres::PostgresLedger, Ledger};
    use intentrail_server::model::PermitRecord;
    use std::sync::Arc;
    let Some(base) = pg::base_url() else { return };
    let _cluster = pg::shared().await;
    let url = pg::fresh_db(&base).await;
    let l = Arc::new(PostgresLedger::open(&url).await.unwrap());
    let key = Arc::new(intentrail_core::keys::SigningKey::from_bytes(&[7u8; 32]));
    let draft = |tenant: &str, id: String| Receipt {
        outcome: Some("success".into()),
        ..Receipt::draft(
            id,
            1_700_000_000_000,
            tenant,
            "agent-1",
            ReceiptKind::Execution,
            "money.refund",
        )
    };
    let n = 500;
    let t0 = Instant::now();
    for i in 0..n {
        l.record_permit(&PermitRecord {
            jti: format!("p{i}"),
            tenant: "bench".into(),
            agent: "a".into(),
            action: "money.refund".into(),
            payload_hash: "sha256:x".into(),
            expires_at_ms: 0,
            idempotency_key: None,
        })
        .await
        .unwrap();
    }
    let insert = t0.elapsed() / n;
    let t0 = Instant::now();
    for i in 0..n {
        l.append_receipt(draft("seq", format!("s{i}")), Arc::clone(&key))
            .await
            .unwrap();
    }
    let append = t0.elapsed() / n;
    eprintln!("sequential: plain insert {insert:?}/op, chain append {append:?}/op");
    for (label, tenants) in [("1 tenant  ", 1usize), ("16 tenants", 16)] {
        let t0 = Instant::now();
        let tasks: Vec<_> = (0..16)
            .map(|w| {
                let (l, key) = (Arc::clone(&l), Arc::clone(&key));
                let tenant = format!("conc-{tenants}-{}", w % tenants);
                let ds: Vec<Receipt> = (0..100)
                    .map(|i| draft(&tenant, format!("c{tenants}-{w}-{i}")))
                    .collect();
                tokio::spawn(async move {
                    for d in ds {
                        l.append_receipt(d, Arc::clone(&key)).await.unwrap();
                    }
                })
            })
            .collect();
        for t in tasks {
            t.await.unwrap();
        }
        let el = t0.elapsed();
        eprintln!(
            "16 concurrent appenders, {label}: {:.0} appends/s",
            1600.0 / el.as_secs_f64()
        );
    }
}

/// Moving from the SQLite default: `intentrail ledger copy` carries the chain and agent keys
/// into PostgreSQL, `ledger migrate` reports the schema, and a rail on PostgreSQL continues
/// the same chain (it verifies end to end). A second copy into the same tenant is refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_to_postgres_copy_continues_the_chain() {
    let Some(base) = pg::base_url() else { return };
    let _cluster = pg::shared().await;
    let db = pg::fresh_db(&base).await;
    let (addr, log) = downstream().await;
    let dir = tempfile::tempdir().unwrap();
    let w = write_config(dir.path(), &format!("http://{addr}"), &Options::default());
    let (config, key, admin) = (w.config_path, w.api_key, w.admin_key);
    let c = reqwest::Client::new();
    let refund = |url: String, amount: i64| {
        let (c, key) = (c.clone(), key.clone());
        async move {
            post_json(
                &c,
                &format!("{url}/v1/actions/money.refund"),
                &key,
                "bot-1",
                &json!({"params": refund_params(amount)}),
            )
            .await
            .0
        }
    };
    let before = {
        let rail = RailProcess::start(&config);
        for i in 0..5 {
            assert_eq!(refund(rail.url.clone(), 100 + i).await, 200);
        }
        verified_chain(&c, &rail.url, &admin).await
    };
    let cli = |args: &[&str]| std::process::Command::new(BIN).args(args).output().unwrap();
    let cfg = config.to_str().unwrap();
    // Two profile versions in the source ledger: the copy keeps their numbers and hashes.
    {
        let src = intentrail_server::ledger::open(&format!(
            "sqlite://{}",
            dir.path().join("ledger.db").display()
        ))
        .await
        .unwrap();
        src.put_profile("acme", "shop", "sha256:one", b"{\"v\":1}")
            .await
            .unwrap();
        src.put_profile("acme", "shop", "sha256:two", b"{\"v\":2}")
            .await
            .unwrap();
    }
    let out = cli(&["ledger", "copy", "--config", cfg, "--to", &db]);
    let said = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        out.status.success(),
        "{said} {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        said.contains("tenant \"acme\": 10 receipt(s) copied"),
        "{said}"
    );
    assert!(said.contains("2 profile version(s) copied"), "{said}");
    {
        let dst = intentrail_server::ledger::open(&db).await.unwrap();
        let (row, doc) = dst
            .profile_document("acme", "shop", 1)
            .await
            .unwrap()
            .expect("version 1 copied");
        assert_eq!(
            (row.hash.as_str(), doc.as_slice()),
            ("sha256:one", &b"{\"v\":1}"[..])
        );
        let heads = dst.profile_heads().await.unwrap();
        assert!(heads
            .iter()
            .any(|h| h.tenant == "acme" && h.name == "shop" && h.version == 2));
    }
    let again = cli(&["ledger", "copy", "--config", cfg, "--to", &db]);
    assert!(!again.status.success(), "a second copy must be refused");
    let password = db.split(':').nth(2).unwrap().split('@').next().unwrap();
    assert!(!String::from_utf8_lossy(&again.stderr).contains(password));

    pg::set_ledger(&config, &db);
    let out = cli(&["ledger", "migrate", "--config", cfg]);
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("schema version 2"));
    assert!(cli(&["ledger", "migrate", "--help"]).status.success());

    let rail = RailProcess::start(&config);
    for i in 0..3 {
        assert_eq!(refund(rail.url.clone(), 200 + i).await, 200);
    }
    let after = verified_chain(&c, &rail.url, &admin).await;
    assert_eq!(after.len(), before.len() + 6);
    assert_eq!(
        &after[..before.len()],
        &before[..],
        "the copied chain is unchanged"
    );
    assert_eq!(log.count(), 8);
}
