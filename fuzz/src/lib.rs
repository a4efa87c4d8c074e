//! What each fuzz target feeds its input to, and what must hold for any input.
//!
//! The libFuzzer targets in `fuzz_targets/` call these functions, and the
//! stable test `tests/fuzz_corpus.rs` includes this same file to run every
//! file of `corpus/<target>/` through them, so the corpus stays valid input
//! for the code in the normal test run. A broken property panics: a crash
//! for the fuzzer, a failure for the test.
//!
//! Corpus files named `ok-*` must be accepted and `bad-*` refused; files the
//! fuzzer adds (hash names) only have to keep every property.

use std::collections::BTreeMap;
use std::future::Future as _;
use std::path::Path;
use std::sync::OnceLock;

use playcast::auth::verify::{check_unsigned, Verifier};
use playcast::config::Config;
use playcast::input::protocol as input;
use playcast::media::check::check_spec;
use playcast::media::select::{AssumeOpens, GstRegistry};
use playcast::media::spec::{placeholders, ParamValue, PipelineSpec, SpecErrors};
use playcast::signaling::handler::{read_frame, Frame, Limits};
use playcast::signaling::protocol as signaling;

/// What the code made of one input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Accepted,
    /// Refused, with the error the sender would be told.
    Refused(String),
}

/// A target's entry point: one input in, what the code made of it out.
pub type Entry = fn(&[u8]) -> Verdict;

/// The targets by name (the folder names under `corpus/`).
pub const TARGETS: &[(&str, Entry)] = &[
    ("input_protocol", input_protocol),
    ("signaling", signaling_frame),
    ("pipeline_file", pipeline_file),
    ("pipeline_check", pipeline_check),
    ("token", token),
];

fn refused(message: String) -> Verdict {
    assert!(!message.trim().is_empty(), "a refusal without a reason");
    Verdict::Refused(message)
}

/// The embedded defaults: the limits and auth settings a fresh service runs with.
fn config() -> &'static Config {
    static CONFIG: OnceLock<Config> = OnceLock::new();
    CONFIG.get_or_init(|| Config::load_with_env(None, std::iter::empty()).expect("the embedded defaults load"))
}

/// One data-channel message (client to server), and the same bytes read as a
/// server reply. The encoding is canonical: what decodes encodes back to the
/// same bytes.
pub fn input_protocol(data: &[u8]) -> Verdict {
    if let Ok(reply) = input::decode_reply(data) {
        let again = input::encode_reply(&reply);
        assert!(input::decode_reply(&again).is_ok(), "an encoded reply does not decode: {reply:?}");
    }
    match input::decode(data) {
        Ok(msg) => {
            assert_eq!(input::encode(&msg), data, "{msg:?} does not encode back to its bytes");
            Verdict::Accepted
        }
        Err(e) => refused(e.to_string()),
    }
}

/// One WebSocket text frame through the connection's parsing (size limit of
/// the defaults, JSON, type, fields). A decoded message sent again as JSON
/// decodes to itself.
pub fn signaling_frame(data: &[u8]) -> Verdict {
    let Ok(text) = std::str::from_utf8(data) else {
        // A WebSocket text frame is UTF-8 by the transport's own check.
        return refused("not UTF-8".into());
    };
    let s = &config().signaling;
    let limits = Limits {
        max_message_bytes: s.max_message_bytes,
        idle_timeout: s.idle_timeout,
        answer_timeout: s.answer_timeout,
    };
    match read_frame(&Frame::Text(text.to_string()), &limits) {
        Ok(msg) => {
            let json = serde_json::to_string(&msg).expect("client messages serialize");
            let again = signaling::decode(&json).unwrap_or_else(|e| panic!("re-encoded as {json}: {e}"));
            assert_eq!(without_floats(again), without_floats(msg.clone()), "re-encoded as {json}");
            Verdict::Accepted
        }
        Err(e) => refused(e.message),
    }
}

/// A message with each non-integer number in `hello` params replaced by its
/// value to 15 significant digits. serde_json (without its `float_roundtrip`
/// feature) parses floats best-effort, at times one unit in the last place
/// off (`1.3333333333333335e73` reads as `...336e73`, found by this target);
/// everything else must come back exactly.
fn without_floats(msg: signaling::ClientMessage) -> signaling::ClientMessage {
    fn round(v: &mut serde_json::Value) {
        match v {
            serde_json::Value::Number(n) if n.is_f64() => {
                let text = format!("{:.14e}", n.as_f64().unwrap_or_default());
                *v = serde_json::Value::String(text);
            }
            serde_json::Value::Array(a) => a.iter_mut().for_each(round),
            serde_json::Value::Object(o) => o.values_mut().for_each(round),
            _ => {}
        }
    }
    match msg {
        signaling::ClientMessage::Hello { version, session_id, pipeline, mut params } => {
            params.values_mut().for_each(round);
            signaling::ClientMessage::Hello { version, session_id, pipeline, params }
        }
        other => other,
    }
}

const PIPELINE_PATH: &str = "pipelines/fuzz.toml";

