//! End to end: an admin's dashboard at `/admin` in headless Chromium shows a
//! session another window plays, with its live figures, and ends it; on a
//! phone-sized window the page does not overflow. Screenshots go to
//! docs/screenshots/.

mod common;

use std::time::Duration;

use common::input::{self, Setup};
use common::{Browser, SERVICE_PORT};
use fantoccini::Locator;

const GAMES: &str = r#"
[games.test-pattern]
title = "Test pattern"
pipeline = "test-pattern"
params = { width = 640, height = 360, framerate = 30 }
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_admin_sees_a_live_session_in_the_dashboard_and_ends_it() {
    let Setup { ns, service, .. } = &input::setup(GAMES).await;
    let base = format!("http://127.0.0.1:{SERVICE_PORT}");
    let player = service.dev_token("p1", "player").await;
    let id = input::create_session(service, &player, "test-pattern").await;

    // One window plays the session (the direct-play page)...
    let browser = Browser::start(ns).await;
    browser.client.set_window_size(1280, 900).await.unwrap();
    browser.client.goto(&format!("{base}/?session={id}&user=p1")).await.unwrap();
    browser
        .wait_for(
            "window.playcast?.state === 'live' && (window.playcast.stats?.framesDecoded ?? 0) > 0",
            Duration::from_secs(40),
        )
        .await;

    // ...another signs in as an admin and opens the dashboard.
    let admin = browser.client.new_window(true).await.unwrap();
    browser.client.switch_to_window(admin.handle).await.unwrap();
    browser.client.goto(&format!("{base}/")).await.unwrap();
    browser.wait_for("!!document.getElementById('signin-name')", Duration::from_secs(20)).await;
    browser.client.find(Locator::Id("signin-name")).await.unwrap().send_keys("ops").await.unwrap();
    browser.client.find(Locator::Id("signin-role")).await.unwrap().select_by_value("admin").await.unwrap();
    browser.click("form button[type=submit]").await;
    browser.wait_for("!!document.querySelector('.who')", Duration::from_secs(20)).await;
    browser.client.goto(&format!("{base}/admin")).await.unwrap();

    // The session's row fills with the quality monitor's figures.
    let row = format!("document.querySelector('tr[data-session=\"{id}\"]')");
    let live = format!(
        "!!{row} && {row}.innerText.includes('active') && /[0-9.]+ (k|M)bit\\/s/.test({row}.innerText) \
         && {row}.innerText.includes('x264enc')"
    );
    browser.wait_for(&live, Duration::from_secs(30)).await;
    let status = browser.eval("document.querySelector('.dashboard-status').innerText").await;
    assert!(status.as_str().is_some_and(|s| s.starts_with("Live")), "{status}");
    let fleet = browser.eval("document.querySelector('table[aria-labelledby=dashboard-fleet]').innerText").await;
    assert!(fleet.as_str().is_some_and(|t| t.contains("(this node)")), "{fleet}");
    browser.screenshot("dashboard").await;

    // Keyboard: the End button is reachable and shows its focus.
    let focused = browser
        .eval(&format!(
            "(() => {{ const b = {row}.querySelector('button.danger'); b.focus(); \
               return document.activeElement === b && getComputedStyle(b).outlineStyle !== 'none'; }})()"
        ))
        .await;
    assert_eq!(focused, true, "the End button takes a visible focus");

    // Ended from the dashboard, after the confirmation.
    browser.click(&format!("tr[data-session=\"{id}\"] button.danger")).await;
    browser.wait_for("!!document.querySelector('.dashboard-confirm')", Duration::from_secs(5)).await;
    browser.click(".dashboard-confirm button.danger").await;
    browser.wait_for(&format!("!!{row} && /terminated|cleanup/.test({row}.innerText)"), Duration::from_secs(20)).await;
    let view = input::view(service, &player, &id).await;
    assert!(["terminated", "cleanup"].contains(&view["state"].as_str().unwrap()), "{view}");

    // A phone-sized window: the tables scroll inside the page, the page does not.
    browser.client.set_window_size(390, 844).await.unwrap();
    let fits = browser.eval("document.documentElement.scrollWidth <= window.innerWidth").await;
    assert_eq!(fits, true, "the dashboard is wider than a phone");
    browser.screenshot("dashboard-phone").await;
    browser.close().await;
}
