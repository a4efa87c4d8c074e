//! Scale-out on one machine: two nodes sharing PostgreSQL and Redis.
//!
//! - capacity: test-pattern sessions at 640x360@30 (sound on, the picture
//!   scrolling two pixels a frame) are added one at a time, each played by
//!   the reference client in headless Chromium, until some stream decodes
//!   fewer than 29 fps over 10 s. Baseline, same command: one node alone on
//!   the same machine (so the ratio shows what the fleet costs, not what a
//!   second machine would add: both nodes share these cores).
//! - placement: `Manager::place` (the fleet read from Redis, then ranked)
//!   timed on a node of the fleet; baseline: the ranking alone on the same
//!   nodes. Also the create call end to end when placed on the other node.
//! - failover: a node with sessions is killed with SIGKILL; the time until
//!   the survivor has recorded `error` for all of them, against the
//!   heartbeat TTL (the floor by design).
//!
//! The nodes run in the root namespace (PostgreSQL and Redis are on its
//! loopback); Chromium runs in a namespace of its own, reaching them over its
//! veth pair (WebRTC needs a non-loopback address).
//!
//! `cargo bench --bench fleet_scale -- [--only capacity|placement|failover] [--max N] [--rounds N]`
//! (as root).

#[path = "../tests/common/mod.rs"]
mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{call, percentile, Browser};
use playcast::auth::Role;
use playcast::netns::Netns;
use serde_json::json;

const MIN_FPS: f64 = 29.0;
const MEASURE: Duration = Duration::from_secs(10);
const WARM: Duration = Duration::from_secs(6);

struct Args {
    only: Option<String>,
    max: usize,
    rounds: usize,
}

fn args() -> Args {
    let mut a = Args { only: None, max: 24, rounds: 5 };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "--only" => a.only = it.next(),
            "--max" => a.max = it.next().and_then(|v| v.parse().ok()).expect("--max N"),
            "--rounds" => a.rounds = it.next().and_then(|v| v.parse().ok()).expect("--rounds N"),
            _ => {}
        }
    }
    a
}

/// What the nodes of a run share.
struct Shared {
    db: common::PgDatabase,
    data: tempfile::TempDir,
    prefix: String,
    host: std::net::Ipv4Addr,
}

impl Shared {
    fn config(&self, id: &str) -> playcast::config::Config {
        let mut c = playcast::config::Config::load_with_env(None, Vec::new()).expect("defaults");
        c.media.pipelines_dir = common::repo().join("pipelines");
        c.sessions.games_file = common::repo().join("config/games.toml");
        c.server.data_dir = self.data.path().to_owned();
        c.state.database_url = playcast::config::Secret(self.db.url());
        c.cache.url = playcast::config::Secret(common::REDIS_URL.into());
        c.cache.prefix = self.prefix.clone();
        c.node.id = id.into();
        // The declared budget is not what is measured: the frames are.
        c.node.cpu_cores = 256;
        c.media.max_streams = 256;
        c.sessions.connect_timeout = std::time::Duration::from_secs(600);
        c
    }

    /// The node the bench talks to, in this process (so placement can be timed).
    async fn local(&self, id: &str) -> (playcast::api::AppState, String) {
        let listener = tokio::net::TcpListener::bind((self.host, 0)).await.expect("bind");
        let base = format!("http://{}", listener.local_addr().unwrap());
        let mut c = self.config(id);
        c.node.advertise = base.clone();
        let service = playcast::server::Service::start(c, Default::default()).await.expect("node starts");
        let state = service.state.clone();
        tokio::spawn(service.serve(listener, std::future::pending()));
        (state, base)
    }

