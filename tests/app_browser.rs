//! End to end: the player app at `/` in headless Chromium, from the
//! development sign-in form through the library, the launch progress and play
//! to a reload that rejoins, the end and the history. Each page's screenshot
//! goes to docs/screenshots/.

mod common;

use std::time::Duration;

use common::input::{self, wait_colour, Setup};
use common::{Browser, SERVICE_PORT};
use fantoccini::actions::{InputSource, KeyAction, KeyActions};
use fantoccini::Locator;

/// The play page is live: the player's stream is up and has decoded frames.
const LIVE: &str = "document.body.dataset.sessionState === 'active' && window.playcastApp?.player?.state === 'live' \
    && (window.playcastApp.player.info.stats?.framesDecoded ?? 0) > 0 \
    && document.querySelector('.surface video')?.videoWidth > 0";

/// `window.centre()`: the colour at the middle of the picture's top half, as decoded.
const CENTRE: &str = "(window.centre = () => { const v = document.querySelector('.surface video'); \
    const c = document.createElement('canvas'); c.width = 64; c.height = 36; const g = c.getContext('2d'); \
    g.drawImage(v, 0, 0, 64, 36); return Array.from(g.getImageData(32, 9, 1, 1).data.slice(0, 3)); }, true)";

async fn press(browser: &Browser, key: KeyAction) {
    browser.client.perform_actions(KeyActions::new("keyboard".into()).then(key)).await.unwrap();
}

