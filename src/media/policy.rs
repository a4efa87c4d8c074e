//! The element policy: which GStreamer elements a pipeline file may name.
//!
//! Whoever can edit a pipeline file, or pick a pipeline and its parameters,
//! must not reach the host through it. By default the elements in
//! [`HOST_ELEMENTS`] are refused: each reads or writes host files, file
//! descriptors, shared memory or in-process channels that other sessions
//! share. An operator narrows the set further (`media.allow_elements`,
//! `media.deny_elements`) or lifts single built-in refusals on purpose
//! (`media.insecure_host_elements`).
//!
//! Elements are found in the launch syntax itself ([`named`]) with the same
//! token rules as GStreamer's lexer (`gst/parse/parse.l`), so files for other
//! machines are judged without their elements installed; [`super::check`]
//! also judges the elements GStreamer really builds from each chain, and
//! [`super::stream`] the elements of every stream it starts.

use std::collections::BTreeSet;

use super::spec::{placeholders, Fragment, OutputKind, ParamKind, ParamValue, Params, PipelineSpec, SpecError};

/// Elements refused unless `media.insecure_host_elements` lists them, and why.
/// Found by going through every element `gst-inspect-1.0` lists on the
/// Debian 12 build machines (GStreamer 1.22, plugins base/good/bad/ugly, libav)
/// for properties that name files, URIs, devices, descriptors, sockets or
/// shared channels.
pub const HOST_ELEMENTS: &[(&str, &str)] = &[
    // Host files by path.
    ("filesrc", "it reads any host file"),
    ("filesink", "it writes any host file"),
    ("pushfilesrc", "it reads any host file"),
    ("multifilesrc", "it reads host files named by a pattern"),
    ("multifilesink", "it writes host files named by a pattern, in the working folder when no location is set"),
    ("splitfilesrc", "it reads host files matching a wildcard"),
    ("splitmuxsrc", "it reads host files matching a glob"),
    ("splitmuxsink", "it writes host files through the filesinks it makes"),
    ("imagesequencesrc", "it reads host files named by a pattern"),
    ("giosrc", "it reads any file: URI"),
    ("giosink", "it writes any file: URI"),
    ("curlfilesink", "it writes host files through file:// URLs"),
    ("curlsftpsink", "it reads SSH keys and known_hosts from host files"),
    ("hlssink", "it writes playlists and segments to host files"),
    ("hlssink2", "it writes playlists and segments to host files"),
    ("dashsink", "it writes a manifest and segments to host files"),
    ("qtmux", "it writes host files (moov-recovery-file, faststart-file)"),
    ("mp4mux", "it writes host files (moov-recovery-file, faststart-file)"),
    ("3gppmux", "it writes host files (moov-recovery-file, faststart-file)"),
    ("ismlmux", "it writes host files (moov-recovery-file, faststart-file)"),
    ("mj2mux", "it writes host files (moov-recovery-file, faststart-file)"),
    ("qtmoovrecover", "it reads and writes host files"),
    ("queue2", "it writes temporary host files (temp-template)"),
    ("downloadbuffer", "it writes temporary host files (temp-template)"),
    ("camerabin", "it saves captures to host files"),
    ("videocodectestsink", "it writes host files"),
    ("gdkpixbufoverlay", "it draws any host file it can read as an image into the picture"),
    ("rsvgoverlay", "it reads an SVG from any host file"),
    ("faceoverlay", "it reads an SVG from any host file"),
    ("lcms", "it reads colour profiles from host files"),
    ("fluiddec", "it reads a soundfont from any host file"),
    ("vulkanshaderspv", "it reads shaders from host files"),
    ("openni2src", "it reads recordings from host files"),
    ("sdpsrc", "it reads an SDP file from the host (sdp:///path)"),
    // Any URI, file:// included.
    ("playbin", "it opens any URI, file:// included"),
    ("playbin3", "it opens any URI, file:// included"),
    ("uridecodebin", "it opens any URI, file:// included"),
    ("uridecodebin3", "it opens any URI, file:// included"),
    ("urisourcebin", "it opens any URI, file:// included"),
    ("uritranscodebin", "it reads and writes any URI, file:// included"),
    // The service's own file descriptors.
    ("fdsrc", "it reads a file descriptor of the service (its database, sockets or standard input)"),
    ("fdsink", "it writes a file descriptor of the service (its database, sockets or logs)"),
    ("ipcpipelinesrc", "it reads and writes file descriptors of the service"),
    ("ipcpipelinesink", "it reads and writes file descriptors of the service"),
    // Shared memory and channels between pipelines.
    ("shmsrc", "it reads shared memory through a control socket at any path"),
    ("shmsink", "it writes shared memory and makes a control socket at any path"),
    ("intervideosrc", "it reads a channel shared by every pipeline of the service: another session's picture"),
    ("intervideosink", "it feeds a channel shared by every pipeline of the service"),
    ("interaudiosrc", "it reads a channel shared by every pipeline of the service: another session's sound"),
    ("interaudiosink", "it feeds a channel shared by every pipeline of the service"),
    ("intersubsrc", "it reads a channel shared by every pipeline of the service"),
    ("intersubsink", "it feeds a channel shared by every pipeline of the service"),
    // Host devices by path.
    ("fbdevsink", "it writes to a host device named by path"),
    ("v4l2sink", "it writes to a host device named by path"),
    ("dvdreadsrc", "it reads a host device named by path"),
    ("rsndvdbin", "it reads a host device named by path"),
    ("cdiocddasrc", "it reads a host device named by path"),
    ("cdparanoiasrc", "it reads a host device named by path"),
];

