//! Client and server of a record. A connection is counted once, client to
//! server: a reply record is folded into its connection, and the client's
//! ephemeral port never becomes a tuple. The evidence, strongest first:
//!
//! 1. Hubble `is_reply` (true: the record is server → client);
//! 2. TCP flags: SYN without ACK is the client's opening, SYN with ACK the
//!    server's answer (other flag sets say nothing);
//! 3. an Azure flow state: a tuple is the connection as its initiator opened it;
//! 4. the ports: a port outside the ephemeral range facing one inside it is
//!    the server's; when both are inside (or both outside), a port a rule
//!    names explicitly is the server's; failing that, both outside keeps the
//!    record as written (the destination is the server) and both inside is
//!    **undetermined**, left out of findings and drafts and counted.
//!
//! The same decision is written in SQL by [`crate::sql`]; keep them alike.

use crate::plan::{Plan, has_ports};
use seg_flows::Flow;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Orientation {
    /// `src` is the client.
    AsWritten,
    /// `src` is the server: a reply.
    Reply,
    /// Cannot tell.
    Undetermined,
}

const SYN: u8 = 2;
const ACK: u8 = 16;

pub fn orient(flow: &Flow, plan: &Plan) -> Orientation {
    if let Some(reply) = flow.hints.is_reply {
        return if reply {
            Orientation::Reply
        } else {
            Orientation::AsWritten
        };
    }
    if flow.protocol == 6
        && let Some(flags) = flow.hints.tcp_flags
        && flags & SYN != 0
    {
        return if flags & ACK != 0 {
            Orientation::Reply
        } else {
            Orientation::AsWritten
        };
    }
    if flow.hints.state.is_some() {
        return Orientation::AsWritten;
    }
    if !has_ports(flow.protocol) {
        return Orientation::AsWritten;
    }
    let (Some(sp), Some(dp)) = (flow.src_port, flow.dst_port) else {
        return Orientation::AsWritten;
    };
    by_ports(flow.protocol, sp, dp, plan)
}

/// Rule 4 alone (what the SQL path computes for records without flags).
pub fn by_ports(protocol: u8, src_port: u16, dst_port: u16, plan: &Plan) -> Orientation {
    let (se, de) = (plan.is_ephemeral(src_port), plan.is_ephemeral(dst_port));
    if se != de {
        return if de {
            Orientation::Reply
        } else {
            Orientation::AsWritten
        };
    }
    let (sl, dl) = (
        plan.listening.contains(protocol, src_port),
        plan.listening.contains(protocol, dst_port),
    );
    match (sl, dl) {
        (true, false) => Orientation::Reply,
        (false, true) => Orientation::AsWritten,
        _ if se => Orientation::Undetermined,
        _ => Orientation::AsWritten,
    }
}
