//! Control-plane figures on loopback, on both state backends in one run:
//!
//! - authenticated REST throughput and latency for get-session and
//!   list-sessions under a closed-loop load generator (N connections, each
//!   sending its next request when the last is answered), against
//!   `GET /api/v1/health` (no token, no state) as the baseline;
//! - the time from `POST /api/v1/sessions` to the session's answer (Connecting:
//!   recorded, reserved and launched);
//! - event fan-out: 100 subscribers on the events WebSocket, every transition
//!   counted by sequence number (lost, duplicated) and timed from its record
//!   and from its publication; on PostgreSQL + Redis once more with every
//!   subscriber reconnecting once (resuming after its last number) and Redis
//!   killed and restarted, to count what is lost or repeated across both.
//!
//! - signaling: as many signaling WebSockets as subscribers, each sending
//!   keep-alive pings (paced, `--signal-rate` in all) answered by pongs,
//!   timed and counted by id.
//!
//! `cargo bench --bench control_plane -- [--seconds S] [--connections N] [--subscribers K] [--backends sqlite,pg] [--event-rate R] [--signal-rate R]`
//! PostgreSQL at 127.0.0.1:5432 (database `test`); Redis is a redis-server of
//! the benchmark's own on a free loopback port, so it can be restarted.

#[path = "../tests/common/mod.rs"]
mod common;

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
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
    event_rate: u32,
    signal_rate: u32,
}

