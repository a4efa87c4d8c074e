//! Finding what a chain of launch syntax names where an element goes, with
//! the token rules of GStreamer's lexer (`gst/parse/parse.l`), so files for
//! other machines are judged without their elements installed.

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
