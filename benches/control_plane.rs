//! Control-plane figures on loopback, on both state backends in one run:
//!
//! - authenticated REST throughput and latency for get-session and
//!   list-sessions under a closed-loop load generator (N connections, each
//!   sending its next request when the last is answered), against
//!   `GET /api/v1/health` (no token, no state) as the baseline;
//! - the time from `POST /api/v1/sessions` to the session's answer (Connecting:
//!   recorded, reserved and launched);
//! - event fan-out: 100 subscribers on the events WebSocket, every transition
//!   counted by sequence number (lost, duplicated) and timed from its record.
//!
//! `cargo bench --bench control_plane -- [--seconds S] [--connections N] [--subscribers K] [--backends sqlite,pg]`
//! PostgreSQL at 127.0.0.1:5432 (database `test`) and Redis at 127.0.0.1:6379.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use playcast::auth::Role;
use sea_orm::ConnectionTrait;
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::Message;

const PG: &str = "postgres://postgres@127.0.0.1:5432";

struct Args {
    seconds: u64,
    connections: usize,
    subscribers: usize,
    backends: Vec<String>,
}

fn args() -> Args {
    let mut a = Args { seconds: 5, connections: 32, subscribers: 100, backends: vec!["sqlite".into(), "pg".into()] };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().unwrap_or_else(|| panic!("{flag} needs a value"));
        match flag.as_str() {
            "--seconds" => a.seconds = value().parse().expect("--seconds N"),
            "--connections" => a.connections = value().parse().expect("--connections N"),
            "--subscribers" => a.subscribers = value().parse().expect("--subscribers N"),
            "--backends" => a.backends = value().split(',').map(str::to_string).collect(),
            "--bench" => {}
            other => panic!("unknown argument {other}"),
        }
    }
    a
}

struct Running {
    base: String,
    ws: String,
    state: playcast::api::AppState,
    _stop: tokio::sync::oneshot::Sender<()>,
    _data: tempfile::TempDir,
}

async fn serve(backend: &str) -> (Running, Option<String>) {
    let mut config = playcast::config::Config::load_with_env(None, Vec::new()).unwrap();
    let repo = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    config.media.pipelines_dir = repo.join("pipelines");
    config.sessions.games_file = repo.join("config/games.toml");
    // Room for every session the benchmark opens.
    config.node.cpu_cores = 100_000;
    config.node.memory_mb = 100_000_000;
    let data = tempfile::tempdir().unwrap();
    config.server.data_dir = data.path().to_owned();
    let mut db = None;
    if backend == "pg" {
        let name = format!("bench_{}", uuid::Uuid::new_v4().simple());
        let admin = sea_orm::Database::connect(format!("{PG}/test")).await.expect("PostgreSQL at 127.0.0.1:5432");
        admin.execute_unprepared(&format!("CREATE DATABASE \"{name}\"")).await.unwrap();
        config.state.database_url = playcast::config::Secret(format!("{PG}/{name}"));
        config.cache.url = playcast::config::Secret("redis://127.0.0.1:6379".into());
        config.cache.prefix = name.clone();
        db = Some(name);
    }
    let service = playcast::server::Service::start(config, Default::default()).await.expect("service starts");
    let state = service.state.clone();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(service.serve(listener, async move {
        let _ = stopped.await;
    }));
    let running =
        Running { base: format!("http://{addr}"), ws: format!("ws://{addr}"), state, _stop: stop, _data: data };
    (running, db)
}

async fn drop_db(name: Option<String>) {
    if let Some(name) = name {
        if let Ok(admin) = sea_orm::Database::connect(format!("{PG}/test")).await {
            let _ = admin.execute_unprepared(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)")).await;
        }
    }
}

async fn sign_in(r: &Running, user: &str, role: Role) -> String {
    let token = r.state.verifier.dev_issuer().unwrap().mint(user, role, Duration::from_secs(3600)).unwrap();
    let res = reqwest::Client::new().post(format!("{}/api/v1/login", r.base)).bearer_auth(&token).send().await.unwrap();
    assert_eq!(res.status(), 200);
    token
}

