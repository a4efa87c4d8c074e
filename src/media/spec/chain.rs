//! What the launch syntax of a chain names, read without GStreamer.

/// Element factory names a chain uses, in order (caps, pad references and
/// properties are skipped). Used to decide candidates without GStreamer.
pub fn element_names(chain: &str) -> Vec<String> {
    let mut names = Vec::new();
    for segment in split_links(chain) {
        let Some(first) = segment.split_whitespace().next() else {
            continue;
        };
        let is_element = first.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
            && !first.contains(['/', '=', '.', '(', ',', '"']);
        if is_element {
            names.push(first.to_string());
        }
    }
    names
}

/// Splits on `!` outside quotes.
fn split_links(chain: &str) -> Vec<&str> {
    let mut parts = Vec::new();
    let (mut start, mut quoted) = (0, false);
    for (i, c) in chain.char_indices() {
        match c {
            '"' => quoted = !quoted,
            '!' if !quoted => {
                parts.push(&chain[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(&chain[start..]);
    parts
}