    /// Another node as its own process, to kill.
    async fn spawn(&self, id: &str) -> (common::Proc, String) {
        let port = std::net::TcpListener::bind((self.host, 0)).unwrap().local_addr().unwrap().port();
        let listen = format!("{}:{port}", self.host);
        let mut cmd = common::node_process(id, &listen, self.data.path(), &self.db.url(), &self.prefix);
        cmd.env("PLAYCAST__NODE__CPU_CORES", "256").env("PLAYCAST__MEDIA__MAX_STREAMS", "256").env("RUST_LOG", "warn");
        let proc = common::Proc(cmd.spawn().expect("spawning playcast serve"), "playcast");
        let base = format!("http://{listen}");
        common::wait_http(&format!("{base}/api/v1/health"), Duration::from_secs(60)).await;
        (proc, base)
    }
}

const SESSION: &str =
    r#"{"game": "test-pattern", "params": {"width": 640, "height": 360, "framerate": 30, "motion": 2}}"#;

/// Waits until every node the fleet lists has published `sessions` it runs, in total `total`.
async fn until_published(base: &str, admin: &str, total: u64) {
    common::eventually("published loads", Duration::from_secs(20), || async {
        let (_, list) = call(base, admin, reqwest::Method::GET, "/api/v1/nodes", None).await;
        let sum: u64 = list.as_array()?.iter().filter_map(|n| n["sessions"].as_u64()).sum();
        (sum == total).then_some(())
    })
    .await;
}

/// (busy, total) jiffies of the whole machine.
fn machine_ticks() -> (u64, u64) {
    let stat = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    let f: Vec<u64> =
        stat.lines().next().unwrap_or("").split_whitespace().skip(1).filter_map(|v| v.parse().ok()).collect();
    let total: u64 = f.iter().take(8).sum();
    let idle = f.get(3).copied().unwrap_or(0) + f.get(4).copied().unwrap_or(0);
    (total - idle, total)
}

/// Jiffies spent by Chromium's processes.
fn chromium_ticks() -> u64 {
    let mut sum = 0;
    for e in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Some(pid) = e.file_name().to_str().and_then(|p| p.parse::<u32>().ok()) else { continue };
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        if !stat.contains("(chromium") {
            continue;
        }
        let rest = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
        let f: Vec<&str> = rest.split_whitespace().collect();
        sum += f.get(11).and_then(|s| s.parse::<u64>().ok()).unwrap_or(0)
            + f.get(12).and_then(|s| s.parse::<u64>().ok()).unwrap_or(0);
    }
    sum
}

struct Step {
    sessions: usize,
    per_node: Vec<(String, usize)>,
    min_fps: f64,
    median_fps: f64,
    /// The machine's cores busy, and Chromium's part, in percent of one core.
    busy_pct: f64,
    chromium_pct: f64,
}

