//! Flushing a command's replies: plain, or wrapped for labeled-response.

use super::ctx::Ctx;
use crate::caps::Cap;
use crate::proto::line::Line;

/// Writes the queued replies to the client's outbox in one append; with a `label`
/// and the labeled-response capability, one reply carries the label, several are
/// wrapped in a `labeled-response` batch, and none become an `ACK`.
pub fn flush(ctx: &mut Ctx, label: Option<&str>) {
    let caps = ctx.link.caps();
    let label = label.filter(|_| caps.has(Cap::LabeledResponse));
    let lines = std::mem::take(&mut ctx.out);
    let mut bytes = String::new();
    match (label, lines.len()) {
        (None, _) => {
            for l in &lines {
                l.serialize_into(caps, &[], &mut bytes);
            }
        }
        (Some(label), 0) => {
            let ack = Line::new(ctx.server_name(), "ACK", vec![]);
            ack.serialize_into(caps, &[("label", label)], &mut bytes);
        }
        (Some(label), 1) => {
            lines[0].serialize_into(caps, &[("label", label)], &mut bytes);
        }
        (Some(label), _) if is_one_batch(&lines) => {
            lines[0].serialize_into(caps, &[("label", label)], &mut bytes);
            for l in &lines[1..] {
                l.serialize_into(caps, &[], &mut bytes);
            }
        }
        (Some(label), _) if caps.has(Cap::Batch) => {
            let id = batch_id(ctx);
            let start = Line::new(ctx.server_name(), "BATCH", vec![format!("+{id}"), "labeled-response".into()]);
            start.serialize_into(caps, &[("label", label)], &mut bytes);
            for l in &lines {
                // A line already inside a nested batch keeps only its own batch tag.
                let nested = l.tags.iter().any(|t| t.key == "batch");
                let extra: &[(&str, &str)] = if nested { &[] } else { &[("batch", &id)] };
                l.serialize_into(caps, extra, &mut bytes);
            }
            let end = Line::new(ctx.server_name(), "BATCH", vec![format!("-{id}")]);
            end.serialize_into(caps, &[], &mut bytes);
        }
        (Some(_), _) => {
            for l in &lines {
                l.serialize_into(caps, &[], &mut bytes);
            }
        }
    }
    if !bytes.is_empty() {
        ctx.link.send(bytes.as_bytes());
    }
}

/// Whether the replies are exactly one batch (`BATCH +ref ...` first, `BATCH -ref`
/// last), which labeled-response labels on its opening line instead of nesting it.
fn is_one_batch(lines: &[Line]) -> bool {
    let (Some(first), Some(last)) = (lines.first(), lines.last()) else { return false };
    let open = first.params.first().and_then(|p| p.strip_prefix('+'));
    let close = last.params.first().and_then(|p| p.strip_prefix('-'));
    lines.len() >= 2 && first.command == "BATCH" && last.command == "BATCH" && open.is_some() && open == close
}

/// A batch reference unique on this connection.
pub fn batch_id(ctx: &Ctx) -> String {
    let m = ctx.server.next_msgid();
    format!("b{m}")
}
