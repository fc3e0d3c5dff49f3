//! The commands' side of a sequenced change (see [`crate::state::sequencer`]):
//! a change decided by a handler goes to the state through the in-process
//! sequencer (a single node) or the log (a cluster), and the maker gets the
//! line the members saw, or why nothing happened.

use super::{err, fail, CmdError, Ctx};
use crate::cluster::Event;
use crate::proto::line::Line;
use crate::proto::numeric::{Numeric, ERR_NOSUCHCHANNEL};
use crate::state::sequencer::{self, Outcome};

/// A sequenced change decided, on its way to the state.
pub struct Change {
    /// The channel it changes (by name: a JOIN may create it).
    pub target: String,
    /// What the command answers if the change is gone by its turn (`None`:
    /// nothing, as for a MODE that changes nothing); `403` instead when the
    /// channel itself is gone by then.
    pub gone: Option<(Numeric, Vec<String>)>,
    /// The command's name, for a FAIL.
    pub command: &'static str,
    /// Whether the maker's reply is the line shown (not for a JOIN, whose
    /// reply depends on extended-join: its handler sends it).
    pub reply: bool,
    /// The change.
    pub event: Event,
}

/// Makes a change if it was decided, through the in-process sequencer (a
/// single node); reports why not otherwise.
pub fn now_or_report(ctx: &mut Ctx, decided: Result<Change, CmdError>) {
    if let Err(e) = decided.and_then(|change| sequence_now(ctx, change)) {
        ctx.report(e);
    }
}

/// Makes a change if it was decided, through the log of a cluster in its
/// turn; reports why not otherwise.
pub async fn in_order_or_report(ctx: &mut Ctx, decided: Result<Change, CmdError>) {
    let result = match decided {
        Ok(change) => sequence_in_order(ctx, change).await,
        Err(e) => Err(e),
    };
    if let Err(e) = result {
        ctx.report(e);
    }
}

/// Makes a decided change through the in-process sequencer (a single
/// node): the line the members saw, which is also the maker's reply.
pub fn sequence_now(ctx: &mut Ctx, change: Change) -> Result<Option<Line>, CmdError> {
    let outcome = sequencer::now(&ctx.server, &change.event, Some(ctx.link.id));
    done(ctx, change, outcome)
}

/// Makes a decided change through the log of a cluster, waiting for its
/// turn (see [`sequencer::in_order`]).
pub async fn sequence_in_order(ctx: &mut Ctx, change: Change) -> Result<Option<Line>, CmdError> {
    let outcome = sequencer::in_order(&ctx.server, change.event.clone(), Some(ctx.link.id)).await;
    done(ctx, change, outcome)
}

/// The maker's part once its change is applied (or not): its copy of the
/// line, which this returns.
fn done(ctx: &mut Ctx, change: Change, outcome: Outcome) -> Result<Option<Line>, CmdError> {
    match outcome {
        Outcome::Applied(line) => {
            if change.reply {
                ctx.reply(line.clone());
            }
            Ok(Some(line))
        }
        Outcome::Made => Ok(None),
        Outcome::Refused(why) => err(why, &[&change.target]),
        Outcome::Gone => match change.gone {
            // The channel itself went meanwhile: as for one that never was.
            Some(_) if ctx.server.find_channel(&change.target).is_none() => err(ERR_NOSUCHCHANNEL, &[&change.target]),
            Some((numeric, params)) => err(numeric, &params.iter().map(String::as_str).collect::<Vec<_>>()),
            None => Ok(None),
        },
        Outcome::Unconfirmed => {
            let text = "The network did not confirm the change in time";
            Err(fail(change.command, "TEMPORARILY_UNAVAILABLE", &[&change.target], text).unwrap_err())
        }
    }
}