/// Adds sessions one at a time, each played in an iframe of one page, until a
/// stream falls under 29 fps or `max` is reached. Returns every step.
async fn ramp(base: &str, token: &str, admin: &str, browser: &Browser, max: usize) -> Vec<Step> {
    // Any page of the node's origin holds the players' frames (so their state can be read).
    browser.client.goto(&format!("{base}/api/v1/health")).await.expect("open a page of the node");
    let mut ids: Vec<(String, String)> = Vec::new();
    let mut steps = Vec::new();
    while ids.len() < max {
        {
            let (status, view) = call(
                base,
                token,
                reqwest::Method::POST,
                "/api/v1/sessions",
                Some(serde_json::from_str(SESSION).unwrap()),
            )
            .await;
            assert_eq!(status, 201, "create: {view}");
            let id = view["id"].as_str().unwrap().to_string();
            let add = format!(
                "(() => {{ const f = document.createElement('iframe'); f.width = 320; f.height = 180; \
                 f.src = '/?session={id}&user=bench'; document.body.appendChild(f); return true; }})()"
            );
            browser.eval(&add).await;
            ids.push((id, view["node"].as_str().unwrap_or("?").to_string()));
        }
        until_published(base, admin, ids.len() as u64).await;
        let live = format!(
            "[...document.querySelectorAll('iframe')].filter(f => f.contentWindow.playcast?.state === 'live' \
             && (f.contentWindow.playcast?.stats?.framesDecoded ?? 0) > 10).length === {}",
            ids.len()
        );
        browser.wait_for(&live, Duration::from_secs(60)).await;
        tokio::time::sleep(WARM).await;
        let count =
            "[...document.querySelectorAll('iframe')].map(f => f.contentWindow.playcast?.stats?.framesDecoded ?? 0)";
        let before = browser.eval(count).await;
        let (busy0, total0, chromium0) = {
            let (b, t) = machine_ticks();
            (b, t, chromium_ticks())
        };
        let t0 = Instant::now();
        tokio::time::sleep(MEASURE).await;
        let after = browser.eval(count).await;
        let (busy1, total1, chromium1) = {
            let (b, t) = machine_ticks();
            (b, t, chromium_ticks())
        };
        // Jiffies over all cores: the share of the total, times the core count, is cores busy.
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get()) as f64;
        let per_core = |ticks: u64| 100.0 * cores * ticks as f64 / (total1 - total0).max(1) as f64;
        let secs = t0.elapsed().as_secs_f64();
        let mut fps: Vec<f64> = after
            .as_array()
            .unwrap()
            .iter()
            .zip(before.as_array().unwrap())
            .map(|(a, b)| (a.as_f64().unwrap_or(0.0) - b.as_f64().unwrap_or(0.0)) / secs)
            .collect();
        fps.sort_by(f64::total_cmp);
        let mut per_node: std::collections::BTreeMap<String, usize> = Default::default();
        for (_, n) in &ids {
            *per_node.entry(n.clone()).or_default() += 1;
        }
        let step = Step {
            sessions: ids.len(),
            per_node: per_node.into_iter().collect(),
            min_fps: fps[0],
            median_fps: percentile(&fps, 50.0),
            busy_pct: per_core(busy1 - busy0),
            chromium_pct: per_core(chromium1 - chromium0),
        };
        println!(
            "  {:>2} sessions {:?}: fps min {:.2}, median {:.2}; machine {:.0}% of a core busy, Chromium {:.0}%",
            step.sessions, step.per_node, step.min_fps, step.median_fps, step.busy_pct, step.chromium_pct
        );
        let done = step.min_fps < MIN_FPS;
        steps.push(step);
        if done {
            break;
        }
    }
    for (id, _) in &ids {
        call(base, token, reqwest::Method::DELETE, &format!("/api/v1/sessions/{id}"), None).await;
    }
    until_published(base, admin, 0).await;
    steps
}

fn carried(steps: &[Step]) -> Option<&Step> {
    steps.iter().rev().find(|s| s.min_fps >= MIN_FPS)
}

fn report_capacity(label: &str, steps: &[Step]) -> usize {
    match carried(steps) {
        Some(s) => {
            println!(
                "{label}: {} sessions carried at >= {MIN_FPS} fps each ({:?}; min {:.2}, median {:.2}; machine {:.0}%, Chromium {:.0}%)",
                s.sessions, s.per_node, s.min_fps, s.median_fps, s.busy_pct, s.chromium_pct
            );
            s.sessions
        }
        None => {
            println!("{label}: not even 1 session at >= {MIN_FPS} fps");
            0
        }
    }
}

