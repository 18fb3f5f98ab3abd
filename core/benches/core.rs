//! Hot paths of the rail: parse + canonicalize + hash of params, permit issue and verify,
//! receipt hashing (straight from the fields vs via its JSON), signing alone vs per batch.
//! Run: `cargo bench -p intentrail-core --bench core -- --warm-up-time 1 --measurement-time 3`.

use std::collections::HashMap;
use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use intentrail_core::hash::payload_hash_bytes;
use intentrail_core::permit::{self, PermitClaims, VerifyOptions};
use intentrail_core::{Downstream, Receipt, ReceiptKind, SigningKey};

/// A JSON object of roughly `target` bytes: nested objects, arrays, strings, numbers.
fn payload(target: usize) -> Vec<u8> {
    let mut items = Vec::new();
    let mut len = 0;
    let mut i = 0u64;
    while len < target {
        let item = format!(
            r#"{{"id":"item_{i}","amount":{},"ratio":{},"tags":["a","é","long tag {i}"],"meta":{{"z":{i},"a":true,"n":null}}}}"#,
            i * 137 % 100_000,
            i as f64 / 7.0
        );
        len += item.len() + 1;
        items.push(item);
        i += 1;
    }
    format!(r#"{{"currency":"usd","items":[{}]}}"#, items.join(",")).into_bytes()
}

fn claims() -> PermitClaims {
    PermitClaims {
        iss: "https://rail.example/t/acme".into(),
        aud: "https://rail.example/gateway".into(),
        sub: "refund-agent".into(),
        tnt: "acme".into(),
        act: "money.refund".into(),
        ph: "sha256:4UyyT5mpMp8UaPKwS7AaoznDvrpecIWB57k1Dr1aoNc".into(),
        jti: "0195f3a2-7c1e-7d3a-9b2e-3f4a5b6c7d8e".into(),
        iat: 1_000,
        nbf: 1_000,
        exp: 1_060,
        pol: "sha256:us-j-rizSof75o0rlJuPtivAk5QqhP2aCFQ_FaC2PuI".into(),
        idk: Some("idem-1".into()),
        prv: None,
    }
}

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("payload_hash");
    for (name, size) in [("1KB", 1024), ("64KB", 64 * 1024)] {
        let p = payload(size);
        g.throughput(Throughput::Bytes(p.len() as u64));
        g.bench_function(name, |b| {
            b.iter(|| payload_hash_bytes(black_box(&p)).expect("valid"))
        });
    }
    g.finish();

    let key = SigningKey::from_bytes(&[3; 32]);
    let c0 = claims();
    c.bench_function("permit_issue", |b| {
        b.iter(|| permit::issue(black_box(&c0), &key).expect("issue"))
    });
    let token = permit::issue(&c0, &key).expect("issue");
    let resolver = HashMap::from([(key.kid().to_string(), key.verifying_key())]);
    let opts = VerifyOptions {
        issuer: "https://rail.example/t/acme",
        audience: "https://rail.example/gateway",
        now: 1_010,
    };
    c.bench_function("permit_verify", |b| {
        b.iter(|| permit::verify(black_box(&token), &resolver, &opts).expect("verify"))
    });
}

fn receipt() -> Receipt {
    Receipt {
        id: "rcpt_0195f3a27c1e7d3a9b2e3f4a5b6c7d8e".into(),
        seq: 118_533,
        prev: "sha256:4UyyT5mpMp8UaPKwS7AaoznDvrpecIWB57k1Dr1aoNc".into(),
        ts: 1_764_000_000_000,
        tenant: "acme".into(),
        agent: "refund-agent".into(),
        kind: ReceiptKind::Execution,
        action: "money.refund".into(),
        decision: None,
        outcome: Some("success".into()),
        code: None,
        reason: None,
        permit_id: Some("pmt_0195f3a27c1e7d3a9b2e3f4a5b6c7d8e".into()),
        payload_hash: Some("sha256:us-j-rizSof75o0rlJuPtivAk5QqhP2aCFQ_FaC2PuI".into()),
        policy_hash: Some("sha256:47DEQpj8HBSa-_TImW-5JCeuQeRkm5NMpJWZG3hSuFU".into()),
        profile_version: None,
        downstream: Some(Downstream {
            method: "POST".into(),
            url: "http://127.0.0.1:8081/v1/refunds".into(),
            status: Some(200),
            response_hash: Some("sha256:us-j-rizSof75o0rlJuPtivAk5QqhP2aCFQ_FaC2PuI".into()),
            latency_ms: 1,
        }),
        via: None,
        kid: String::new(),
        hash: String::new(),
        sig: String::new(),
        batch: None,
    }
}

fn bench_receipts(c: &mut Criterion) {
    let key = SigningKey::from_bytes(&[3; 32]);
    let r = receipt();
    c.bench_function("receipt_hash_direct", |b| {
        b.iter(|| {
            let mut x = black_box(&r).clone();
            x.seal_unsigned(key.kid()).expect("hash");
            x
        })
    });
    c.bench_function("receipt_hash_via_json", |b| {
        b.iter(|| {
            let x = black_box(&r).clone();
            intentrail_core::receipt::receipt_hash(&x.to_value().expect("json")).expect("hash")
        })
    });
    c.bench_function("receipt_seal_signed_alone", |b| {
        b.iter(|| {
            let mut x = black_box(&r).clone();
            x.seal(&key).expect("seal");
            x
        })
    });
    let hashes: Vec<String> = (0..16)
        .map(|i| intentrail_core::hash::sha256_tagged(format!("r{i}").as_bytes()))
        .collect();
    let refs: Vec<&str> = hashes.iter().map(String::as_str).collect();
    c.bench_function("batch_sign_16", |b| {
        b.iter(|| intentrail_core::batch::sign(&key, black_box(&refs)).expect("sign"))
    });
}

criterion_group!(benches, bench, bench_receipts);
criterion_main!(benches);