/// Settings that name the policy, for messages.
const ALLOW: &str = "media.allow_elements";
const DENY: &str = "media.deny_elements";
const INSECURE: &str = "media.insecure_host_elements";

/// Most parameter combinations tried for one element name made of placeholders.
const MAX_EXPANSIONS: usize = 256;

/// Which elements pipeline files may name. The default refuses [`HOST_ELEMENTS`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ElementPolicy {
    /// Non-empty: the only elements a file may name.
    allow: BTreeSet<String>,
    /// Refused on top of the built-in list.
    deny: BTreeSet<String>,
    /// Built-in refusals the operator lifted.
    insecure: BTreeSet<String>,
}

/// Why a policy setting is wrong: the setting's name and the problem.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct PolicyError {
    pub field: &'static str,
    pub message: String,
}

impl ElementPolicy {
    /// A policy from the three settings, checked: names must be element
    /// names, a name cannot be both allowed and denied, and only built-in
    /// refusals can be lifted.
    pub fn new(allow: &[String], deny: &[String], insecure: &[String]) -> Result<Self, PolicyError> {
        for (field, names) in [(ALLOW, allow), (DENY, deny), (INSECURE, insecure)] {
            if let Some(bad) = names.iter().find(|n| !is_identifier(n)) {
                return Err(PolicyError { field, message: format!("`{bad}` is not an element name") });
            }
        }
        if let Some(both) = allow.iter().find(|n| deny.contains(n)) {
            return Err(PolicyError { field: DENY, message: format!("`{both}` is also in {ALLOW}") });
        }
        if let Some(unknown) = insecure.iter().find(|n| host_reason(n).is_none()) {
            return Err(PolicyError {
                field: INSECURE,
                message: format!("`{unknown}` is not one of the built-in host-access elements (docs/PIPELINES.md)"),
            });
        }
        let set = |v: &[String]| v.iter().cloned().collect();
        Ok(Self { allow: set(allow), deny: set(deny), insecure: set(insecure) })
    }

    /// The policy `media.allow_elements`, `media.deny_elements` and
    /// `media.insecure_host_elements` set.
    pub fn from_config(media: &crate::config::MediaConfig) -> Result<Self, PolicyError> {
        Self::new(&media.allow_elements, &media.deny_elements, &media.insecure_host_elements)
    }

