//! TURN end to end: the service, Chromium and a real coturn (Debian's
//! `coturn`) in three network namespaces. The service's and the browser's
//! namespaces have no route to each other, only links to the TURN server's
//! namespace (which does not forward), so the stream can only play through
//! the relay, with the time-limited credentials the service hands out for
//! coturn's use-auth-secret. Signaling reaches the service through a TCP
//! relay in the test process (TCP only: no media can take that way).

mod common;

use std::os::unix::process::CommandExt;
use std::process::Stdio;
use std::time::Duration;

use common::{require_root, Browser, ProcGroup, Service, SERVICE_PORT};
use playcast::netns::Netns;

const SECRET: &str = "playcast-test-turn-secret";

fn ip(ns: &Netns, args: &[&str]) {
    let out = ns.command("ip").args(args).output().expect("ip runs");
    assert!(out.status.success(), "ip {args:?}: {}", String::from_utf8_lossy(&out.stderr));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_stream_plays_through_coturn_when_no_other_path_exists() {
    require_root();
    assert!(
        std::path::Path::new("/usr/bin/turnserver").exists(),
        "coturn is missing: scripts/setup.sh test installs it"
    );
    let (server, player, turn) = (Netns::create().unwrap(), Netns::create().unwrap(), Netns::create().unwrap());
    let to_turn_a = server.link(&turn).expect("server–TURN link");
    let to_turn_b = player.link(&turn).expect("player–TURN link");
    // No way out but the links: the test still reaches each namespace over its own veth.
    for ns in [&server, &player] {
        ip(ns, &["route", "del", "default"]);
    }
    // Both sides name the TURN server by one address (its end of the server's link).
    let turn_addr = to_turn_a.there;
    ip(&player, &["route", "add", &format!("{turn_addr}/32"), "via", &to_turn_b.there.to_string()]);

    let dir = tempfile::tempdir().unwrap();
    let coturn = turn
        .command("turnserver")
        .args(["--use-auth-secret", &format!("--static-auth-secret={SECRET}"), "--realm=playcast"])
        .args(["--listening-port=3478", "--no-tls", "--no-dtls", "--no-cli", "--fingerprint"])
        .arg(format!("--listening-ip={turn_addr}"))
        .arg(format!("--listening-ip={}", to_turn_b.there))
        .arg(format!("--relay-ip={turn_addr}"))
        .arg("--allowed-peer-ip=198.18.0.0-198.19.255.255")
        .arg(format!("--pidfile={}", dir.path().join("turn.pid").display()))
        .arg(format!("--log-file={}", dir.path().join("turn.log").display()))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .process_group(0)
        .spawn()
        .expect("spawning turnserver");
    let _coturn = ProcGroup(coturn);

    let turn_url = format!("turn:{turn_addr}:3478?transport=udp");
    let service = Service::start(
        &server,
        &common::repo().join("pipelines"),
        &[],
        &[
            ("PLAYCAST__ICE__TURN_URLS", turn_url.as_str()),
            ("PLAYCAST__ICE__TURN_SECRET", SECRET),
            common::DEV_ISSUER_ON_NETWORK,
        ],
    )
    .await;
    // Signaling (HTTP and WebSocket) reaches the service through a TCP relay
    // in this process, on the root side of the player's veth: TCP only, so
    // the media has no way but TURN.
    let relay = tokio::net::TcpListener::bind((player.outer, 18080)).await.expect("signaling relay");
    let target = (server.inner, SERVICE_PORT);
    tokio::spawn(async move {
        while let Ok((mut inbound, _)) = relay.accept().await {
            tokio::spawn(async move {
                if let Ok(mut outbound) = tokio::net::TcpStream::connect(target).await {
                    let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                }
            });
        }
    });
    let origin = format!("http://{}:18080", player.outer);
    let browser = Browser::start_for_origin(&player, &origin).await;
    browser.play(&format!("{origin}/?width=640&height=360&framerate=30"), 60, Duration::from_secs(60)).await;
    let welcome = browser.eval("window.playcast.welcome").await;
    let servers = welcome["ice_servers"].to_string();
    assert!(servers.contains(&turn_url) && servers.contains("credential"), "{welcome}");
    let pair = browser.eval("window.playcast.stats.candidatePair").await;
    assert!(pair["local"] == "relay" || pair["remote"] == "relay", "the pair in use is not relayed: {pair}");
    // The service sees the same pair.
    let admin = service.dev_token("root", "admin").await;
    let id = common::eventually("a session with a candidate pair", Duration::from_secs(20), || async {
        let (_, all) = service.api(&admin, reqwest::Method::GET, "sessions", None).await;
        all.as_array()?.iter().find(|s| s["quality"]["candidate_pair"].is_string()).cloned()
    })
    .await;
    let seen = id["quality"]["candidate_pair"].as_str().unwrap();
    assert!(seen.contains("relay"), "{seen}");
    browser.close().await;
    drop((to_turn_a, to_turn_b));
}