/// Signs out through the header and in again through the form as `user` with `role`.
async fn sign_out_and_in(browser: &Browser, user: &str, role: &str) {
    browser.click(".who button.signout").await;
    browser.wait_for("!!document.getElementById('signin-name')", Duration::from_secs(20)).await;
    browser.client.find(Locator::Id("signin-name")).await.unwrap().send_keys(user).await.unwrap();
    browser.client.find(Locator::Id("signin-role")).await.unwrap().select_by_value(role).await.unwrap();
    browser.click("form button[type=submit]").await;
    browser.wait_for("!!document.querySelector('.who')", Duration::from_secs(20)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_player_signs_in_launches_from_the_library_plays_rejoins_after_a_reload_and_ends() {
    let Setup { ns, service, .. } = &input::setup(input::LATENCY_PROBE).await;
    let browser = Browser::start(ns).await;
    browser.client.set_window_size(1280, 800).await.unwrap();
    let base = format!("http://127.0.0.1:{SERVICE_PORT}");

    // Sign in with the development issuer, through the form.
    browser.client.goto(&format!("{base}/")).await.unwrap();
    browser.wait_for("!!document.getElementById('signin-name')", Duration::from_secs(20)).await;
    browser.screenshot("sign-in").await;
    browser.client.find(Locator::Id("signin-name")).await.unwrap().send_keys("p1").await.unwrap();
    browser.click("form button[type=submit]").await;

    // The library lists the game; the profile shows the name and role.
    let play_button = "document.querySelector('button[aria-label=\"Play Latency probe\"]')";
    browser.wait_for(&format!("!!{play_button} && !{play_button}.disabled"), Duration::from_secs(20)).await;
    let who = browser.eval("document.querySelector('.who').innerText").await;
    assert!(who.as_str().is_some_and(|t| t.contains("p1") && t.contains("player")), "profile: {who}");
    browser.screenshot("library").await;

    // Launch: the progress view follows the lifecycle, then the picture plays.
    browser.click("button[aria-label='Play Latency probe']").await;
    browser
        .wait_for(
            "location.pathname.startsWith('/play/') && !!document.querySelector('.progress .steps')",
            Duration::from_secs(20),
        )
        .await;
    browser.screenshot("launch-progress").await;
    let id = browser.eval("location.pathname.split('/')[2]").await.as_str().unwrap().to_string();
    browser.wait_for(LIVE, Duration::from_secs(40)).await;
    browser.eval(CENTRE).await;
    wait_colour(&browser, [255, 0, 0]).await;
    browser.screenshot("play").await;

    // A key pressed on the picture reaches the game: the probe turns green.
    browser.eval("(document.querySelector('.surface').focus(), true)").await;
    press(&browser, KeyAction::Down { value: 'a' }).await;
    wait_colour(&browser, [0, 255, 0]).await;
    press(&browser, KeyAction::Up { value: 'a' }).await;

    // A reload rejoins the same running session.
    browser.client.refresh().await.unwrap();
    browser.wait_for(LIVE, Duration::from_secs(40)).await;
    let again = browser.eval("location.pathname").await;
    assert_eq!(again.as_str(), Some(format!("/play/{id}").as_str()));
    let token = service.dev_token("p1", "player").await;
    let view = input::view(service, &token, &id).await;
    assert_eq!(view["state"], "active", "{view}");

    // Share with `v1`: a viewer who opens the link watches and cannot play.
    browser.click(".toolbar button.share-toggle").await;
    browser.client.find(Locator::Css(".share input")).await.unwrap().send_keys("v1").await.unwrap();
    browser.click(".share button[type=submit]").await;
    browser
        .wait_for(
            "document.querySelector('.share [role=status]')?.innerText.startsWith('Saved')",
            Duration::from_secs(10),
        )
        .await;
    let link = browser.eval("document.querySelectorAll('.share input')[1].value").await;
    assert_eq!(link.as_str(), Some(format!("{base}/play/{id}").as_str()));
    browser.screenshot("share").await;
    sign_out_and_in(&browser, "v1", "viewer").await;
    browser.client.goto(&format!("{base}/play/{id}")).await.unwrap();
    browser.wait_for(LIVE, Duration::from_secs(40)).await;
    browser.eval(CENTRE).await;
    // The picture the player left: green, since the key pressed above.
    wait_colour(&browser, [0, 255, 0]).await;
    let toolbar = browser.eval("document.querySelector('.toolbar').innerText").await;
    assert!(toolbar.as_str().is_some_and(|t| t.contains("Watching p1") && !t.contains("End")), "{toolbar}");
    let refused = input::counters(service, &token, &id).await["refused"].as_u64().unwrap_or(0);
    browser.eval("(document.querySelector('.surface').focus(), true)").await;
    press(&browser, KeyAction::Down { value: 'a' }).await;
    press(&browser, KeyAction::Up { value: 'a' }).await;
    common::eventually("the viewer's key refused", Duration::from_secs(10), || async {
        (input::counters(service, &token, &id).await["refused"].as_u64() > Some(refused)).then_some(())
    })
    .await;
    let unchanged =
        browser.eval("(() => { const [r, g, b] = window.centre(); return r < 60 && g > 195 && b < 60; })()").await;
    assert_eq!(unchanged, true, "the viewer's key changed the picture");

    // The player comes back (as from another device) and rejoins.
    sign_out_and_in(&browser, "p1", "player").await;
    browser.click("nav a[href='/']").await;
    browser.wait_for("!!document.querySelector('.running a.button')", Duration::from_secs(20)).await;
    browser.click(".running a.button").await;
    browser.wait_for(LIVE, Duration::from_secs(40)).await;

    // End, from the toolbar (the confirmation answered yes).
    browser.eval("(window.confirm = () => true, true)").await;
    browser.click(".toolbar button.danger").await;
    browser
        .wait_for("document.querySelector('.progress h1')?.innerText === 'The session ended'", Duration::from_secs(20))
        .await;
    let (_, events) = service.api(&token, reqwest::Method::GET, &format!("sessions/{id}/events"), None).await;
    let ended =
        events.as_array().unwrap().iter().any(|e| e["event"] == serde_json::json!({"event": "end", "reason": "user"}));
    assert!(ended, "ended by the user: {events}");

    // The history lists it, ended.
    browser.click("nav a[href='/history']").await;
    browser
        .wait_for(
            "[...document.querySelectorAll('table.history tbody tr')].some(r => r.innerText.includes('Latency probe'))",
            Duration::from_secs(20),
        )
        .await;
    browser.screenshot("history").await;

    // A session that does not exist (a stale link): the page says so and leads back.
    browser.client.goto(&format!("{base}/play/00000000-0000-4000-8000-000000000000")).await.unwrap();
    browser.wait_for("!!document.querySelector('.progress[role=alert] .problem')", Duration::from_secs(20)).await;
    let shown = browser.eval("document.querySelector('.progress[role=alert]').innerText").await;
    let shown = shown.as_str().unwrap_or_default();
    assert!(shown.contains("Cannot open this session") && shown.contains("Back to the library"), "{shown}");
    // Asking again would not find it, and there is nothing to control.
    assert!(!shown.contains("Try again"), "{shown}");
    assert_eq!(browser.eval("!document.querySelector('.toolbar')").await, true, "a toolbar for no session");
    browser.screenshot("play-error").await;

    // On a phone-sized window the library still fits.
    browser.click("nav a[href='/']").await;
    browser.client.set_window_size(390, 844).await.unwrap();
    browser.wait_for(&format!("!!{play_button}"), Duration::from_secs(20)).await;
    let overflow = browser.eval("document.documentElement.scrollWidth <= window.innerWidth").await;
    assert_eq!(overflow, true, "the library is wider than a phone");
    browser.screenshot("library-phone").await;
    browser.close().await;
}

/// With Clerk configured and its servers out of reach (this test's namespace
/// has no way out), the sign-in page says that sign-in is unavailable and what
/// to do, instead of waiting forever on a blank page.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clerk_out_of_reach_is_said_on_the_sign_in_page() {
    common::require_root();
    let ns = playcast::netns::Netns::create().expect("network namespace");
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("playcast.toml");
    // The key names Clerk's frontend API at a closed port on the namespace's own loopback.
    let key = "pk_test_MTI3LjAuMC4xOjkk"; // base64 of `127.0.0.1:9$`
    std::fs::write(
        &config,
        format!(
            "[auth]\nissuers = [\"https://clerk.playcast.test\"]\n\
             jwks_url = \"https://127.0.0.1:9/.well-known/jwks.json\"\nclerk_publishable_key = \"{key}\"\n"
        ),
    )
    .unwrap();
    let config = config.to_string_lossy().into_owned();
    let service =
        common::Service::start(&ns, &common::repo().join("pipelines"), &[], &[("PLAYCAST_CONFIG", config.as_str())])
            .await;
    let (status, answer) = service.api("", reqwest::Method::GET, "client-config", None).await;
    assert_eq!((status, answer["sign_in"].as_str()), (200, Some("clerk")), "{answer}");

    let browser = Browser::start(&ns).await;
    browser.client.set_window_size(1280, 800).await.unwrap();
    browser.client.goto(&format!("http://127.0.0.1:{SERVICE_PORT}/")).await.unwrap();
    browser
        .wait_for(
            "document.querySelector('.signin .problem')?.innerText.includes('Sign-in is unavailable')",
            Duration::from_secs(40),
        )
        .await;
    let shown = browser.eval("document.querySelector('.signin .problem').innerText").await;
    assert!(shown.as_str().is_some_and(|t| t.contains("reload the page")), "{shown}");
    browser.screenshot("sign-in-unavailable").await;
    browser.close().await;
}
