//! The session display's clipboard, for the player's copy and paste. Setting
//! it makes a hidden window of ours the owner of CLIPBOARD and PRIMARY and
//! answers the game's requests for the text; reading it asks the current
//! owner for UTF-8 text. A thread with its own X connection does both, since
//! owning a selection means answering X events whenever they come.

use std::sync::mpsc::{channel, Receiver, Sender, TryRecvError};
use std::time::{Duration, Instant};

use x11rb::connection::Connection;
use x11rb::protocol::xproto::{self, Atom, AtomEnum, ConnectionExt as _, EventMask, PropMode, Window};
use x11rb::protocol::Event;
use x11rb::rust_connection::RustConnection;
use x11rb::wrapper::ConnectionExt as _;

use super::protocol::MAX_CLIPBOARD_BYTES;

/// Called with the display's clipboard text (empty when there is none).
pub type Answer = Box<dyn FnOnce(String) + Send>;

enum Command {
    Set(String),
    Get(Answer),
}

/// A handle on the clipboard thread; it ends when this is dropped.
pub struct Clipboard {
    tx: Sender<Command>,
}

impl Clipboard {
    pub fn start(display: &str) -> Result<Self, String> {
        let (conn, screen) = x11rb::connect(Some(display)).map_err(|e| e.to_string())?;
        let worker = Worker::new(conn, screen).map_err(|e| e.to_string())?;
        let (tx, rx) = channel();
        std::thread::Builder::new()
            .name("clipboard".into())
            .spawn(move || worker.run(rx))
            .map_err(|e| e.to_string())?;
        Ok(Clipboard { tx })
    }

    pub fn set(&self, text: String) {
        let _ = self.tx.send(Command::Set(text));
    }

    pub fn get(&self, answer: Answer) {
        let _ = self.tx.send(Command::Get(answer));
    }
}

struct Atoms {
    clipboard: Atom,
    utf8: Atom,
    targets: Atom,
    text: Atom,
    incoming: Atom,
}

struct Worker {
    conn: RustConnection,
    window: Window,
    atoms: Atoms,
    text: Option<String>,
    /// A read in flight: its answer and when to give up.
    pending: Option<(Answer, Instant)>,
}

const READ_TIMEOUT: Duration = Duration::from_secs(1);

impl Worker {
    fn new(conn: RustConnection, screen: usize) -> Result<Self, Box<dyn std::error::Error>> {
        let root = conn.setup().roots[screen].root;
        let window = conn.generate_id()?;
        conn.create_window(
            x11rb::COPY_DEPTH_FROM_PARENT,
            window,
            root,
            -10,
            -10,
            1,
            1,
            0,
            xproto::WindowClass::INPUT_ONLY,
            x11rb::COPY_FROM_PARENT,
            &xproto::CreateWindowAux::new().event_mask(EventMask::PROPERTY_CHANGE),
        )?;
        let atom = |name: &[u8]| -> Result<Atom, Box<dyn std::error::Error>> {
            Ok(conn.intern_atom(false, name)?.reply()?.atom)
        };
        let atoms = Atoms {
            clipboard: atom(b"CLIPBOARD")?,
            utf8: atom(b"UTF8_STRING")?,
            targets: atom(b"TARGETS")?,
            text: atom(b"TEXT")?,
            incoming: atom(b"PLAYCAST_CLIPBOARD")?,
        };
        conn.flush()?;
        Ok(Worker { conn, window, atoms, text: None, pending: None })
    }

    fn run(mut self, rx: Receiver<Command>) {
        loop {
            match rx.try_recv() {
                Ok(Command::Set(text)) => self.own(text),
                Ok(Command::Get(answer)) => self.ask(answer),
                Err(TryRecvError::Disconnected) => return,
                Err(TryRecvError::Empty) => {}
            }
            loop {
                match self.conn.poll_for_event() {
                    Ok(Some(e)) => self.on_event(e),
                    Ok(None) => break,
                    Err(e) => {
                        tracing::debug!(error = %e, "clipboard connection lost");
                        return;
                    }
                }
            }
            if self.pending.as_ref().is_some_and(|(_, since)| since.elapsed() > READ_TIMEOUT) {
                if let Some((answer, _)) = self.pending.take() {
                    answer(String::new());
                }
            }
            // Commands are rare and small: a short sleep keeps this simple.
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    fn own(&mut self, text: String) {
        self.text = Some(text);
        for selection in [self.atoms.clipboard, AtomEnum::PRIMARY.into()] {
            let _ = self.conn.set_selection_owner(self.window, selection, x11rb::CURRENT_TIME);
        }
        let _ = self.conn.flush();
    }

    fn ask(&mut self, answer: Answer) {
        if let Some((earlier, _)) = self.pending.take() {
            earlier(String::new());
        }
        let requested = self.conn.convert_selection(
            self.window,
            self.atoms.clipboard,
            self.atoms.utf8,
            self.atoms.incoming,
            x11rb::CURRENT_TIME,
        );
        if requested.is_err() || self.conn.flush().is_err() {
            return answer(String::new());
        }
        self.pending = Some((answer, Instant::now()));
    }

    fn on_event(&mut self, event: Event) {
        match event {
            Event::SelectionRequest(req) => self.answer_request(req),
            Event::SelectionClear(_) => self.text = None,
            Event::SelectionNotify(n) => {
                let Some((answer, _)) = self.pending.take() else { return };
                let text = if n.property == x11rb::NONE { String::new() } else { self.read_property() };
                answer(text);
            }
            _ => {}
        }
    }

    fn read_property(&self) -> String {
        let len = (MAX_CLIPBOARD_BYTES / 4 + 1) as u32;
        let reply = self
            .conn
            .get_property(true, self.window, self.atoms.incoming, AtomEnum::ANY, 0, len)
            .ok()
            .and_then(|c| c.reply().ok());
        let bytes = reply.map(|r| r.value).unwrap_or_default();
        String::from_utf8_lossy(&bytes[..bytes.len().min(MAX_CLIPBOARD_BYTES)]).into_owned()
    }

    /// Gives our text to a program that asked for it (or refuses, by property NONE).
    fn answer_request(&self, req: xproto::SelectionRequestEvent) {
        let property = if req.property == x11rb::NONE { req.target } else { req.property };
        let a = &self.atoms;
        let stored = match (&self.text, req.target) {
            (Some(_), t) if t == a.targets => {
                let targets = [a.targets, a.utf8, a.text, AtomEnum::STRING.into()];
                self.conn
                    .change_property32(PropMode::REPLACE, req.requestor, property, AtomEnum::ATOM, &targets)
                    .is_ok()
            }
            (Some(text), t) if t == a.utf8 || t == a.text || t == Atom::from(AtomEnum::STRING) => {
                self.conn.change_property8(PropMode::REPLACE, req.requestor, property, t, text.as_bytes()).is_ok()
            }
            _ => false,
        };
        let notify = xproto::SelectionNotifyEvent {
            response_type: xproto::SELECTION_NOTIFY_EVENT,
            sequence: 0,
            time: req.time,
            requestor: req.requestor,
            selection: req.selection,
            target: req.target,
            property: if stored { property } else { x11rb::NONE },
        };
        let _ = self.conn.send_event(false, req.requestor, EventMask::NO_EVENT, notify);
        let _ = self.conn.flush();
    }
}