    /// The configuration check for these settings (`Config::load`'s `check`):
    /// the service stops at start, naming the setting and what set it.
    pub fn check_config(config: &crate::config::Config) -> Result<(), crate::config::FieldError> {
        Self::from_config(&config.media)
            .map(drop)
            .map_err(|e| crate::config::FieldError { field: e.field, message: e.message })
    }

    /// Why `element` may not be named by a file, or `None` when it may.
    pub fn refusal(&self, element: &str) -> Option<String> {
        if let Some(why) = self.denial(element) {
            return Some(why);
        }
        (!self.allow.is_empty() && !self.allow.contains(element)).then(|| format!("not in {ALLOW}"))
    }

    /// The deny side alone: why `element` may never run, even when the
    /// service adds it itself (the allow list is about what files name).
    pub fn denial(&self, element: &str) -> Option<String> {
        if self.deny.contains(element) {
            return Some(DENY.to_string());
        }
        match host_reason(element) {
            Some(why) if !self.insecure.contains(element) => Some(format!("{why}; {INSECURE} lifts this")),
            _ => None,
        }
    }

    /// Every refusal in a file: each element named in each chain and each
    /// encoder, with its line and field.
    pub fn check_spec(&self, spec: &PipelineSpec) -> Vec<SpecError> {
        let mut errors = Vec::new();
        let mut chains: Vec<Fragment> = Vec::new();
        for (i, enc) in spec.video.encoders.iter().enumerate() {
            chains.push(Fragment {
                text: enc.element.clone(),
                line: enc.line,
                field: format!("video.encoders[{i}].element"),
            });
        }
        chains.extend(spec.fragments().into_iter().cloned());
        // The output element is named by the file too, so an allow list holds it.
        if spec.output == OutputKind::Webrtcsink {
            chains.push(Fragment {
                text: "webrtcsink".into(),
                line: spec.output_line.unwrap_or(1),
                field: "output".into(),
            });
        }
        chains.sort_by_key(|f| f.line);
        for f in &chains {
            for message in self.check_chain(spec, &f.text) {
                let e = SpecError { path: spec.path.clone(), line: f.line, field: f.field.clone(), message };
                if !errors.contains(&e) {
                    errors.push(e);
                }
            }
        }
        errors
    }

    /// Refusals in one chain of `spec`, as messages.
    fn check_chain(&self, spec: &PipelineSpec, chain: &str) -> Vec<String> {
        let mut out = Vec::new();
        for n in named(chain) {
            match n {
                Named::Uri(uri) => out.push(format!(
                    "`{uri}` stands where an element goes, which is not allowed by the element policy \
                     (GStreamer would open it with whatever element handles it; name the element)"
                )),
                Named::Element(word) => match expand(spec, &word) {
                    Err(message) => out.push(message),
                    Ok(names) => {
                        for name in names {
                            if let Some(why) = self.refusal(&name) {
                                out.push(format!("element `{name}` is not allowed by the element policy ({why})"));
                            }
                        }
                    }
                },
                // A value is judged only when it names a refused element:
                // most values (`pattern=smpte`) are not elements at all.
                Named::InValue { property, element } => {
                    for name in expand(spec, &element).unwrap_or_default() {
                        if let Some(why) = self.denial(&name) {
                            out.push(format!(
                                "element `{name}` in the value of `{property}` is not allowed by the element policy ({why})"
                            ));
                        }
                    }
                }
            }
        }
        out
    }
}

fn host_reason(element: &str) -> Option<&'static str> {
    HOST_ELEMENTS.iter().find(|(n, _)| *n == element).map(|(_, why)| *why)
}

/// GStreamer's `_identifier`: a letter, then letters, digits, `-`, `_`, `%`.
fn is_identifier(s: &str) -> bool {
    s.starts_with(|c: char| c.is_ascii_alphabetic())
        && s.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '%'))
}