async fn capacity(shared: &Shared, ns: &Netns, max: usize) {
    println!("capacity: sessions at 640x360@30 until a stream decodes < {MIN_FPS} fps over {MEASURE:?}");
    // Baseline: node B alone.
    let (b, base) = shared.local("node-b").await;
    let token = b.verifier.dev_issuer().unwrap().mint("bench", Role::Player, Duration::from_secs(3600)).unwrap();
    let admin = b.verifier.dev_issuer().unwrap().mint("root", Role::Admin, Duration::from_secs(3600)).unwrap();
    let browser = Browser::start_for_origin(ns, &base).await;
    println!("one node:");
    let alone = ramp(&base, &token, &admin, &browser, max).await;
    let (mut a, _a_base) = shared.spawn("node-a").await;
    common::eventually("two nodes", Duration::from_secs(20), || async {
        let (_, list) = call(&base, &admin, reqwest::Method::GET, "/api/v1/nodes", None).await;
        (list.as_array()?.len() == 2).then_some(())
    })
    .await;
    println!("two nodes:");
    let both = ramp(&base, &token, &admin, &browser, max).await;
    let one = report_capacity("one node", &alone);
    let two = report_capacity("two nodes", &both);
    if one > 0 {
        println!("ratio two nodes / one node: {:.2}", two as f64 / one as f64);
    }
    browser.close().await;
    let _ = a.0.kill();
}

async fn placement(shared: &Shared, rounds: usize) {
    let (b, base) = shared.local("node-p").await;
    let (_a, _a_base) = shared.spawn("node-q").await;
    let admin = b.verifier.dev_issuer().unwrap().mint("root", Role::Admin, Duration::from_secs(3600)).unwrap();
    let token = b.verifier.dev_issuer().unwrap().mint("bench", Role::Player, Duration::from_secs(3600)).unwrap();
    common::eventually("two nodes", Duration::from_secs(20), || async {
        let (_, list) = call(&base, &admin, reqwest::Method::GET, "/api/v1/nodes", None).await;
        (list.as_array()?.len() == 2).then_some(())
    })
    .await;
    let m: &Arc<playcast::session::manager::Manager> = &b.sessions;
    let req: playcast::session::manager::CreateRequest =
        serde_json::from_value(json!({"game": "test-pattern"})).unwrap();
    let game = m.games().get("test-pattern").cloned().unwrap();
    let n = 2000 * rounds.max(1) / 5;
    let (mut place, mut rank) = (Vec::with_capacity(n), Vec::with_capacity(n));
    let published = m.nodes().await.expect("the fleet");
    let local: Vec<_> = m.local_info().into_iter().collect();
    for _ in 0..n {
        let t = Instant::now();
        let ranked = m.place(&req).await.expect("a node");
        place.push(t.elapsed().as_secs_f64() * 1e6);
        assert_eq!(ranked.len(), 2);
        let t = Instant::now();
        let ranked = m.rank(published.clone(), local.clone(), &game).expect("a node");
        rank.push(t.elapsed().as_secs_f64() * 1e6);
        assert_eq!(ranked.len(), 2);
    }
    place.sort_by(f64::total_cmp);
    rank.sort_by(f64::total_cmp);
    println!(
        "placement decision ({n} runs, 2 nodes): p50 {:.0} us, p99 {:.0} us; ranking alone p50 {:.1} us, p99 {:.1} us; ratio p99 {:.0}x",
        percentile(&place, 50.0),
        percentile(&place, 99.0),
        percentile(&rank, 50.0),
        percentile(&rank, 99.0),
        percentile(&place, 99.0) / percentile(&rank, 99.0)
    );
    // End to end: a create on this node that lands here (both empty: the lower
    // id) or, while a session pinned here makes this node the busier, on the other.
    let mut here = Vec::new();
    let mut there = Vec::new();
    let mut pinned = None;
    for i in 0..40 {
        if i == 20 {
            let view = common::create_pinned(&base, &token).await;
            pinned = Some(view["id"].as_str().unwrap().to_string());
            until_published(&base, &admin, 1).await;
        }
        let t = Instant::now();
        let (status, view) =
            call(&base, &token, reqwest::Method::POST, "/api/v1/sessions", Some(json!({"game": "test-pattern"}))).await;
        let ms = t.elapsed().as_secs_f64() * 1e3;
        assert_eq!(status, 201, "{view}");
        if view["node"] == "node-p" { &mut here } else { &mut there }.push(ms);
        let id = view["id"].as_str().unwrap();
        call(&base, &token, reqwest::Method::DELETE, &format!("/api/v1/sessions/{id}"), None).await;
        until_published(&base, &admin, u64::from(pinned.is_some())).await;
    }
    if let Some(id) = pinned {
        call(&base, &token, reqwest::Method::DELETE, &format!("/api/v1/sessions/{id}"), None).await;
    }
    for (label, v) in [("created here", &mut here), ("created on the other node", &mut there)] {
        v.sort_by(f64::total_cmp);
        println!(
            "create call, {label} ({}): p50 {:.1} ms, p99 {:.1} ms",
            v.len(),
            percentile(v, 50.0),
            percentile(v, 99.0)
        );
    }
}