fn pct(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

struct Load {
    rps: f64,
    p50: f64,
    p99: f64,
    errors: usize,
}

/// `connections` clients, each in a loop, for `seconds`.
async fn load(url: &str, token: Option<&str>, connections: usize, seconds: u64) -> Load {
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let tasks: Vec<_> = (0..connections)
        .map(|_| {
            let url = url.to_string();
            let token = token.map(str::to_string);
            tokio::spawn(async move {
                let client = reqwest::Client::builder().pool_max_idle_per_host(1).build().unwrap();
                let (mut lat, mut errors) = (Vec::new(), 0usize);
                while Instant::now() < deadline {
                    let mut req = client.get(&url);
                    if let Some(t) = &token {
                        req = req.bearer_auth(t);
                    }
                    let t0 = Instant::now();
                    match req.send().await {
                        Ok(r) if r.status().is_success() => {
                            let _ = r.bytes().await;
                            lat.push(t0.elapsed().as_secs_f64() * 1000.0);
                        }
                        _ => errors += 1,
                    }
                }
                (lat, errors)
            })
        })
        .collect();
    let started = Instant::now();
    let (mut all, mut errors) = (Vec::new(), 0);
    for t in tasks {
        let (l, e) = t.await.unwrap();
        all.extend(l);
        errors += e;
    }
    let took = started.elapsed().as_secs_f64();
    all.sort_by(|a, b| a.partial_cmp(b).unwrap());
    Load { rps: all.len() as f64 / took, p50: pct(&all, 0.5), p99: pct(&all, 0.99), errors }
}

async fn rest(r: &Running, a: &Args, out: &mut Vec<String>, backend: &str) {
    let token = sign_in(r, "bench-player", Role::Player).await;
    let client = reqwest::Client::new();
    // A few sessions so the list has something to list.
    let mut ids = Vec::new();
    for _ in 0..10 {
        let v: Value = client
            .post(format!("{}/api/v1/sessions", r.base))
            .bearer_auth(&token)
            .json(&json!({"game": "test-pattern"}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        ids.push(v["id"].as_str().expect("a session").to_string());
    }
    let cases = [
        ("GET /health (baseline)", format!("{}/api/v1/health", r.base), false),
        ("GET /sessions/{id}", format!("{}/api/v1/sessions/{}", r.base, ids[0]), true),
        ("GET /sessions", format!("{}/api/v1/sessions", r.base), true),
    ];
    let mut base_rps = 0.0;
    for (name, url, auth) in cases {
        let l = load(&url, auth.then_some(token.as_str()), a.connections, a.seconds).await;
        if !auth {
            base_rps = l.rps;
        }
        out.push(format!(
            "| {backend} | {name} | {:.0} | {:.2} | {:.2} | {:.2}x | {} |",
            l.rps,
            l.p50,
            l.p99,
            l.rps / base_rps,
            l.errors
        ));
    }
    for id in ids {
        let _ = client.post(format!("{}/api/v1/sessions/{id}/end", r.base)).bearer_auth(&token).send().await;
    }
}

async fn create_time(r: &Running, out: &mut Vec<String>, backend: &str) {
    let token = sign_in(r, "bench-creator", Role::Player).await;
    let client = reqwest::Client::new();
    let mut times = Vec::new();
    for _ in 0..100 {
        let t0 = Instant::now();
        let v: Value = client
            .post(format!("{}/api/v1/sessions", r.base))
            .bearer_auth(&token)
            .json(&json!({"game": "test-pattern"}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        times.push(t0.elapsed().as_secs_f64() * 1000.0);
        assert_eq!(v["state"], "connecting", "{v}");
        let id = v["id"].as_str().unwrap();
        client.post(format!("{}/api/v1/sessions/{id}/end", r.base)).bearer_auth(&token).send().await.unwrap();
    }
    times.sort_by(|a, b| a.partial_cmp(b).unwrap());
    out.push(format!(
        "| {backend} | create → connecting | {:.1} | {:.1} | {:.1} | {} |",
        pct(&times, 0.5),
        pct(&times, 0.95),
        pct(&times, 0.99),
        times.len()
    ));
}

async fn fanout(r: &Running, a: &Args, out: &mut Vec<String>, backend: &str) {
    let admin = sign_in(r, "bench-admin", Role::Admin).await;
    let player = sign_in(r, "bench-events", Role::Player).await;
    let url = format!("{}/api/v1/events", r.ws);
    let mut subscribers = Vec::new();
    for _ in 0..a.subscribers {
        let (mut ws, _) = tokio_tungstenite::connect_async(&url).await.unwrap();
        ws.send(Message::text(json!({"type": "auth", "token": admin}).to_string())).await.unwrap();
        let first = ws.next().await.unwrap().unwrap();
        assert!(first.to_text().unwrap().contains("authenticated"));
        subscribers.push(ws);
    }
    let stop = Arc::new(tokio::sync::Notify::new());
    let readers: Vec<_> = subscribers
        .into_iter()
        .map(|mut ws| {
            let stop = stop.clone();
            tokio::spawn(async move {
                let mut seen: BTreeMap<i64, u32> = BTreeMap::new();
                let mut lat = Vec::new();
                loop {
                    tokio::select! {
                        m = ws.next() => match m {
                            Some(Ok(Message::Text(t))) => {
                                let v: Value = serde_json::from_str(&t).unwrap();
                                if let (Some(seq), Some(at)) = (v["seq"].as_i64(), v["at"].as_str()) {
                                    *seen.entry(seq).or_default() += 1;
                                    let at = chrono::DateTime::parse_from_rfc3339(at).unwrap();
                                    let ms = (chrono::Utc::now() - at.with_timezone(&chrono::Utc)).num_microseconds().unwrap_or(0) as f64 / 1000.0;
                                    lat.push(ms);
                                }
                            }
                            Some(Ok(_)) => {}
                            _ => break,
                        },
                        _ = stop.notified() => break,
                    }
                }
                (seen, lat)
            })
        })
        .collect();
    // Producers: sessions created and ended back to back, 5 events each.
    let before = r.state.store.last_event_id().await.unwrap();
    let client = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(a.seconds);
    let started = Instant::now();
    let producers: Vec<_> = (0..4)
        .map(|_| {
            let (client, base, player) = (client.clone(), r.base.clone(), player.clone());
            tokio::spawn(async move {
                while Instant::now() < deadline {
                    let v: Value = client
                        .post(format!("{base}/api/v1/sessions"))
                        .bearer_auth(&player)
                        .json(&json!({"game": "test-pattern"}))
                        .send()
                        .await
                        .unwrap()
                        .json()
                        .await
                        .unwrap();
                    let id = v["id"].as_str().unwrap().to_string();
                    client.post(format!("{base}/api/v1/sessions/{id}/end")).bearer_auth(&player).send().await.unwrap();
                }
            })
        })
        .collect();
    for p in producers {
        p.await.unwrap();
    }
    // Let cleanup transitions land and reach everyone.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let took = started.elapsed().as_secs_f64();
    let recorded: Vec<i64> =
        r.state.store.events_after(before, 10_000_000).await.unwrap().iter().map(|e| e.event.id).collect();
    stop.notify_waiters();
    let (mut lost, mut dup, mut delivered, mut lat) = (0usize, 0usize, 0usize, Vec::new());
    for rd in readers {
        let (seen, l) = rd.await.unwrap();
        lat.extend(l);
        for id in &recorded {
            match seen.get(id).copied().unwrap_or(0) {
                0 => lost += 1,
                1 => delivered += 1,
                n => {
                    delivered += 1;
                    dup += n as usize - 1
                }
            }
        }
    }
    lat.sort_by(|a, b| a.partial_cmp(b).unwrap());
    out.push(format!(
        "| {backend} | {} | {} | {:.0} | {:.2} | {:.2} | {lost} | {dup} |",
        a.subscribers,
        recorded.len(),
        delivered as f64 / took,
        pct(&lat, 0.5),
        pct(&lat, 0.99),
    ));
}

fn main() {
    let a = args();
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    rt.block_on(async {
        let (mut rest_rows, mut create_rows, mut fan_rows) = (Vec::new(), Vec::new(), Vec::new());
        for backend in &a.backends {
            let label = if backend == "pg" { "PostgreSQL + Redis" } else { "SQLite + memory" };
            let (r, db) = serve(backend).await;
            eprintln!("{label}: REST load");
            rest(&r, &a, &mut rest_rows, label).await;
            eprintln!("{label}: create times");
            create_time(&r, &mut create_rows, label).await;
            eprintln!("{label}: event fan-out");
            fanout(&r, &a, &mut fan_rows, label).await;
            drop(r);
            drop_db(db).await;
        }
        println!("\n{} connections, {} s per case\n", a.connections, a.seconds);
        println!("| state | request | req/s | p50 ms | p99 ms | vs baseline | errors |");
        println!("| --- | --- | ---: | ---: | ---: | ---: | ---: |");
        rest_rows.iter().for_each(|r| println!("{r}"));
        println!("\n| state | step | p50 ms | p95 ms | p99 ms | samples |");
        println!("| --- | --- | ---: | ---: | ---: | ---: |");
        create_rows.iter().for_each(|r| println!("{r}"));
        println!("\n| state | subscribers | events | delivered msg/s | p50 ms | p99 ms | lost | duplicated |");
        println!("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |");
        fan_rows.iter().for_each(|r| println!("{r}"));
    });
}
