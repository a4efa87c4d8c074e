//! Physical keys to X keysyms. Clients send Linux input key codes (the key's
//! place on the keyboard); the server finds what that key means on a US
//! layout, then which key code of the display's own keymap produces it, so a
//! display with any keymap receives the key the player pressed.

/// The US-layout, unshifted keysym of a Linux input key code.
pub fn keysym_of(code: u16) -> Option<u32> {
    Some(match code {
        1 => 0xff1b,                          // Escape
        2..=10 => 0x31 + u32::from(code - 2), // 1..9
        11 => 0x30,                           // 0
        12 => 0x2d,                           // minus
        13 => 0x3d,                           // equal
        14 => 0xff08,                         // BackSpace
        15 => 0xff09,                         // Tab
        16..=25 => letter(b"qwertyuiop", code - 16),
        26 => 0x5b,   // bracketleft
        27 => 0x5d,   // bracketright
        28 => 0xff0d, // Return
        29 => 0xffe3, // Control_L
        30..=38 => letter(b"asdfghjkl", code - 30),
        39 => 0x3b,   // semicolon
        40 => 0x27,   // apostrophe
        41 => 0x60,   // grave
        42 => 0xffe1, // Shift_L
        43 => 0x5c,   // backslash
        44..=50 => letter(b"zxcvbnm", code - 44),
        51 => 0x2c,                               // comma
        52 => 0x2e,                               // period
        53 => 0x2f,                               // slash
        54 => 0xffe2,                             // Shift_R
        55 => 0xffaa,                             // KP_Multiply
        56 => 0xffe9,                             // Alt_L
        57 => 0x20,                               // space
        58 => 0xffe5,                             // Caps_Lock
        59..=68 => 0xffbe + u32::from(code - 59), // F1..F10
        69 => 0xff7f,                             // Num_Lock
        70 => 0xff14,                             // Scroll_Lock
        71 => 0xffb7,                             // KP_7
        72 => 0xffb8,
        73 => 0xffb9,
        74 => 0xffad, // KP_Subtract
        75 => 0xffb4,
        76 => 0xffb5,
        77 => 0xffb6,
        78 => 0xffab, // KP_Add
        79 => 0xffb1,
        80 => 0xffb2,
        81 => 0xffb3,
        82 => 0xffb0,                                // KP_0
        83 => 0xffae,                                // KP_Decimal
        86 => 0x3c,                                  // less (the key left of Z on ISO keyboards)
        87 => 0xffc8,                                // F11
        88 => 0xffc9,                                // F12
        96 => 0xff8d,                                // KP_Enter
        97 => 0xffe4,                                // Control_R
        98 => 0xffaf,                                // KP_Divide
        99 => 0xff61,                                // Print
        100 => 0xffea,                               // Alt_R
        102 => 0xff50,                               // Home
        103 => 0xff52,                               // Up
        104 => 0xff55,                               // Prior
        105 => 0xff51,                               // Left
        106 => 0xff53,                               // Right
        107 => 0xff57,                               // End
        108 => 0xff54,                               // Down
        109 => 0xff56,                               // Next
        110 => 0xff63,                               // Insert
        111 => 0xffff,                               // Delete
        119 => 0xff13,                               // Pause
        125 => 0xffeb,                               // Super_L
        126 => 0xffec,                               // Super_R
        127 => 0xff67,                               // Menu
        183..=194 => 0xffca + u32::from(code - 183), // F13..F24
        _ => return None,
    })
}

fn letter(row: &[u8], i: u16) -> u32 {
    u32::from(row[usize::from(i)])
}

/// Key codes of a display's keymap by the keysyms they produce.
#[derive(Debug, Clone, Default)]
pub struct Keymap {
    /// (keysym, level, keycode), sorted so the lowest level wins.
    by_keysym: std::collections::HashMap<u32, (usize, u8)>,
    /// Key codes that produce nothing: free for keysyms the map lacks.
    spare: Vec<u8>,
}

impl Keymap {
    /// From `GetKeyboardMapping`: `syms` holds `per_code` keysyms for each
    /// key code from `first` on.
    pub fn new(first: u8, per_code: usize, syms: &[u32]) -> Self {
        let mut map = Keymap::default();
        if per_code == 0 {
            return map;
        }
        for (i, chunk) in syms.chunks(per_code).enumerate() {
            let Ok(code) = u8::try_from(usize::from(first) + i) else { break };
            if chunk.iter().all(|&s| s == 0) {
                map.spare.push(code);
                continue;
            }
            for (level, &sym) in chunk.iter().enumerate() {
                if sym == 0 {
                    continue;
                }
                let e = map.by_keysym.entry(sym).or_insert((level, code));
                if level < e.0 {
                    *e = (level, code);
                }
            }
        }
        map
    }

    pub fn keycode(&self, keysym: u32) -> Option<u8> {
        self.by_keysym.get(&keysym).map(|&(_, c)| c)
    }

    /// Takes a spare key code for `keysym` (the caller binds it on the display).
    pub fn assign_spare(&mut self, keysym: u32) -> Option<u8> {
        let code = self.spare.pop()?;
        self.by_keysym.insert(keysym, (0, code));
        Some(code)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn common_keys_have_us_keysyms() {
        assert_eq!(keysym_of(30), Some(u32::from(b'a')));
        assert_eq!(keysym_of(16), Some(u32::from(b'q')));
        assert_eq!(keysym_of(50), Some(u32::from(b'm')));
        assert_eq!(keysym_of(2), Some(u32::from(b'1')));
        assert_eq!(keysym_of(11), Some(u32::from(b'0')));
        assert_eq!(keysym_of(57), Some(0x20));
        assert_eq!(keysym_of(59), Some(0xffbe));
        assert_eq!(keysym_of(68), Some(0xffc7));
        assert_eq!(keysym_of(103), Some(0xff52));
        assert_eq!(keysym_of(0), None);
        assert_eq!(keysym_of(0x2ff), None);
    }

    #[test]
    fn the_lowest_level_wins_and_spares_are_found() {
        // Code 10 makes `a`/`A`, code 11 makes `b` only on level 1, 12 is empty.
        let map = Keymap::new(10, 2, &[0x61, 0x41, 0, 0x62, 0, 0, 0x41, 0]);
        assert_eq!(map.keycode(0x61), Some(10));
        assert_eq!(map.keycode(0x62), Some(11));
        assert_eq!(map.keycode(0x41), Some(13), "level 0 of 13 beats level 1 of 10");
        let mut map = map;
        assert_eq!(map.keycode(0xffbe), None);
        assert_eq!(map.assign_spare(0xffbe), Some(12));
        assert_eq!(map.keycode(0xffbe), Some(12));
        assert_eq!(map.assign_spare(0xffbf), None);
    }

    #[test]
    fn odd_mappings_do_not_panic() {
        let _ = Keymap::new(8, 0, &[1, 2, 3]);
        let _ = Keymap::new(250, 1, &[1; 40]);
        let _ = Keymap::new(8, 3, &[1, 2]);
    }
}