/// The element names a word stands for once its `${…}` placeholders take
/// every value a client may give them.
fn expand(spec: &PipelineSpec, word: &str) -> Result<Vec<String>, String> {
    let names = placeholders(word).map_err(|m| format!("`{word}`: {m}"))?;
    let mut combos: Vec<Params> = vec![Params(Default::default())];
    for name in names {
        let values: Vec<ParamValue> = match spec.param(name).map(|p| &p.kind) {
            Some(ParamKind::Str { choices, .. }) if !choices.is_empty() => {
                choices.iter().map(|c| ParamValue::Str(c.clone())).collect()
            }
            Some(ParamKind::Bool { .. }) => vec![ParamValue::Bool(false), ParamValue::Bool(true)],
            _ => {
                return Err(format!(
                    "the element `{word}` comes from parameter `{name}`, whose values the element policy \
                     cannot list in advance; use a string parameter with `choices` there"
                ))
            }
        };
        combos = combos
            .into_iter()
            .flat_map(|c| {
                values.iter().map(move |v| {
                    let mut c = c.clone();
                    c.0.insert(name.to_string(), v.clone());
                    c
                })
            })
            .collect();
        if combos.len() > MAX_EXPANSIONS {
            return Err(format!("the element `{word}` takes more than {MAX_EXPANSIONS} names from its parameters"));
        }
    }
    Ok(combos.iter().map(|p| p.substitute(word)).collect())
}

/// How a chain names an element.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Named {
    /// A factory name where an element goes, or a bin's type (`bin.( … )`).
    Element(String),
    /// A URI or a path where an element goes: GStreamer makes a source or
    /// sink for it by its scheme (`/etc/passwd ! …` is a `filesrc`).
    Uri(String),
    /// A word in a property's value that may be a factory name: element
    /// properties take launch syntax (`video-sink="filesink location=x"`)
    /// and some take factory names (`sink-factory=filesink`).
    InValue { property: String, element: String },
}

/// Everything a chain of launch syntax names where an element goes, in order.
/// Caps (`video/x-raw,…` in a link), pad and element references (`t.`,
/// `t.src_0`) and properties are not elements; property values are searched
/// for element names as launch syntax of their own.
pub fn named(chain: &str) -> Vec<Named> {
    let b = chain.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    // At the chain's start and right after `!`, a word with `/` is caps.
    let mut caps_may_follow = true;
    while i < b.len() {
        let c = b[i];
        if c.is_ascii_whitespace() {
            i += 1;
            continue;
        }
        if c == b'!' {
            i += 1;
            caps_may_follow = true;
            continue;
        }
        if matches!(c, b'(' | b')' | b',' | b';' | b'=') {
            i += 1;
            caps_may_follow = false;
            continue;
        }
        if c == b'"' || c == b'\'' {
            if caps_may_follow {
                i = caps_end(b, i);
            } else {
                i = quoted_end(b, i);
            }
            caps_may_follow = false;
            continue;
        }
        let start = i;
        while i < b.len() && !b[i].is_ascii_whitespace() && !matches!(b[i], b'!' | b'(' | b')' | b'=' | b'"' | b'\'') {
            i += 1;
        }
        let word = &chain[start..i];
        if caps_may_follow && looks_like_caps(word) {
            i = caps_end(b, start);
            caps_may_follow = false;
            continue;
        }
        caps_may_follow = false;
        let next = skip_space(b, i);
        if next < b.len() && b[next] == b'=' {
            let (value, end) = read_value(chain, skip_space(b, next + 1));
            i = end;
            if word == "name" {
                // An element's own name, never an element.
                continue;
            }
            for n in named(&value) {
                if let Named::Element(element) = n {
                    out.push(Named::InValue { property: word.to_string(), element });
                }
            }
            continue;
        }
        if let Some(bin) = word.strip_suffix('.') {
            // `name.(` makes a bin of that type; `name.` alone refers to an element.
            if next < b.len() && b[next] == b'(' && is_name(bin) {
                out.push(Named::Element(bin.to_string()));
            }
            continue;
        }
        if word.contains("://") || word.contains('/') {
            out.push(Named::Uri(word.to_string()));
        } else if word.contains('.') {
            // `t.src_0` or `.src`: a reference, not an element.
        } else if is_name(word) {
            out.push(Named::Element(word.to_string()));
        }
    }
    out
}

