//! Closed-loop load client for the two-phase path: each connection repeatedly sends
//! `POST /v1/intents` and then `POST /v1/execute` with the permit it got, on one keep-alive
//! connection, and records the latency of the pair (one governed action). `--mode oneshot`
//! sends `POST /v1/actions/{action}` instead (to calibrate against wrk).
//!
//! `bench-twophase --addr 127.0.0.1:PORT --key KEY --agent AGENT --action money.refund
//!  --params-file FILE [--connections 32] [--duration 10] [--threads 2] [--mode twophase]`
//!
//! Prints one JSON line: actions, errors, seconds, actions_per_s, p50_us, p99_us.

use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt as _, Full};
use hyper::client::conn::http1;
use hyper::Request;
use hyper_util::rt::TokioIo;
use serde_json::Value;

struct Opts {
    addr: String,
    key: String,
    agent: String,
    action: String,
    params: String,
    connections: usize,
    duration: Duration,
    threads: usize,
    two_phase: bool,
}

fn opts() -> Result<Opts, String> {
    let mut o = Opts {
        addr: String::new(),
        key: String::new(),
        agent: String::new(),
        action: "money.refund".into(),
        params: String::new(),
        connections: 32,
        duration: Duration::from_secs(10),
        threads: 2,
        two_phase: true,
    };
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut v = || args.next().ok_or_else(|| format!("{a} needs a value"));
        match a.as_str() {
            "--addr" => o.addr = v()?,
            "--key" => o.key = v()?,
            "--agent" => o.agent = v()?,
            "--action" => o.action = v()?,
            "--params-file" => {
                let p = v()?;
                o.params = std::fs::read_to_string(&p).map_err(|e| format!("{p}: {e}"))?;
            }
            "--connections" => o.connections = v()?.parse().map_err(|_| "bad --connections")?,
            "--duration" => {
                o.duration = Duration::from_secs_f64(v()?.parse().map_err(|_| "bad --duration")?)
            }
            "--threads" => o.threads = v()?.parse().map_err(|_| "bad --threads")?,
            "--mode" => o.two_phase = v()? != "oneshot",
            _ => return Err(format!("unknown argument {a}")),
        }
    }
    if o.addr.is_empty() || o.params.trim().is_empty() {
        return Err("--addr and --params-file are required".into());
    }
    o.params = o.params.trim().to_string();
    Ok(o)
}

type Sender = http1::SendRequest<Full<Bytes>>;

async fn post(s: &mut Sender, o: &Opts, path: &str, body: String) -> Result<(u16, Bytes), String> {
    let req = Request::post(path)
        .header("host", o.addr.as_str())
        .header("content-type", "application/json")
        .header("authorization", format!("Bearer {}", o.key))
        .header("intentrail-agent", o.agent.as_str())
        .body(Full::new(Bytes::from(body)))
        .map_err(|e| e.to_string())?;
    s.ready().await.map_err(|e| e.to_string())?;
    let resp = s.send_request(req).await.map_err(|e| e.to_string())?;
    let status = resp.status().as_u16();
    let body = resp
        .into_body()
        .collect()
        .await
        .map_err(|e| e.to_string())?
        .to_bytes();
    Ok((status, body))
}

async fn one_action(s: &mut Sender, o: &Opts) -> Result<bool, String> {
    if !o.two_phase {
        let (st, _) = post(
            s,
            o,
            &format!("/v1/actions/{}", o.action),
            format!("{{\"params\":{}}}", o.params),
        )
        .await?;
        return Ok(st == 200);
    }
    let (st, body) = post(
        s,
        o,
        "/v1/intents",
        format!("{{\"action\":\"{}\",\"params\":{}}}", o.action, o.params),
    )
    .await?;
    if st != 201 {
        return Ok(false);
    }
    let v: Value = serde_json::from_slice(&body).map_err(|e| e.to_string())?;
    let Some(permit) = v["permit"].as_str() else {
        return Ok(false);
    };
    let (st, _) = post(
        s,
        o,
        "/v1/execute",
        format!("{{\"permit\":\"{permit}\",\"params\":{}}}", o.params),
    )
    .await?;
    Ok(st == 200)
}

async fn worker(o: std::sync::Arc<Opts>, deadline: Instant) -> (Vec<u32>, u64) {
    let mut lat = Vec::with_capacity(1 << 16);
    let mut errors = 0u64;
    let mut sender: Option<Sender> = None;
    while Instant::now() < deadline {
        if sender.is_none() {
            match tokio::net::TcpStream::connect(o.addr.as_str()).await {
                Ok(tcp) => {
                    let _ = tcp.set_nodelay(true);
                    match http1::handshake(TokioIo::new(tcp)).await {
                        Ok((s, conn)) => {
                            tokio::spawn(conn);
                            sender = Some(s);
                        }
                        Err(_) => errors += 1,
                    }
                }
                Err(_) => {
                    errors += 1;
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
            }
            continue;
        }
        let Some(s) = sender.as_mut() else { continue };
        let t = Instant::now();
        match one_action(s, &o).await {
            Ok(true) => lat.push(u32::try_from(t.elapsed().as_micros()).unwrap_or(u32::MAX)),
            Ok(false) => errors += 1,
            Err(_) => {
                errors += 1;
                sender = None;
            }
        }
    }
    (lat, errors)
}

fn main() {
    let o = match opts() {
        Ok(o) => std::sync::Arc::new(o),
        Err(e) => {
            eprintln!("bench-twophase: {e}");
            std::process::exit(2);
        }
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(o.threads.max(1))
        .enable_all()
        .build()
        .unwrap_or_else(|e| {
            eprintln!("bench-twophase: runtime: {e}");
            std::process::exit(2)
        });
    let (mut lat, errors, secs) = rt.block_on(async {
        let start = Instant::now();
        let deadline = start + o.duration;
        let tasks: Vec<_> = (0..o.connections)
            .map(|_| tokio::spawn(worker(o.clone(), deadline)))
            .collect();
        let mut lat = Vec::new();
        let mut errors = 0;
        for t in tasks {
            if let Ok((l, e)) = t.await {
                lat.extend(l);
                errors += e;
            }
        }
        (lat, errors, start.elapsed().as_secs_f64())
    });
    lat.sort_unstable();
    let pct = |p: f64| -> u32 {
        if lat.is_empty() {
            return 0;
        }
        let i = ((lat.len() as f64 * p).ceil() as usize).clamp(1, lat.len()) - 1;
        lat[i]
    };
    let line = serde_json::json!({
        "actions": lat.len(),
        "errors": errors,
        "seconds": secs,
        "actions_per_s": lat.len() as f64 / secs,
        "p50_us": pct(0.50),
        "p99_us": pct(0.99),
    });
    #[allow(clippy::print_stdout)]
    {
        println!("{line}");
    }
}
