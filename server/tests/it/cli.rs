//! The `intentrail` binary: help everywhere, init, demo, offline receipt verification (and
//! that an edited ledger row is caught at its seq), and a leak scan of the process output.

use std::process::Command;

use crate::support::{
    downstream, process, refund_params, write_config, Options, RailProcess, TestRail, BIN,
};
use serde_json::{json, Value};

fn run(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(BIN).args(args).output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn test_every_command_has_help() {
    for args in [
        vec!["--help"],
        vec!["serve", "--help"],
        vec!["init", "--help"],
        vec!["demo", "--help"],
        vec!["agents", "--help"],
        vec!["agents", "create", "--help"],
        vec!["agents", "revoke", "--help"],
        vec!["keys", "--help"],
        vec!["keys", "rotate", "--help"],
        vec!["receipts", "--help"],
        vec!["receipts", "export", "--help"],
        vec!["receipts", "verify", "--help"],
        vec!["profiles", "--help"],
        vec!["profiles", "import", "--help"],
    ] {
        let (code, out, _) = run(&args);
        assert_eq!(code, 0, "{args:?}");
        assert!(out.contains("Usage:"), "{args:?}: {out}");
    }
}

#[test]
fn test_the_example_config_loads() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/intentrail.toml");
    let c = intentrail_server::config::Config::load(&path).unwrap();
    assert_eq!(c.tenants[0].id, "acme");
    assert_eq!(c.tenants[0].connectors.len(), 3);
    assert_eq!(c.tenants[0].profiles[0].name, "github");
    assert_eq!(c.tenants[0].limits.len(), 1);
}

#[test]
fn test_a_config_with_an_unknown_field_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let err = intentrail_server::config::Config::from_toml(
        "listen = \"x\"\nlisten_typo = 1\n",
        dir.path(),
    )
    .unwrap_err();
    assert!(err.to_string().contains("listen_typo"), "{err}");
}

#[test]
fn test_init_writes_a_config_keys_and_prints_keys_once() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_str().unwrap();
    let (code, out, err) = run(&["init", "--dir", d, "--tenant", "acme", "--agent", "bot"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("ir_") && out.contains("ira_"), "{out}");
    let config =
        intentrail_server::config::Config::load(&dir.path().join("intentrail.toml")).unwrap();
    assert_eq!(config.tenants[0].id, "acme");
    let key = out
        .split_whitespace()
        .find(|w| w.starts_with("ir_"))
        .unwrap();
    let text = std::fs::read_to_string(dir.path().join("intentrail.toml")).unwrap();
    assert!(!text.contains(key), "the key itself is not stored");
    assert!(text.contains(&intentrail_server::auth::hash_key(key)));
    // A second init refuses to overwrite.
    let (code, _, _) = run(&["init", "--dir", d]);
    assert_ne!(code, 0);
}