fn args() -> Args {
    let mut a = Args {
        seconds: 5,
        connections: 32,
        subscribers: 100,
        backends: vec!["sqlite".into(), "pg".into()],
        event_rate: 250,
        signal_rate: 10_000,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().unwrap_or_else(|| panic!("{flag} needs a value"));
        match flag.as_str() {
            "--seconds" => a.seconds = value().parse().expect("--seconds N"),
            "--connections" => a.connections = value().parse().expect("--connections N"),
            "--subscribers" => a.subscribers = value().parse().expect("--subscribers N"),
            "--backends" => a.backends = value().split(',').map(str::to_string).collect(),
            "--event-rate" => a.event_rate = value().parse().expect("--event-rate N"),
            "--signal-rate" => a.signal_rate = value().parse().expect("--signal-rate N"),
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
    /// The PostgreSQL run's Redis.
    redis: Option<Arc<Mutex<common::redis::PrivateRedis>>>,
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
    let (mut db, mut redis) = (None, None);
    if backend == "pg" {
        let name = format!("bench_{}", uuid::Uuid::new_v4().simple());
        let admin = sea_orm::Database::connect(format!("{PG}/test")).await.expect("PostgreSQL at 127.0.0.1:5432");
        admin.execute_unprepared(&format!("CREATE DATABASE \"{name}\"")).await.unwrap();
        config.state.database_url = playcast::config::Secret(format!("{PG}/{name}"));
        let server = common::redis::PrivateRedis::start();
        config.cache.url = playcast::config::Secret(server.url());
        redis = Some(Arc::new(Mutex::new(server)));
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
        Running { base: format!("http://{addr}"), ws: format!("ws://{addr}"), state, redis, _stop: stop, _data: data };
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

/// `connections` clients, each in a loop, for `seconds`. Each is a bare
/// HTTP/1.1 keep-alive connection writing one prepared request and reading
/// the answer by its `content-length`: a full HTTP client would take a larger
/// share of the two cores the service runs on.
async fn load(url: &str, token: Option<&str>, connections: usize, seconds: u64) -> Load {
    let rest = url.strip_prefix("http://").expect("an http:// URL");
    let (host, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    let auth = token.map(|t| format!("authorization: Bearer {t}\r\n")).unwrap_or_default();
    let request: Arc<[u8]> = format!("GET {path} HTTP/1.1\r\nhost: {host}\r\n{auth}\r\n").into_bytes().into();
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let tasks: Vec<_> = (0..connections)
        .map(|_| {
            let (host, request) = (host.to_string(), request.clone());
            tokio::spawn(async move {
                let (mut lat, mut errors) = (Vec::new(), 0usize);
                let mut conn = None;
                let mut buf = Vec::with_capacity(16 * 1024);
                while Instant::now() < deadline {
                    if conn.is_none() {
                        let s = tokio::net::TcpStream::connect(&host).await.expect("the service listens");
                        s.set_nodelay(true).unwrap();
                        conn = Some(s);
                    }
                    let s = conn.as_mut().unwrap();
                    let t0 = Instant::now();
                    match exchange(s, &request, &mut buf).await {
                        Some(status) if (200..300).contains(&status) => {
                            lat.push(t0.elapsed().as_secs_f64() * 1000.0);
                        }
                        Some(_) => errors += 1,
                        None => {
                            errors += 1;
                            conn = None;
                        }
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

/// One request and its whole answer; the status, or `None` when the
/// connection failed or answered something unreadable.
async fn exchange(s: &mut tokio::net::TcpStream, request: &[u8], buf: &mut Vec<u8>) -> Option<u16> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    s.write_all(request).await.ok()?;
    buf.clear();
    let mut chunk = [0u8; 16 * 1024];
    let (head, length) = loop {
        let n = s.read(&mut chunk).await.ok().filter(|n| *n > 0)?;
        buf.extend_from_slice(&chunk[..n]);
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = std::str::from_utf8(&buf[..end]).ok()?.to_ascii_lowercase();
            let length: usize = head.lines().find_map(|l| l.strip_prefix("content-length:"))?.trim().parse().ok()?;
            break (head, end + 4 + length);
        }
    };
    while buf.len() < length {
        let n = s.read(&mut chunk).await.ok().filter(|n| *n > 0)?;
        buf.extend_from_slice(&chunk[..n]);
    }
    head.get(9..12)?.parse().ok()
}

/// `POST /api/v1/sessions` for a test-pattern session, on `client`'s connections.
async fn create_session(client: &reqwest::Client, base: &str, token: &str) -> Value {
    let res = client
        .post(format!("{base}/api/v1/sessions"))
        .bearer_auth(token)
        .json(&json!({"game": "test-pattern"}))
        .send()
        .await
        .unwrap();
    res.json().await.unwrap()
}

async fn rest(r: &Running, a: &Args, out: &mut Vec<String>, backend: &str) {
    let token = sign_in(r, "bench-player", Role::Player).await;
    let client = reqwest::Client::new();
    // A few sessions so the list has something to list.
    let mut ids = Vec::new();
    for _ in 0..10 {
        let v = create_session(&client, &r.base, &token).await;
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
        let v = create_session(&client, &r.base, &token).await;
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

/// What a subscriber reads of each message.
#[derive(serde::Deserialize)]
struct Stamp<'a> {
    seq: Option<i64>,
    #[serde(borrow)]
    at: Option<&'a str>,
}

/// Where the fan-out's events come from.
#[derive(Clone, Copy)]
enum Producers {
    /// Sessions created and ended back to back through the API, 5 events each.
    Api,
    /// Transitions recorded and published as the session manager does
    /// (`Store::transition`, then `EventBus::publish`), paced at this many
    /// events a second, on sessions that cycle pause/resume: the delivery path
    /// without the cost of launching sessions.
    Bus(u32),
}

async fn api_producers(r: &Running, player: &str, deadline: Instant) {
    let client = reqwest::Client::new();
    let producers: Vec<_> = (0..4)
        .map(|_| {
            let (client, base, player) = (client.clone(), r.base.clone(), player.to_string());
            tokio::spawn(async move {
                while Instant::now() < deadline {
                    let v = create_session(&client, &base, &player).await;
                    let id = v["id"].as_str().unwrap().to_string();
                    client.post(format!("{base}/api/v1/sessions/{id}/end")).bearer_auth(&player).send().await.unwrap();
                }
            })
        })
        .collect();
    for p in producers {
        p.await.unwrap();
    }
}

/// When each event was handed to the bus.
type Published = Arc<std::sync::Mutex<HashMap<i64, Instant>>>;

async fn bus_producers(r: &Running, rate: u32, deadline: Instant, published: Published) {
    use playcast::session::lifecycle::{EndReason, Event};
    // Transitions commit one at a time (event ids commit in order); more
    // tasks than that keep one always waiting, so the pace holds.
    const TASKS: u32 = 8;
    let producers: Vec<_> = (0..TASKS)
        .map(|_| {
            let state = r.state.clone();
            let published = published.clone();
            tokio::spawn(async move {
                let publish = |record: playcast::store::EventRecord| {
                    let (bus, published) = (state.sessions.bus(), published.clone());
                    async move {
                        published.lock().unwrap().insert(record.event.id, Instant::now());
                        bus.publish(&record).await;
                    }
                };
                let store = &state.store;
                let id = playcast::model::SessionId::new();
                let new = playcast::store::NewSession {
                    id: &id,
                    owner: &playcast::model::UserId::from("bench-events"),
                    game: "test-pattern",
                    pipeline: "test-pattern",
                    node: state.sessions.node(),
                    params: "{}".into(),
                };
                let (_, record) = store.create_session(new).await.unwrap();
                publish(record).await;
                let step = |e: Event| async {
                    let (_, _, record) = store.transition(&id, e).await.unwrap();
                    publish(record).await;
                };
                for e in [Event::Start, Event::Launched, Event::Connected] {
                    step(e).await;
                }
                let mut tick = tokio::time::interval(Duration::from_secs_f64(TASKS as f64 / rate as f64));
                tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
                let mut paused = false;
                while Instant::now() < deadline {
                    tick.tick().await;
                    step(if paused { Event::Resume } else { Event::Pause }).await;
                    paused = !paused;
                }
                step(Event::End { reason: EndReason::User }).await;
                step(Event::CleanedUp).await;
            })
        })
        .collect();
    for p in producers {
        p.await.unwrap();
    }
}

/// Kills the run's Redis `after` into it and starts it again a second later.
fn restart_redis(r: &Running, after: Duration) -> tokio::task::JoinHandle<()> {
    let redis = r.redis.clone().expect("the PostgreSQL run has a Redis of its own");
    tokio::task::spawn_blocking(move || {
        std::thread::sleep(after);
        redis.lock().unwrap().kill();
        std::thread::sleep(Duration::from_secs(1));
        redis.lock().unwrap().spawn();
    })
}

async fn fanout(r: &Running, a: &Args, out: &mut Vec<String>, backend: &str, producers: Producers, disrupt: bool) {
    let admin = sign_in(r, "bench-admin", Role::Admin).await;
    let player = sign_in(r, "bench-events", Role::Player).await;
    let mut source = match producers {
        Producers::Api => "API create + end".to_string(),
        Producers::Bus(rate) => format!("bus, {rate} events/s"),
    };
    if disrupt {
        source += ", every subscriber reconnects once, Redis restarted";
    }
    let url = format!("{}/api/v1/events", r.ws);
    let mut subscribers = Vec::new();
    for _ in 0..a.subscribers {
        subscribers.push(common::ws_connect(&url, &admin).await);
    }
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let run = Duration::from_secs(a.seconds);
    let n = subscribers.len();
    let readers: Vec<_> = subscribers
        .into_iter()
        .enumerate()
        .map(|(i, mut ws)| {
            let mut stopped = stopped.clone();
            let (url, token) = (url.clone(), admin.clone());
            // Spread over the run, from a tenth of it to nine tenths.
            let mut reconnect = disrupt
                .then(|| tokio::time::Instant::now() + run.mul_f64(0.1 + 0.8 * i as f64 / n as f64));
            tokio::spawn(async move {
                let mut seen: BTreeMap<i64, u32> = BTreeMap::new();
                let (mut lat, mut received, mut last) = (Vec::new(), Vec::new(), 0);
                loop {
                    tokio::select! {
                        _ = async { tokio::time::sleep_until(reconnect.expect("set")).await }, if reconnect.is_some() => {
                            reconnect = None;
                            let _ = ws.close(None).await;
                            ws = common::ws_connect_after(&url, &token, Some(last)).await;
                        }
                        m = ws.next() => match m {
                            Some(Ok(Message::Text(t))) => {
                                let v: Stamp = serde_json::from_str(&t).unwrap();
                                if let (Some(seq), Some(at)) = (v.seq, v.at) {
                                    last = seq;
                                    *seen.entry(seq).or_default() += 1;
                                    received.push((seq, Instant::now()));
                                    let at = chrono::DateTime::parse_from_rfc3339(at).unwrap();
                                    let ms = (chrono::Utc::now() - at.with_timezone(&chrono::Utc)).num_microseconds().unwrap_or(0) as f64 / 1000.0;
                                    lat.push(ms);
                                }
                            }
                            Some(Ok(_)) => {}
                            _ => break,
                        },
                        _ = stopped.changed() => break,
                    }
                }
                (seen, lat, received)
            })
        })
        .collect();
    let stats = r.state.sessions.bus().stats();
    let load = |c: &std::sync::atomic::AtomicU64| c.load(std::sync::atomic::Ordering::Relaxed);
    let (db_events, db_reads) = (load(&stats.from_database), load(&stats.database_reads));
    let before = r.state.store.last_event_id().await.unwrap();
    let deadline = Instant::now() + run;
    let started = Instant::now();
    let published = Published::default();
    let restart = disrupt.then(|| restart_redis(r, run.mul_f64(0.4)));
    match producers {
        Producers::Api => api_producers(r, &player, deadline).await,
        Producers::Bus(rate) => bus_producers(r, rate, deadline, published.clone()).await,
    }
    if let Some(restart) = restart {
        restart.await.unwrap();
    }
    // Let cleanup transitions land and reach everyone.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let recorded: Vec<i64> =
        r.state.store.events_after(before, 10_000_000).await.unwrap().iter().map(|e| e.event.id).collect();
    let _ = stop.send(true);
    let (db_events, db_reads) = (load(&stats.from_database) - db_events, load(&stats.database_reads) - db_reads);
    let (mut lost, mut dup, mut delivered, mut lat) = (0usize, 0usize, 0usize, Vec::new());
    let (mut from_publish, mut last) = (Vec::new(), started);
    let published = published.lock().unwrap().clone();
    let mut per_event: BTreeMap<i64, (f64, f64)> = BTreeMap::new();
    for rd in readers {
        let (seen, l, received) = rd.await.unwrap();
        lat.extend(l);
        for (seq, at) in received {
            last = last.max(at);
            if let Some(p) = published.get(&seq) {
                let ms = at.duration_since(*p).as_secs_f64() * 1000.0;
                from_publish.push(ms);
                let e = per_event.entry(seq).or_insert((f64::MAX, 0.0f64));
                e.0 = e.0.min(ms);
                e.1 = e.1.max(ms);
            }
        }
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
    // Per event, its first and its last subscriber: what the pump costs
    // against what the fan-out to every socket adds.
    let spread = |pick: fn(&(f64, f64)) -> f64| {
        let mut v: Vec<f64> = per_event.values().map(pick).collect();
        v.sort_by(|a, b| a.partial_cmp(b).unwrap());
        if v.is_empty() {
            "—".to_string()
        } else {
            format!("{:.2}", pct(&v, 0.99))
        }
    };
    let (first, slowest) = (spread(|e| e.0), spread(|e| e.1));
    lat.sort_by(|a, b| a.partial_cmp(b).unwrap());
    from_publish.sort_by(|a, b| a.partial_cmp(b).unwrap());
    // Up to the last delivery: the wait for stragglers is not delivery time.
    let took = last.duration_since(started).as_secs_f64();
    let publish_pcts = if from_publish.is_empty() {
        "— | —".to_string()
    } else {
        format!("{:.2} | {:.2}", pct(&from_publish, 0.5), pct(&from_publish, 0.99))
    };
    out.push(format!(
        "| {backend} | {source} | {} | {} | {:.0} | {:.0} | {:.2} | {:.2} | {publish_pcts} | {first} / {slowest} | {db_events} / {db_reads} | {lost} | {dup} |",
        a.subscribers,
        recorded.len(),
        recorded.len() as f64 / took,
        delivered as f64 / took,
        pct(&lat, 0.5),
        pct(&lat, 0.99),
    ));
}

/// Signaling keep-alives on as many connections as there are event
/// subscribers, paced to `signal_rate` pings a second in all: each ping goes
/// through the signaling handler and its pong comes back on the same socket,
/// timed and counted by id.
async fn signaling(r: &Running, a: &Args, out: &mut Vec<String>, backend: &str) {
    let player = sign_in(r, "bench-signal", Role::Player).await;
    let url = format!("{}/api/v1/signal", r.ws);
    let run = Duration::from_secs(a.seconds);
    let every = Duration::from_secs_f64(a.subscribers as f64 / a.signal_rate as f64);
    let mut connections = Vec::new();
    for _ in 0..a.subscribers {
        connections.push(common::ws_connect(&url, &player).await);
    }
    let tasks: Vec<_> = connections
        .into_iter()
        .enumerate()
        .map(|(i, ws)| {
            tokio::spawn(async move {
                let (mut tx, mut rx) = ws.split();
                let sent: Arc<Mutex<HashMap<u64, Instant>>> = Default::default();
                let outbox = sent.clone();
                let sender = tokio::spawn(async move {
                    // Connections start a fraction of a period apart.
                    tokio::time::sleep(every.mul_f64(i as f64 / 100.0)).await;
                    let mut tick = tokio::time::interval(every);
                    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
                    let (mut id, deadline) = (0u64, Instant::now() + run);
                    while Instant::now() < deadline {
                        tick.tick().await;
                        outbox.lock().unwrap().insert(id, Instant::now());
                        let ping = json!({"type": "ping", "id": id}).to_string();
                        tx.send(Message::text(ping)).await.unwrap();
                        id += 1;
                    }
                    (tx, id)
                });
                let (mut rtt, mut answered, mut dup) = (Vec::new(), 0u64, 0u64);
                let mut seen = std::collections::HashSet::new();
                let reading = async {
                    while let Some(Ok(m)) = rx.next().await {
                        let v: Value = serde_json::from_str(m.to_text().unwrap_or("{}")).unwrap_or_default();
                        let Some(id) = v["id"].as_u64().filter(|_| v["type"] == "pong") else { continue };
                        let at = Instant::now();
                        if !seen.insert(id) {
                            dup += 1;
                            continue;
                        }
                        if let Some(t) = sent.lock().unwrap().get(&id) {
                            rtt.push(at.duration_since(*t).as_secs_f64() * 1000.0);
                            answered += 1;
                        }
                    }
                };
                // Stragglers get a second after the last ping.
                let _ = tokio::time::timeout(run + Duration::from_secs(1), reading).await;
                let (mut tx, pings) = sender.await.unwrap();
                let _ = tx.close().await;
                (pings, answered, dup, rtt)
            })
        })
        .collect();
    let (mut pings, mut answered, mut dup, mut rtt) = (0, 0, 0, Vec::new());
    for t in tasks {
        let (p, an, d, r) = t.await.unwrap();
        pings += p;
        answered += an;
        dup += d;
        rtt.extend(r);
    }
    // Pings go out over the run; their pongs a moment later.
    let took = run.as_secs_f64();
    rtt.sort_by(|a, b| a.partial_cmp(b).unwrap());
    out.push(format!(
        "| {backend} | {} | {pings} | {:.0} | {:.2} | {:.2} | {} | {dup} |",
        a.subscribers,
        (pings + answered) as f64 / took,
        pct(&rtt, 0.5),
        pct(&rtt, 0.99),
        pings - answered,
    ));
}

fn main() {
    let a = args();
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    rt.block_on(async {
        let (mut rest_rows, mut create_rows, mut fan_rows) = (Vec::new(), Vec::new(), Vec::new());
        let mut signal_rows = Vec::new();
        for backend in &a.backends {
            let label = if backend == "pg" { "PostgreSQL + Redis" } else { "SQLite + memory" };
            let (r, db) = serve(backend).await;
            eprintln!("{label}: REST load");
            rest(&r, &a, &mut rest_rows, label).await;
            eprintln!("{label}: create times");
            create_time(&r, &mut create_rows, label).await;
            eprintln!("{label}: event fan-out");
            fanout(&r, &a, &mut fan_rows, label, Producers::Api, false).await;
            eprintln!("{label}: event fan-out, {} events/s through the bus", a.event_rate);
            fanout(&r, &a, &mut fan_rows, label, Producers::Bus(a.event_rate), false).await;
            eprintln!("{label}: signaling keep-alives, {} a second", a.signal_rate);
            signaling(&r, &a, &mut signal_rows, label).await;
            if r.redis.is_some() {
                eprintln!("{label}: event fan-out across reconnects and a Redis restart");
                fanout(&r, &a, &mut fan_rows, label, Producers::Bus(a.event_rate), true).await;
            }
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
        println!("\n| state | producers | subscribers | events | events/s | delivered msg/s | from record p50 ms | p99 ms | from publish p50 ms | p99 ms | p99 first / last subscriber ms | read from database (events / reads) | lost | duplicated |");
        println!("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |");
        fan_rows.iter().for_each(|r| println!("{r}"));
        println!("\n| state | signaling connections | pings | messages/s (pings + pongs) | round trip p50 ms | p99 ms | unanswered | duplicated |");
        println!("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |");
        signal_rows.iter().for_each(|r| println!("{r}"));
    });
}