/// Every error names a line of the file (or the line just after its end).
fn check_lines(text: &str, errors: &SpecErrors) {
    assert!(!errors.0.is_empty(), "refused without an error");
    let last = text.lines().count() + 1;
    for e in &errors.0 {
        assert!((1..=last).contains(&e.line), "line {} outside 1..={last}: {e}", e.line);
        assert!(!e.message.trim().is_empty(), "an error without a message at line {}", e.line);
    }
}

/// A pipeline file's text through the structural parse (TOML, fields,
/// parameters, placeholders), no GStreamer. A file that parses has defaults
/// that are accepted when sent back as overrides, and chains whose
/// placeholders all resolve.
pub fn pipeline_file(data: &[u8]) -> Verdict {
    let Ok(text) = std::str::from_utf8(data) else {
        return refused("not UTF-8".into());
    };
    match PipelineSpec::parse(Path::new(PIPELINE_PATH), text) {
        Ok(spec) => {
            let defaults = spec.defaults();
            let overrides: BTreeMap<String, serde_json::Value> = defaults
                .0
                .iter()
                .map(|(k, v)| {
                    let json = match v {
                        ParamValue::Bool(b) => serde_json::json!(b),
                        ParamValue::Int(i) => serde_json::json!(i),
                        ParamValue::Str(s) => serde_json::json!(s),
                    };
                    (k.clone(), json)
                })
                .collect();
            let resolved = spec.resolve(&overrides);
            assert_eq!(resolved.as_ref().map(|p| &p.0), Ok(&defaults.0), "the file's own defaults as overrides");
            for f in spec.fragments() {
                let names = placeholders(&f.text).unwrap_or_else(|e| panic!("{}: accepted but {e}", f.field));
                assert!(names.iter().all(|n| spec.param(n).is_some()), "{}: an undeclared placeholder", f.field);
                let text = defaults.substitute(&f.text);
                assert!(!text.contains("${"), "{}: a placeholder left after substitution: {text}", f.field);
                let _ = playcast::media::spec::element_names(&text);
            }
            Verdict::Accepted
        }
        Err(errors) => {
            check_lines(text, &errors);
            refused(errors.to_string())
        }
    }
}

/// A pipeline file through the parse and then the launch-syntax checks of
/// `playcast pipeline check` against the installed GStreamer (encoders
/// assumed to open: opening one per input would measure the encoder).
pub fn pipeline_check(data: &[u8]) -> Verdict {
    static INIT: OnceLock<()> = OnceLock::new();
    INIT.get_or_init(|| playcast::media::init().expect("GStreamer initialises"));
    let Ok(text) = std::str::from_utf8(data) else {
        return refused("not UTF-8".into());
    };
    let spec = match PipelineSpec::parse(Path::new(PIPELINE_PATH), text) {
        Ok(spec) => spec,
        Err(errors) => {
            check_lines(text, &errors);
            return refused(errors.to_string());
        }
    };
    let report = check_spec(spec, &GstRegistry, &AssumeOpens);
    if report.ok() {
        return Verdict::Accepted;
    }
    check_lines(text, &SpecErrors(report.errors.clone()));
    refused(report.render())
}

/// "Now" for the checks before the signature: far enough ahead that every
/// token the full verification accepts (issued before the real now) passes.
const UNSIGNED_NOW: u64 = 4_000_000_000;

/// The development issuer's verifier with the fixed key `token-key.pem`.
fn verifier() -> &'static Verifier {
    static VERIFIER: OnceLock<Verifier> = OnceLock::new();
    VERIFIER.get_or_init(|| {
        // The key is read once at construction, so its folder goes at once.
        let dir = std::env::temp_dir().join(format!("playcast-fuzz-token-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temporary folder");
        std::fs::write(dir.join(playcast::auth::dev::KEY_FILE), include_str!("../token-key.pem")).expect("key file");
        let verifier = Verifier::new(&config().auth, &dir);
        let _ = std::fs::remove_dir_all(&dir);
        verifier.expect("the fixed key loads")
    })
}

/// A bearer token through the checks before the signature and then the full
/// verification. No await in it waits with the development issuer's key, so
/// one poll finishes it; a token the full check accepts has passed the early
/// checks too and names a user.
pub fn token(data: &[u8]) -> Verdict {
    let Ok(token) = std::str::from_utf8(data) else {
        return refused("not UTF-8".into());
    };
    let early = check_unsigned(token, UNSIGNED_NOW, config().auth.leeway.as_secs());
    let full = {
        let fut = std::pin::pin!(verifier().verify_uncached(token));
        let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
        match fut.poll(&mut cx) {
            std::task::Poll::Ready(r) => r,
            std::task::Poll::Pending => panic!("verification waited with a local key"),
        }
    };
    match full {
        Ok(id) => {
            assert!(early.is_ok(), "verified, yet refused before the signature: {early:?}");
            assert!(!id.user_id.is_empty() && id.issuer == playcast::auth::dev::ISSUER, "{id:?}");
            Verdict::Accepted
        }
        Err(e) => refused(e.to_string()),
    }
}
