//! End to end: the player's input from headless Chromium, over the stream's
//! data channels, into the session's X display and virtual gamepads.

mod common;

use std::time::Duration;

use common::input::{
    self, act, create_session, display, game_log, key_down, keycode_of, play, view, wait_colour, Setup,
};
use common::SERVICE_PORT;
use fantoccini::actions::{InputSource, KeyAction, KeyActions, MouseActions, PointerAction, MOUSE_BUTTON_LEFT};
use x11rb::connection::Connection;
use x11rb::protocol::xproto::ConnectionExt as _;

const GAMES: &str = r#"
[games.latency-probe]
title = "Latency probe"
pipeline = "linux-x11"
command = ["playcast-probe"]
params = { width = 1280, height = 720, framerate = 30, bitrate = 2000000 }

[games.pad-reader]
title = "Joystick reader"
pipeline = "linux-x11"
command = ["sh", "-c", "until jstest --event /dev/input/js0; do sleep 0.2; done"]
params = { width = 320, height = 240, framerate = 30, bitrate = 500000 }
"#;

async fn setup() -> Setup {
    input::setup(GAMES).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_and_mouse_from_the_page_reach_the_game_and_change_its_picture() {
    let s = setup().await;
    let token = s.service.dev_token("p1", "player").await;
    let id = create_session(&s.service, &token, "latency-probe").await;
    let browser = play(&s.ns, &id, "p1").await;
    let (x, screen) = x11rb::connect(Some(&display(&s.service, &token, &id).await)).expect("the session's display");
    let root = x.setup().roots[screen].root;
    let a = keycode_of(&x, u32::from(b'a'));

    // The probe starts red; a key pressed in the page turns it green in the video.
    wait_colour(&browser, [255, 0, 0]).await;
    let keys = |actions: Vec<KeyAction>| {
        let mut seq = KeyActions::new("keyboard".into());
        for a in actions {
            seq = seq.then(a);
        }
        seq
    };
    browser.client.perform_actions(keys(vec![KeyAction::Down { value: 'a' }])).await.unwrap();
    common::eventually("the key held on the display", Duration::from_secs(5), || async {
        key_down(&x, a).then_some(())
    })
    .await;
    wait_colour(&browser, [0, 255, 0]).await;
    browser.client.perform_actions(keys(vec![KeyAction::Up { value: 'a' }])).await.unwrap();
    common::eventually("the key let go", Duration::from_secs(5), || async { (!key_down(&x, a)).then_some(()) }).await;

    // The pointer lands where it is over the picture; a click is a click (and blue).
    let video = browser.client.find(fantoccini::Locator::Id("video")).await.unwrap();
    let mouse = MouseActions::new("mouse".into())
        .then(PointerAction::MoveToElement { element: video.clone(), duration: None, x: 0.0, y: 0.0 })
        .then(PointerAction::Down { button: MOUSE_BUTTON_LEFT });
    browser.client.perform_actions(mouse).await.unwrap();
    let pointer = common::eventually("the button held on the display", Duration::from_secs(5), || async {
        let p = x.query_pointer(root).unwrap().reply().unwrap();
        (u16::from(p.mask) & 0x100 != 0).then_some(p)
    })
    .await;
    // The middle of the page's picture is the middle of the display, give or take a pixel of scaling.
    assert!((pointer.root_x - 640).abs() <= 3 && (pointer.root_y - 360).abs() <= 3, "pointer at {pointer:?}");
    wait_colour(&browser, [0, 0, 255]).await;
    browser
        .client
        .perform_actions(MouseActions::new("mouse".into()).then(PointerAction::Up { button: MOUSE_BUTTON_LEFT }))
        .await
        .unwrap();

    // The input round trip shows in the overlay.
    let rtt = browser.wait_for("window.playcast.input.rttMs", Duration::from_secs(5)).await;
    assert!(rtt.as_f64().is_some_and(|ms| (0.0..1000.0).contains(&ms)), "{rtt}");
    browser
        .wait_for("document.getElementById('overlay').innerText.includes('input rtt')", Duration::from_secs(5))
        .await;

    // Malformed input is counted and answered, never fatal.
    browser.eval("window.playcast.input.sendRaw([9, 1, 30, 0, 1])").await;
    browser.eval("window.playcast.input.sendRaw([1, 0x7f])").await;
    browser
        .wait_for("window.playcast.input.notices.some(n => n.text.includes('version 9'))", Duration::from_secs(5))
        .await;
    let counters = common::eventually("malformed input counted", Duration::from_secs(5), || async {
        let v = view(&s.service, &token, &id).await;
        (v["input"]["malformed"].as_u64() >= Some(2)).then_some(v)
    })
    .await;
    assert!(counters["input"]["injected"].as_u64() >= Some(4), "{counters}");
    assert_eq!(counters["state"], "active", "{counters}");

    // A key held when the player goes away is let go: no stuck keys.
    browser.client.perform_actions(keys(vec![KeyAction::Down { value: 'a' }])).await.unwrap();
    common::eventually("the key held again", Duration::from_secs(5), || async { key_down(&x, a).then_some(()) }).await;
    browser.client.goto("about:blank").await.unwrap();
    common::eventually("the key let go on disconnect", Duration::from_secs(10), || async {
        (!key_down(&x, a)).then_some(())
    })
    .await;
    browser.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_gamepad_in_the_page_reaches_a_program_reading_the_joystick_device() {
    let s = setup().await;
    let token = s.service.dev_token("p2", "player").await;
    let id = create_session(&s.service, &token, "pad-reader").await;
    let v = view(&s.service, &token, &id).await;
    assert_eq!(v["input"]["gamepads"], "preload", "this machine has no uinput: {v}");
    let browser = play(&s.ns, &id, "p2").await;
    // Chromium here has no gamepad: the page's Gamepad API is handed a pad to read.
    browser
        .eval(
            "(() => { window.pad = { index: 0, connected: true, mapping: 'standard',
               buttons: Array.from({ length: 17 }, () => ({ pressed: false, value: 0 })), axes: [0, 0, 0, 0] };
               Object.defineProperty(navigator, 'getGamepads', { value: () => [window.pad, null, null, null] });
               return true; })()",
        )
        .await;
    let log = game_log(s.service.data_dir(), &id);
    let read = || std::fs::read_to_string(&log).unwrap_or_default();
    common::eventually("jstest opened the pad", Duration::from_secs(15), || async {
        read().contains("has 8 axes").then_some(())
    })
    .await;
    let header = read();
    assert!(header.contains("Playcast virtual pad"), "{header}");
    assert!(header.contains("and 11 buttons"), "{header}");

    browser.eval("(window.pad.buttons[0] = { pressed: true, value: 1 }, true)").await;
    let event = |kind: u8, number: u8, value: i32| {
        read().lines().any(|l| {
            l.starts_with(&format!("Event: type {kind},")) && l.ends_with(&format!("number {number}, value {value}"))
        })
    };
    common::eventually("button A pressed", Duration::from_secs(10), || async { event(1, 0, 1).then_some(()) }).await;
    browser.eval("(window.pad.axes[0] = 0.5, true)").await;
    common::eventually("left stick moved", Duration::from_secs(10), || async { event(2, 0, 16384).then_some(()) })
        .await;
    // Leaving lets go of the pad too.
    browser.client.goto("about:blank").await.unwrap();
    common::eventually("button A released on disconnect", Duration::from_secs(10), || async {
        event(1, 0, 0).then_some(())
    })
    .await;
    browser.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn viewers_are_refused_floods_throttled_pauses_let_go_and_the_clipboard_crosses() {
    let s = setup().await;
    let token = s.service.dev_token("p3", "player").await;
    let id = create_session(&s.service, &token, "latency-probe").await;
    let share = serde_json::json!({ "viewers": ["v3"] });
    let (shared, _) = s.service.api(&token, reqwest::Method::PUT, &format!("sessions/{id}/viewers"), Some(share)).await;
    assert_eq!(shared, 200);
    let browser = play(&s.ns, &id, "p3").await;
    let display = display(&s.service, &token, &id).await;
    let (x, _) = x11rb::connect(Some(&display)).expect("the session's display");
    let a = keycode_of(&x, u32::from(b'a'));
    let counters = || async { view(&s.service, &token, &id).await["input"].clone() };

    // The clipboard, both ways.
    browser.eval("window.playcast.input.setClipboard('from the player: héllo')").await;
    let xclip = |args: &[&str]| {
        std::process::Command::new("xclip")
            .args(args)
            .env("DISPLAY", &display)
            .output()
            .expect("xclip runs (scripts/setup.sh test installs it)")
    };
    common::eventually("the game's clipboard holds the player's text", Duration::from_secs(5), || async {
        let out = xclip(&["-selection", "clipboard", "-o"]);
        (String::from_utf8_lossy(&out.stdout) == "from the player: héllo").then_some(())
    })
    .await;
    let mut put = std::process::Command::new("xclip")
        .args(["-selection", "clipboard", "-i"])
        .env("DISPLAY", &display)
        .stdin(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    {
        use std::io::Write;
        put.stdin.take().unwrap().write_all("copied in the game ✓".as_bytes()).unwrap();
    }
    put.wait().unwrap(); // xclip forks a child that serves the selection
    browser.eval("window.playcast.input.requestClipboard()").await;
    browser.wait_for("window.playcast.input.clipboard === 'copied in the game ✓'", Duration::from_secs(5)).await;

    // A flood is throttled (and the session's input still works after it).
    let flooded = browser.eval("(() => { let n = 0; for (let i = 0; i < 20000; i++) n += window.playcast.input.moveRel(1, 0) ? 1 : 0; return n; })()").await;
    assert_eq!(flooded, 20000, "the page sent the flood");
    let after = common::eventually("throttled input counted", Duration::from_secs(10), || async {
        let c = counters().await;
        (c["throttled"].as_u64() > Some(1000)).then_some(c)
    })
    .await;
    assert!(after["injected"].as_u64() >= Some(300), "the burst and rate still pass: {after}");
    tokio::time::sleep(Duration::from_secs(1)).await; // the bucket refills
    browser.eval("window.playcast.input.key(30, true)").await;
    common::eventually("a key after the flood", Duration::from_secs(5), || async { key_down(&x, a).then_some(()) })
        .await;

    // Pausing lets go of the held key; input while paused is refused; resume takes it again.
    assert_eq!(act(&s.service, &token, &id, "pause").await["state"], "paused");
    common::eventually("the key let go on pause", Duration::from_secs(5), || async {
        (!key_down(&x, a)).then_some(())
    })
    .await;
    let refused = counters().await["refused"].as_u64().unwrap_or(0);
    browser.eval("window.playcast.input.key(30, true)").await;
    common::eventually("input refused while paused", Duration::from_secs(5), || async {
        (counters().await["refused"].as_u64() > Some(refused)).then_some(())
    })
    .await;
    assert!(!key_down(&x, a), "no key goes in while paused");
    assert_eq!(act(&s.service, &token, &id, "resume").await["state"], "active");
    browser.eval("window.playcast.input.key(30, false)").await;

    // A viewer watches but its input is refused, with a notice.
    let player = browser.client.window().await.unwrap();
    let viewer = browser.client.new_window(true).await.unwrap();
    browser.client.switch_to_window(viewer.handle).await.unwrap();
    let url = format!("http://127.0.0.1:{SERVICE_PORT}/?session={id}&user=v3&role=viewer");
    browser.client.goto(&url).await.unwrap();
    browser.wait_for("window.playcast.state === 'live' && window.playcast.input.ready", Duration::from_secs(40)).await;
    let refused = counters().await["refused"].as_u64().unwrap_or(0);
    browser.eval("window.playcast.input.key(30, true)").await;
    browser
        .wait_for(
            "window.playcast.input.notices.some(n => n.text.includes('viewers send no input'))",
            Duration::from_secs(5),
        )
        .await;
    assert!(counters().await["refused"].as_u64() > Some(refused));
    assert!(!key_down(&x, a), "a viewer's key never reaches the game");
    // Pings are answered for viewers too: the round trip shows for everyone.
    browser.wait_for("window.playcast.input.rttMs !== null", Duration::from_secs(5)).await;
    browser.client.switch_to_window(player).await.unwrap();
    browser.close().await;
}
