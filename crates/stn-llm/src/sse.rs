//! A small Server-Sent Events parser (the subset of the WHATWG rules providers use).
//!
//! Bytes go in as they arrive, in chunks cut anywhere (inside a line, inside a UTF-8
//! character, between CR and LF); whole events come out. Lines end in LF, CRLF or CR;
//! `data:` lines of one event are joined with `\n`; `:` lines are comments (keep-alives);
//! a blank line ends an event; `id:` and `retry:` are ignored (we never reconnect).

/// One event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SseEvent {
    /// The `event:` field (`None` = the default `message`).
    pub event: Option<String>,
    /// The data lines joined by `\n`.
    pub data: String,
}

/// Incremental parser state.
#[derive(Debug, Default)]
pub(crate) struct SseParser {
    /// Bytes of the line not finished yet.
    pending: Vec<u8>,
    event: Option<String>,
    data: Option<String>,
}

impl SseParser {
    /// Feeds bytes; returns the events they complete. A line that is not UTF-8 is an error.
    pub fn push(&mut self, bytes: &[u8]) -> Result<Vec<SseEvent>, String> {
        self.pending.extend_from_slice(bytes);
        let mut events = Vec::new();
        let mut start = 0;
        let mut i = 0;
        while i < self.pending.len() {
            let b = self.pending[i];
            if b != b'\n' && b != b'\r' {
                i += 1;
                continue;
            }
            // A CR at the very end may be the first half of CRLF: wait for the next byte.
            if b == b'\r' && i + 1 == self.pending.len() {
                break;
            }
            let line = std::str::from_utf8(&self.pending[start..i])
                .map_err(|_| "event stream line is not UTF-8".to_owned())?
                .to_owned();
            let step = if b == b'\r' && self.pending[i + 1] == b'\n' {
                2
            } else {
                1
            };
            i += step;
            start = i;
            if let Some(ev) = self.line(&line) {
                events.push(ev);
            }
        }
        self.pending.drain(..start);
        Ok(events)
    }

    /// The stream ended: an event missing only its final blank line is still delivered.
    pub fn finish(&mut self) -> Result<Option<SseEvent>, String> {
        if !self.pending.is_empty() {
            let rest = std::mem::take(&mut self.pending);
            let line =
                String::from_utf8(rest).map_err(|_| "event stream line is not UTF-8".to_owned())?;
            let line = line.trim_end_matches('\r');
            if let Some(ev) = self.line(line) {
                return Ok(Some(ev));
            }
        }
        Ok(self.dispatch())
    }

    fn line(&mut self, line: &str) -> Option<SseEvent> {
        if line.is_empty() {
            return self.dispatch();
        }
        if line.starts_with(':') {
            return None;
        }
        let (field, value) = match line.split_once(':') {
            Some((f, v)) => (f, v.strip_prefix(' ').unwrap_or(v)),
            None => (line, ""),
        };
        match field {
            "data" => match &mut self.data {
                Some(d) => {
                    d.push('\n');
                    d.push_str(value);
                }
                None => self.data = Some(value.to_owned()),
            },
            "event" => self.event = Some(value.to_owned()),
            _ => {}
        }
        None
    }

    fn dispatch(&mut self) -> Option<SseEvent> {
        let event = self.event.take();
        self.data.take().map(|data| SseEvent { event, data })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_in_pieces(input: &[u8], cut: usize) -> Vec<SseEvent> {
        let mut p = SseParser::default();
        let mut out = Vec::new();
        for piece in input.chunks(cut) {
            out.extend(p.push(piece).unwrap());
        }
        out.extend(p.finish().unwrap());
        out
    }

    fn ev(event: Option<&str>, data: &str) -> SseEvent {
        SseEvent {
            event: event.map(str::to_owned),
            data: data.to_owned(),
        }
    }

    #[test]
    fn every_cut_gives_the_same_events() {
        let input = "event: content_block_delta\r\ndata: {\"t\":\"héllo 🌍\"}\r\n\r\n: ping\n\ndata: a\ndata: b\n\ndata:[DONE]\r\rdata: x\n\n"
            .as_bytes();
        let want = vec![
            ev(Some("content_block_delta"), "{\"t\":\"héllo 🌍\"}"),
            ev(None, "a\nb"),
            ev(None, "[DONE]"),
            ev(None, "x"),
        ];
        for cut in 1..input.len() {
            assert_eq!(parse_in_pieces(input, cut), want, "cut every {cut} bytes");
        }
    }

    #[test]
    fn a_cut_inside_a_utf8_character_is_fine() {
        let input = "data: 🌍\n\n".as_bytes();
        let mut p = SseParser::default();
        assert!(p.push(&input[..7]).unwrap().is_empty()); // "data: " + first byte of 🌍
        assert_eq!(p.push(&input[7..]).unwrap(), vec![ev(None, "🌍")]);
    }

    #[test]
    fn comments_and_empty_events_are_skipped_and_an_unterminated_last_event_is_kept() {
        let out = parse_in_pieces(
            b": keep-alive\n\nevent: ping\n\nid: 7\nretry: 10\ndata: last",
            4,
        );
        assert_eq!(out, vec![ev(None, "last")]);
    }

    #[test]
    fn field_without_colon_and_value_without_space() {
        let out = parse_in_pieces(b"data\ndata:x\n\n", 3);
        assert_eq!(out, vec![ev(None, "\nx")]);
    }

    #[test]
    fn invalid_utf8_is_an_error() {
        let mut p = SseParser::default();
        assert!(p.push(b"data: \xff\xfe\n").is_err());
    }
}