#[test]
fn test_demo_runs_the_tour_and_writes_the_env_file() {
    let dir = tempfile::tempdir().unwrap();
    let env = dir.path().join("demo.json");
    let (code, out, err) = run(&[
        "demo",
        "--port",
        "0",
        "--dir",
        dir.path().to_str().unwrap(),
        "--env-file",
        env.to_str().unwrap(),
        "--exit-after-tour",
    ]);
    assert_eq!(code, 0, "{out}\n{err}");
    let doc: Value = serde_json::from_slice(&std::fs::read(&env).unwrap()).unwrap();
    for k in [
        "rail_url",
        "tenant",
        "agent_id",
        "api_key",
        "admin_key",
        "downstream_url",
    ] {
        assert!(doc[k].is_string(), "{k} missing: {doc}");
    }
    assert!(out.contains("→ 200 downstream 200"), "{out}");
    assert!(out.contains("→ 403 policy_denied"), "{out}");
    assert!(out.contains("→ 403 payload_hash_mismatch"), "{out}");
    assert!(out.contains("→ 409 permit_already_used"), "{out}");
    // The split refund: the first part fits the hourly budget, the next ones do not.
    assert!(
        out.contains("part 1 of 3 × 90.00 USD") && out.contains("→ 429 rate_limited"),
        "{out}"
    );
    let secret = std::fs::read_to_string(dir.path().join("payments-api-key")).unwrap();
    assert!(!out.contains(&secret) && !err.contains(&secret));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn test_receipts_verify_offline_and_an_edited_row_fails_at_its_seq() {
    let rail = TestRail::start(Options::default()).await;
    for amount in [100, 200, 300] {
        let (s, _) = rail
            .post(
                "/v1/actions/money.refund",
                json!({"params": refund_params(amount)}),
            )
            .await;
        assert_eq!(s, 200);
    }
    let config = rail.config_path.to_str().unwrap().to_string();
    let export = rail.dir.path().join("export.json");
    let (code, _, err) = run(&[
        "receipts",
        "export",
        "--config",
        &config,
        "--tenant",
        "acme",
        "--out",
        export.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{err}");
    let (code, out, _) = run(&["receipts", "verify", export.to_str().unwrap()]);
    assert_eq!(code, 0, "{out}");
    assert!(out.starts_with("OK: 6 receipts"), "{out}");
    // An export larger than the API's 1 MiB input limit (a chain of more than ~1,000
    // receipts) verifies too: padded here with trailing whitespace, which JSON allows.
    let mut big = std::fs::read(&export).unwrap();
    big.resize(big.len() + 2 * 1024 * 1024, b' ');
    let big_export = rail.dir.path().join("export-big.json");
    std::fs::write(&big_export, big).unwrap();
    let (code, out, err) = run(&["receipts", "verify", big_export.to_str().unwrap()]);
    assert_eq!(code, 0, "{out} {err}");
    assert!(out.starts_with("OK: 6 receipts"), "{out}");

    // Edit receipt seq 4 in the SQLite file: 300 → 30000 in its downstream status? No: its agent.
    let db = rusqlite::Connection::open(rail.dir.path().join("ledger.db")).unwrap();
    let changed = db
        .execute(
            "UPDATE receipts SET body = replace(body, '\"agent\":\"bot-1\"', '\"agent\":\"bot-9\"') WHERE tenant = 'acme' AND seq = 4",
            [],
        )
        .unwrap();
    assert_eq!(changed, 1);
    drop(db);
    let (code, _, err) = run(&[
        "receipts",
        "export",
        "--config",
        &config,
        "--tenant",
        "acme",
        "--out",
        export.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{err}");
    let (code, out, _) = run(&["receipts", "verify", export.to_str().unwrap()]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("seq 4"), "{out}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn test_an_export_cut_short_fails_its_signed_checkpoint() {
    let rail = TestRail::start(Options::default()).await;
    for amount in [100, 200, 300] {
        let (s, _) = rail
            .post(
                "/v1/actions/money.refund",
                json!({"params": refund_params(amount)}),
            )
            .await;
        assert_eq!(s, 200);
    }
    // The checkpoint needs the admin key.
    let (s, _) = rail
        .get(&rail.api_key, Some("bot-1"), "/v1/checkpoint")
        .await;
    assert_eq!(s, 403);
    let (s, cp) = rail.get(&rail.admin_key, None, "/v1/checkpoint").await;
    assert_eq!(s, 200, "{cp}");
    assert_eq!(
        (cp["tenant"].as_str(), cp["seq"].as_u64()),
        (Some("acme"), Some(6))
    );
    let cp_file = rail.dir.path().join("checkpoint.json");
    std::fs::write(&cp_file, cp.to_string()).unwrap();
    let head = format!("6:{}", cp["head"].as_str().unwrap());

    let config = rail.config_path.to_str().unwrap().to_string();
    let export = rail.dir.path().join("export.json");
    let export_now = || {
        let (code, _, err) = run(&[
            "receipts",
            "export",
            "--config",
            &config,
            "--tenant",
            "acme",
            "--out",
            export.to_str().unwrap(),
        ]);
        assert_eq!(code, 0, "{err}");
    };
    let verify = |extra: &[&str]| {
        let mut args = vec!["receipts", "verify", export.to_str().unwrap()];
        args.extend_from_slice(extra);
        run(&args)
    };
    let cp_arg = cp_file.to_str().unwrap();
    export_now();
    let (code, out, err) = verify(&["--checkpoint", cp_arg, "--expect-head", &head]);
    assert_eq!(code, 0, "{out} {err}");
    assert!(out.contains(&format!("head {head}")), "{out}");

    // An edited checkpoint does not verify.
    let mut forged = cp.clone();
    forged["seq"] = json!(5);
    let forged_file = rail.dir.path().join("forged.json");
    std::fs::write(&forged_file, forged.to_string()).unwrap();
    let (code, out, _) = verify(&["--checkpoint", forged_file.to_str().unwrap()]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("bad signature"), "{out}");

    // Cut the last two receipts, then all of them: the chain alone still verifies, the
    // checkpoint and the expected head do not.
    for keep in [4, 0] {
        let db = rusqlite::Connection::open(rail.dir.path().join("ledger.db")).unwrap();
        db.execute(
            "DELETE FROM receipts WHERE tenant = 'acme' AND seq > ?1",
            [keep],
        )
        .unwrap();
        drop(db);
        export_now();
        let (code, out, _) = verify(&[]);
        assert_eq!(code, 0, "without a checkpoint a cut is invisible: {out}");
        let (code, out, _) = verify(&["--checkpoint", cp_arg]);
        assert_eq!(code, 1, "{out}");
        assert!(out.contains("removed from its end"), "{out}");
        let (code, out, _) = verify(&["--expect-head", &head]);
        assert_eq!(code, 1, "{out}");
        assert!(out.contains("removed from its end"), "{out}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn test_the_secret_never_reaches_the_agent_or_the_logs_of_the_binary() {
    let (addr, log) = downstream().await;
    let dir = tempfile::tempdir().unwrap();
    let w = write_config(
        dir.path(),
        &format!("http://{addr}"),
        &Options {
            refund_path: "/echo".into(),
            ..Options::default()
        },
    );
    let (secret, key, admin) = (w.secret, w.api_key, w.admin_key);
    let rail = RailProcess::start_traced(&w.config_path, dir.path(), &[]);
    let url = rail.url.clone();
    let c = reqwest::Client::new();
    let mut agent_saw = String::new();
    for body in [
        json!({"params": refund_params(100)}),
        json!({"params": refund_params(100_000)}),
        json!({"params": {"nope": 1}}),
    ] {
        let r = c
            .post(format!("{url}/v1/actions/money.refund"))
            .bearer_auth(&key)
            .header("IntentRail-Agent", "bot-1")
            .json(&body)
            .send()
            .await
            .unwrap();
        agent_saw.push_str(&format!("{:?}", r.headers()));
        agent_saw.push_str(&r.text().await.unwrap());
    }
    for path in ["/v1/receipts?after=0", "/metrics"] {
        let r = c
            .get(format!("{url}{path}"))
            .bearer_auth(&admin)
            .send()
            .await
            .unwrap();
        agent_saw.push_str(&r.text().await.unwrap());
    }
    assert_eq!(log.count(), 1, "one allowed call reached the downstream");
    assert_eq!(
        log.all()[0].authorization().as_deref(),
        Some(format!("Bearer {secret}").as_str())
    );
    // SIGTERM: graceful shutdown.
    rail.stop();
    let logs = process::logs(dir.path());
    assert!(logs.len() > 100, "trace logging produced output");
    let mut db = std::fs::read(dir.path().join("ledger.db")).unwrap();
    db.extend(std::fs::read(dir.path().join("ledger.db-wal")).unwrap_or_default());
    for (name, hay) in [
        ("responses", agent_saw.as_bytes()),
        ("logs", logs.as_slice()),
        ("ledger", db.as_slice()),
    ] {
        assert!(
            !hay.windows(secret.len()).any(|w| w == secret.as_bytes()),
            "the secret appears in the {name}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn test_agents_created_and_revoked_by_the_cli_apply_to_a_running_rail() {
    let rail = TestRail::start(Options::default()).await;
    let config = rail.config_path.to_str().unwrap().to_string();
    let (code, out, err) = run(&[
        "agents",
        "create",
        "--config",
        &config,
        "--tenant",
        "acme",
        "--agent",
        "night-bot",
    ]);
    assert_eq!(code, 0, "{err}");
    let key = out
        .split_whitespace()
        .find(|w| w.starts_with("ir_"))
        .unwrap()
        .to_string();
    let body = json!({"params": refund_params(10)});
    let mut status = 0;
    for _ in 0..40 {
        status = rail
            .post_as(&key, "night-bot", "/v1/actions/money.refund", body.clone())
            .await
            .0;
        if status == 200 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(status, 200, "the new agent can act within seconds");
    let (code, _, err) = run(&[
        "agents",
        "revoke",
        "--config",
        &config,
        "--tenant",
        "acme",
        "--agent",
        "night-bot",
    ]);
    assert_eq!(code, 0, "{err}");
    for _ in 0..40 {
        status = rail
            .post_as(&key, "night-bot", "/v1/actions/money.refund", body.clone())
            .await
            .0;
        if status == 401 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(status, 401, "a revoked key is refused");
    // A config agent can be revoked too.
    let (code, _, _) = run(&[
        "agents", "revoke", "--config", &config, "--tenant", "acme", "--agent", "bot-2",
    ]);
    assert_eq!(code, 0);
    for _ in 0..40 {
        status = rail
            .post_as(
                &rail.api_key_2,
                "bot-2",
                "/v1/actions/money.refund",
                body.clone(),
            )
            .await
            .0;
        if status == 401 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(status, 401);
    // A revoked key stays revoked when its agent gets a new key: the config agent's and the
    // ledger agent's.
    for (agent, old_key) in [
        ("bot-2", rail.api_key_2.clone()),
        ("night-bot", key.clone()),
    ] {
        let (code, out, err) = run(&[
            "agents", "create", "--config", &config, "--tenant", "acme", "--agent", agent,
        ]);
        assert_eq!(code, 0, "{err}");
        let new_key = out
            .split_whitespace()
            .find(|w| w.starts_with("ir_"))
            .unwrap()
            .to_string();
        for _ in 0..40 {
            status = rail
                .post_as(&new_key, agent, "/v1/actions/money.refund", body.clone())
                .await
                .0;
            if status == 200 {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        assert_eq!(status, 200, "{agent}'s new key works");
        let (status, _) = rail
            .post_as(&old_key, agent, "/v1/actions/money.refund", body.clone())
            .await;
        assert_eq!(status, 401, "{agent}'s revoked key came back");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn test_keys_rotate_keeps_old_permits_verifiable() {
    let rail = TestRail::start(Options::default()).await;
    let config = rail.config_path.to_str().unwrap().to_string();
    let (code, out, err) = run(&["keys", "rotate", "--config", &config, "--tenant", "acme"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("now signs with"), "{out}");
    let keys = intentrail_server::keystore::load(
        &rail.dir.path().join("keys/acme"),
        intentrail_server::rail::now_ms(),
        65_000,
    )
    .unwrap();
    assert_eq!(keys.published.len(), 2, "old and new key both published");
    assert_eq!(keys.all.len(), 2);
}