/// A factory name, possibly made of `${…}` placeholders.
fn is_name(word: &str) -> bool {
    word.starts_with(|c: char| c.is_ascii_alphabetic() || c == '$')
        && word.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '%' | '$' | '{' | '}'))
}

/// GStreamer's `_mimetype`: letters, digits and `-` on both sides of a `/`
/// (a path such as `/etc/passwd` is not caps but a URI).
pub(crate) fn looks_like_caps(word: &str) -> bool {
    let mime = word.split([',', '(']).next().unwrap_or_default();
    let mime_char = |c: char| c.is_ascii_alphanumeric() || c == '-';
    match mime.split_once('/') {
        Some((kind, sub)) => {
            !kind.is_empty() && !sub.is_empty() && kind.chars().all(mime_char) && sub.chars().all(mime_char)
        }
        None => false,
    }
}

/// Caps run to the next `!` outside quotes, or to the chain's end.
fn caps_end(b: &[u8], mut i: usize) -> usize {
    while i < b.len() && b[i] != b'!' {
        if b[i] == b'"' || b[i] == b'\'' {
            i = quoted_end(b, i);
        } else {
            i += 1;
        }
    }
    i
}

/// The index after the quoted string starting at `i` (`\` escapes the next byte).
fn quoted_end(b: &[u8], i: usize) -> usize {
    closing_quote(b, i).map_or(b.len(), |j| j + 1)
}

/// Where the quoted string starting at `i` closes, if it does.
fn closing_quote(b: &[u8], i: usize) -> Option<usize> {
    let quote = b[i];
    let mut j = i + 1;
    while j < b.len() {
        match b[j] {
            b'\\' => j += 2,
            c if c == quote => return Some(j),
            _ => j += 1,
        }
    }
    None
}

fn skip_space(b: &[u8], mut i: usize) -> usize {
    while i < b.len() && b[i].is_ascii_whitespace() {
        i += 1;
    }
    i
}

