//! Flushing a command's replies: plain, or wrapped for labeled-response.

use super::ctx::Ctx;
use crate::caps::Cap;
use crate::proto::line::Line;

/// Writes the queued replies to the client's outbox in one append; with a `label`
/// and the labeled-response capability, one reply carries the label, several are
/// wrapped in a `labeled-response` batch, and none become an `ACK`.
pub fn flush(ctx: &mut Ctx, label: Option<&str>) {
    let caps = ctx.client.caps();
    let label = label.filter(|_| caps.has(Cap::LabeledResponse));
    let lines = std::mem::take(&mut ctx.out);
    let mut bytes = Vec::new();
    match (label, lines.len()) {
        (None, _) => {
            for l in &lines {
                bytes.extend_from_slice(&l.serialize(caps, &[]));
            }
        }
        (Some(label), 0) => {
            let ack = Line::new(ctx.server_name(), "ACK", vec![]);
            bytes.extend_from_slice(&ack.serialize(caps, &[("label", label)]));
        }
        (Some(label), 1) => {
            bytes.extend_from_slice(&lines[0].serialize(caps, &[("label", label)]));
        }
        (Some(label), _) if caps.has(Cap::Batch) => {
            let id = batch_id(ctx);
            let start = Line::new(ctx.server_name(), "BATCH", vec![format!("+{id}"), "labeled-response".into()]);
            bytes.extend_from_slice(&start.serialize(caps, &[("label", label)]));
            for l in &lines {
                bytes.extend_from_slice(&l.serialize(caps, &[("batch", &id)]));
            }
            let end = Line::new(ctx.server_name(), "BATCH", vec![format!("-{id}")]);
            bytes.extend_from_slice(&end.serialize(caps, &[]));
        }
        (Some(_), _) => {
            for l in &lines {
                bytes.extend_from_slice(&l.serialize(caps, &[]));
            }
        }
    }
    if !bytes.is_empty() {
        ctx.client.send(&bytes);
    }
}

/// A batch reference unique on this connection.
pub fn batch_id(ctx: &Ctx) -> String {
    let m = ctx.server.next_msgid();
    format!("b{m}")
}
