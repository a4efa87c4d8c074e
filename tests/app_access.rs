//! End to end: the player app by keyboard alone (every control reached shows
//! where focus is) and by touch on a phone-sized window, in headless Chromium.

mod common;

use std::time::Duration;

use common::input::{self, Setup};
use common::{Browser, SERVICE_PORT};
use fantoccini::actions::{InputSource, KeyAction, KeyActions, PointerAction, TouchActions, MOUSE_BUTTON_LEFT};
use fantoccini::key::Key;
use fantoccini::Locator;

const PLAY: &str = "button[aria-label='Play Latency probe']";

/// The play page is live: the player's stream is up and has decoded frames.
const LIVE: &str = "document.body.dataset.sessionState === 'active' && window.playcastApp?.player?.state === 'live' \
    && (window.playcastApp.player.info.stats?.framesDecoded ?? 0) > 0";

/// What has focus, and whether it shows it (an outline or a ring).
const FOCUSED: &str = "(() => { const e = document.activeElement; if (!e || e === document.body) return null; \
    const s = getComputedStyle(e); \
    const shown = (s.outlineStyle !== 'none' && parseFloat(s.outlineWidth) > 0) || s.boxShadow !== 'none'; \
    return { what: e.tagName + ' ' + (e.getAttribute('aria-label') || e.innerText || e.id || '').slice(0, 40), shown }; })()";

const FITS: &str = "document.documentElement.scrollWidth <= window.innerWidth";

async fn key(browser: &Browser, k: Key) {
    let c: char = k.into();
    let actions =
        KeyActions::new("keyboard".into()).then(KeyAction::Down { value: c }).then(KeyAction::Up { value: c });
    browser.client.perform_actions(actions).await.unwrap();
}

/// Ends the session the play page shows, through the API.
async fn end_shown_session(browser: &Browser, service: &common::Service, user: &str) {
    let id = browser.eval("location.pathname.split('/')[2]").await.as_str().unwrap().to_string();
    let token = service.dev_token(user, "player").await;
    let (status, view) = service.api(&token, reqwest::Method::POST, &format!("sessions/{id}/end"), None).await;
    assert_eq!(status, 200, "{view}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_player_signs_in_and_launches_by_keyboard_alone_and_by_touch_on_a_phone() {
    let Setup { ns, service, .. } = &input::setup(input::LATENCY_PROBE).await;
    let browser = Browser::start(ns).await;
    browser.client.set_window_size(1280, 800).await.unwrap();
    browser.client.goto(&format!("http://127.0.0.1:{SERVICE_PORT}/")).await.unwrap();

    // The name field has focus on arrival; Enter submits the form.
    browser.wait_for("document.activeElement?.id === 'signin-name'", Duration::from_secs(20)).await;
    browser.client.active_element().await.unwrap().send_keys("k1").await.unwrap();
    key(&browser, Key::Enter).await;
    browser.wait_for(&format!("!!document.querySelector(\"{PLAY}\")"), Duration::from_secs(20)).await;

    // Tab reaches the game's Play button, and every control on the way shows its focus.
    let mut path = Vec::new();
    let mut reached = false;
    for _ in 0..40 {
        key(&browser, Key::Tab).await;
        let focused = browser.eval(FOCUSED).await;
        if focused.is_null() {
            continue;
        }
        assert_eq!(focused["shown"], true, "focus is invisible on {} (path so far: {path:?})", focused["what"]);
        path.push(focused["what"].as_str().unwrap_or_default().to_string());
        if browser.eval(&format!("document.activeElement === document.querySelector(\"{PLAY}\")")).await == true {
            reached = true;
            break;
        }
    }
    assert!(reached, "Tab never reached the Play button; it went through {path:?}");
    key(&browser, Key::Enter).await;
    browser.wait_for(LIVE, Duration::from_secs(60)).await;
    end_shown_session(&browser, service, "k1").await;

    // A phone-sized window: a tap launches the game and the play page fits.
    browser.client.set_window_size(390, 844).await.unwrap();
    browser.client.goto(&format!("http://127.0.0.1:{SERVICE_PORT}/")).await.unwrap();
    browser
        .wait_for(
            &format!("!!document.querySelector(\"{PLAY}\") && !document.querySelector(\"{PLAY}\").disabled"),
            Duration::from_secs(20),
        )
        .await;
    assert_eq!(browser.eval(FITS).await, true, "the library is wider than a phone");
    let play = browser.client.find(Locator::Css(PLAY)).await.unwrap();
    let tap = TouchActions::new("finger".into())
        .then(PointerAction::MoveToElement { element: play, duration: None, x: 0.0, y: 0.0 })
        .then(PointerAction::Down { button: MOUSE_BUTTON_LEFT })
        .then(PointerAction::Up { button: MOUSE_BUTTON_LEFT });
    browser.client.perform_actions(tap).await.unwrap();
    browser.wait_for(LIVE, Duration::from_secs(60)).await;
    assert_eq!(browser.eval(FITS).await, true, "the play page is wider than a phone");
    // The toolbar keeps one row; the less used buttons are behind "More".
    let rows = "(() => { const t = document.querySelector('.toolbar').getBoundingClientRect(); \
        const b = document.querySelector('.toolbar button').getBoundingClientRect(); return t.height < 2 * b.height; })()";
    assert_eq!(browser.eval(rows).await, true, "the play toolbar wraps on a phone");
    browser.screenshot("play-phone").await;
    let paste = "[...document.querySelectorAll('.toolbar button')].find(b => b.innerText === 'Paste to game')";
    assert_eq!(
        browser.eval(&format!("{paste}.offsetParent === null")).await,
        true,
        "Paste shows before More is opened"
    );
    browser.click(".toolbar .more-toggle").await;
    assert_eq!(browser.eval(&format!("{paste}.offsetParent !== null")).await, true, "More did not show Paste");
    end_shown_session(&browser, service, "k1").await;
    browser.close().await;
}