/// A property's value at `i`, unquoted, and the index after it. Unquoted,
/// GStreamer's value runs to the next blank, `!` and brackets included.
fn read_value(chain: &str, i: usize) -> (String, usize) {
    let b = chain.as_bytes();
    if i < b.len() && (b[i] == b'"' || b[i] == b'\'') {
        let (inner, end) = match closing_quote(b, i) {
            Some(close) => (&chain[i + 1..close], close + 1),
            None => (&chain[i + 1..], b.len()),
        };
        return (inner.replace("\\\"", "\"").replace("\\'", "'"), end);
    }
    let mut j = i;
    while j < b.len() && !b[j].is_ascii_whitespace() {
        j += 1;
    }
    (chain[i..j].to_string(), j)
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;

    fn names(chain: &str) -> Vec<Named> {
        named(chain)
    }

    /// The names where an element goes, values left out.
    fn elements(chain: &str) -> Vec<Named> {
        named(chain).into_iter().filter(|n| !matches!(n, Named::InValue { .. })).collect()
    }

    fn el(s: &str) -> Named {
        Named::Element(s.into())
    }

    fn spec(source: &str) -> PipelineSpec {
        let text = format!(
            r#"description = "t"
[params]
sink = {{ default = "fakesink", choices = ["fakesink", "filesink"] }}
quiet = {{ default = "fakesink", choices = ["fakesink", "appsink"] }}
free = {{ default = "fakesink" }}
[video]
source = '{source}'
[[video.encoders]]
element = "x264enc"
profile = "main"
"#
        );
        PipelineSpec::parse(Path::new("pipelines/t.toml"), &text).unwrap()
    }

    fn refusals(policy: &ElementPolicy, source: &str) -> Vec<String> {
        policy.check_spec(&spec(source)).iter().map(|e| e.to_string()).collect()
    }

    #[test]
    fn the_lexer_finds_elements_and_skips_caps_references_and_properties() {
        assert_eq!(
            elements("d3d11screencapturesrc show-cursor=true ! video/x-raw(memory:D3D11Memory),framerate=60/1 ! d3d11convert ! x264enc option-string=\"a!b\" ! queue"),
            [el("d3d11screencapturesrc"), el("d3d11convert"), el("x264enc"), el("queue")]
        );
        // Caps at either end, quoted caps, caps with spaces after commas.
        assert_eq!(
            elements("video/x-raw,format=NV12 ! videoconvert ! \"video/x-raw, width=(int)5\" ! fakesink ! audio/x-raw"),
            [el("videoconvert"), el("fakesink")]
        );
        // Elements after a blank instead of `!`, bins, bin types, references.
        assert_eq!(
            names("tee name=t t. ! queue ! fakesink  t.src_1 ! ( name=b filesrc ) bin.( filesink ) .src ! x"),
            [el("tee"), el("queue"), el("fakesink"), el("filesrc"), el("bin"), el("filesink"), el("x")]
        );
        // Spaces around `=` still make a property; its value is searched.
        assert_eq!(
            names("fpsdisplaysink video-sink = fakesink name=filesink"),
            [el("fpsdisplaysink"), Named::InValue { property: "video-sink".into(), element: "fakesink".into() }]
        );
        // Paths and URIs where an element goes.
        assert_eq!(names("/etc/passwd ! fakesink"), [Named::Uri("/etc/passwd".into()), el("fakesink")]);
        assert_eq!(names("fakesrc ! file:///tmp/x"), [el("fakesrc"), Named::Uri("file:///tmp/x".into())]);
        // Launch syntax in a value, quoted, with properties of its own.
        assert_eq!(
            names("fpsdisplaysink video-sink=\"filesink location=/tmp/x\" sink-factory=multifilesink"),
            [
                el("fpsdisplaysink"),
                Named::InValue { property: "video-sink".into(), element: "filesink".into() },
                Named::InValue { property: "sink-factory".into(), element: "multifilesink".into() },
            ]
        );
    }

    #[test]
    fn the_default_refuses_host_elements_and_allows_the_rest() {
        let p = ElementPolicy::default();
        for (name, _) in HOST_ELEMENTS {
            assert!(p.refusal(name).is_some(), "{name}");
        }
        for name in ["videotestsrc", "x264enc", "playcastx11src", "pulsesrc", "opusenc", "queue", "videoconvert"] {
            assert_eq!(p.refusal(name), None, "{name}");
        }
        assert_eq!(
            refusals(&p, "videotestsrc ! tee name=t t. ! queue ! filesink location=/tmp/out"),
            ["pipelines/t.toml:7: video.source: element `filesink` is not allowed by the element policy (it writes any host file; media.insecure_host_elements lifts this)"]
        );
        assert!(refusals(&p, "videotestsrc is-live=true ! video/x-raw,width=64 ! videoconvert").is_empty());
    }

    #[test]
    fn elements_in_bins_values_and_uris_are_found() {
        let p = ElementPolicy::default();
        let one = |source: &str| {
            let r = refusals(&p, source);
            assert_eq!(r.len(), 1, "{source}: {r:?}");
            r[0].clone()
        };
        assert!(one("( shmsrc socket-path=/tmp/s ) ! videoconvert").contains("element `shmsrc` is not allowed"));
        assert!(one("videotestsrc ! fakesink filesrc location=/etc/passwd").contains("element `filesrc`"));
        assert!(one("videotestsrc ! fpsdisplaysink video-sink=\"filesink location=/tmp/x\"")
            .contains("element `filesink` in the value of `video-sink` is not allowed"));
        assert!(one("/etc/passwd ! videoparse").contains("`/etc/passwd` stands where an element goes"));
        // A caps field that spells an element's name is not an element.
        assert!(refusals(&p, "videotestsrc ! video/x-raw,format=filesink ! videoconvert").is_empty());
    }

    #[test]
    fn placeholders_are_judged_by_every_value_a_client_may_give() {
        let p = ElementPolicy::default();
        let r = refusals(&p, "videotestsrc ! ${sink}");
        assert_eq!(r.len(), 1, "{r:?}");
        assert!(r[0].contains("element `filesink` is not allowed"), "{r:?}");
        assert!(refusals(&p, "videotestsrc ! ${quiet}").is_empty());
        let r = refusals(&p, "videotestsrc ! ${free}");
        assert!(r[0].contains("comes from parameter `free`, whose values the element policy cannot list"), "{r:?}");
    }

    #[test]
    fn allow_and_deny_lists() {
        let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
        let p = ElementPolicy::new(&s(&["videotestsrc", "x264enc"]), &[], &[]).unwrap();
        assert!(refusals(&p, "videotestsrc").is_empty());
        let r = refusals(&p, "videotestsrc ! videoflip");
        assert_eq!(
            r,
            ["pipelines/t.toml:7: video.source: element `videoflip` is not allowed by the element policy (not in media.allow_elements)"]
        );
        // A host element stays refused when only allowed: lifting needs the loud setting.
        let p = ElementPolicy::new(&s(&["videotestsrc", "x264enc", "filesink"]), &[], &[]).unwrap();
        assert!(refusals(&p, "videotestsrc ! filesink")[0].contains("insecure_host_elements lifts this"));
        let p = ElementPolicy::new(&s(&["videotestsrc", "x264enc", "filesink"]), &[], &s(&["filesink"])).unwrap();
        assert!(refusals(&p, "videotestsrc ! filesink").is_empty());

        let p = ElementPolicy::new(&[], &s(&["videoflip", "x264enc"]), &[]).unwrap();
        let r: Vec<String> = p.check_spec(&spec("videotestsrc ! videoflip")).iter().map(|e| e.to_string()).collect();
        assert_eq!(
            r,
            [
                "pipelines/t.toml:7: video.source: element `videoflip` is not allowed by the element policy (media.deny_elements)",
                "pipelines/t.toml:9: video.encoders[0].element: element `x264enc` is not allowed by the element policy (media.deny_elements)",
            ]
        );
    }

    #[test]
    fn an_allow_list_holds_the_output_element_too() {
        let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
        let text = "description = \"t\"\noutput = \"webrtcsink\"\n[video]\nsource = \"videotestsrc\"\n\
                    [[video.encoders]]\nelement = \"x264enc\"\nprofile = \"main\"\n";
        let spec = PipelineSpec::parse(Path::new("pipelines/t.toml"), text).unwrap();
        let p = ElementPolicy::new(&s(&["videotestsrc", "x264enc"]), &[], &[]).unwrap();
        let r: Vec<String> = p.check_spec(&spec).iter().map(|e| e.to_string()).collect();
        assert_eq!(
            r,
            ["pipelines/t.toml:2: output: element `webrtcsink` is not allowed by the element policy (not in media.allow_elements)"]
        );
        let p = ElementPolicy::new(&s(&["videotestsrc", "x264enc", "webrtcsink"]), &[], &[]).unwrap();
        assert!(p.check_spec(&spec).is_empty());
        assert!(ElementPolicy::default().check_spec(&spec).is_empty());
    }

    #[test]
    fn settings_are_checked() {
        let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
        let e = ElementPolicy::new(&s(&["file sink"]), &[], &[]).unwrap_err();
        assert_eq!(e.to_string(), "media.allow_elements: `file sink` is not an element name");
        let e = ElementPolicy::new(&s(&["queue"]), &s(&["queue"]), &[]).unwrap_err();
        assert_eq!(e.to_string(), "media.deny_elements: `queue` is also in media.allow_elements");
        let e = ElementPolicy::new(&[], &[], &s(&["queue"])).unwrap_err();
        assert!(e.to_string().starts_with("media.insecure_host_elements: `queue` is not one of the built-in"), "{e}");
    }

    proptest::proptest! {
        #[test]
        fn the_lexer_never_panics(chain in "\\PC{0,200}") {
            let _ = named(&chain);
        }
    }
}