async fn failover(shared: &Shared, rounds: usize) {
    let (b, base) = shared.local("node-s").await;
    let ttl = b.sessions.timing().ttl;
    let token = b.verifier.dev_issuer().unwrap().mint("bench", Role::Player, Duration::from_secs(3600)).unwrap();
    // The events stream wants a sign-in.
    let (status, _) = call(&base, &token, reqwest::Method::POST, "/api/v1/login", None).await;
    assert_eq!(status, 200);
    let mut times = Vec::new();
    for round in 0..rounds {
        let (mut a, a_base) = shared.spawn("node-k").await;
        let mut feed =
            common::ws_connect(&format!("ws://{}/api/v1/events", base.trim_start_matches("http://")), &token).await;
        let mut ids = std::collections::HashSet::new();
        for _ in 0..3 {
            // Pinned to the node to be killed: a request marked as forwarded is served where it lands.
            let view = common::create_pinned(&a_base, &token).await;
            assert_eq!(view["node"], "node-k", "{view}");
            ids.insert(view["id"].as_str().unwrap().to_string());
        }
        // Its heartbeat is fresh in both witnesses when it dies.
        tokio::time::sleep(Duration::from_millis(1500)).await;
        let t0 = Instant::now();
        a.0.kill().unwrap();
        let _ = a.0.wait();
        while !ids.is_empty() {
            let e = tokio::time::timeout(Duration::from_secs(30), common::recv_kind(&mut feed, "event"))
                .await
                .expect("errors recorded");
            if e["to"] == "error" {
                ids.remove(e["session_id"].as_str().unwrap_or(""));
            }
        }
        let s = t0.elapsed().as_secs_f64();
        println!("  round {}: kill -9 -> all 3 sessions in error on the survivor: {s:.2} s", round + 1);
        times.push(s);
        drop(a);
    }
    times.sort_by(f64::total_cmp);
    println!(
        "failover ({rounds} rounds, heartbeat {:?}, TTL {:?}): kill -9 -> error p50 {:.2} s, max {:.2} s; ratio to the TTL p50 {:.2}",
        b.sessions.timing().every,
        ttl,
        percentile(&times, 50.0),
        times.last().copied().unwrap_or(f64::NAN),
        percentile(&times, 50.0) / ttl.as_secs_f64()
    );
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let a = args();
    // Chromium's namespace; the nodes listen on its peer address in the root namespace.
    let ns = Netns::create().expect("a network namespace (run as root)");
    // Each part has a fleet of its own: the nodes of an earlier part (in this
    // process, never stopped) must not be placement candidates in the next.
    let fleet = || async {
        Shared {
            db: common::PgDatabase::create().await,
            data: tempfile::tempdir().unwrap(),
            prefix: format!("bench-{}", uuid::Uuid::new_v4().simple()),
            host: ns.outer,
        }
    };
    let want = |part: &str| a.only.as_deref().is_none_or(|o| o == part);
    if want("placement") {
        placement(&fleet().await, a.rounds).await;
    }
    if want("failover") {
        failover(&fleet().await, a.rounds).await;
    }
    if want("capacity") {
        capacity(&fleet().await, &ns, a.max).await;
    }
}
